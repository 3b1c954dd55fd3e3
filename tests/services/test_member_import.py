"""Importing members from a CSV file (DESIGN §9): the file's rules, the preview, the apply as
one change set, its revert, and the cost in statements."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update

from webapp.extensions import db
from webapp.models import AuditEvent, Invitation, InvitationStatus, Role, User, Via
from webapp.services import changes, member_import, members, users
from webapp.services.errors import FileTooLarge, Forbidden, InvalidInput, NotFound
from webapp.services.member_import import (
    IMPORT_BYTES_MAX,
    BadFile,
    MemberUpdate,
    PreviewOutdated,
    RowError,
    RowRefusal,
    apply_import,
    preview_import,
)
from webapp.services.permissions import OWNERS_ONLY

from .test_changes import _counters, _state


def csv_bytes(*lines: str, newline: str = "\n") -> bytes:
    return newline.join(lines).encode()


@pytest.fixture
def team(make_user, make_org, add_member):
    """An owner, an admin, a contributor and a viewer; Newcomer has an account, no membership."""
    people = {
        name: make_user(f"{name}@example.com", name.title())
        for name in ("owner", "admin", "carol", "victor", "newcomer")
    }
    org = make_org(people["owner"])
    add_member(org, people["admin"], Role.ADMIN)
    add_member(org, people["carol"], Role.CONTRIBUTOR)
    add_member(org, people["victor"], Role.VIEWER)
    return org, people


def _totals(org_id: int) -> tuple[Any, ...]:
    """What an import could change: memberships, invitations, audit events, counters."""
    db.session.commit()
    return (
        _state(org_id),
        db.session.scalar(select(func.count()).select_from(Invitation)),
        db.session.scalar(select(func.count()).select_from(AuditEvent)),
        _counters(org_id),
    )


# -- reading the file -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        csv_bytes("email,role,is_active", "newcomer@example.com,admin,yes"),
        b"\xef\xbb\xbf" + csv_bytes("email,role,is_active", "newcomer@example.com,admin,yes"),
        csv_bytes("EMAIL;Role;IS_ACTIVE", "newcomer@example.com;ADMIN;1", newline="\r\n"),
        csv_bytes("is_active,Role,Email", "true,Admin,NewComer@Example.com"),
        # An export of the member list reads back: other columns are ignored, quoted commas
        # stay in their cell.
        csv_bytes(
            "user_id,email,name,role,is_active,joined_at",
            '7,newcomer@example.com,"Comer, New",ADMIN,true,2026-01-01T00:00:00Z',
        ),
    ],
    ids=["plain", "bom", "semicolon-crlf", "any-case-and-order", "export-file"],
)
def test_every_accepted_shape_reads_the_same(team, data):
    org, people = team
    result = preview_import(people["owner"], org.id, data)
    assert result.rows == 1
    assert result.add == ["newcomer@example.com"]
    assert result.states["newcomer@example.com"] == (Role.ADMIN, True)
    assert not result.errors and not result.refused and not result.applied


def test_defaults_are_viewer_and_active(team):
    org, people = team
    result = preview_import(people["owner"], org.id, csv_bytes("email", "newcomer@example.com"))
    assert result.states["newcomer@example.com"] == (Role.VIEWER, True)


def test_lines_count_physical_lines_and_rows_count_data_rows(team):
    org, people = team
    data = csv_bytes(
        "email,role,note",
        "",  # line 2: blank, no row
        'carol@example.com,boss,"two',  # line 3: a cell spanning lines 3-4
        'lines"',
        "victor@example.com,VIEWER,x",  # line 5
        "newcomer@example.com,viewer,x",  # line 6
        "victor@example.com,ADMIN,x",  # line 7: victor again
        "not-an-address,VIEWER,x",  # line 8
        ",VIEWER,x",  # line 9
        "someone@example.com,VIEWER,x,extra",  # line 10
    )
    result = preview_import(people["owner"], org.id, data)
    assert result.rows == 7
    assert result.errors == [
        RowError(
            3,
            "role",
            "'boss': must be one of OWNER, ADMIN, CONTRIBUTOR, ACCOUNTING, "
            "VIEWER (any letter case).",
        ),
        RowError(7, "email", "victor@example.com is also on line 5."),
        RowError(8, "email", "'not-an-address' is not an email address."),
        RowError(9, "email", "is empty: every row needs an email address."),
        RowError(10, "row", "has 4 cells but the header names 3 columns."),
    ]
    assert result.add == ["newcomer@example.com"]
    assert result.unchanged == 1  # victor, as the first line says


def test_a_bad_flag_is_named_with_its_line(team):
    org, people = team
    data = csv_bytes("email,is_active", "carol@example.com,maybe")
    [error] = preview_import(people["owner"], org.id, data).errors
    assert (error.line, error.field) == (2, "is_active")
    assert "true or false" in error.message


BAD_FILES = {
    "too-many-bytes": (b"email\n" + b"a" * (IMPORT_BYTES_MAX - 5), FileTooLarge, "5 MB"),
    "too-many-rows": (
        csv_bytes("email", *(f"p{n}@example.com" for n in range(10_001))),
        FileTooLarge,
        "10,001 rows",
    ),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", BadFile, "not text"),
    "latin-1": ("email\nren\xe9@example.com\n".encode("latin-1"), BadFile, "line 2"),
    "utf-16": ("email\nx@example.com\n".encode("utf-16"), BadFile, "not UTF-8"),
    "empty": (b"", BadFile, "empty"),
    "no-header": (csv_bytes("ada@example.com,ADMIN"), BadFile, "looks like data"),
    "no-email-column": (csv_bytes("name,role", "Ada,ADMIN"), BadFile, "no email column"),
    "email-twice": (csv_bytes("email,Email", "a@example.com,b@example.com"), BadFile, "twice"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
@pytest.mark.parametrize("apply", [False, True], ids=["preview", "apply"])
def test_a_file_that_cannot_be_read_is_refused_whole_and_changes_nothing(team, case, apply):
    org, people = team
    data, error, words = BAD_FILES[case]
    if case == "too-many-bytes":
        assert len(data) == IMPORT_BYTES_MAX + 1
    before = _totals(org.id)
    with pytest.raises(error) as raised:
        if apply:
            apply_import(people["owner"], org.id, data, via=Via.API)
        else:
            preview_import(people["owner"], org.id, data)
    assert words in raised.value.message
    assert _totals(org.id) == before


def test_exactly_the_limits_are_accepted(team):
    org, people = team
    data = csv_bytes("email", *(f"p{n}@nowhere.example" for n in range(10_000)))
    result = preview_import(people["owner"], org.id, data)
    assert result.rows == 10_000
    padded = b"email\n" + b"\n" * (IMPORT_BYTES_MAX - 6)
    assert len(padded) == IMPORT_BYTES_MAX
    assert preview_import(people["owner"], org.id, padded).rows == 0


# -- sorting against the organization ---------------------------------------------------------


def test_preview_sorts_each_row_and_changes_nothing(team, make_user):
    org, people = team
    unverified = make_user("unverified@example.com")
    db.session.execute(update(User).where(User.id == unverified.id).values(email_verified_at=None))
    db.session.commit()
    data = csv_bytes(
        "email,role,is_active",
        "newcomer@example.com,CONTRIBUTOR,true",  # add
        "carol@example.com,ACCOUNTING,false",  # update
        "victor@example.com,VIEWER,true",  # unchanged
        "stranger@example.com,VIEWER,",  # invite: no account
        "unverified@example.com,ADMIN,",  # invite: an unverified account is no account
        "owner@example.com,OWNER,true",  # the caller, unchanged
    )
    before = _totals(org.id)
    result = preview_import(people["owner"], org.id, data, sync=True)
    assert _totals(org.id) == before
    assert result.rows == 6
    assert result.add == ["newcomer@example.com"]
    assert result.update == [MemberUpdate("carol@example.com", Role.ACCOUNTING, False)]
    assert result.invite == ["stranger@example.com", "unverified@example.com"]
    assert result.remove == ["admin@example.com"]  # not in the file; the owner never is
    assert result.unchanged == 2
    assert (result.errors, result.refused, result.applied, result.change_id) == (
        [],
        [],
        False,
        None,
    )


def test_sync_never_removes_an_owner_nor_the_caller(team, make_user, add_member):
    org, people = team
    second = make_user("second.owner@example.com")
    add_member(org, second, Role.OWNER)
    data = csv_bytes("email", "carol@example.com")
    as_admin = preview_import(people["admin"], org.id, data, sync=True)
    assert as_admin.remove == ["victor@example.com"]
    as_owner = preview_import(people["owner"], org.id, data, sync=True)
    assert as_owner.remove == ["admin@example.com", "victor@example.com"]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("newcomer@example.com,OWNER", OWNERS_ONLY),  # add an owner
        ("carol@example.com,OWNER", OWNERS_ONLY),  # grant OWNER
        ("owner@example.com,VIEWER", OWNERS_ONLY),  # change an owner
        ("stranger@example.com,OWNER", OWNERS_ONLY),  # invite an owner
        ("admin@example.com,VIEWER", member_import.YOURSELF),  # the caller
    ],
)
def test_an_admin_is_refused_what_the_bulk_changes_refuse(team, row, reason):
    org, people = team
    data = csv_bytes("email,role", "victor@example.com,CONTRIBUTOR", row)
    before = _totals(org.id)
    result = apply_import(people["admin"], org.id, data, via=Via.API)
    assert result.refused == [RowRefusal(3, row.split(",")[0], reason)]
    assert result.update == [MemberUpdate("victor@example.com", Role.CONTRIBUTOR, True)]
    assert not result.applied and result.change_id is None
    assert _totals(org.id) == before


def test_an_active_owner_always_remains(team, make_user, add_member):
    """An import never changes the caller, and only an owner may touch owners: the owner who
    imports remains one, so the invariant holds by the rules; the apply checks it anyway."""
    org, people = team
    second = make_user("second.owner@example.com")
    add_member(org, second, Role.OWNER)
    data = csv_bytes(
        "email,role,is_active", "second.owner@example.com,OWNER,false", "owner@example.com,ADMIN"
    )
    result = apply_import(people["owner"], org.id, data, via=Via.API)
    assert result.refused == [RowRefusal(3, "owner@example.com", member_import.YOURSELF)]
    done = apply_import(people["owner"], org.id, data.rsplit(b"\n", 1)[0], via=Via.API)
    assert done.applied
    assert _state(org.id)[people["owner"].id][:2] == (Role.OWNER, True)


def test_an_address_already_invited(team):
    org, people = team
    first = apply_import(
        people["owner"], org.id, csv_bytes("email,role", "guest@example.com,VIEWER"), via=Via.API
    )
    assert first.applied and first.invite == ["guest@example.com"]
    same = preview_import(people["owner"], org.id, csv_bytes("email", "guest@example.com"))
    assert (same.invite, same.unchanged, same.refused) == ([], 1, [])
    other = preview_import(
        people["owner"], org.id, csv_bytes("email,role", "guest@example.com,ADMIN")
    )
    assert [r.reason for r in other.refused] == [
        member_import.INVITED_OTHERWISE.format(role="VIEWER")
    ]


def test_an_address_without_account_cannot_be_imported_suspended(team):
    org, people = team
    result = preview_import(
        people["owner"], org.id, csv_bytes("email,is_active", "guest@example.com,false")
    )
    assert result.refused == [
        RowRefusal(2, "guest@example.com", member_import.NO_ACCOUNT_SUSPENDED)
    ]


@pytest.mark.parametrize("who", ["carol", "victor", "outsider"])
def test_only_owners_and_admins_may_import(team, make_user, who):
    org, people = team
    actor = people.get(who) or make_user()
    expected = NotFound if who == "outsider" else Forbidden
    for call in (preview_import, lambda *a: apply_import(*a, via=Via.API)):
        with pytest.raises(expected):
            call(actor, org.id, b"\x00 not even a csv")


# -- applying ---------------------------------------------------------------------------------

MIXED = csv_bytes(
    "email,role,is_active",
    "newcomer@example.com,CONTRIBUTOR,true",
    "carol@example.com,ACCOUNTING,false",
    "victor@example.com,VIEWER,true",
    "guest@example.com,ADMIN,",
)


def test_apply_does_what_the_preview_said_in_one_change_set(team, mailbox):
    org, people = team
    preview = preview_import(people["owner"], org.id, MIXED, sync=True)
    done = apply_import(
        people["owner"], org.id, MIXED, sync=True, via=Via.API, expected=preview.digest
    )
    assert done.applied and done.change_id
    assert (done.add, done.update, done.invite, done.remove, done.unchanged) == (
        preview.add,
        preview.update,
        preview.invite,
        preview.remove,
        preview.unchanged,
    )
    state = _state(org.id)
    assert state[people["newcomer"].id][:2] == (Role.CONTRIBUTOR, True)
    assert state[people["carol"].id][:2] == (Role.ACCOUNTING, False)
    assert people["admin"].id not in state
    invitation = db.session.scalar(
        select(Invitation).where(Invitation.email == "guest@example.com")
    )
    assert (invitation.role, invitation.status) == (Role.ADMIN, InvitationStatus.PENDING)
    assert [m.recipients for m in mailbox.mails] == [["guest@example.com"]]
    events = db.session.execute(
        select(AuditEvent.action, AuditEvent.target_email, AuditEvent.details).where(
            AuditEvent.operation_id == done.change_id
        )
    ).all()
    assert sorted((e.action, e.target_email) for e in events) == [
        ("invitation.create", "guest@example.com"),
        ("member.add", "newcomer@example.com"),
        ("member.remove", "admin@example.com"),
        ("member.update", "carol@example.com"),
    ]
    assert all(e.details == {"import": {"rows": 4, "sync": True}} for e in events)
    assert _counters(org.id) == _recount_of(org.id)


def _recount_of(org_id: int) -> dict[str, object]:
    from .test_changes import _recount

    return _recount(org_id)


def test_apply_with_errors_changes_nothing(team):
    org, people = team
    data = MIXED + b"\nbroken@example.com,NOBODY,true"
    before = _totals(org.id)
    result = apply_import(people["owner"], org.id, data, sync=True, via=Via.API)
    assert not result.applied and result.errors[0].line == 6
    assert result.add == ["newcomer@example.com"]  # what the valid rows would do
    assert _totals(org.id) == before


def test_an_outdated_preview_is_refused(team):
    org, people = team
    preview = preview_import(people["owner"], org.id, MIXED)
    members.update_members(
        people["owner"],
        org.id,
        [people["carol"].id],
        role=Role.ACCOUNTING,
        is_active=False,
        via=Via.CLI,
    )
    before = _totals(org.id)
    with pytest.raises(PreviewOutdated):
        apply_import(people["owner"], org.id, MIXED, via=Via.API, expected=preview.digest)
    assert _totals(org.id) == before


def test_an_import_with_nothing_to_do_makes_no_change_set(team):
    org, people = team
    before = _totals(org.id)
    done = apply_import(
        people["owner"], org.id, csv_bytes("email", "victor@example.com"), via=Via.API
    )
    assert done.applied and done.change_id is None and done.unchanged == 1
    assert _totals(org.id) == before


def test_reverting_an_import_gives_back_exactly_the_state_before(team, make_user, add_member):
    org, people = team
    suspended = make_user("sus@example.com")
    add_member(org, suspended, Role.ACCOUNTING, is_active=False)
    db.session.commit()
    state, _, _, counters = _totals(org.id)
    done = apply_import(people["owner"], org.id, MIXED, sync=True, via=Via.API)
    assert "sus@example.com" in done.remove
    reverted = changes.revert_change(people["owner"], org.id, done.change_id, via=Via.API)
    assert _state(org.id) == state  # roles, flags and joined_at
    assert _counters(org.id) == counters
    invitation = db.session.scalar(
        select(Invitation).where(Invitation.email == "guest@example.com")
    )
    assert invitation.status == InvitationStatus.REVOKED
    # ...and the revert is a change set of its own, which gives the import back.
    changes.revert_change(people["owner"], org.id, reverted.change_id, via=Via.API)
    assert _state(org.id)[people["newcomer"].id][:2] == (Role.CONTRIBUTOR, True)


# -- the cost ---------------------------------------------------------------------------------


def _world(owner: User, org_id: int, kind: str, n: int) -> tuple[bytes, bool]:
    """An organization and a file of ``n`` rows of one kind of change (``mixed``: a quarter
    updates, a quarter invitations, the rest additions, and a quarter as many members left out
    for sync to remove); the file, and whether it is imported with sync."""
    tag = f"{kind}{n}"
    counts = {"add": 0, "upd": 0, "inv": 0, "rem": 0}
    if kind == "mixed":
        q = n // 4
        counts |= {"upd": q, "inv": min(q, 1_000), "rem": q}
        counts["add"] = n - counts["upd"] - counts["inv"]
    else:
        counts[kind] = n
    people = [
        (f"{k}{i}@{tag}.example", f"{k} {i}")
        for k in ("add", "upd", "rem")
        for i in range(counts[k])
    ]
    made = users.create_users(people, via=Via.CLI) if people else []
    existing = made[counts["add"] :]
    if existing:
        members.add_members(owner, org_id, existing, via=Via.CLI)
    lines = (
        ["email,role,is_active", f"{owner.email},OWNER,true"]
        if kind == "rem"
        else ["email,role,is_active"]
    )
    lines += [f"add{i}@{tag}.example,CONTRIBUTOR,true" for i in range(counts["add"])]
    lines += [f"upd{i}@{tag}.example,ADMIN,false" for i in range(counts["upd"])]
    lines += [f"inv{i}@{tag}.nobody.example,VIEWER," for i in range(counts["inv"])]
    return csv_bytes(*lines), counts["rem"] > 0


# (preview, apply) statements, whatever the number of rows.
EXPECTED_STATEMENTS = {
    "add": (4, 9),
    "upd": (4, 9),
    "rem": (5, 10),
    "inv": (4, 11),
    "mixed": (5, 18),
}


@pytest.mark.parametrize("kind", list(EXPECTED_STATEMENTS))
def test_preview_and_apply_cost_the_same_statements_at_any_size(
    make_user, make_org, count_statements, mailbox, kind
):
    """1, 100 and 10,000 rows (invitations: up to 1,000, an import's most; mixed: 4 rows, one
    of each kind, instead of 1)."""
    sizes = {"inv": [1, 100, 1_000], "mixed": [4, 100, 10_000]}.get(kind, [1, 100, 10_000])
    counts = {}
    for n in sizes:
        owner = make_user(f"boss@{kind}{n}.example")
        org = make_org(owner)
        data, sync = _world(owner, org.id, kind, n)
        db.session.commit()
        with count_statements() as previewing:
            preview = preview_import(owner, org.id, data, sync=sync)
        assert not preview.errors and not preview.refused, preview
        with count_statements() as applying:
            done = apply_import(owner, org.id, data, sync=sync, via=Via.API)
        assert done.applied
        assert len(done.add) + len(done.update) + len(done.invite) + len(done.remove) >= n
        counts[n] = (previewing.count, applying.count)
    print(f"\nimport statements ({kind}): {counts}")
    assert set(counts.values()) == {EXPECTED_STATEMENTS[kind]}, counts


def test_a_mistyped_value_is_an_error_not_a_crash(team):
    org, people = team
    with pytest.raises(InvalidInput):
        preview_import(people["owner"], org.id, "email\nx@example.com")  # type: ignore[arg-type]
