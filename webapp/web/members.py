"""The member table: list, inline changes, bulk changes, adding by email or id.

Every URL keeps the list's state (page, sort, search, filters) in its query string, so an
action answers with the same page the person was looking at.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import flash, redirect, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from webapp.models import Role, Via
from webapp.services import members, organizations
from webapp.services.errors import DomainError, Forbidden, InvalidInput, NotFound
from webapp.services.members import (
    PAGE_SIZE_DEFAULT,
    SORT_DEFAULT,
    Member,
    MemberPage,
    MemberQuery,
)
from webapp.services.organizations import Account
from webapp.services.permissions import (
    Action,
    change_refusal,
    grantable_roles,
    untouchable_roles,
)
from webapp.web import bp
from webapp.web.errors import attach_to_form, in_place
from webapp.web.forms import (
    BULK_ACTIONS,
    PAGE_SIZES,
    ROLE_CHOICES,
    AddMembersForm,
    BulkForm,
    MemberForm,
    member_query,
    parse_entries,
    parse_ids,
    query_args,
)
from webapp.web.htmx import is_htmx, render
from webapp.web.orgs import me

COLUMNS = [
    ("name", "Name"),
    ("email", "Email"),
    ("user_id", "ID"),
    ("role", "Role"),
    ("is_active", "Status"),
    ("joined_at", "Joined"),
]
SORT_LABELS = dict(COLUMNS)


def _list_url(org_id: int, query: MemberQuery, **changes: object) -> str:
    return url_for("web.members_list", org_id=org_id, **query_args(query, **changes))


def _page(org_id: int, query: MemberQuery) -> MemberPage:
    """The page asked for; past the end (after a bulk removal) the last page instead."""
    page = members.list_members(me(), org_id, query)
    if not page.items and query.page_number > 0 and page.total_items:
        last = MemberQuery(**{**query.__dict__, "page_number": page.total_pages - 1})
        page = members.list_members(me(), org_id, last)
    return page


def _members_page(
    org_id: int,
    query: MemberQuery,
    *,
    partial: str = "members/_region.html",
    status: int = 200,
    page: MemberPage | None = None,
    **context: Any,
) -> Response:
    account = organizations.get_organization(me(), org_id)
    page = page or _page(org_id, query)
    if page.page_number != query.page_number:
        query = MemberQuery(**{**query.__dict__, "page_number": page.page_number})
    manages = Action.MANAGE_MEMBERS in account.allowed
    # No bulk bar over an empty list: there is nothing to select.
    show_bulk = manages and page.total_items > 0
    add_form = context.setdefault("add_form", AddMembersForm(formdata=None))
    if not manages:
        # The add form is not drawn for this user (their role changed since the page loaded):
        # say why their action was refused where it will be seen.
        for message in add_form.form_errors:
            flash(message, "error")
    if not show_bulk and context.get("bulk_error"):
        flash(context["bulk_error"], "error")
    # Offer only the roles this user may give; the form still reads any role, so a stale page
    # posting one gets the rule's own refusal.
    grantable = grantable_roles(account.allowed)
    add_form.role.choices = [c for c in ROLE_CHOICES if Role[c.value] in grantable]
    context.setdefault("bulk_form", BulkForm(formdata=None))
    context.setdefault("row_errors", {})
    context.setdefault("selected", set())
    return render(
        "members/index.html",
        partial,
        status,
        account=account,
        allowed=account.allowed,
        grantable=grantable,
        locked=_locked(account, page.items),
        matching_refusal=_matching_refusal(org_id, query, account) if show_bulk else None,
        show_bulk=show_bulk,
        query=query,
        page=page,
        columns=COLUMNS,
        sort_labels=SORT_LABELS,
        sort_default=SORT_DEFAULT,
        page_sizes=PAGE_SIZES,
        page_size_default=PAGE_SIZE_DEFAULT,
        bulk_actions=BULK_ACTIONS,
        list_url=lambda **changes: _list_url(org_id, query, **changes),
        args=query_args(query),
        **context,
    )


def _locked(account: Account, items: Iterable[Member]) -> dict[int, str]:
    """The rows this user manages members but may not change, with the reason each gives."""
    if Action.MANAGE_MEMBERS not in account.allowed:
        return {}
    return {
        m.user_id: reason
        for m in items
        if (reason := change_refusal(account.allowed, m.role)) is not None
    }


def _matching_refusal(org_id: int, query: MemberQuery, account: Account) -> str | None:
    """Why "every member matching the filter" can only be refused for this user, if it can.

    The members matched on other pages count too: an admin's list with owners in it.
    """
    untouchable = untouchable_roles(account.allowed)
    if not untouchable:
        return None
    count = members.count_matching(me(), org_id, query, roles=untouchable)
    if not count:
        return None
    names = " or ".join(role.name for role in untouchable)
    return (
        f"These include {count:,} {names} member{'s' if count != 1 else ''}. "
        f"{change_refusal(account.allowed, untouchable[0])} Filter by role to select the others."
    )


@bp.get("/orgs/<int:org_id>/members")
@login_required
def members_list(org_id: int) -> Response:
    return _members_page(org_id, member_query(request.args))


@bp.post("/orgs/<int:org_id>/members/<int:user_id>")
@login_required
def update_member(org_id: int, user_id: int) -> Response:
    """One row's role or status; answers with that row (and the count, if it left the list)."""
    query = member_query(request.args)
    form = MemberForm()
    error: str | None = None
    status = 200
    role, active = form.changes() if form.validate_on_submit() else (None, None)
    if role is None and active is None:
        status, error = 400, "Choose a role or a status."
    else:
        try:
            members.update_members(
                me(), org_id, [user_id], role=role, is_active=active, via=Via.WEB
            )
        except DomainError as err:
            status, error = in_place(err), err.message
    if error is None and user_id == me().id and not _can_view(org_id):
        flash(_changed_message("You", role, active), "success")
        return redirect(url_for("web.my_organizations"))
    if error is None and not is_htmx():
        member = members.get_member(me(), org_id, user_id)
        flash(_changed_message(_who(member), role, active), "success")
        return redirect(_list_url(org_id, query))
    page = _page(org_id, query)
    row = next((m for m in page.items if m.user_id == user_id), None)
    gone = None
    if error is None:
        # Changed out of the filtered list (a role filter, say): name who, not an id.
        gone = None if row else members.get_member(me(), org_id, user_id)
        flash(_changed_message(_who(row or gone), role, active), "success")  # type: ignore[arg-type]
    if not is_htmx():
        if row is None and error:
            flash(error, "error")
        return _members_page(org_id, query, status=status, page=page, row_errors={user_id: error})
    account = organizations.get_organization(me(), org_id)
    show_bulk = Action.MANAGE_MEMBERS in account.allowed and page.total_items > 0
    return render(
        "members/index.html",
        "members/_row_answer.html",
        status,
        account=account,
        allowed=account.allowed,
        grantable=grantable_roles(account.allowed),
        locked=_locked(account, [row] if row else []),
        show_bulk=show_bulk,
        member=row,
        gone=gone,
        gone_id=user_id,
        row_error=error,
        page=page,
        query=query,
        args=query_args(query),
        selected=set(),
    )


def _who(member: Member) -> str:
    return f"{member.name} ({member.email})"


def _changed_message(who: str, role: Role | None, active: bool | None) -> str:
    """The message after a change: ``Ada (ada@x.org) is now ADMIN and suspended.``"""
    parts = []
    if role is not None:
        parts.append(role.name)
    if active is not None:
        parts.append("active" if active else "suspended")
    verb = "are" if who == "You" else "is"
    return f"{who} {verb} now {' and '.join(parts)}."


@bp.post("/orgs/<int:org_id>/members/bulk")
@login_required
def bulk(org_id: int) -> Response:
    """One action on the selected rows, or on every member the filter matches."""
    query = member_query(request.args)
    form = BulkForm()
    status = 200
    context: dict[str, Any] = {"bulk_form": form}
    if not form.validate_on_submit():
        problems = [
            f"{form[name].label.text}: {' '.join(errs)}" for name, errs in form.errors.items()
        ]
        message = "; ".join(problems) if form.action.data and problems else "Choose an action."
        return _members_page(org_id, query, status=400, bulk_error=message, **context)
    try:
        if form.all_matching.data:
            ids = members.matching_member_ids(me(), org_id, query)
        else:
            ids = parse_ids(request.form.getlist("user_ids"))
        if not ids:
            raise InvalidInput.field("user_ids", "Select at least one member first.")
        context["selected"] = set(ids)
        if form.wants_confirmation:
            context["confirm"] = {"count": len(ids), "ids": ids}
        else:
            done = _apply(org_id, form, ids)
            flash(done, "success")
            if me().id in ids and not _can_view(org_id):
                return redirect(url_for("web.my_organizations"))
            if not is_htmx():
                return redirect(_list_url(org_id, query))
            context["selected"] = set()
            context["bulk_form"] = BulkForm(formdata=None)
    except DomainError as error:
        status = in_place(error)
        context["bulk_error"] = error.message
    return _members_page(org_id, query, status=status, **context)


def _can_view(org_id: int) -> bool:
    """Whether the signed-in user may still see the member list (after changing themselves)."""
    try:
        return Action.VIEW in organizations.get_organization(me(), org_id).allowed
    except (Forbidden, NotFound):
        return False


def _apply(org_id: int, form: BulkForm, ids: list[int]) -> str:
    n = f"{len(ids):,} member{'s' if len(ids) != 1 else ''}"
    match form.action.data:
        case "role":
            role = Role[form.role.data or "VIEWER"]
            members.update_members(me(), org_id, ids, role=role, via=Via.WEB)
            return f"Changed the role of {n} to {role.name}."
        case "activate":
            members.update_members(me(), org_id, ids, is_active=True, via=Via.WEB)
            return f"Activated {n}."
        case "suspend":
            members.update_members(me(), org_id, ids, is_active=False, via=Via.WEB)
            return f"Suspended {n}."
        case _:
            members.remove_members(me(), org_id, ids, via=Via.WEB)
            return f"Removed {n}."


@bp.post("/orgs/<int:org_id>/members/add")
@login_required
def add(org_id: int) -> Response:
    """Add by pasted emails and/or user ids: all of them, or none when any is refused."""
    query = member_query(request.args)
    form = AddMembersForm()
    status = 200
    if form.validate_on_submit():
        try:
            emails, ids = parse_entries(form.entries.data or "")
            if emails:
                ids += members.resolve_emails(me(), org_id, emails)
            account = members.add_members(
                me(),
                org_id,
                ids,
                role=Role[form.role.data or "VIEWER"],
                is_active=not form.suspended.data,
                via=Via.WEB,
            )
        except DomainError as error:
            status = attach_to_form(form, error)
            form.refused_ids = error.user_ids  # type: ignore[attr-defined]
        else:
            added = len(set(ids))
            flash(
                f"Added {added:,} member{'s' if added != 1 else ''}; "
                f"{account.organization_name} now has {account.member_count:,}.",
                "success",
            )
            if not is_htmx():
                return redirect(_list_url(org_id, query))
            response = _members_page(org_id, query, partial="members/_add_form.html", added=added)
            response.headers["HX-Trigger"] = "members-changed"
            return response
    else:
        status = 400
    return _members_page(
        org_id, query, partial="members/_add_form.html", status=status, add_form=form
    )
