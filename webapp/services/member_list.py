"""The member list: pages sorted and filtered, one member, and what a filter matches.

Every sort walks an ``(organization_id, key, user_id)`` index, and a page costs a fixed number
of statements at any depth, size or sort (``list_members``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import (
    ColumnElement,
    FromClause,
    Integer,
    Row,
    Select,
    UnaryExpression,
    and_,
    bindparam,
    case,
    column,
    func,
    select,
    table,
    tuple_,
)
from sqlalchemy.orm import InstrumentedAttribute

from webapp.extensions import db
from webapp.inputs import SORT_BY, MemberFilters, MemberQuery
from webapp.models import Membership, Organization, Role, User
from webapp.models.tables import USER_SEARCH_TABLE
from webapp.services.errors import InvalidInput, NotMembers
from webapp.services.members import ids_in
from webapp.services.organizations import ROLE_COUNTERS, Account, check_seen
from webapp.services.page_cursor import KEY_TYPES, PageCursor
from webapp.services.permissions import Action, require, require_reading
from webapp.services.transactions import prepared, read_in_batches
from webapp.services.values import USER_IDS_MAX, is_id, name_sort_key

SORT_KEYS: dict[str, InstrumentedAttribute[Any]] = {
    "user_id": Membership.user_id,
    "email": Membership.sort_email,
    "name": Membership.sort_name,
    "role": Membership.role,
    "is_active": Membership.is_active,
    "joined_at": Membership.created_at,
}
assert tuple(SORT_KEYS) == SORT_BY, "every sort the query offers has its column"
assert set(KEY_TYPES) == set(SORT_BY), "every sort can be paged by cursor"


@dataclass(frozen=True)
class Member:
    """One member, as the list shows them (DESIGN §4 Member)."""

    user_id: int
    email: str
    name: str
    role: Role
    is_active: bool
    joined_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class MemberPage:
    """One page of the member list and its totals (DESIGN §4 MemberPage)."""

    items: list[Member]
    page_number: int
    page_size: int
    total_items: int
    total_pages: int
    sort_by: str
    sort_ascending: bool
    next_cursor: Annotated[
        str | None,
        Field(description="The cursor of the page after this one; null on the last page."),
    ]
    prev_cursor: Annotated[
        str | None,
        Field(description="The cursor of the page before this one; null on the first page."),
    ]


@dataclass(frozen=True)
class ListedMember:
    """A member, and whether a list's filters still match them."""

    member: Member
    matches: bool


# -- the search ``q`` ---------------------------------------------------------------------------
#
# ``q`` matches a substring of a member's address or case-folded name: ``LIKE '%x%'`` on the
# membership's ``sort_email`` / ``sort_name``, which is what decides, on both databases. So that
# a rare text does not read the whole organization, a text of three characters or more first
# finds its candidate users through the search index over *users* (migration 0010), and the
# LIKE then checks only their memberships: on PostgreSQL a pg_trgm GIN index serving the same
# LIKE on the user's address and ``name_key``; on SQLite the FTS5 trigram table ``user_search``
# of those two texts. Either way the candidates include every match (the same texts and
# substring; FTS5's case folding is at least as wide as LIKE's). Shorter texts have no trigram
# and read the organization's members, and so does an organization smaller than
# ``SEARCH_INDEX_FROM``: the index finds matching users of every organization, and a common
# text (".com") in a small one would read them all (SQLite's planner always starts from the
# FTS table).

_SEARCH = table(USER_SEARCH_TABLE, column("rowid"), column(USER_SEARCH_TABLE))
TRIGRAM = 3  # the shortest text the search index finds
SEARCH_INDEX_FROM = 1_000  # members; below, reading them costs about a millisecond


def _search_index(search: str | None, member_count: int) -> str | None:
    """How ``search``'s candidates are found in an organization of ``member_count``:
    ``"fts"`` (SQLite's table), ``"trigram"`` (PostgreSQL's index), or None (the
    organization's members are read): no text, too short for a trigram, or a small
    organization."""
    if search is None or member_count < SEARCH_INDEX_FROM:
        return None
    if min(len(search.lower()), len(name_sort_key(search))) < TRIGRAM:
        return None
    return "fts" if db.session.get_bind().dialect.name == "sqlite" else "trigram"


def _fts_phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _search_match(search: str) -> str:
    """The FTS table's query: the address part in ``email`` or the name part in ``name``, each
    one literal phrase (any character, quotes doubled), as the LIKE's two parts."""
    return f"email : {_fts_phrase(search.lower())} OR name : {_fts_phrase(name_sort_key(search))}"


def _found(index: str, email_part: Any, name_part: Any, match: Any) -> ColumnElement[bool]:
    """The condition under which the search index finds a user: ``match`` is the FTS query,
    the parts are the LIKE's texts escaped as ``_like_literal`` escapes them."""
    if index == "fts":
        return _SEARCH.c[USER_SEARCH_TABLE].match(match)
    return _USERS.email.contains(email_part, escape=_LIKE_ESCAPE) | _USERS.name_key.contains(
        name_part, escape=_LIKE_ESCAPE
    )


def _candidates(index: str, search: str) -> ColumnElement[bool]:
    """Memberships whose user the search index finds (``IN``: for conditions of one row)."""
    email_part, name_part = _like_literal(search.lower()), _like_literal(name_sort_key(search))
    found = _found(index, email_part, name_part, _search_match(search))
    ids = _SEARCH.c.rowid if index == "fts" else _USERS.id
    return Membership.user_id.in_(select(ids).where(found))


def _filters(org_id: int, query: MemberFilters, member_count: int) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [Membership.organization_id == org_id]
    if query.search is not None:
        index = _search_index(query.search, member_count)
        if index is not None:
            where.append(_candidates(index, query.search))
        where.append(
            Membership.sort_email.contains(query.search.lower(), autoescape=True)
            | Membership.sort_name.contains(name_sort_key(query.search), autoescape=True)
        )
    if query.role is not None:
        where.append(Membership.role == query.role)
    if query.is_active is not None:
        where.append(Membership.is_active.is_(query.is_active))
    return where


# -- the page's statements, built once per shape -----------------------------------------------
#
# A list request runs the same few statements with other values: each is built once per shape
# (sort, direction, which filters, by number or by cursor) with bound parameters, over the
# tables' own columns, and run on the session's connection as Core. Building a select per
# request, and the ORM's execution around plain rows, were most of a page's time. The SQL is
# what the ORM statements rendered, so the plans do not change (test_member_list_plan.py).

_MEMBERSHIPS = Membership.__table__.c
_USERS = User.__table__.c

# Member's fields, in its order.
_MEMBER_COLUMNS = (
    _MEMBERSHIPS.user_id,
    _USERS.email,
    _USERS.name,
    _MEMBERSHIPS.role,
    _MEMBERSHIPS.is_active,
    _MEMBERSHIPS.created_at,
    _MEMBERSHIPS.updated_at,
)
assert [c.key for c in _MEMBER_COLUMNS] == [
    "user_id",
    "email",
    "name",
    "role",
    "is_active",
    "created_at",
    "updated_at",
]
_SORT_COLUMNS = {sort: _MEMBERSHIPS[attribute.key] for sort, attribute in SORT_KEYS.items()}


@dataclass(frozen=True)
class _Shape:
    """What decides a list statement's text: the sort, and which filters are given (the active
    flag by its value, since ``IS true`` takes no parameter; the search by how its candidates
    are found)."""

    sort_by: str
    sort_ascending: bool
    search: bool
    search_index: str | None
    role: bool
    is_active: bool | None

    @property
    def is_unfiltered(self) -> bool:
        return not self.search and not self.role and self.is_active is None

    @classmethod
    def of(cls, query: MemberFilters, member_count: int) -> _Shape:
        return cls(
            query.sort_by,
            query.sort_ascending,
            query.search is not None,
            _search_index(query.search, member_count),
            query.role is not None,
            query.is_active,
        )


def _parameters(org_id: int, query: MemberFilters, shape: _Shape) -> dict[str, Any]:
    """The values of ``_where``'s parameters; the search escaped as ``autoescape`` does."""
    values: dict[str, Any] = {"org_id": org_id}
    if query.search is not None:
        values["email_part"] = _like_literal(query.search.lower())
        values["name_part"] = _like_literal(name_sort_key(query.search))
        if shape.search_index == "fts":
            values["search_match"] = _search_match(query.search)
    if query.role is not None:
        values["role"] = query.role
    return values


_LIKE_ESCAPE = "/"


def _like_literal(text: str) -> str:
    """``text`` matched literally inside LIKE with ``ESCAPE '/'``: SQLAlchemy's ``autoescape``,
    which takes no bound parameter."""
    text = text.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
    return text.replace("%", _LIKE_ESCAPE + "%").replace("_", _LIKE_ESCAPE + "_")


def _where(shape: _Shape) -> list[ColumnElement[bool]]:
    """``_filters`` with bound parameters (``_parameters``) for a shape's statements."""
    where: list[ColumnElement[bool]] = [_MEMBERSHIPS.organization_id == bindparam("org_id")]
    if shape.search_index is not None:
        where.append(
            _found(
                shape.search_index,
                bindparam("email_part"),
                bindparam("name_part"),
                bindparam("search_match"),
            )
        )
    if shape.search:
        where.append(
            _MEMBERSHIPS.sort_email.contains(bindparam("email_part"), escape=_LIKE_ESCAPE)
            | _MEMBERSHIPS.sort_name.contains(bindparam("name_part"), escape=_LIKE_ESCAPE)
        )
    if shape.role:
        where.append(_MEMBERSHIPS.role == bindparam("role"))
    if shape.is_active is not None:
        where.append(_MEMBERSHIPS.is_active.is_(shape.is_active))
    return where


def _members_from(shape: _Shape, *, users: bool = False) -> FromClause:
    """What a shape's statements read: the memberships, joined to what the search index finds
    when it finds the candidates (it leads: a rare text costs its few rows), and to the users
    when asked for or searched."""
    found: FromClause = Membership.__table__
    if shape.search_index == "fts":
        found = found.join(_SEARCH, _SEARCH.c.rowid == _MEMBERSHIPS.user_id)
    if users or shape.search_index == "trigram":
        found = found.join(User.__table__, _USERS.id == _MEMBERSHIPS.user_id)
    return found


@functools.cache
def _count_statement(shape: _Shape) -> Select[tuple[int]]:
    return select(func.count()).select_from(_members_from(shape)).where(*_where(shape))


def _orders(
    shape: _Shape,
) -> tuple[list[UnaryExpression[Any]], list[UnaryExpression[Any]], list[UnaryExpression[Any]]]:
    """The sort's ascending and descending orders (ties broken by user_id), and the list's."""
    key = _SORT_COLUMNS[shape.sort_by]
    forward = [key.asc(), _MEMBERSHIPS.user_id.asc()]
    backward = [key.desc(), _MEMBERSHIPS.user_id.desc()]
    return forward, backward, forward if shape.sort_ascending else backward


@functools.cache
def _page_statement(shape: _Shape, inner_forward: bool, seek: bool) -> Select[Any]:
    """A page's statement: its user ids found on the index first, walking it forwards or
    backwards, past the cursor's row (parameters ``mark_key``, ``mark_user_id``) with ``seek``,
    else from ``offset``; at most ``limit`` of them; then only those rows joined, in the list's
    order: a Member's fields, then the sort key (for the cursors)."""
    key = _SORT_COLUMNS[shape.sort_by]
    forward, backward, order = _orders(shape)
    where = _where(shape)
    page_ids = select(_MEMBERSHIPS.user_id).select_from(_members_from(shape))
    if seek:
        place: ColumnElement[Any] = _MEMBERSHIPS.user_id
        mark: ColumnElement[Any] = bindparam("mark_user_id", type_=_MEMBERSHIPS.user_id.type)
        if key is not _MEMBERSHIPS.user_id:  # ties broken by user_id: compare (key, user_id)
            place, mark = tuple_(key, place), tuple_(bindparam("mark_key", type_=key.type), mark)
        where.append(place > mark if inner_forward else place < mark)
    page_ids = page_ids.where(*where).order_by(*(forward if inner_forward else backward))
    page_ids = page_ids.limit(bindparam("limit", type_=Integer()))
    if not seek:
        page_ids = page_ids.offset(bindparam("offset", type_=Integer()))
    ids = page_ids.subquery()
    page = (
        select(*_MEMBER_COLUMNS, key)
        .join(
            ids,
            and_(
                _MEMBERSHIPS.organization_id == bindparam("org_id"),
                _MEMBERSHIPS.user_id == ids.c.user_id,
            ),
        )
        .join(User.__table__, _USERS.id == _MEMBERSHIPS.user_id)
        .order_by(*order)
    )
    # Unfiltered, its plan is the same for every organization and depth: one walk of the
    # (organization_id, key, user_id) index. A filtered page's may not be.
    return prepared(page) if shape.is_unfiltered else page


MATCHING_BATCH = 1_000  # rows fetched at a time by ``all_matching``


@functools.cache
def _all_statement(shape: _Shape) -> Select[Any]:
    """Every member the shape's filters match, in the list's order: a Member's fields; its
    rows are fetched ``MATCHING_BATCH`` at a time."""
    *_, order = _orders(shape)
    return (
        select(*_MEMBER_COLUMNS)
        .select_from(_members_from(shape, users=True))
        .where(*_where(shape))
        .order_by(*order)
        .execution_options(yield_per=MATCHING_BATCH)
    )


def all_matching(actor: User, org_id: int, filters: MemberFilters) -> Iterator[list[Member]]:
    """Every member the filters match, in the list's sort, in batches of ``MATCHING_BATCH``:
    what an export writes. Any active member may ask.

    The access check runs now, so a refusal comes before anything is sent; the rows are read
    as the batches are asked for, by one statement whose rows are fetched a batch at a time
    (a server-side cursor on PostgreSQL), so memory stays the same whatever the size.
    """
    org = require_reading(actor, org_id, Action.VIEW, Organization.member_count)
    shape = _Shape.of(filters, org.member_count)
    batches = read_in_batches(_all_statement(shape), _parameters(org_id, filters, shape))
    return ([Member(*row) for row in batch] for batch in batches)


def _viewer(actor: User, org_id: int, seen: Account | None) -> int:
    """The member count the list starts from, after the access check.

    ``seen`` is the organization as this same request already read it for the actor: returned
    by a service call (a change, say), or read with the request's API token
    (``tokens.authenticate_token_for``). Its role and state are checked here, and its counts
    are current, so no statement is needed. Without it, one statement checks access and reads
    the counts.
    """
    if seen is None:
        row = require_reading(actor, org_id, Action.VIEW, Organization.member_count)
        return int(row.member_count)
    return check_seen(seen, org_id, Action.VIEW).member_count


def list_members(
    actor: User, org_id: int, query: MemberQuery, *, seen: Account | None = None
) -> MemberPage:
    """One page of members, sorted and filtered. Any active member may list.

    Two statements when unfiltered (the total is the organization's counter), three when
    filtered, whatever the page depth, size or sort, by page number or by cursor; one fewer
    with ``seen`` (see ``_viewer``).
    """
    member_count = _viewer(actor, org_id, seen)
    shape = _Shape.of(query, member_count)
    values = _parameters(org_id, query, shape)
    if query.is_filtered:
        total = db.session.connection().scalar(_count_statement(shape), values) or 0
    else:
        total = member_count
    if query.cursor is None:
        page = _numbered_page(shape, values, query, total)
    else:
        page = _cursor_page(shape, values, query, query.cursor)
    rows, page_number, more_before, more_after = page
    items = [Member(*row[:-1]) for row in rows]
    return MemberPage(
        items=items,
        page_number=page_number,
        page_size=query.page_size,
        total_items=total,
        total_pages=-(-total // query.page_size),
        sort_by=query.sort_by,
        sort_ascending=query.sort_ascending,
        next_cursor=_cursor(query, rows[-1], page_number + 1) if more_after else None,
        prev_cursor=_cursor(query, rows[0], page_number - 1, after=False) if more_before else None,
    )


# Rows (a Member's fields, then the sort key) in the list's order, the page's number, and
# whether rows lie before and after them.
_Page = tuple[list[Row[Any]], int, bool, bool]


def _numbered_page(shape: _Shape, values: dict[str, Any], query: MemberQuery, total: int) -> _Page:
    # Find the page on the covering (organization_id, key, user_id) index first, then join
    # only those rows. OFFSET walks the index entries it skips, so a page in the second half
    # is found from the other end: the last page costs what page 0 costs.
    offset = query.page_number * query.page_size
    limit = query.page_size
    inner_forward = query.sort_ascending
    if offset < total and offset * 2 > total:
        tail = total - offset  # rows from this page's first to the very last
        inner_forward = not query.sort_ascending
        limit, offset = min(query.page_size, tail), max(tail - query.page_size, 0)
    rows = _rows(
        _page_statement(shape, inner_forward, seek=False),
        {**values, "limit": limit, "offset": offset},
    )
    more_after = bool(rows) and query.page_number * query.page_size + len(rows) < total
    return rows, query.page_number, bool(rows) and query.page_number > 0, more_after


def _cursor_page(
    shape: _Shape, values: dict[str, Any], query: MemberQuery, cursor: PageCursor
) -> _Page:
    """The page after or before the cursor's row: a seek on the index, at any depth."""
    # Walk away from the cursor's row, nearest first; one row more than the page says whether
    # there are more beyond it.
    inner_forward = cursor.after == query.sort_ascending
    mark = {"mark_key": cursor.key, "mark_user_id": cursor.user_id}
    if query.sort_by == "user_id":
        del mark["mark_key"]
    rows = _rows(
        _page_statement(shape, inner_forward, seek=True),
        {**values, **mark, "limit": query.page_size + 1},
    )
    more = len(rows) > query.page_size
    if cursor.after:
        rows = rows[: query.page_size]
        return rows, cursor.page_number, bool(rows), more
    rows = rows[-query.page_size :] if more else rows
    # Nothing before these rows: this is the first page, whatever the cursor counted.
    page_number = cursor.page_number if more else 0
    return rows, page_number, more, bool(rows)


def _rows(statement: Select[Any], values: dict[str, Any]) -> list[Row[Any]]:
    """Plain rows of a page's statement; no ORM objects, no ORM execution on the hot path."""
    return list(db.session.connection().execute(statement, values).all())


def _cursor(query: MemberQuery, row: Row[Any], page_number: int, *, after: bool = True) -> str:
    """The cursor of the page just after (or before) ``row``."""
    return PageCursor(
        sort_by=query.sort_by,
        sort_ascending=query.sort_ascending,
        after=after,
        key=row[-1],
        user_id=row[0],
        page_number=page_number,
    ).encode()


def find_member(
    actor: User,
    org_id: int,
    user_id: int,
    query: MemberQuery | None = None,
    *,
    seen: Account | None = None,
) -> ListedMember:
    """One member as the list shows them, and whether ``query``'s filters match them.

    One statement (two without ``seen``). Raises NotFound / Forbidden as ``require`` does,
    NotMembers when the user is not a member.
    """
    member_count = _viewer(actor, org_id, seen)
    row = None
    if is_id(user_id):
        matches = and_(*_filters(org_id, query or MemberQuery(), member_count))
        row = db.session.execute(
            select(Membership, User.email, User.name, case((matches, True), else_=False))
            .join(User, User.id == Membership.user_id)
            .where(Membership.organization_id == org_id, Membership.user_id == user_id)
        ).first()
    if row is None:
        raise NotMembers(user_ids=[user_id] if is_id(user_id) else [])
    membership, email, name, listed = row
    return ListedMember(_member(membership, email, name), bool(listed))


def get_member(actor: User, org_id: int, user_id: int, *, seen: Account | None = None) -> Member:
    """One member, as the list shows them. See ``find_member``."""
    return find_member(actor, org_id, user_id, seen=seen).member


def _member(membership: Membership, email: str, name: str) -> Member:
    return Member(
        user_id=membership.user_id,
        email=email,
        name=name,
        role=membership.role,
        is_active=membership.is_active,
        joined_at=membership.created_at,
        updated_at=membership.updated_at,
    )


def count_matching(actor: User, org_id: int, query: MemberQuery, *, roles: Iterable[Role]) -> int:
    """How many members the query's filters match (all pages) with one of ``roles``.

    Any active member may ask. From the organization's counters when only the role is
    filtered, else one COUNT.
    """
    org, _ = require(actor, org_id, Action.VIEW)
    wanted = set(roles) if query.role is None else set(roles) & {query.role}
    if not wanted:
        return 0
    if query.search is None and query.is_active is None:
        return sum(getattr(org, ROLE_COUNTERS[role]) for role in wanted)
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(*_filters(org_id, query, org.member_count), Membership.role.in_(wanted))
        )
        or 0
    )


def matching_member_ids(actor: User, org_id: int, query: MemberQuery) -> list[int]:
    """Every member id the query's filters match (all pages), for "select all N matching".

    Refuses with InvalidInput when more than 10,000 match: bulk changes take that many at once.
    """
    org, _ = require(actor, org_id, Action.VIEW)
    ids = db.session.scalars(
        select(Membership.user_id)
        .where(*_filters(org_id, query, org.member_count))
        .order_by(Membership.user_id)
        .limit(USER_IDS_MAX + 1)
    ).all()
    if len(ids) > USER_IDS_MAX:
        raise InvalidInput.field(
            "user_ids", f"more than {USER_IDS_MAX:,} members match; narrow the filter"
        )
    return list(ids)


CONFIRMATION_NAMES = 10  # how many people a confirmation names before "and N more"


def first_named(
    actor: User, org_id: int, user_ids: Sequence[int], *, limit: int = CONFIRMATION_NAMES
) -> list[tuple[str, str]]:
    """Up to ``limit`` of these members as (name, email), by name: who a confirmation of a
    change to all of them names. Any active member may ask; ids that are no member are left
    out. Two statements, whatever the number of ids."""
    require_reading(actor, org_id, Action.VIEW, Organization.id)
    rows = db.session.execute(
        select(User.name, User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organization_id == org_id, ids_in(Membership.user_id, user_ids))
        .order_by(Membership.sort_name, Membership.user_id)
        .limit(limit)
    ).all()
    return [(name, email) for name, email in rows]
