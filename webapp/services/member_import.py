"""The member list from a file (DESIGN §9): import a CSV, previewed first.

A file names members by email, with a role (VIEWER when left out) and an active flag (true when
left out). Each row is sorted against the organization as it is: an address with an account
that is not a member is **added**; a member whose role or flag differs is **updated**; an
address without an account (or with one whose address is not verified, DESIGN §8) is
**invited**; a member as the row says, or an address already invited with that role, is
**unchanged**. With ``sync`` the members the file does not name are **removed**, except the
owners and the caller, who are never removed by an import.

Rows the rules refuse are listed in ``refused`` with the reason, as the bulk changes refuse them
(DESIGN §3): only an owner may add, invite, change or remove owners and grant OWNER; no import
changes the caller's own membership; the organization keeps an active owner. Rows that are not
valid are listed in ``errors`` with their line and field. Applying a file with any error or
refusal changes nothing (``applied: false``); otherwise every addition, update, invitation and
removal is made in one transaction, as one change set whose events all carry one ``change_id``
(and ``details.import``), which ``changes.revert_change`` undoes.

Faults of the file as a whole are raised before anything is read from the database:
``FileTooLarge`` (413) past 5 MB or 10,000 rows, ``BadFile`` (400) for a file that is not UTF-8
CSV text or has no header row naming an ``email`` column.

Set-based: a preview reads in four statements (five with ``sync``), and an apply writes in a
fixed number whatever the number of rows (one statement per kind of change, one for the
counters, one per kind of audit event).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    String,
    and_,
    any_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from webapp.extensions import db
from webapp.models import (
    Invitation,
    InvitationStatus,
    Membership,
    Organization,
    Role,
    User,
    Via,
    utcnow,
)
from webapp.services import audit, invitations
from webapp.services.csv_files import FORMULA_STARTS
from webapp.services.errors import Conflict, FieldError, FileTooLarge, InvalidInput, LastOwner
from webapp.services.members import counter_deltas
from webapp.services.organizations import (
    apply_counter_deltas,
    check_has_active_owner,
    is_active_owner,
    joins_after,
)
from webapp.services.permissions import OWNERS_ONLY, Action, is_allowed, require
from webapp.services.transactions import write_transaction
from webapp.services.values import email_address, name_sort_key

IMPORT_BYTES_MAX = 5 * 1024 * 1024
IMPORT_ROWS_MAX = 10_000
COLUMNS = ("email", "role", "is_active")
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})
_BOM = b"\xef\xbb\xbf"

YOURSELF = "This is you: an import never changes your own membership."
INVITED_OTHERWISE = "Already invited with the role {role}: revoke that invitation first."
NO_ACCOUNT_SUSPENDED = (
    "Has no account, so it would be invited, and an invitation makes an active member: "
    "leave is_active empty or true."
)
TOO_MANY_INVITATIONS = (
    f"An import invites at most {invitations.INVITE_MAX:,} addresses; invite the rest in "
    "another import."
)


class BadFile(InvalidInput):
    """A file that is not UTF-8 CSV text with a header row naming an email column (400)."""

    code = "bad_file"
    default_message = "The file is not CSV text."


class PreviewOutdated(Conflict):
    """The organization changed between the preview and the apply: preview again (409)."""

    code = "preview_outdated"
    default_message = (
        "The members changed since this preview, so it no longer says what the import would "
        "do. Check the new preview and apply again."
    )


@dataclass(frozen=True)
class RowError:
    """A row that is not valid: its physical line (the header is line 1) and field."""

    line: int
    field: str
    message: str


@dataclass(frozen=True)
class RowRefusal:
    """A row the rules refuse, and why; ``line`` is None for a member absent from the file."""

    line: int | None
    email: str
    reason: str


@dataclass(frozen=True)
class MemberUpdate:
    """A member's role and active flag after the import."""

    email: str
    role: Role
    is_active: bool


@dataclass(frozen=True)
class ImportResult:
    """What an import does (preview) or did (apply), DESIGN §9."""

    rows: Annotated[int, Field(description="Data rows in the file (the header not counted).")]
    add: Annotated[list[str], Field(description="Addresses with an account, to add.")]
    update: Annotated[list[MemberUpdate], Field(description="Members whose role or flag change.")]
    invite: Annotated[list[str], Field(description="Addresses without an account, to invite.")]
    remove: Annotated[list[str], Field(description="Members absent from the file (sync).")]
    unchanged: Annotated[int, Field(description="Rows already as the file says.")]
    errors: list[RowError]
    refused: list[RowRefusal]
    applied: bool
    change_id: Annotated[
        str | None, Field(description="The change set of an applied import, for its revert.")
    ] = None
    # For the dashboard: the role and flag each added or invited address gets.
    states: Annotated[dict[str, tuple[Role, bool]], Field(exclude=True)] = field(
        default_factory=dict
    )

    @property
    def digest(self) -> str:
        """A fingerprint of what the import would do: an apply given the preview's digest is
        refused (``PreviewOutdated``) when it would do anything else."""
        what = {
            "rows": self.rows,
            "add": [(e, *map(str, self.states.get(e, ()))) for e in self.add],
            "update": [(u.email, u.role.name, u.is_active) for u in self.update],
            "invite": [(e, *map(str, self.states.get(e, ()))) for e in self.invite],
            "remove": self.remove,
            "unchanged": self.unchanged,
            "errors": [(e.line, e.field, e.message) for e in self.errors],
            "refused": [(r.line, r.email, r.reason) for r in self.refused],
        }
        return hashlib.sha256(json.dumps(what, default=str).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class _Row:
    line: int
    email: str
    role: Role
    is_active: bool


@dataclass(frozen=True)
class _File:
    rows: int  # data rows
    valid: list[_Row]
    errors: list[RowError]
    emails: set[str]  # every well-formed address of the file, valid row or not


# -- reading the file -------------------------------------------------------------------------


def read_file(data: bytes) -> _File:
    """Parse an import file. Raises FileTooLarge or BadFile for faults of the whole file;
    faults of a row are its ``errors``."""
    if not isinstance(data, bytes | bytearray):
        raise BadFile("The file must be sent as bytes.")
    if len(data) > IMPORT_BYTES_MAX:
        raise FileTooLarge(
            f"The file is {len(data):,} bytes; an import takes at most {IMPORT_BYTES_MAX:,} "
            f"bytes ({IMPORT_BYTES_MAX // (1024 * 1024)} MB)."
        )
    data = bytes(data).removeprefix(_BOM)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BadFile(
            "The file is UTF-16 text, not UTF-8: save or export it as CSV UTF-8.",
            errors=[FieldError("file", "is not UTF-8 text")],
        )
    if b"\x00" in data:
        raise BadFile(
            "The file is not text (it holds NUL bytes): export the sheet as CSV, UTF-8.",
            errors=[FieldError("file", "is not CSV text")],
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise BadFile(
            f"The file is not UTF-8 text (line {line} has a byte that is not UTF-8): save or "
            "export it as CSV UTF-8.",
            errors=[FieldError("file", f"is not UTF-8 text (line {line})")],
        ) from None
    if not text.strip():
        raise _no_header("The file is empty.")
    delimiter, header = _header(text)
    names = [cell.strip().lower() for cell in header]
    if "email" not in names:
        looks_like_data = any("@" in cell for cell in header)
        raise _no_header(
            "Line 1 looks like data, not a header row."
            if looks_like_data
            else f"Line 1 names no email column (it has: {', '.join(header)[:200]})."
        )
    for name in COLUMNS:
        if names.count(name) > 1:
            raise BadFile(
                f"Line 1 names the column {name} twice.",
                errors=[FieldError("file", f"names the column {name} twice")],
            )
    where = {name: names.index(name) for name in COLUMNS if name in names}
    return _rows(text, delimiter, where, len(names))


def _no_header(why: str) -> BadFile:
    message = (
        f"{why} The first line must be a header row naming the columns, with email required "
        "and role and is_active optional, in any order: email,role,is_active"
    )
    return BadFile(message, code="missing_header", errors=[FieldError("email", message)])


def _header(text: str) -> tuple[str, list[str]]:
    """The delimiter (comma or semicolon: the one whose header names an email column, else
    the one that splits it more) and the header's cells."""
    found = []
    for delimiter in (",", ";"):
        try:
            header = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
        except csv.Error as error:
            raise BadFile(f"Line 1 is not CSV: {error}.") from None
        if "email" in (cell.strip().lower() for cell in header):
            return delimiter, header
        found.append((len(header), delimiter, header))
    _, delimiter, header = max(found, key=lambda f: f[0])
    return delimiter, header


def _rows(text: str, delimiter: str, where: dict[str, int], width: int) -> _File:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    valid: list[_Row] = []
    errors: list[RowError] = []
    emails: set[str] = set()
    first_line: dict[str, int] = {}
    rows = 0
    end = 0
    try:
        for index, cells in enumerate(reader):
            line, end = end + 1, reader.line_num  # a quoted cell may span lines
            if index == 0 or not any(cell.strip() for cell in cells):
                continue  # the header; blank lines are no rows
            rows += 1
            if rows > IMPORT_ROWS_MAX:
                continue  # counted, to say how many there are
            row, row_errors = _row(line, cells, where, width)
            errors += row_errors
            email = row.email if row else _email_of(cells, where)
            if email is None:
                continue
            emails.add(email)
            if email in first_line:
                errors.append(
                    RowError(line, "email", f"{email} is also on line {first_line[email]}.")
                )
                continue
            first_line[email] = line
            if row is not None:
                valid.append(row)
    except csv.Error as error:
        raise BadFile(
            f"Line {reader.line_num} is not CSV: {error}.",
            errors=[FieldError("file", f"line {reader.line_num} is not CSV")],
        ) from None
    if rows > IMPORT_ROWS_MAX:
        raise FileTooLarge(
            f"The file has {rows:,} rows; an import takes at most {IMPORT_ROWS_MAX:,}."
        )
    return _File(rows, valid, errors, emails)


def _cell(cells: Sequence[str], where: dict[str, int], name: str) -> str:
    index = where.get(name)
    if index is None or index >= len(cells):
        return ""
    text = cells[index].strip()
    # An exported cell made inert for spreadsheets ("'=..."): read back as it was.
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        text = text[1:]
    return text


def _email_of(cells: Sequence[str], where: dict[str, int]) -> str | None:
    try:
        return email_address(_cell(cells, where, "email"))
    except InvalidInput:
        return None


def _row(
    line: int, cells: Sequence[str], where: dict[str, int], width: int
) -> tuple[_Row | None, list[RowError]]:
    errors = []
    if len(cells) > width and any(cell.strip() for cell in cells[width:]):
        errors.append(
            RowError(line, "row", f"has {len(cells)} cells but the header names {width} columns.")
        )
    email: str | None = None
    raw = _cell(cells, where, "email")
    if not raw:
        errors.append(RowError(line, "email", "is empty: every row needs an email address."))
    else:
        try:
            email = email_address(raw)
        except InvalidInput as error:
            message = error.errors[0].message if error.errors else error.message
            errors.append(RowError(line, "email", f"{raw[:100]!r} {message}."))
    role = Role.VIEWER
    raw = _cell(cells, where, "role")
    if raw:
        try:
            role = Role.parse(raw)
        except ValueError as error:
            errors.append(RowError(line, "role", f"{raw[:100]!r}: {error}."))
    is_active = True
    raw = _cell(cells, where, "is_active")
    if raw:
        if raw.lower() in _TRUE:
            is_active = True
        elif raw.lower() in _FALSE:
            is_active = False
        else:
            errors.append(
                RowError(line, "is_active", f"{raw[:100]!r}: must be true or false (yes/no, 1/0).")
            )
    if errors or email is None:
        return None, errors
    return _Row(line, email, role, is_active), []


# -- sorting the rows against the organization ------------------------------------------------


def _in(
    column: Any, values: Sequence[Any], name: str, *, text: bool = False
) -> ColumnElement[bool]:
    """``column IN values`` with the values in one parameter named ``name`` (see
    ``members.ids_in``; several lists in one statement need several names)."""
    if db.session.get_bind().dialect.name == "postgresql":
        kind = ARRAY(String) if text else ARRAY(BigInteger)
        return column == any_(bindparam(name, list(values), type_=kind))
    listed = func.json_each(bindparam(name, json.dumps(list(values)))).table_valued("value")
    return column.in_(select(listed.c.value))


@dataclass
class _Plan:
    result: ImportResult
    adds: list[tuple[_Row, Any]]  # (row, user)
    updates: list[tuple[_Row, Any]]  # (row, membership state)
    invites: list[_Row]
    removals: list[Any]  # membership states


def _plan(
    actor: User, org_id: int, file: _File, me: Membership, *, sync: bool, now: datetime
) -> _Plan:
    """Sort the file's rows against the organization: three statements, four with ``sync``."""
    emails = sorted({row.email for row in file.valid})
    people = {
        p.email: p
        for p in db.session.execute(
            select(
                User.id,
                User.email,
                User.name,
                User.email_verified_at,
                User.is_active.label("account_active"),
                Membership.user_id.label("member"),
                Membership.role,
                Membership.is_active,
                Membership.sort_email,
                Membership.created_at,
            )
            .outerjoin(
                Membership,
                and_(Membership.user_id == User.id, Membership.organization_id == org_id),
            )
            .where(_in(User.email, emails, "emails", text=True))
        )
    }
    pending = dict(
        db.session.execute(
            select(Invitation.email, Invitation.role).where(
                Invitation.organization_id == org_id,
                Invitation.status == InvitationStatus.PENDING,
                Invitation.expires_at > now,
                _in(Invitation.email, emails, "emails", text=True),
            )
        ).all()
    )
    owners_now = set(
        db.session.scalars(
            select(Membership.user_id).where(
                Membership.organization_id == org_id, is_active_owner()
            )
        )
    )
    may_manage_owners = is_allowed(me, Action.MANAGE_OWNERS)
    adds: list[tuple[_Row, Any]] = []
    updates: list[tuple[_Row, Any]] = []
    invites: list[_Row] = []
    refused: list[RowRefusal] = []
    unchanged = 0
    for row in file.valid:
        person = people.get(row.email)
        if person is not None and person.member is not None:
            if (person.role, person.is_active) == (row.role, row.is_active):
                unchanged += 1
            elif person.id == actor.id:
                refused.append(RowRefusal(row.line, row.email, YOURSELF))
            elif not may_manage_owners and Role.OWNER in (person.role, row.role):
                refused.append(RowRefusal(row.line, row.email, OWNERS_ONLY))
            else:
                updates.append((row, person))
            continue
        if row.role is Role.OWNER and not may_manage_owners:
            refused.append(RowRefusal(row.line, row.email, OWNERS_ONLY))
        elif person is not None and person.email_verified_at is not None:
            adds.append((row, person))
        elif row.email in pending:
            if pending[row.email] == row.role and row.is_active:
                unchanged += 1
            else:
                message = INVITED_OTHERWISE.format(role=Role(pending[row.email]).name)
                refused.append(RowRefusal(row.line, row.email, message))
        elif not row.is_active:
            refused.append(RowRefusal(row.line, row.email, NO_ACCOUNT_SUSPENDED))
        elif len(invites) >= invitations.INVITE_MAX:
            refused.append(RowRefusal(row.line, row.email, TOO_MANY_INVITATIONS))
        else:
            invites.append(row)
    removals: list[Any] = []
    if sync:
        removals = [
            m
            for m in db.session.execute(
                select(
                    Membership.user_id,
                    Membership.role,
                    Membership.is_active,
                    Membership.sort_email,
                    Membership.created_at,
                ).where(
                    Membership.organization_id == org_id,
                    Membership.role != Role.OWNER,  # an import never removes an owner
                    Membership.user_id != actor.id,  # nor the one who imports
                )
            )
            if m.sort_email not in file.emails
        ]
    # The invariant, after every change of the file: an active owner remains.
    owners_after = set(owners_now)
    for row, person in updates:
        if row.role is Role.OWNER and row.is_active and person.account_active:
            owners_after.add(person.id)
        else:
            owners_after.discard(person.id)
    owners_after |= {
        p.id for row, p in adds if row.role is Role.OWNER and row.is_active and p.account_active
    }
    if not owners_after:
        losing = [(row, p) for row, p in updates if p.id in owners_now]
        refused += [RowRefusal(row.line, row.email, LastOwner.default_message) for row, _ in losing]
        updates = [(row, p) for row, p in updates if p.id not in owners_now]
    refused.sort(key=lambda r: (r.line is None, r.line or 0, r.email))
    result = ImportResult(
        rows=file.rows,
        add=[row.email for row, _ in adds],
        update=[MemberUpdate(row.email, row.role, row.is_active) for row, _ in updates],
        invite=[row.email for row in invites],
        remove=sorted(m.sort_email for m in removals),
        unchanged=unchanged,
        errors=file.errors,
        refused=refused,
        applied=False,
        states={row.email: (row.role, row.is_active) for row, _ in adds}
        | {row.email: (row.role, row.is_active) for row in invites},
    )
    return _Plan(result, adds, updates, invites, removals)


# -- the operations ---------------------------------------------------------------------------


def preview_import(actor: User, org_id: int, data: bytes, *, sync: bool = False) -> ImportResult:
    """What importing ``data`` would do, changing nothing. Needs MANAGE_MEMBERS (OWNER or
    ADMIN): NotFound / Forbidden as ``require``, checked before the file is read, so an
    outsider learns nothing of it. Raises FileTooLarge or BadFile for a file that cannot be
    read as a whole; the faults of rows are the answer's ``errors``."""
    _, me = require(actor, org_id, Action.MANAGE_MEMBERS)
    file = read_file(data)
    return _plan(actor, org_id, file, me, sync=sync, now=utcnow()).result


def apply_import(
    actor: User,
    org_id: int,
    data: bytes,
    *,
    sync: bool = False,
    via: Via,
    expected: str | None = None,
) -> ImportResult:
    """Import ``data``: every addition, update, invitation and removal of the preview, in one
    transaction and one change set (the answer's ``change_id``), under the organization lock;
    the invitations are mailed after the commit. With any row error or refusal, nothing
    changes and the answer says ``applied: false``.

    ``expected``: the ``digest`` of the preview the person saw; when the import would now do
    anything else, PreviewOutdated (409) and nothing changes. Raises as ``preview_import``,
    TooManyAttempts past the organization's mail limit, and LastOwner as any change.
    """
    from webapp.auth import MAIL_PER_ORG  # with the other attempt limits

    require(actor, org_id, Action.MANAGE_MEMBERS)
    file = read_file(data)
    now = utcnow()
    made: list[Any] = []
    tokens: dict[str, str] = {}
    with write_transaction():
        org, me = require(actor, org_id, Action.MANAGE_MEMBERS, lock=True)
        plan = _plan(actor, org_id, file, me, sync=sync, now=now)
        result = plan.result
        if expected is not None and expected != result.digest:
            raise PreviewOutdated()
        if result.errors or result.refused:
            return result
        if not (plan.adds or plan.updates or plan.invites or plan.removals):
            return ImportResult(**{**_fields(result), "applied": True})
        change_id = audit.new_change_id()
        details = {"import": {"rows": file.rows, "sync": sync}}
        _write(org, plan, actor=actor, via=via, now=now, change_id=change_id, details=details)
        if plan.invites:
            MAIL_PER_ORG.take(str(org_id), cost=len(plan.invites))
            invitations.expire_invitations(org_id, now)
            made, tokens = invitations.insert_invitations(
                org,
                actor,
                [(row.email, row.role) for row in plan.invites],
                now,
                via=via,
                change_id=change_id,
                details=details,
            )
    if made:
        invitations.mail_invitations(org.organization_name, actor, made, tokens, now)
    return ImportResult(**{**_fields(result), "applied": True, "change_id": change_id})


def _fields(result: ImportResult) -> dict[str, Any]:
    return {name: getattr(result, name) for name in result.__dataclass_fields__}


def _write(
    org: Organization,
    plan: _Plan,
    *,
    actor: User,
    via: Via,
    now: datetime,
    change_id: str,
    details: dict[str, Any],
) -> None:
    """The members' part of an import: one INSERT, one UPDATE, one DELETE, the invariant, the
    counters, one audit statement per kind. Under the lock, in the caller's transaction."""
    if plan.adds:
        db.session.execute(
            insert(Membership.__table__),
            [
                {
                    "organization_id": org.id,
                    "user_id": user.id,
                    "role": row.role,
                    "is_active": row.is_active,
                    "created_at": now,
                    "updated_at": now,
                    "sort_email": user.email,
                    "sort_name": name_sort_key(user.name),
                }
                for row, user in plan.adds
            ],
        )
    if plan.updates:
        _update(org.id, plan.updates, now)
    if plan.removals:
        db.session.execute(
            delete(Membership)
            .where(
                Membership.organization_id == org.id,
                _in(Membership.user_id, [m.user_id for m in plan.removals], "removed"),
            )
            .execution_options(synchronize_session=False)
        )
    check_has_active_owner(org.id)
    deltas = counter_deltas(
        [(s.role, s.is_active) for _, s in plan.updates]
        + [(m.role, m.is_active) for m in plan.removals],
        [(row.role, row.is_active) for row, _ in plan.updates + plan.adds],
    )
    joins = joins_after(
        org.joins_by_day,
        now,
        joined=len(plan.adds),
        left=[m.created_at for m in plan.removals],
    )
    apply_counter_deltas(org, deltas, now, joins)
    kinds: list[tuple[str, list[audit.TargetChange]]] = [
        (
            "member.add",
            [
                audit.TargetChange(
                    user.id, user.email, new_role=row.role, new_active=row.is_active, joined_at=now
                )
                for row, user in plan.adds
            ],
        ),
        (
            "member.update",
            [
                audit.TargetChange(
                    s.id,
                    s.sort_email,
                    old_role=s.role,
                    new_role=row.role,
                    old_active=s.is_active,
                    new_active=row.is_active,
                    joined_at=s.created_at,
                )
                for row, s in plan.updates
            ],
        ),
        (
            "member.remove",
            [
                audit.TargetChange(
                    m.user_id,
                    m.sort_email,
                    old_role=m.role,
                    old_active=m.is_active,
                    joined_at=m.created_at,
                )
                for m in plan.removals
            ],
        ),
    ]
    for action, targets in kinds:
        if targets:
            audit.record(
                action,
                actor=actor,
                via=via,
                org=org,
                targets=targets,
                details=details,
                change_id=change_id,
            )


def _update(org_id: int, updates: Iterable[tuple[_Row, Any]], now: datetime) -> None:
    """Every member's new role and flag in one UPDATE: a CASE over one id list per role and
    per flag (at most seven lists, whatever the number of members)."""
    by_role: dict[Role, list[int]] = {}
    by_flag: dict[bool, list[int]] = {}
    ids = []
    for row, state in updates:
        by_role.setdefault(row.role, []).append(state.id)
        by_flag.setdefault(row.is_active, []).append(state.id)
        ids.append(state.id)
    role = case(
        *(
            (_in(Membership.user_id, group, f"role_{r.name}"), literal(r, Membership.role.type))
            for r, group in by_role.items()
        ),
        else_=Membership.role,
    )
    flag = case(
        *(
            (_in(Membership.user_id, group, f"flag_{f}"), literal(f, Boolean))
            for f, group in by_flag.items()
        ),
        else_=Membership.is_active,
    )
    db.session.execute(
        update(Membership)
        .where(Membership.organization_id == org_id, _in(Membership.user_id, ids, "updated"))
        .values(role=role, is_active=flag, updated_at=now)
        .execution_options(synchronize_session=False)
    )
