"""The OpenAPI 3.1 document of the API, built from the routes and the types they use.

Paths and methods come from the blueprint's URL rules; bodies and parameters from the inputs
that parse requests (``webapp.inputs``), answers from the services' own dataclasses, which the
routes serialize (pydantic emits JSON Schema 2020-12, OpenAPI 3.1's dialect). ``OPERATIONS``
adds what a rule cannot say: the summary, the success answer, and which errors an operation
can give. A test checks that every API route has an entry here and the other way round.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from flask import current_app
from pydantic import BaseModel, TypeAdapter

from webapp import inputs
from webapp.api import schemas
from webapp.config import REQUEST_LINE_MAX
from webapp.models import Role
from webapp.services import values
from webapp.services.changes import Reverted
from webapp.services.events import EventPage
from webapp.services.invitations import Invitation
from webapp.services.member_import import IMPORT_BYTES_MAX, IMPORT_ROWS_MAX, ImportResult
from webapp.services.member_list import MemberPage
from webapp.services.organizations import Account, Metric
from webapp.services.service_tokens import CreatedServiceToken, ListedServiceToken

REF = "#/components/schemas/{model}"
PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Operation:
    summary: str
    success: int
    response: str | None = None  # a key of ``_component_schemas()``
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    description: str = ""
    deprecated: bool = False
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)
    tag: str = "Accounts"
    media_type: str = "application/json"  # of the success answer
    # A request body that is not JSON: its content by media type (an import's CSV).
    content: dict[str, Any] | None = None


_NO_STORE = {
    "Cache-Control": {
        "description": "Always `no-store`: an answer to leave is never cached.",
        "required": True,
        "schema": {"type": "string", "const": "no-store"},
    }
}
_LEAVE = (
    "You leave the organization; a suspended member may too. The last active owner cannot "
    "leave (409): promote another member to OWNER first."
)
_MEMBERS_BODY = (
    "All or nothing: every listed user is processed, or nothing changes. `user_ids` is a JSON "
    'array or the comma-separated string form ("14,31,33,43").'
)

# (endpoint, method) -> what the route does. 401 and 429 (failed token checks) and 500 apply to
# every operation and are added below.
OPERATIONS: dict[tuple[str, str], Operation] = {
    ("api.list_organizations", "GET"): Operation(
        "My accounts",
        200,
        "AccountList",
        description="Every organization you belong to, suspended memberships included, by name.",
    ),
    ("api.create_organization", "POST"): Operation(
        "Create an account",
        201,
        "Account",
        body=inputs.CreateAccount,
        errors=(400, 413, 415),
        description="You become its active OWNER.",
        headers={
            "Location": {
                "description": "The new account's URL.",
                "required": True,
                "schema": {"type": "string", "format": "uri-reference"},
            }
        },
    ),
    ("api.update_organization", "PUT"): Operation(
        "Rename an account (id in the body)",
        200,
        "Account",
        body=inputs.UpdateAccount,
        errors=(400, 403, 404, 413, 415),
        description="OWNER or ADMIN.",
    ),
    ("api.update_organization_by_id", "PUT"): Operation(
        "Rename an account",
        200,
        "Account",
        body=inputs.UpdateAccountById,
        errors=(400, 403, 404, 413, 415, 422),
        description="OWNER or ADMIN. A body `id` that differs from the path is refused (422).",
    ),
    ("api.get_organization", "GET"): Operation("Get an account", 200, "Account", errors=(403, 404)),
    ("api.delete_organization", "DELETE"): Operation(
        "Delete an account",
        204,
        errors=(400, 403, 404),
        description="OWNER only. Every membership goes with it; the audit log keeps its events.",
    ),
    ("api.leave_organization", "GET"): Operation(
        "Leave an account (deprecated GET)",
        200,
        "LeftOrganization",
        errors=(400, 404, 409),
        deprecated=True,
        headers=_NO_STORE,
        description=(
            _LEAVE + " Kept for the integrations that follow the original docs; use `POST` or "
            "`DELETE` on the same path instead. With a session cookie it needs `X-CSRFToken`."
        ),
    ),
    ("api.leave_organization", "HEAD"): Operation(
        "Check you could leave",
        200,
        errors=(404,),
        headers=_NO_STORE,
        description="Changes nothing: 200 when you are a member (suspended or not), else 404.",
    ),
    ("api.leave_organization", "POST"): Operation(
        "Leave an account",
        200,
        "LeftOrganization",
        errors=(400, 404, 409),
        headers=_NO_STORE,
        description=_LEAVE,
    ),
    ("api.leave_organization", "DELETE"): Operation(
        "Leave an account (DELETE)",
        200,
        "LeftOrganization",
        errors=(400, 404, 409),
        headers=_NO_STORE,
        description=_LEAVE,
    ),
    ("api.get_my_role", "GET"): Operation(
        "My role",
        200,
        "Role",
        errors=(404,),
        description='A bare JSON string such as `"ADMIN"`. A suspended member may ask too.',
    ),
    ("api.get_summary", "GET"): Operation(
        "Summary",
        200,
        "MetricList",
        errors=(403, 404),
        description=(
            "OWNER, ADMIN or ACCOUNTING. Metrics: members_total, members_active, "
            "members_inactive, one role_* count per role, owners_active, joined_last_30_days, "
            "invitations_pending."
        ),
    ),
    ("api.list_events", "GET"): Operation(
        "List events",
        200,
        "EventPage",
        query=inputs.EventQuery,
        errors=(400, 403, 404),
        tag="Events",
        description=(
            "The audit trail, newest first: one event per member a change touched (a rename "
            "has one without a member), with the `change_id` every event of one change shares. "
            "Pages by keyset: send a page's `next_cursor` as `cursor` for the events just older; "
            "walking from the newest page to the oldest gives every event exactly once, however "
            "many arrive meanwhile. `actor` is the acting user's email address. OWNER or ADMIN."
        ),
    ),
    ("api.revert_change", "POST"): Operation(
        "Revert a change",
        200,
        "Reverted",
        errors=(403, 404, 409),
        tag="Events",
        description=(
            "Undoes the change set `change_id` (an event's `change_id`), all or nothing, as a "
            "new change set: members it added are removed, members it changed get their role "
            "and active flag back, members it removed come back with their role, flag and "
            "`joined_at`, and its invitations still pending are revoked. 409 "
            "(`changed_since`, `user_ids`) when a member it touched has been changed by a later "
            "change; 409 (`not_revertible`) for a change of something else than members or "
            "invitations (a rename); 409 (`last_owner`) when no active owner would remain. "
            "Needs what the change needed: OWNER or ADMIN, and OWNER when it touched an owner. "
            "A revert can be reverted in turn."
        ),
    ),
    ("api.create_invitations", "POST"): Operation(
        "Invite people by email",
        201,
        "InvitationList",
        body=inputs.Invite,
        errors=(400, 403, 404, 409, 413, 415),
        tag="Invitations",
        description=(
            "Invites 1 to 1,000 addresses with one role, all or none, and mails each its link "
            "(after the change is saved; a failed mail is kept on the invitation for resend). "
            "400 lists malformed addresses in `emails`; 409 lists those already members or "
            "with a pending invitation. OWNER or ADMIN; only an OWNER may invite owners. "
            "Invitations expire after 7 days. 429 past the organization's mail limit."
        ),
    ),
    ("api.list_invitations", "GET"): Operation(
        "List invitations",
        200,
        "InvitationList",
        query=inputs.InvitationQuery,
        errors=(400, 403, 404),
        tag="Invitations",
        description="Newest first. OWNER or ADMIN.",
    ),
    ("api.revoke_invitation", "DELETE"): Operation(
        "Revoke an invitation",
        204,
        errors=(403, 404, 409),
        tag="Invitations",
        description="Its link stops working. Only a pending invitation (else 409).",
    ),
    ("api.resend_invitation", "POST"): Operation(
        "Resend an invitation",
        200,
        "Invitation",
        errors=(403, 404, 409),
        tag="Invitations",
        description=(
            "Mails a fresh link with a fresh expiry; the old link stops working. A pending or "
            "expired invitation; an accepted or revoked one is 409."
        ),
    ),
    ("api.create_service_token", "POST"): Operation(
        "Create a service token",
        201,
        "CreatedServiceToken",
        body=inputs.CreateServiceToken,
        errors=(400, 403, 404, 413, 415, 422),
        tag="Service tokens",
        description=(
            "OWNER or ADMIN (never a token). The answer's `token` is shown this once; it is "
            "used as `Authorization: Bearer` on this organization's routes only. 422 "
            "(`invalid_service_token`, `errors`) for an empty or long name, an unknown scope, "
            "or an `expires_at` that is malformed or not in the future."
        ),
    ),
    ("api.list_service_tokens", "GET"): Operation(
        "List service tokens",
        200,
        "ServiceTokenList",
        errors=(403, 404),
        tag="Service tokens",
        description=(
            "Newest first, revoked ones included (`revoked_at`), with who made each "
            "(`created_by`, their address as it was); never the token. OWNER or ADMIN."
        ),
    ),
    ("api.revoke_service_token", "DELETE"): Operation(
        "Revoke a service token",
        204,
        errors=(403, 404),
        tag="Service tokens",
        description="It answers 401 from now on. OWNER or ADMIN; 404 for another org's token.",
    ),
    ("api.transfer_ownership", "POST"): Operation(
        "Transfer ownership",
        200,
        "Account",
        body=inputs.TransferOwnership,
        errors=(400, 403, 404, 409, 413, 415, 422),
        description=(
            "OWNER only. In one transaction the member `user_id` becomes an active OWNER and "
            "you take `my_new_role`: any role, and with OWNER you both are owners. The answer "
            "is the account as you now see it. 422 (`not_members`, `user_ids`) when they are "
            "not a member, 422 (`self_transfer`) when they are you, 409 (`member_suspended`, "
            "`account_deactivated`) when their membership or account is suspended. Nothing "
            "changes when they are already an owner and you keep OWNER."
        ),
    ),
    ("api.import_members", "POST"): Operation(
        "Import members from CSV",
        200,
        "ImportResult",
        query=inputs.ImportQuery,
        errors=(400, 403, 404, 409, 413, 415),
        tag="Members",
        content={
            "text/csv": {
                "schema": {
                    "type": "string",
                    "description": "CSV text: a header row, then one member a line.",
                    "examples": ["email,role,is_active\r\nada@example.com,ADMIN,true\r\n"],
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "contentMediaType": "text/csv",
                            "description": "The CSV file.",
                        }
                    },
                }
            },
        },
        description=(
            "The CSV as the body (`text/csv`) or as the multipart field `file`: UTF-8 with or "
            "without BOM, comma or semicolon, a header row naming the columns in any case and "
            "order: `email` (required), `role` (default VIEWER), `is_active` (default true; "
            "true/false, yes/no, 1/0); other columns are ignored, so an export reads back. At "
            f"most {IMPORT_ROWS_MAX:,} rows and {IMPORT_BYTES_MAX // (1024 * 1024)} MB (this "
            "route's own limit, above the other bodies'), else 413 (`file_too_large`); a file "
            "that is not UTF-8 CSV with an `email` column is 400 (`bad_file`, "
            "`missing_header`). `mode=preview` (the default) says what the file would do and "
            "changes nothing: the addresses with an account to `add`, the members to `update`, "
            "the addresses without one to `invite`, with `sync=true` the members the file leaves "
            "out to `remove` (never an owner, never you), the rows already as they say "
            "(`unchanged`), the rows that are not valid (`errors`, with the line: the header is "
            "line 1) and those the rules refuse (`refused`: only an OWNER may add, invite, change "
            "or grant owners; an import never changes your own membership). `mode=apply` with "
            "any error or refusal answers the same with `applied: false` and changes nothing; "
            "otherwise it does everything in one transaction, one change set (`change_id`, "
            "which `POST .../changes/{change_id}/revert` undoes), and mails the invitations. "
            "OWNER or ADMIN. 429 past the organization's mail limit."
        ),
    ),
    ("api.list_members", "GET"): Operation(
        "List members",
        200,
        "MemberPage",
        query=inputs.MemberQuery,
        errors=(400, 403, 404),
        tag="Members",
        description=(
            "One page, sorted and filtered. Every parameter that is not valid is named in "
            "`errors` of the 400 answer."
        ),
    ),
    ("api.export_members", "GET"): Operation(
        "Export members as CSV",
        200,
        "MembersCsv",
        query=inputs.MemberFilters,
        errors=(400, 403, 404),
        tag="Members",
        media_type="text/csv",
        headers={
            "Content-Disposition": {
                "description": '`attachment; filename="roster-{organization_id}-members.csv"`.',
                "required": True,
                "schema": {"type": "string"},
            }
        },
        description=(
            "Every member the filters match, in the sort asked for, one CSV row each (RFC "
            "4180, UTF-8): `user_id,email,name,role,is_active,joined_at`, `is_active` as "
            "`true`/`false`, `joined_at` in ISO 8601 UTC with `Z`. Paging parameters are "
            "ignored. A cell starting with `=`, `+`, `-`, `@`, tab or carriage return starts "
            "with `'` instead, so a spreadsheet shows it rather than runs it. Sent as it is "
            "read, in constant memory, whatever the size. Any active member may export."
        ),
    ),
    ("api.add_members", "POST"): Operation(
        "Add members",
        200,
        "Account",
        body=inputs.AddMembers,
        errors=(400, 403, 404, 409, 413, 415, 422),
        tag="Members",
        description=(
            _MEMBERS_BODY + " Every id must be a user (else 422 listing the unknown ids) and not "
            "yet a member (else 409 listing them). Only an OWNER may add owners."
        ),
    ),
    ("api.update_members", "PUT"): Operation(
        "Update members",
        200,
        "Account",
        body=inputs.UpdateMembers,
        errors=(400, 403, 404, 409, 413, 415, 422),
        tag="Members",
        description=(
            _MEMBERS_BODY + " Give `role`, `is_active` or both. Every id must be a member (else "
            "422 listing the others). 409 when no active owner would remain."
        ),
    ),
    ("api.remove_members", "DELETE"): Operation(
        "Remove members",
        204,
        errors=(400, 403, 404, 409, 414, 422),
        tag="Members",
        description=(
            "`user_ids` like `23,63,34`. All or nothing. Every id must be a member (else 422 "
            "listing the others). 409 when no active owner would remain. A list too long for "
            "the URL is answered 414: send it to `POST .../users/remove` instead."
        ),
    ),
    ("api.remove_members_by_body", "POST"): Operation(
        "Remove members (ids in the body)",
        204,
        body=inputs.MemberIds,
        errors=(400, 403, 404, 409, 413, 415, 422),
        tag="Members",
        description=(
            _MEMBERS_BODY + " The DELETE form's rules, for lists too long for a URL (up to "
            "10,000 ids). Every id must be a member (else 422 listing the others). 409 when no "
            "active owner would remain."
        ),
    ),
}

# The API's own description, not an operation of it.
UNDOCUMENTED_ENDPOINTS = frozenset({"api.openapi_document", "api.docs"})
ALWAYS = (401, 429, 500, 503)

# The DELETE form's id list is bounded by the request line `roster serve` reads, not by the
# 10,000 ids the service takes: what is left of it around the longest organization id.
USER_IDS_PATH_MAX = REQUEST_LINE_MAX - len(
    f"DELETE /api/organizations/{values.ID_MAX}/users/ HTTP/1.1"
)


def _ids_that_fit(digits: int) -> int:
    """How many ids of ``digits`` digits, comma-separated, fit in ``USER_IDS_PATH_MAX``."""
    return (USER_IDS_PATH_MAX + 1) // (digits + 1)


_PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "organization_id": {
        "description": "The account's id.",
        "schema": {"type": "integer", "minimum": 1, "maximum": values.ID_MAX},
    },
    "change_id": {
        "description": "A change set's id: the `change_id` of its events.",
        "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
    },
    "invitation_id": {
        "description": "The invitation's id.",
        "schema": {"type": "integer", "minimum": 1, "maximum": values.ID_MAX},
    },
    "token_id": {
        "description": "The service token's id.",
        "schema": {"type": "integer", "minimum": 1, "maximum": values.ID_MAX},
    },
    "user_ids": {
        "description": (
            "Comma-separated user ids, like `23,63,34`. At most "
            f"{USER_IDS_PATH_MAX:,} characters: what fits in the {REQUEST_LINE_MAX:,}-byte "
            "request line the server reads, with a 19-digit organization id; that is "
            f"{_ids_that_fit(19):,} ids of 19 digits or {_ids_that_fit(6):,} of 6 digits, with "
            "the commas as they are (percent-encoded, `%2C` takes three characters). A longer "
            "URL is answered 414."
        ),
        "schema": {
            "type": "string",
            "pattern": inputs.USER_IDS_TEXT_PATTERN,
            "maxLength": USER_IDS_PATH_MAX,
        },
    },
}

_ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "`Bearer`: send an API token.",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    },
    503: {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}

_ERROR_DESCRIPTIONS = {
    400: "Malformed or invalid input: bad JSON, wrong types, values out of range "
    "(`errors` names each field), strings that are not email addresses (`malformed_emails`, "
    "`emails` lists them), or a missing CSRF token with a session cookie.",
    401: "No credentials, or a bad token.",
    403: "Your role does not allow this, or your membership is suspended.",
    404: "No such account, or you are not a member of it.",
    409: "Conflicts with the current state: the last active owner, users already members "
    "(`user_ids` lists them), addresses already members or invited (`emails` lists them), an "
    "invitation no longer pending, a suspended member named to take over, or a change that "
    "cannot be reverted (`changed_since` lists in `user_ids` the members changed since).",
    413: "The body is larger than the server accepts.",
    414: "The request line is longer than the server reads (see the parameter's maxLength).",
    415: "The body is not sent as `application/json` (UTF-8).",
    422: "Ids that do not name what the operation needs (`user_ids` lists them).",
    429: "Too many failed token checks from your address.",
    500: "Something went wrong on our side; nothing was changed.",
    503: "The database is unavailable; nothing was changed. Try again after `Retry-After`.",
}


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def _component_schemas() -> dict[str, Any]:
    bodies = dict.fromkeys(op.body for op in OPERATIONS.values() if op.body is not None)
    shapes: list[tuple[Any, str]] = [
        *((body, "validation") for body in bodies),
        (Account, "serialization"),
        (MemberPage, "serialization"),
        (Metric, "serialization"),
        (Invitation, "serialization"),
        (EventPage, "serialization"),
        (Reverted, "serialization"),
        (ImportResult, "serialization"),
        (CreatedServiceToken, "serialization"),
        (ListedServiceToken, "serialization"),
        (schemas.LeftOrganization, "serialization"),
        (schemas.Problem, "serialization"),
    ]
    _, top = TypeAdapter.json_schemas(
        [(shape, mode, TypeAdapter(shape)) for shape, mode in shapes],  # type: ignore[misc]
        ref_template=REF,
    )
    components: dict[str, Any] = dict(top["$defs"])
    components["Role"] = TypeAdapter(Role).json_schema(mode="serialization")
    components["AccountList"] = {"type": "array", "items": {"$ref": REF.format(model="Account")}}
    components["MetricList"] = {"type": "array", "items": {"$ref": REF.format(model="Metric")}}
    components["InvitationList"] = {
        "type": "array",
        "items": {"$ref": REF.format(model="Invitation")},
    }
    components["ServiceTokenList"] = {
        "type": "array",
        "items": {"$ref": REF.format(model="ListedServiceToken")},
    }
    components["MembersCsv"] = {
        "type": "string",
        "description": "CSV text: the header `user_id,email,name,role,is_active,joined_at`, "
        "then one line per member.",
    }
    return components


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(mode="validation", ref_template=REF)
    parameters = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        # A query value is never null: keep the non-null branch of "X | None".
        branches = [b for b in prop.pop("anyOf", []) if b.get("type") != "null"]
        if branches:
            prop = {**branches[0], **prop}
        description = prop.pop("description", None)
        prop.pop("title", None)
        if prop.get("default", 0) is None:
            del prop["default"]
        parameter = {"name": name, "in": "query", "required": False, "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _responses(op: Operation, method: str) -> dict[str, Any]:
    success: dict[str, Any] = {"description": HTTPStatus(op.success).phrase}
    if op.response and method != "HEAD":
        success["content"] = {op.media_type: {"schema": {"$ref": REF.format(model=op.response)}}}
    if op.headers:
        success["headers"] = op.headers
    responses: dict[str, Any] = {str(op.success): success}
    for status in sorted({*op.errors, *ALWAYS}):
        responses[str(status)] = {"$ref": f"#/components/responses/{status}"}
    return responses


def _error_responses() -> dict[str, Any]:
    out = {}
    for status, description in _ERROR_DESCRIPTIONS.items():
        response: dict[str, Any] = {
            "description": description,
            "content": {PROBLEM: {"schema": {"$ref": REF.format(model="Problem")}}},
        }
        if status in _ERROR_HEADERS:
            response["headers"] = _ERROR_HEADERS[status]
        out[str(status)] = response
    return out


def _operation(endpoint: str, method: str, op: Operation, path_names: list[str]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": f"{endpoint.removeprefix('api.')}_{method.lower()}",
        "summary": op.summary,
        "tags": [op.tag],
        "responses": _responses(op, method),
    }
    if op.description:
        doc["description"] = op.description
    if op.deprecated:
        doc["deprecated"] = True
    parameters = [
        {"name": name, "in": "path", "required": True, **_PATH_PARAMETERS[name]}
        for name in path_names
    ]
    if op.query is not None:
        parameters += _query_parameters(op.query)
    if parameters:
        doc["parameters"] = parameters
    if op.content is not None:
        doc["requestBody"] = {"required": True, "content": op.content}
    if op.body is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model=op.body.__name__)}}
            },
        }
    return doc


def api_rules() -> list[tuple[str, str, list[str], str]]:
    """(endpoint, OpenAPI path, path parameter names, method) for every documented API route."""
    found = []
    for rule in current_app.url_map.iter_rules():
        if not rule.endpoint.startswith("api.") or rule.endpoint in UNDOCUMENTED_ENDPOINTS:
            continue
        path = _openapi_path(rule.rule)
        for method in sorted(rule.methods or ()):
            automatic = method == "OPTIONS" or (method == "HEAD" and "GET" in rule.methods)
            if automatic and (rule.endpoint, method) not in OPERATIONS:
                continue  # Flask's automatic HEAD and OPTIONS
            found.append((rule.endpoint, path, list(rule.arguments), method))
    return found


@functools.cache
def openapi_json() -> str:
    """The document as JSON text, built once (every app has the same routes)."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint, path, arguments, method in api_rules():
        op = OPERATIONS[(endpoint, method)]
        names = [name for name in re.findall(r"{([^}]+)}", path) if name in arguments]
        paths.setdefault(path, {})[method.lower()] = _operation(endpoint, method, op, names)
    spec = {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "Roster API",
            "version": "1.0.0",
            "description": (
                "Organization access control: accounts, members and roles ("
                + ", ".join(r.name for r in Role)
                + ", highest first). Timestamps are ISO 8601 in UTC with `Z`. "
                "Every error is an RFC 9457 problem (`application/problem+json`) with a stable "
                "`code`."
            ),
        },
        "servers": [{"url": "/api"}],
        "security": [{"bearerAuth": []}, {"cookieAuth": []}],
        "tags": [
            {"name": "Accounts", "description": "Organizations, as one member sees them."},
            {"name": "Members", "description": "Bulk member management, all or nothing."},
            {"name": "Invitations", "description": "People brought in by email."},
            {"name": "Events", "description": "The audit trail, for integrations."},
            {"name": "Service tokens", "description": "An organization's integration tokens."},
        ],
        "paths": {path.removeprefix("/api"): ops for path, ops in sorted(paths.items())},
        "components": {
            "schemas": _component_schemas(),
            "responses": _error_responses(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A personal API token (`roster tokens create EMAIL`, or the "
                    "dashboard's token page), or an organization's service token (`rss_...`, "
                    "its settings' Service tokens page): that organization's routes only, 404 "
                    "on any other; `read` GET only, `write` also members below OWNER, `scim` "
                    "no /api route (403). Never needs a CSRF token.",
                },
                "cookieAuth": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "session",
                    "description": "The dashboard's session cookie. Every method but GET and "
                    "HEAD, and the GET on `leave`, also needs the `X-CSRFToken` header (the "
                    "value of the page's `csrf-token` meta tag).",
                },
            },
        },
    }
    return json.dumps(spec, ensure_ascii=False)


def openapi_spec() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(openapi_json())
    return result
