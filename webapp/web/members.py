"""The member table: list, inline changes, bulk changes, adding by email or id.

Every URL keeps the list's state (page, sort, search, filters) in its query string, so an
action answers with the same page the person was looking at. Requests are read with the
API's own parsers (``webapp.inputs``); pages are drawn from what the service calls return, so
a change costs what the API's costs, plus the page's own rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from flask import flash, redirect, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from webapp import inputs
from webapp.inputs import DashboardMemberQuery, MemberQuery
from webapp.models import Role, Via
from webapp.services import changes, invitations, member_list, members, organizations
from webapp.services.changes import ChangedSince, UnknownChange
from webapp.services.errors import (
    DomainError,
    InvalidInput,
    NotFound,
    NotMembers,
    UnknownEmails,
)
from webapp.services.member_list import Member, MemberPage
from webapp.services.organizations import Account
from webapp.services.permissions import (
    Action,
    change_refusal,
    grantable_roles,
    untouchable_roles,
)
from webapp.services.values import USER_IDS_MAX
from webapp.web import bp
from webapp.web.errors import attach_to_form, in_place
from webapp.web.forms import (
    BULK_ACTIONS,
    BULK_CHANGES,
    PAGE_SIZES,
    ROLE_CHOICES,
    AddMembersForm,
    BulkForm,
    parse_entries,
    query_args,
)
from webapp.web.htmx import is_htmx, render
from webapp.web.invitations import invited_message
from webapp.web.orgs import activity, activity_args, me

COLUMNS = [
    ("name", "Name"),
    ("email", "Email"),
    ("user_id", "ID"),
    ("role", "Role"),
    ("is_active", "Status"),
    ("joined_at", "Joined"),
]
SORT_LABELS = dict(COLUMNS)


def _query() -> MemberQuery:
    """The list's state from the page's URL (``page`` counts from 1)."""
    return inputs.parse(DashboardMemberQuery, request.args.to_dict())


# The characters ``url_for`` leaves unescaped in a query (werkzeug's ``_urlencode``);
# test_members checks that the two write the same URLs.
_QUERY_SAFE = "!$'()*,/:;?@"


def _list_urls(org_id: int, query: MemberQuery) -> Callable[..., str]:
    """The list's URL with ``changes`` to its state: ``url_for`` once a page, then by string
    (a page has a dozen sort and page links, and ``url_for`` costs about 30 µs)."""
    path = url_for("web.members_list", org_id=org_id)

    def list_url(**changes: object) -> str:
        args = query_args(query, **changes)
        return f"{path}?{urlencode(args, safe=_QUERY_SAFE)}" if args else path

    return list_url


def _list_url(org_id: int, query: MemberQuery, **changes: object) -> str:
    return _list_urls(org_id, query)(**changes)


def _row_url(org_id: int, args: Mapping[str, str]) -> Callable[[int], str]:
    """A row's URL (``web.update_member`` with the list's arguments) from one ``url_for`` a page.

    The rows share all of it but the id: the list's path, ``/<user id>``, the list's query.
    Building each with ``url_for`` cost about 30 µs a row.
    """
    path, mark, arguments = url_for("web.members_list", org_id=org_id, **args).partition("?")
    prefix, suffix = f"{path}/", f"{mark}{arguments}"
    return lambda user_id: f"{prefix}{user_id}{suffix}"


# The list's arguments that name a page, which an export (every matching row) leaves out.
_PAGING_ARGS = ("page", "cursor", "page_size")


def _rows_context(org_id: int, query: MemberQuery) -> dict[str, Any]:
    """What every row of a page shares (members/_row.html), and the export of the list."""
    args = query_args(query)
    filters = {k: v for k, v in args.items() if k not in _PAGING_ARGS}
    export_url = url_for("api.export_members", organization_id=org_id, **filters)
    return {"args": args, "row_url": _row_url(org_id, args), "export_url": export_url}


def _page(org_id: int, query: MemberQuery, account: Account) -> MemberPage:
    """The page asked for; past the end (after a bulk removal) the last page instead, and for
    a cursor with no rows left beyond it, the page of that number (or the last)."""
    page = member_list.list_members(me(), org_id, query, seen=account)
    if not page.items and page.total_items:
        if query.cursor is not None:
            number = min(query.cursor.page_number, page.total_pages - 1)
        elif query.page_number > 0:
            number = page.total_pages - 1
        else:
            return page
        page = member_list.list_members(me(), org_id, query.at_page(number), seen=account)
    return page


def _members_page(
    org_id: int,
    query: MemberQuery,
    *,
    account: Account | None = None,
    partial: str = "members/_region.html",
    status: int = 200,
    **context: Any,
) -> Response:
    """The members page (or ``partial``), drawn from ``account`` when a change returned it."""
    account = account or organizations.get_organization(me(), org_id)
    page = _page(org_id, query, account)
    if query.cursor is None and page.page_number != query.page_number:
        query = query.at_page(page.page_number)
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
    # Offer only the roles this user may give; a stale page posting another gets the rule's
    # own refusal.
    grantable = grantable_roles(account.allowed)
    add_form.role.choices = [c for c in ROLE_CHOICES if Role[c.value] in grantable]
    context.setdefault("bulk_form", BulkForm(formdata=None))
    context.setdefault("row_errors", {})
    context.setdefault("row_confirm", None)
    context.setdefault("row_done", None)
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
        sort_default=inputs.SORT_DEFAULT,
        page_sizes=PAGE_SIZES,
        page_size_default=inputs.PAGE_SIZE_DEFAULT,
        bulk_actions=BULK_ACTIONS,
        selection_max=USER_IDS_MAX,
        list_url=_list_urls(org_id, query),
        **_rows_context(org_id, query),
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
    count = member_list.count_matching(me(), org_id, query, roles=untouchable)
    if not count:
        return None
    names = " or ".join(role.name for role in untouchable)
    return (
        f"These include {count:,} {names} member{'s' if count != 1 else ''}. "
        f"{change_refusal(account.allowed, untouchable[0])} Filter by role to select the others."
    )


def _changes(form: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """The posted fields among ``names`` that were sent (a field left out is not given)."""
    return {name: form[name] for name in names if form.get(name)}


@bp.get("/orgs/<id:org_id>/members")
@login_required
def members_list(org_id: int) -> Response:
    return _members_page(org_id, _query())


@bp.post("/orgs/<id:org_id>/members/<id:user_id>")
@login_required
def update_member(org_id: int, user_id: int) -> Response:
    """One row's role or status; answers with that row (and the counts, if it left the list).

    Suspending asks first, in the row, as the bulk bar's Suspend does (``confirmed=yes``)."""
    query = _query()
    error: str | None = None
    status = 200
    account: Account | None = None
    given: dict[str, Any] = {}
    done: dict[str, str] | None = None
    asking = request.form.get("is_active") == "false" and request.form.get("confirmed") != "yes"
    try:
        body = inputs.parse(
            inputs.UpdateMembers,
            {"user_ids": str(user_id), **_changes(request.form, ("role", "is_active"))},
        )
        given = body.given()
        if not asking:
            account = members.update_members(me(), org_id, body.user_ids, via=Via.WEB, **given)
    except DomainError as err:
        status, error = in_place(err), err.message
    if account is not None and Action.VIEW not in account.allowed:
        flash(_changed_message("You", **given), "success")  # changed themselves out of the list
        return redirect(url_for("web.my_organizations"))
    account = account or organizations.get_organization(me(), org_id)
    try:
        listed = member_list.find_member(me(), org_id, user_id, query, seen=account)
    except NotMembers:
        listed = None  # removed meanwhile: the row says so
    if error is None and not asking:
        who = _who(listed.member) if listed else f"Member #{user_id}"
        done = flash_change(_changed_message(who, **given), org_id, account.change_id, query)
        if not is_htmx():
            return redirect(_list_url(org_id, query))
    shown = listed is not None and listed.matches
    row_confirm = user_id if asking and error is None else None
    if not is_htmx():
        if error and not shown:
            flash(error, "error")
        return _members_page(
            org_id,
            query,
            account=account,
            status=status,
            row_errors={user_id: error},
            row_confirm=row_confirm,
        )
    show_bulk = Action.MANAGE_MEMBERS in account.allowed
    context: dict[str, Any] = _rows_context(org_id, query)
    if not shown:
        # Changed out of the filtered list (a role filter, say): the counts above move.
        context["page"] = page = _page(org_id, query, account)
        show_bulk = show_bulk and page.total_items > 0
    return render(
        "members/index.html",
        "members/_row_answer.html",
        status,
        account=account,
        allowed=account.allowed,
        grantable=grantable_roles(account.allowed),
        locked=_locked(account, [listed.member] if listed else []),
        show_bulk=show_bulk,
        member=listed.member if shown else None,
        gone=listed.member if listed and not shown else None,
        gone_id=user_id,
        row_error=error,
        row_confirm=row_confirm,
        row_done=done,
        row_done_id=user_id,
        query=query,
        selected=set(),
        **context,
    )


def _who(member: Member) -> str:
    return f"{member.name} ({member.email})"


def _changed_message(who: str, role: Role | None = None, is_active: bool | None = None) -> str:
    """The message after a change: ``Ada (ada@x.org) is now ADMIN and suspended.``"""
    parts = []
    if role is not None:
        parts.append(role.name)
    if is_active is not None:
        parts.append("active" if is_active else "suspended")
    verb = "are" if who == "You" else "is"
    return f"{who} {verb} now {' and '.join(parts)}."


@bp.post("/orgs/<id:org_id>/members/bulk")
@login_required
def bulk(org_id: int) -> Response:
    """One action on the selected rows, or on every member the filter matches."""
    query = _query()
    form = BulkForm()
    status = 200
    context: dict[str, Any] = {"bulk_form": form}
    action = form.action.data
    if action not in BULK_ACTIONS:
        return _members_page(org_id, query, status=400, bulk_error="Choose an action.", **context)
    account: Account | None = None
    try:
        if form.all_matching.data:
            ids: list[int] | str = member_list.matching_member_ids(me(), org_id, query)
        else:
            ids = ",".join(request.form.getlist("user_ids"))
        if not ids:
            raise InvalidInput.field("user_ids", "Select at least one member first.")
        if action == "remove":
            body: inputs.MemberIds = inputs.parse(inputs.MemberIds, {"user_ids": ids})
        else:
            changes = BULK_CHANGES.get(action) or _changes(request.form, ("role",))
            body = inputs.parse(inputs.UpdateMembers, {"user_ids": ids, **changes})
        context["selected"] = set(body.user_ids)
        if form.wants_confirmation:
            named = member_list.first_named(me(), org_id, body.user_ids)
            context["confirm"] = {"count": len(body.user_ids), "ids": body.user_ids, "named": named}
        else:
            done, account = _apply(org_id, body)
            if account is None or Action.VIEW not in account.allowed:  # changed themselves out
                flash(done, "success")
                return redirect(url_for("web.my_organizations"))
            context["done"] = flash_change(done, org_id, account.change_id, query)
            if not is_htmx():
                return redirect(_list_url(org_id, query))
            context["selected"] = set()
            context["bulk_form"] = BulkForm(formdata=None)
            response = _members_page(org_id, query, account=account, **context)
            response.headers["HX-Trigger"] = "roster:selection-done"  # app.js clears it
            return response
    except DomainError as error:
        status = in_place(error)
        context["bulk_error"] = error.message
        if context.get("selected") and not form.wants_confirmation:
            context["refused"] = _refused_rows(org_id, action, list(context["selected"]))
    return _members_page(org_id, query, account=account, status=status, **context)


def _refused_rows(org_id: int, action: str, ids: list[int]) -> members.Refusals | None:
    """Which rows refused a bulk change and why, when the others could go ahead: what the bar
    lists, with its offer to apply the change to the others."""
    changes = BULK_CHANGES.get(action) or _changes(request.form, ("role",))
    try:
        refusals = members.explain_refusals(
            me(),
            org_id,
            ids,
            role=_role(changes.get("role")),
            is_active={"true": True, "false": False}.get(changes.get("is_active", "")),
            remove=action == "remove",
        )
    except DomainError:
        return None  # refused as a whole (their role, say): the message says why
    return refusals if refusals.rows and refusals.others else None


def _apply(org_id: int, body: inputs.MemberIds) -> tuple[str, Account | None]:
    """Make the change; the message, and the organization as the user now sees it."""
    n = f"{len(body.user_ids):,} member{'s' if len(body.user_ids) != 1 else ''}"
    if not isinstance(body, inputs.UpdateMembers):
        return f"Removed {n}.", members.remove_members(me(), org_id, body.user_ids, via=Via.WEB)
    changes = body.given()
    account = members.update_members(me(), org_id, body.user_ids, via=Via.WEB, **changes)
    if "role" in changes:
        return f"Changed the role of {n} to {changes['role'].name}.", account
    return (f"Activated {n}." if changes["is_active"] else f"Suspended {n}."), account


def _role(text: str | None) -> Role | None:
    if text is None:
        return None
    try:
        return Role.parse(text)
    except ValueError as error:
        raise InvalidInput.field("role", str(error)) from None


@bp.post("/orgs/<id:org_id>/members/add")
@login_required
def add(org_id: int) -> Response:
    """Add by pasted emails and/or user ids: all of them, or none when any is refused.

    Addresses with no account are offered as invitations in the same form ("3 of these have no
    account: invite them?"); sent again with ``invite_unknown``, those are invited with the
    chosen role and the others added.
    """
    query = _query()
    form = AddMembersForm()
    status = 200
    invite_unknown = request.form.get("invite_unknown") == "1"
    made: invitations.Invited | None = None
    added = 0
    try:
        emails, ids = parse_entries(form.entries.data or "")
        unknown: list[str] = []
        if emails:
            known, unknown = members.sort_emails(me(), org_id, emails)
            ids += known
            if unknown and not invite_unknown:
                raise UnknownEmails(unknown)
        given = _changes(request.form, ("role",))
        if form.suspended.data:
            given["is_active"] = "false"
        account = None
        if unknown:
            # One request, one change set: the additions and the invitations, all or none.
            role = _role(given.get("role")) or inputs.service_default(invitations.invite, "role")
            flags = {}
            if ids:
                body = inputs.parse(inputs.AddMembers, {"user_ids": ids, **given})
                flags = {k: v for k, v in body.given().items() if k == "is_active"}
            account, made = invitations.add_and_invite(
                me(), org_id, ids, unknown, role, via=Via.WEB, **flags
            )
            added = len(ids)
        elif ids:
            body = inputs.parse(inputs.AddMembers, {"user_ids": ids, **given})
            account = members.add_members(me(), org_id, body.user_ids, via=Via.WEB, **body.given())
            added = len(body.user_ids)
    except UnknownEmails as error:
        status = in_place(error)  # the form offers to invite them instead
        form.unknown_emails = error.emails  # type: ignore[attr-defined]
    except DomainError as error:
        status = attach_to_form(form, error)
        form.refused_ids = error.user_ids  # type: ignore[attr-defined]
    else:
        said = []
        if added:
            said.append(
                f"Added {added:,} member{'s' if added != 1 else ''}; "
                f"{account.organization_name if account else ''} now has "
                f"{account.member_count if account else 0:,}."
            )
        if made is not None:
            said.append(invited_message(made))
        flash_change(
            " ".join(said),
            org_id,
            account.change_id if account else None,
            query,
            "warning" if made and made.mail_failures else "success",
        )
        if not is_htmx():
            return redirect(_list_url(org_id, query))
        response = _members_page(
            org_id,
            query,
            account=account,
            partial="members/_add_form.html",
            added=added,
            invited=len(made.invitations) if made else 0,
        )
        response.headers["HX-Trigger"] = "members-changed"
        return response
    return _members_page(
        org_id, query, partial="members/_add_form.html", status=status, add_form=form
    )


def flash_change(
    text: str,
    org_id: int,
    change_id: str | None,
    query: MemberQuery,
    category: str = "success",
    *,
    target: str = "members-region",
) -> dict[str, str]:
    """The message after a change of members, with its Undo (a revert of the change set) when
    there is one; the Undo answers with the members page as it was (``query``), in place of
    ``target`` with htmx, or as a page (``target=""``: from a page without the member list, an
    import's result). Returns the message, for the page to show it also where the change was
    made."""
    message = {"text": text, "undo": "", "back": "members", "target": target}
    if change_id is not None:
        message["undo"] = url_for(
            "web.revert_change", org_id=org_id, change_id=change_id, **query_args(query)
        )
    flash(message, category)
    return message


@bp.post("/orgs/<id:org_id>/changes/<change_id>/revert")
@login_required
def revert_change(org_id: int, change_id: str) -> Response:
    """Undo a change set (the message's Undo, the activity log's Revert): the same page again,
    with what happened. ``back`` says which page: ``activity`` (its filters in the URL's
    query) or the members list (its state in the query)."""
    back = request.form.get("back")
    status = 200
    try:
        done = changes.revert_change(me(), org_id, change_id, via=Via.WEB)
    except DomainError as error:
        if isinstance(error, NotFound) and not isinstance(error, UnknownChange):
            raise  # not their organization: the error page, as everywhere
        status = in_place(error)
        flash(_refusal(org_id, error), "error")
    else:
        if back == "activity":
            flash("Reverted the change.", "success")
        else:
            flash_change("Reverted the change.", org_id, done.change_id, _query())
    # A refusal is drawn at once with its status; a success is redirected to (without htmx).
    if back == "activity":
        if is_htmx() or status != 200:
            response = activity(org_id)
            response.status_code = status
            return response
        try:  # the activity page's filters, as they were; nothing else from the URL
            args = activity_args(inputs.parse(inputs.ActivityQuery, request.args.to_dict()))
        except InvalidInput:
            args = {}
        return redirect(url_for("web.activity", org_id=org_id, **args))
    query = _query()
    if is_htmx() or status != 200:
        return _members_page(org_id, query, status=status)
    return redirect(_list_url(org_id, query))


def _refusal(org_id: int, error: DomainError) -> str:
    """Why a revert was refused, naming up to 10 of the members changed since ("and N more":
    the rest, and those no longer members)."""
    if not isinstance(error, ChangedSince) or not error.user_ids:
        return error.message
    named = [
        f"{name} ({email})" for name, email in member_list.first_named(me(), org_id, error.user_ids)
    ]
    more = len(error.user_ids) - len(named)
    if more:
        named.append(f"{more:,} more" if named else f"{more:,} member{'s' if more != 1 else ''}")
    listing = ", ".join(named[:-1]) + (" and " if len(named) > 1 else "") + named[-1]
    return f"{error.message} Changed since: {listing}."
