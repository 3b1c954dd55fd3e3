"""Importing members from a CSV file: upload, preview (counts, then the rows of each kind),
Apply, and the result with its Undo (DESIGN §9).

The preview's Apply sends the same file again (its text, in a hidden field) with the preview's
digest: when the members changed since, the import would do something else than the preview
said, so the new preview is shown instead (409) and nothing changes.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_login import login_required
from werkzeug.wrappers import Response

from webapp import inputs
from webapp.inputs import MemberQuery
from webapp.models import Via
from webapp.services import member_import, organizations
from webapp.services.errors import DomainError, Forbidden, InvalidInput
from webapp.services.member_import import ImportResult, PreviewOutdated
from webapp.services.organizations import Account
from webapp.services.permissions import Action
from webapp.uploads import allow_import_bodies
from webapp.web import bp
from webapp.web.errors import in_place
from webapp.web.htmx import render
from webapp.web.members import flash_change
from webapp.web.orgs import me

# Before the CSRF check reads the form: an import's form may carry up to 5 MB.
bp.url_value_preprocessor(allow_import_bodies)

KINDS = [
    ("add", "to add"),
    ("update", "to update"),
    ("invite", "to invite"),
    ("remove", "to remove"),
]


def _account(org_id: int) -> Account:
    """The organization, for someone who may manage its members (else 404 / 403)."""
    account = organizations.get_organization(me(), org_id)
    if Action.MANAGE_MEMBERS not in account.allowed:
        raise Forbidden()
    return account


def _page(account: Account, status: int = 200, **context: Any) -> Response:
    context.setdefault("step", "upload")
    context.setdefault("sync", False)
    return render(
        "members/import.html",
        "members/_import.html",
        status,
        account=account,
        allowed=account.allowed,
        kinds=KINDS,
        bytes_max=member_import.IMPORT_BYTES_MAX,
        rows_max=member_import.IMPORT_ROWS_MAX,
        **context,
    )


def _sync() -> bool:
    return request.form.get("sync") in ("true", "y", "on", "1")


def _uploaded() -> tuple[bytes, str]:
    """The file sent (the upload, else the text of a preview's Apply), and its name."""
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        return upload.read(member_import.IMPORT_BYTES_MAX + 1), upload.filename
    content = request.form.get("content")
    if content:
        return content.encode("utf-8"), request.form.get("filename") or "the file"
    raise InvalidInput.field("file", "Choose a CSV file to import.")


def _text(data: bytes) -> str:
    """The file as the preview's Apply sends it back: its text (it was read as UTF-8)."""
    return data.decode("utf-8-sig")


@bp.get("/orgs/<id:org_id>/members/import")
@login_required
def import_page(org_id: int) -> Response:
    return _page(_account(org_id))


@bp.post("/orgs/<id:org_id>/members/import")
@login_required
def import_preview(org_id: int) -> Response:
    """What the file would do; nothing changes."""
    account = _account(org_id)
    sync = _sync()
    try:
        data, filename = _uploaded()
        result = member_import.preview_import(me(), org_id, data, sync=sync)
    except DomainError as error:
        return _page(account, in_place(error), file_error=error.message, sync=sync)
    return _preview(account, result, data, filename, sync)


def _preview(
    account: Account,
    result: ImportResult,
    data: bytes,
    filename: str,
    sync: bool,
    status: int = 200,
    notice: str | None = None,
) -> Response:
    return _page(
        account,
        status,
        step="preview",
        result=result,
        content=_text(data),
        filename=filename,
        sync=sync,
        notice=notice,
    )


@bp.post("/orgs/<id:org_id>/members/import/apply")
@login_required
def import_apply(org_id: int) -> Response:
    """Apply the previewed file: the result and its Undo, or the preview again (409) when the
    file's rows are refused or the members changed since the preview."""
    account = _account(org_id)
    sync = _sync()
    try:
        data, filename = _uploaded()
        result = member_import.apply_import(
            me(),
            org_id,
            data,
            sync=sync,
            via=Via.WEB,
            expected=request.form.get("digest") or None,
        )
    except PreviewOutdated as error:
        result = member_import.preview_import(me(), org_id, data, sync=sync)
        return _preview(account, result, data, filename, sync, 409, error.message)
    except DomainError as error:
        return _page(account, in_place(error), file_error=error.message, sync=sync)
    if not result.applied:
        notice = "Nothing was changed: some rows are not valid or are refused."
        return _preview(account, result, data, filename, sync, 409, notice)
    message = flash_change(
        _summary(result),
        org_id,
        result.change_id,
        _members_query(),
        target="",
    )
    return _page(
        organizations.get_organization(me(), org_id),
        step="result",
        result=result,
        message=message,
        filename=filename,
    )


def _members_query() -> MemberQuery:
    """The members page's first page, where the Undo leads."""
    return inputs.parse(inputs.DashboardMemberQuery, {})


def _summary(result: ImportResult) -> str:
    said = [
        f"{verb} {len(getattr(result, kind)):,}"
        for kind, verb in (
            ("add", "added"),
            ("update", "updated"),
            ("invite", "invited"),
            ("remove", "removed"),
        )
        if getattr(result, kind)
    ]
    if not said:
        return "Imported: every member was already as the file says."
    return f"Import done: {', '.join(said)}."
