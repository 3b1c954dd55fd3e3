"""htmx in one place: page or partial from one template source, ``Vary``, redirects, flashes.

A handler renders through ``render(page, partial)``: an htmx request gets the partial (plus any
flashed messages as an out-of-band swap into the page's live region), a plain request the full
page, which ``{% include %}``s the same partial. History restores get the full page.
"""

from __future__ import annotations

from typing import Any

from flask import make_response, render_template, request
from werkzeug.wrappers import Response

from webapp.web import bp


def is_htmx() -> bool:
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render(
    page_template: str, partial_template: str, status: int = 200, **context: Any
) -> Response:
    """The partial for htmx, the full page otherwise; both vary on ``HX-Request``."""
    if is_htmx():
        body = render_template(partial_template, **context) + render_template("_flashes_oob.html")
    else:
        body = render_template(page_template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


@bp.after_request
def _htmx_headers(response: Response) -> Response:
    response.vary.add("HX-Request")
    if is_htmx() and response.status_code in (301, 302, 303, 307, 308):
        # An XHR would follow the redirect and swap a whole page into a row: navigate instead.
        location = response.headers["Location"]
        response = make_response("", 200)
        response.headers["HX-Redirect"] = location
        response.vary.add("HX-Request")
    return response
