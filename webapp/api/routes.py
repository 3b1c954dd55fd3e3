"""The twelve operations of DESIGN §4, and §8's ownership transfer. Each route parses, calls one
service function, serializes.

Rules, permissions and the audit trail are the services'; errors are translated by
``api/problems.py``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from flask import render_template, request, url_for
from flask_wtf.csrf import CSRFError
from pydantic import BaseModel, TypeAdapter
from werkzeug.exceptions import UnsupportedMediaType
from werkzeug.wrappers import Response

from webapp import inputs
from webapp.api import bp, identity, problems, schemas
from webapp.api.identity import actor, seen_account
from webapp.api.openapi import openapi_json, openapi_spec
from webapp.downloads import csv_attachment
from webapp.models import InvitationStatus, Role, Via
from webapp.services import (
    changes,
    events,
    invitations,
    member_files,
    member_import,
    member_list,
    members,
    organizations,
    ownership,
    service_tokens,
    values,
)
from webapp.services.errors import (
    FieldError,
    InvalidInput,
    NotFound,
    UnprocessableIds,
)
from webapp.services.member_list import MemberPage
from webapp.services.organizations import Account, Metric
from webapp.services.permissions import ServicePrincipal
from webapp.uploads import allow_import_bodies

# Before authentication reads the body (a session's CSRF token may be a form field).
bp.url_value_preprocessor(allow_import_bodies)
bp.before_request(identity.authenticate)


@bp.before_request
def _organization_id_in_range() -> None:
    """An id no organization can have (0 from the converter) is simply not found, after auth."""
    org_id = (request.view_args or {}).get("organization_id")
    if org_id is not None and not values.is_id(org_id):
        raise NotFound()


# A CSRF failure is an HTTP 400 to the app; the API names it (code csrf_failed).
bp.register_error_handler(CSRFError, problems.csrf_problem)

# An id that is no id arrives as 0 (inputs.IdConverter): not found, after authentication.
ORG = "<id:organization_id>"

Body = TypeVar("Body", bound=BaseModel)


@functools.cache
def _adapter(shape: Any) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


def respond(shape: Any, value: Any, status: int = 200, **headers: str) -> Response:
    """``value`` (a service's own dataclass, a list of them, a role) as JSON, through pydantic:
    the same type the OpenAPI document describes."""
    body = _adapter(shape).dump_json(value)
    return Response(body, status=status, mimetype="application/json", headers=headers)


def no_content() -> Response:
    return Response(status=204)


def json_body(model: type[Body]) -> Body:
    """The request body, which must be JSON, validated by ``model`` (400 with field errors).

    Decided: the body's type is ``application/json`` exactly (a ``charset`` parameter, if any,
    must be utf-8, which JSON is). Werkzeug alone would also take any ``application/*+json``
    (``application/vnd.x+json``, ``application/merge-patch+json``), whose rules these operations
    do not follow.
    """
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if request.mimetype != "application/json" or charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(
            "Send the body as JSON with the header 'Content-Type: application/json'."
        )
    raw = request.get_data(cache=True)  # beyond MAX_CONTENT_LENGTH: 413
    try:
        # Numbers with a fraction or exponent are read exactly (Decimal), never as floats: an
        # id written 9007199254740993.0 is that id, not the float nearest to it.
        document = json.loads(
            raw.decode("utf-8"), parse_float=Decimal, parse_constant=_no_constants
        )
    except (UnicodeDecodeError, ValueError, RecursionError, ArithmeticError):
        # ArithmeticError: decimal.InvalidOperation, for an exponent Decimal cannot hold
        # (1e9999999999999999999).
        raise InvalidInput.field("body", "is not valid JSON") from None
    return inputs.parse(model, document)


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# -- accounts --------------------------------------------------------------------------------


@bp.get("/organizations")
def list_organizations() -> Response:
    caller = actor()
    # A member of 1,000 organizations: the database writes the JSON (the same bytes). A
    # service token's own organization, or a row it cannot write, goes through pydantic.
    written = None
    if not isinstance(caller, ServicePrincipal):
        written = organizations.my_organizations_json(caller)
    if written is None:
        return respond(list[Account], organizations.list_my_organizations(caller))
    return Response(written, mimetype="application/json")


@bp.post("/organizations")
def create_organization() -> Response:
    body = json_body(inputs.CreateAccount)
    account = organizations.create_organization(actor(), body.organization_name, via=Via.API)
    location = url_for("api.get_organization", organization_id=account.id)
    return respond(Account, account, 201, Location=location)


@bp.put("/organizations")
def update_organization() -> Response:
    body = json_body(inputs.UpdateAccount)
    account = organizations.rename_organization(
        actor(), body.id, body.organization_name, via=Via.API
    )
    return respond(Account, account)


@bp.put(f"/organizations/{ORG}")
def update_organization_by_id(organization_id: int) -> Response:
    body = json_body(inputs.UpdateAccountById)
    if body.id is not None and body.id != organization_id:
        # Who may see the organization is answered first (404 / 403), then the mismatch.
        organizations.get_organization(actor(), organization_id)
        raise UnprocessableIds(
            "The id in the body names another organization than the path.",
            code="id_mismatch",
            errors=[FieldError("id", "must equal the organization id in the path, or be left out")],
        )
    account = organizations.rename_organization(
        actor(), organization_id, body.organization_name, via=Via.API
    )
    return respond(Account, account)


@bp.get(f"/organizations/{ORG}")
def get_organization(organization_id: int) -> Response:
    seen = seen_account(organization_id)
    return respond(Account, organizations.get_organization(actor(), organization_id, seen=seen))


@bp.delete(f"/organizations/{ORG}")
def delete_organization(organization_id: int) -> Response:
    organizations.delete_organization(actor(), organization_id, via=Via.API)
    return no_content()


@bp.route(f"/organizations/{ORG}/leave", methods=["GET", "HEAD", "POST", "DELETE"])
def leave_organization(organization_id: int) -> Response:
    """Leave. ``HEAD`` only tells whether the caller is a member: it never changes anything."""
    user = actor()
    if request.method == "HEAD":
        organizations.get_my_role(user, organization_id)
        return Response(status=200)
    members.leave_organization(user, organization_id, via=Via.API)
    left = schemas.LeftOrganization(organization_id=organization_id, user_id=user.id, left=True)
    return respond(schemas.LeftOrganization, left)


@bp.after_request
def _leave_is_never_cached(response: Response) -> Response:
    if request.endpoint == "api.leave_organization":
        response.headers["Cache-Control"] = "no-store"
    if response.status_code == 204 or (request.method == "OPTIONS" and not response.data):
        del response.headers["Content-Type"]  # no body, so no type (not text/html)
    return response


@bp.get(f"/organizations/{ORG}/role")
def get_my_role(organization_id: int) -> Response:
    return respond(Role, organizations.get_my_role(actor(), organization_id))


@bp.get(f"/organizations/{ORG}/summary")
def get_summary(organization_id: int) -> Response:
    return respond(list[Metric], organizations.get_summary(actor(), organization_id))


@bp.post(f"/organizations/{ORG}/transfer")
def transfer_ownership(organization_id: int) -> Response:
    body = json_body(inputs.TransferOwnership)
    account = ownership.transfer_ownership(
        actor(), organization_id, body.user_id, body.my_new_role, via=Via.API
    )
    return respond(Account, account)


# -- members ---------------------------------------------------------------------------------


@bp.get(f"/organizations/{ORG}/users")
def list_members(organization_id: int) -> Response:
    query = inputs.parse(inputs.MemberQuery, request.args.to_dict())
    seen = seen_account(organization_id)
    page = member_list.list_members(actor(), organization_id, query, seen=seen)
    return respond(MemberPage, page)


@bp.get(f"/organizations/{ORG}/users.csv")
def export_members(organization_id: int) -> Response:
    """Every member the list's filters match, in its sort, as CSV; paging parameters ignored."""
    filters = inputs.parse(inputs.MemberFilters, request.args.to_dict())
    chunks = member_files.export_members(actor(), organization_id, filters)
    return csv_attachment(chunks, f"roster-{organization_id}-members.csv")


@bp.post(f"/organizations/{ORG}/users")
def add_members(organization_id: int) -> Response:
    return _change_members(members.add_members, inputs.AddMembers, organization_id)


@bp.put(f"/organizations/{ORG}/users")
def update_members(organization_id: int) -> Response:
    return _change_members(members.update_members, inputs.UpdateMembers, organization_id)


def _change_members(
    change: Callable[..., Account], shape: type[inputs.MemberChanges], organization_id: int
) -> Response:
    """Add or update: the body's ids, and only the role and flag it sent (the service's
    defaults for the rest)."""
    body = json_body(shape)
    account = change(actor(), organization_id, body.user_ids, via=Via.API, **body.given())
    return respond(Account, account)


@bp.delete(f"/organizations/{ORG}/users/<user_ids:user_ids>")
def remove_members(organization_id: int, user_ids: str) -> Response:
    ids = values.parse_user_ids(user_ids)
    members.remove_members(actor(), organization_id, ids, via=Via.API)
    return no_content()


@bp.post(f"/organizations/{ORG}/users/remove")
def remove_members_by_body(organization_id: int) -> Response:
    """The DELETE form for lists too long for a URL: the same service, ids in the body."""
    body = json_body(inputs.MemberIds)
    members.remove_members(actor(), organization_id, body.user_ids, via=Via.API)
    return no_content()


@bp.post(f"/organizations/{ORG}/changes/<change_id>/revert")
def revert_change(organization_id: int, change_id: str) -> Response:
    """Undo one change set (DESIGN §9): a new change set restoring what it did."""
    done = changes.revert_change(actor(), organization_id, change_id, via=Via.API)
    return respond(changes.Reverted, done)


@bp.post(f"/organizations/{ORG}/imports")
def import_members(organization_id: int) -> Response:
    """Preview or apply a CSV of members (DESIGN §9): the same answer either way."""
    query = inputs.parse(inputs.ImportQuery, request.args.to_dict())
    data = import_file()
    if query.mode == "apply":
        result = member_import.apply_import(
            actor(), organization_id, data, sync=query.sync, via=Via.API
        )
    else:
        result = member_import.preview_import(actor(), organization_id, data, sync=query.sync)
    return respond(member_import.ImportResult, result)


IMPORT_TYPES = ("text/csv", "multipart/form-data")


def import_file() -> bytes:
    """The file of an import: the body as ``text/csv``, or the multipart field ``file``. This
    route reads up to the import's own 5 MB (and a little for the multipart framing), above the
    app's body cap (``webapp.uploads``); beyond it, 413."""
    if request.mimetype == "text/csv":
        return request.get_data(cache=True)
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is not None:
            return upload.read(member_import.IMPORT_BYTES_MAX + 1)
        text = request.form.get("file")  # a part without a file name: its text is the file
        if text is None:
            raise InvalidInput.field("file", "send the CSV file as the multipart field 'file'")
        return text.encode("utf-8")
    raise UnsupportedMediaType(
        "Send the CSV as the body with 'Content-Type: text/csv', or as the field 'file' of a "
        "multipart/form-data body."
    )


# -- the description -------------------------------------------------------------------------


# -- invitations (DESIGN §8) ------------------------------------------------------------------


@bp.post(f"/organizations/{ORG}/invitations")
def create_invitations(organization_id: int) -> Response:
    body = json_body(inputs.Invite)
    made = invitations.invite(actor(), organization_id, body.emails, via=Via.API, **body.given())
    return respond(list[invitations.Invitation], made.invitations, 201)


@bp.get(f"/organizations/{ORG}/invitations")
def list_invitations(organization_id: int) -> Response:
    query = inputs.parse(inputs.InvitationQuery, request.args.to_dict())
    status = InvitationStatus(query.status) if query.status else None
    found = invitations.list_invitations(actor(), organization_id, status)
    return respond(list[invitations.Invitation], found)


@bp.delete(f"/organizations/{ORG}/invitations/<id:invitation_id>")
def revoke_invitation(organization_id: int, invitation_id: int) -> Response:
    invitations.revoke(actor(), organization_id, invitation_id, via=Via.API)
    return no_content()


@bp.post(f"/organizations/{ORG}/invitations/<id:invitation_id>/resend")
def resend_invitation(organization_id: int, invitation_id: int) -> Response:
    sent = invitations.resend(actor(), organization_id, invitation_id, via=Via.API)
    return respond(invitations.Invitation, sent)


@bp.get("/openapi.json")
def openapi_document() -> Response:
    return Response(openapi_json(), mimetype="application/json")


@bp.get("/docs")
def docs() -> str:
    """The OpenAPI document rendered as a page, server-side: no scripts, nothing from a CDN."""
    return render_template("api/docs.html", spec=openapi_spec())


# -- events (DESIGN §9) ------------------------------------------------------------------------


@bp.get(f"/organizations/{ORG}/events")
def list_events(organization_id: int) -> Response:
    query = inputs.parse(inputs.EventQuery, request.args.to_dict())
    return respond(events.EventPage, events.list_events(actor(), organization_id, query))


# -- service tokens (DESIGN §10) ----------------------------------------------------------------


@bp.post(f"/organizations/{ORG}/service-tokens")
def create_service_token(organization_id: int) -> Response:
    """The answer carries the token's text, the only time it is shown."""
    body = json_body(inputs.CreateServiceToken)
    made = service_tokens.create_service_token(
        actor(), organization_id, body.name, body.scope, body.expires_at, via=Via.API
    )
    return respond(service_tokens.CreatedServiceToken, made, 201)


@bp.get(f"/organizations/{ORG}/service-tokens")
def list_service_tokens(organization_id: int) -> Response:
    found = service_tokens.list_service_tokens(actor(), organization_id)
    return respond(list[service_tokens.ListedServiceToken], found)


@bp.delete(f"/organizations/{ORG}/service-tokens/<id:token_id>")
def revoke_service_token(organization_id: int, token_id: int) -> Response:
    service_tokens.revoke_service_token(actor(), organization_id, token_id, via=Via.API)
    return no_content()
