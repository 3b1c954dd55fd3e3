"""Organizations in the browser: my list, overview, leave, settings, activity, role guide."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from webapp import inputs
from webapp.downloads import csv_attachment
from webapp.models import AuditEvent, Role, User, Via
from webapp.models.tables import ORGANIZATION_ACTIONS
from webapp.services import audit, members, organizations, ownership, values
from webapp.services import changes as changes_service
from webapp.services import events as events_service
from webapp.services.errors import DomainError, FieldError, Forbidden, InvalidInput
from webapp.services.events import EventFilters
from webapp.services.organizations import SETTINGS_ACTIONS
from webapp.services.permissions import PERMISSIONS, SUSPENDED_ACTIONS, Action
from webapp.web import bp
from webapp.web.errors import attach_to_form, in_place
from webapp.web.forms import (
    CreateOrganizationForm,
    DeleteForm,
    EmptyForm,
    RenameForm,
    TransferForm,
)
from webapp.web.htmx import is_htmx, render

ACTIVITY_PAGE_SIZE = 25

# What each permission means to a person reading the role guide.
ACTION_LABELS: dict[Action, str] = {
    Action.VIEW: "See the organization and its member list",
    Action.VIEW_ROLE: "See their own role",
    Action.VIEW_SUMMARY: "See the summary and chart",
    Action.RENAME: "Rename the organization",
    Action.DELETE: "Delete the organization",
    Action.MANAGE_MEMBERS: "Add, change and remove members below OWNER",
    Action.MANAGE_OWNERS: "Grant OWNER; change or remove an owner",
    Action.VIEW_AUDIT: "See the activity log",
    Action.LEAVE: "Leave the organization",
}


def me() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


@bp.get("/")
def index() -> Response:
    if current_user.is_authenticated:
        return redirect(url_for("web.my_organizations"))
    return redirect(url_for("web.login"))


@bp.route("/orgs", methods=["GET", "POST"])
@login_required
def my_organizations() -> Response:
    form = CreateOrganizationForm()
    status = 200
    if form.is_submitted():
        try:
            account = organizations.create_organization(
                me(), form.organization_name.data or "", via=Via.WEB
            )
        except DomainError as error:
            status = attach_to_form(form, error)
        else:
            flash(f"Created {account.organization_name}. You are its owner.", "success")
            return redirect(url_for("web.organization", org_id=account.id))
    q = request.args.get("q", "") if request.method == "GET" else ""
    page_text = request.args.get("page", "1") if request.method == "GET" else "1"
    page_number = values.parse_id(page_text, "page") if page_text else 1
    return render(
        "orgs/index.html",
        "orgs/_create_form.html" if form.is_submitted() else "orgs/_list.html",
        status,
        found=organizations.find_my_organizations(me(), q, page_number - 1),
        form=form,
    )


@bp.get("/orgs/<id:org_id>")
@login_required
def organization(org_id: int) -> Response:
    account = organizations.get_organization(me(), org_id)
    summary = (
        {m.metric: m for m in organizations.get_summary(me(), org_id)}
        if Action.VIEW_SUMMARY in account.allowed
        else None
    )
    return render(
        "orgs/overview.html",
        "orgs/_overview.html",
        account=account,
        allowed=account.allowed,
        summary=summary,
        single_owner=summary is not None and summary["owners_active"].value == 1,
        leave_form=EmptyForm(),
        leave_error=None,
    )


@bp.post("/orgs/<id:org_id>/leave")
@login_required
def leave(org_id: int) -> Response:
    form = EmptyForm()
    if not form.validate_on_submit():
        return redirect(url_for("web.organization", org_id=org_id))
    try:
        members.leave_organization(me(), org_id, via=Via.WEB)
    except DomainError as error:
        status = in_place(error)
        if request.form.get("from") == "orgs":  # a suspended member leaving from the list
            flash(error.message, "error")
            return redirect(url_for("web.my_organizations"))
        account = organizations.get_organization(me(), org_id)
        return render(
            "orgs/overview.html",
            "orgs/_leave.html",
            status,
            account=account,
            allowed=account.allowed,
            summary=None,
            leave_form=form,
            leave_error=error.message,
        )
    flash("You left the organization.", "info")
    return redirect(url_for("web.my_organizations"))


@bp.route("/orgs/<id:org_id>/settings", methods=["GET", "POST"])
@login_required
def settings(org_id: int) -> Response:
    """GET shows the rename and delete forms; POST renames."""
    form = RenameForm(prefix="rename")
    status = 200
    if form.is_submitted():
        try:
            account = organizations.rename_organization(
                me(), org_id, form.organization_name.data or "", via=Via.WEB
            )
        except DomainError as error:
            status = attach_to_form(form, error)
        else:
            flash(f"Renamed to {account.organization_name}.", "success")
            if not is_htmx():
                return redirect(url_for("web.settings", org_id=org_id))
            return _settings_page(org_id, RenameForm(prefix="rename", formdata=None), renamed=True)
    return _settings_page(org_id, form, status=status)


def _settings_page(
    org_id: int,
    rename_form: RenameForm,
    delete_form: DeleteForm | None = None,
    *,
    transfer_form: TransferForm | None = None,
    status: int = 200,
    partial: str = "orgs/_rename_form.html",
    renamed: bool = False,
) -> Response:
    account = organizations.get_organization_settings(me(), org_id)
    forms = (
        (rename_form, Action.RENAME),
        (delete_form, Action.DELETE),
        (transfer_form, Action.MANAGE_OWNERS),
    )
    hidden = [form for form, action in forms if form is not None and action not in account.allowed]
    for form in hidden:  # the role changed since the page loaded: the form is not drawn
        for message in [*form.form_errors, *(m for errs in form.errors.values() for m in errs)]:
            flash(message, "error")
    if rename_form.organization_name.data is None:
        rename_form.organization_name.data = account.organization_name
    return render(
        "orgs/settings.html",
        partial,
        status,
        account=account,
        allowed=account.allowed,
        rename_form=rename_form,
        delete_form=delete_form or DeleteForm(prefix="delete", formdata=None),
        transfer_form=transfer_form or TransferForm(prefix="transfer", formdata=None),
        renamed=renamed,
    )


@bp.post("/orgs/<id:org_id>/delete")
@login_required
def delete(org_id: int) -> Response:
    form = DeleteForm(prefix="delete")
    account = organizations.get_organization(me(), org_id)
    if form.is_submitted():
        if (form.confirm_name.data or "").strip() != account.organization_name:
            form.confirm_name.errors = ["does not match the organization's name"]  # type: ignore[misc]
            status = 400
        else:
            try:
                organizations.delete_organization(me(), org_id, via=Via.WEB)
            except DomainError as error:
                status = attach_to_form(form, error)
            else:
                flash(f"Deleted {account.organization_name}.", "info")
                return redirect(url_for("web.my_organizations"))
    else:
        status = 400
    return _settings_page(
        org_id, RenameForm(prefix="rename"), form, status=status, partial="orgs/_delete_form.html"
    )


@bp.post("/orgs/<id:org_id>/transfer")
@login_required
def transfer(org_id: int) -> Response:
    """Hand the organization to another member, who is named by email address or user id."""
    form = TransferForm(prefix="transfer")
    try:
        body = _transfer_body(form)
        account = ownership.transfer_ownership(
            me(), org_id, body.user_id, body.my_new_role, via=Via.WEB
        )
    except DomainError as error:
        status = attach_to_form(form, error)
    else:
        named = body.user_id.strip()
        who = named.lower() if "@" in named else f"User #{named.lstrip('0')}"
        mine = (
            "you stay an owner too"
            if account.role is Role.OWNER
            else f"your role is now {account.role.name}"
        )
        flash(f"{who} is now an owner of {account.organization_name}; {mine}.", "success")
        # Whoever may no longer open the settings goes to the overview.
        page = "web.settings" if account.allowed & SETTINGS_ACTIONS else "web.organization"
        return redirect(url_for(page, org_id=org_id))
    return _settings_page(
        org_id,
        RenameForm(prefix="rename"),
        transfer_form=form,
        status=status,
        partial="orgs/_transfer_form.html",
    )


def _transfer_body(form: TransferForm) -> inputs.DashboardTransfer:
    """The posted fields as the API's input, with the confirmation; every refusal at once."""
    errors: list[FieldError] = []
    body = None
    try:
        body = inputs.parse(
            inputs.DashboardTransfer,
            {"user_id": form.user_id.data or "", "my_new_role": form.my_new_role.data or ""},
        )
    except InvalidInput as error:
        errors += error.errors
    if not form.confirmed.data:
        errors.append(FieldError("confirmed", "tick the box to confirm the handover"))
    if body is None or errors:
        raise InvalidInput("; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors)
    return body


def _activity_filters(query: inputs.ActivityQuery) -> EventFilters:
    """The activity page's filters as the events' filters: its days are UTC, both included."""

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=UTC)

    return EventFilters(
        actor=query.actor,
        user_id=query.user_id,
        member=query.member,
        action=query.action,
        since=midnight(query.since) if query.since else None,
        # the last day shown is included: events before the midnight after it
        until=midnight(query.until + timedelta(days=1)) if query.until else None,
    )


def activity_args(query: inputs.ActivityQuery) -> dict[str, str]:
    """The filters' URL arguments, the empty ones left out (the page's links and the export)."""
    given = query.model_dump(exclude={"page"}, exclude_none=True)
    return {key: str(value) for key, value in given.items()}


@bp.get("/orgs/<id:org_id>/activity")
@login_required
def activity(org_id: int) -> Response:
    """The audit log, newest first, filtered; a change of many members is one group. Filters
    that are not right are named beside their field (400), and nothing is listed."""
    account = organizations.get_organization(me(), org_id)
    if Action.VIEW_AUDIT not in account.allowed:
        raise Forbidden()  # before the filters are read: the answer does not depend on them
    errors: dict[str, str] = {}
    try:
        query = inputs.parse(inputs.ActivityQuery, request.args.to_dict())
    except InvalidInput as error:
        query, errors = inputs.ActivityQuery(), {e.field: e.message for e in error.errors}
    events = None
    if not errors:
        events = audit.list_audit_events(
            me(),
            org_id,
            page_number=query.page - 1,
            page_size=ACTIVITY_PAGE_SIZE,
            filters=_activity_filters(query),
        )
    args = activity_args(query)
    changes = _change_sets(events.items) if events else []
    revertible = set()
    if changes and Action.MANAGE_MEMBERS in account.allowed:
        revertible = changes_service.change_ids_revertible(
            org_id, [change[0].operation_id for change in changes]
        )
    page = render(
        "orgs/activity.html",
        "orgs/_activity.html",
        account=account,
        allowed=account.allowed,
        events=events,
        changes=changes,
        revertible=revertible,
        change_sizes=events.change_sizes if events else {},
        query=query,
        args=args,
        errors=errors,
        actions=ORGANIZATION_ACTIONS,
        export_url=url_for("web.activity_export", org_id=org_id, **args),
    )
    return make_response(page, 400 if errors else 200)


def _change_sets(items: list[AuditEvent]) -> list[list[AuditEvent]]:
    """The page's events in runs that share a change (``operation_id``), newest first."""
    runs: list[list[AuditEvent]] = []
    for event in items:
        if runs and runs[-1][0].operation_id == event.operation_id:
            runs[-1].append(event)
        else:
            runs.append([event])
    return runs


@bp.get("/orgs/<id:org_id>/activity.csv")
@login_required
def activity_export(org_id: int) -> Response:
    """Every event the page's filters match (all pages), newest first, as CSV."""
    query = inputs.parse(inputs.ActivityQuery, request.args.to_dict())
    chunks = events_service.export_events(me(), org_id, _activity_filters(query))
    return csv_attachment(chunks, f"roster-{org_id}-activity.csv")


@bp.get("/roles")
def role_guide() -> str:
    return render_template(
        "help/roles.html",
        permissions=PERMISSIONS,
        suspended=SUSPENDED_ACTIONS,
        labels=ACTION_LABELS,
    )
