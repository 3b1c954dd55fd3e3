"""Request bodies larger than the app's cap, for the routes that take a file (an import).

Flask reads ``MAX_CONTENT_LENGTH`` (and ``MAX_FORM_MEMORY_SIZE`` for form fields) for every
request. A route that takes a file says so here, before anything reads the body: CSRF checks
read the form in ``before_request``, so the limit is raised in a URL value preprocessor, which
Flask runs before every ``before_request`` function.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from webapp.services.member_import import IMPORT_BYTES_MAX

# What an import may send: the file's 5 MB, and room for the multipart framing and the other
# fields of the form.
IMPORT_BODY_MAX = IMPORT_BYTES_MAX + 64 * 1024

# The endpoints that take an import file, by blueprint.
IMPORT_ENDPOINTS = frozenset({"api.import_members", "web.import_preview", "web.import_apply"})


def allow_import_bodies(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """A URL value preprocessor: raise the body limits for the import endpoints only."""
    if endpoint in IMPORT_ENDPOINTS:
        request.max_content_length = max(
            IMPORT_BODY_MAX, current_app.config.get("MAX_CONTENT_LENGTH") or 0
        )
        request.max_form_memory_size = IMPORT_BODY_MAX
