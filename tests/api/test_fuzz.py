"""Schemathesis fuzzes every documented operation, in-process, with a Bearer token.

Every default check runs. One setting is adjusted, for a reason a schema cannot express: on the
operations whose ids must name existing users or members (and on the rename whose body id must
match its path, and the transfer whose member must be someone else than the caller), a
schema-valid request can still name the wrong ids, and 422 is then the documented answer
(DESIGN §4), so the positive-data check accepts 422 there and nowhere else.
An import's file is CSV text, which no schema can describe, so there the positive-data check
accepts the documented 400 for a generated string that is no such file.
A ``cursor`` is opaque: only one a page gave is a cursor, and it pages in its own sort and
instead of ``page_number``, which no schema can say, so a generated cursor is replaced by one
made for the generated sort (``real_cursor``) and the checks stay as strict as elsewhere.
The deprecated, state-changing ``GET .../leave`` is left out (the fuzzer would remove its own
user); ``test_leave.py`` tests it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.config._checks import (
    NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES,
    POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES,
)

from webapp import create_app
from webapp.api.openapi import openapi_spec
from webapp.models import Role, Via
from webapp.services import members, organizations, tokens, users
from webapp.services.page_cursor import PageCursor

# Modest by default so the suite stays fast; raise it for a deeper run (ROSTER_FUZZ_EXAMPLES=500).
MAX_EXAMPLES = int(os.environ.get("ROSTER_FUZZ_EXAMPLES", "30"))
# A schema-valid request may name ids that are not users, not members, or not the path's.
IDS_MUST_MATCH = [
    "add_members_post",
    "update_members_put",
    "remove_members_delete",
    "remove_members_by_body_post",
    "update_organization_by_id_put",
    "transfer_ownership_post",
    # And a schema-valid expires_at may be in the past (422, DESIGN §10's contract).
    "create_service_token_post",
]


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # The fuzzer's ignored_auth check sends many bad tokens; the failure limit is tested
    # elsewhere (test_auth.py) and must not turn its 401s into 429s here.
    return {**app_config, "ROSTER_TOKEN_LIMIT_PER_ADDRESS": "1000000 per minute"}


@pytest.fixture
def fuzz_token(app: Flask) -> str:
    """An owner of a few organizations with members in every role, and users who are not."""
    ids = users.create_users(
        [(f"fuzz{n}@example.com", f"Fuzz Person {n:02d}") for n in range(1, 31)], via=Via.CLI
    )
    owner = users.create_user("owner@example.com", "Fuzz Owner", via=Via.CLI)
    roles = list(Role)
    for n in range(3):
        org = organizations.create_organization(owner, f"Fuzz org {n}", via=Via.CLI)
        for i, role in enumerate(roles):
            chunk = ids[i * 4 : i * 4 + 4]
            members.add_members(owner, org.id, chunk, role=role, is_active=i % 2 == 0, via=Via.CLI)
    _, token = tokens.create_token(owner, "fuzz", via=Via.CLI)
    return token


def _spec() -> dict[str, Any]:
    """The served document, built by an app of its own at import (no database is touched).

    ``schemathesis.pytest.from_fixture`` would build it from the ``app`` fixture, but it fails on
    pytest 9 (it sets ``Node._nodeid``, which pytest 9 removed); ``test_openapi.py`` checks that
    this document is the one ``/api/openapi.json`` serves.
    """
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "fuzz", "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    )
    with app.app_context():
        return openapi_spec()


CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"max-examples": MAX_EXAMPLES},
        # A body over MAX_CONTENT_LENGTH is refused before it is read, with 413.
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]
            }
        },
        "operations": [
            {
                # An import's body is CSV text, which no JSON Schema can describe: a generated
                # string that is no CSV with an email column is the documented 400 (bad_file,
                # missing_header), not valid data refused.
                "include-operation-id": ["import_members_post"],
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": [*POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES, "400"]
                    }
                },
            },
            {
                "include-operation-id": IDS_MUST_MATCH,
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": [*POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES, "422"]
                    }
                },
            },
        ],
    }
)
schema = schemathesis.openapi.from_dict(_spec(), config=CONFIG).exclude(
    method="GET", path_regex=r"/leave$"
)


CURSOR_KEYS: dict[str, Any] = {
    "user_id": 1,
    "email": "m",
    "name": "m",
    "role": Role.ADMIN,
    "is_active": True,
    "joined_at": datetime(2026, 1, 1, tzinfo=UTC),
}


def real_cursor(query: dict[str, Any] | None) -> dict[str, Any] | None:
    """A generated cursor becomes a real one for the generated sort, without a page number."""
    if not query or not isinstance(query.get("cursor"), str):
        return query
    sort_by = query.get("sort_by")
    sort_by = sort_by if isinstance(sort_by, str) and sort_by in CURSOR_KEYS else "name"
    cursor = PageCursor(
        sort_by=sort_by,
        sort_ascending=query.get("sort_ascending") != "false",
        after=bool(len(query["cursor"]) % 2),
        key=CURSOR_KEYS[sort_by],
        user_id=1,
        page_number=1,
    )
    return {
        **{k: v for k, v in query.items() if k != "page_number"},
        "sort_by": sort_by,
        "cursor": cursor.encode(),
    }


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_survives_fuzzing(case: Any, fuzz_token: str, isolated_wsgi: Any) -> None:
    # This test's app (and its fresh database): the checks that send probes of their own
    # (ignored_auth...) use the schema's transport, so the app is set there, not per call.
    case.operation.schema.app = isolated_wsgi
    # In every phase (the coverage phase runs no query hooks), before any check's probes.
    case.query = real_cursor(case.query)
    case.call_and_validate(headers={"Authorization": f"Bearer {fuzz_token}"}, app=isolated_wsgi)
