"""The member list as CSV (DESIGN §9 Export): read back with the ``csv`` module and compared
with the JSON list, cell for cell, for every sort and filter."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from webapp.inputs import MemberFilters
from webapp.models import Role, Via
from webapp.services import member_files, members, organizations, users
from webapp.services.csv_files import inert
from webapp.services.member_list import MATCHING_BATCH

HEADER = ["user_id", "email", "name", "role", "is_active", "joined_at"]

# Names a spreadsheet would run, split or mangle, and names it would not.
AWKWARD_NAMES = [
    '=HYPERLINK("http://evil.example","click")',
    "+1 555 0100",
    "-2+3",
    "@SUM(A1:A9)",
    'Comma, Quoted "Name"',
    "Zoë Ünicode",
    "Plain Person",
    "a=b is fine inside",
]

QUERIES = [
    "",
    "sort_by=user_id",
    "sort_by=email&sort_ascending=false",
    "sort_by=role",
    "sort_by=joined_at&sort_ascending=false",
    "sort_by=is_active",
    "q=person",
    "q=%2B1",
    "role=VIEWER",
    "is_active=false",
    "q=example&role=CONTRIBUTOR&is_active=true&sort_by=name&sort_ascending=false",
]


@pytest.fixture
def crowd(make_user, make_org, api):  # type: ignore[no-untyped-def]
    owner = make_user(name="Olive Owner")
    org = make_org(owner, name="Export Co")
    ids = users.create_users(
        [(f"p{n}@example.com", name) for n, name in enumerate(AWKWARD_NAMES)]
        + [(f"m{n:03d}@example.com", f"Member {n:03d}") for n in range(40)],
        via=Via.CLI,
    )
    for n, user_id in enumerate(ids):
        role = [Role.VIEWER, Role.CONTRIBUTOR, Role.ACCOUNTING, Role.ADMIN][n % 4]
        members.add_members(owner, org.id, [user_id], role=role, is_active=n % 5 != 0, via=Via.CLI)
    return owner, org, api(owner)


def _rows(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    text = response.get_data(as_text=True)
    return list(csv.reader(io.StringIO(text, newline="")))


def _expected(item: dict[str, Any]) -> list[str]:
    def cell(text: str) -> str:
        return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

    return [
        str(item["user_id"]),
        cell(item["email"]),
        cell(item["name"]),
        item["role"],
        "true" if item["is_active"] else "false",
        item["joined_at"],
    ]


@pytest.mark.parametrize("query", QUERIES)
def test_the_file_is_the_json_list_row_for_row(crowd, query):
    _, org, client = crowd
    listed = client.get(f"/api/organizations/{org.id}/users?page_size=500&{query}").get_json()
    assert listed["total_items"] == len(listed["items"])  # one JSON page holds them all

    rows = _rows(client.get(f"/api/organizations/{org.id}/users.csv?{query}"))

    assert rows[0] == HEADER
    assert rows[1:] == [_expected(item) for item in listed["items"]]


def test_formula_cells_are_prefixed_and_the_rest_kept_exactly(crowd):
    _, org, client = crowd
    rows = _rows(client.get(f"/api/organizations/{org.id}/users.csv?sort_by=user_id"))
    names = {row[1]: row[2] for row in rows[1:]}
    assert names["p0@example.com"] == '\'=HYPERLINK("http://evil.example","click")'
    assert names["p1@example.com"] == "'+1 555 0100"
    assert names["p2@example.com"] == "'-2+3"
    assert names["p3@example.com"] == "'@SUM(A1:A9)"
    assert names["p4@example.com"] == 'Comma, Quoted "Name"'
    assert names["p5@example.com"] == "Zoë Ünicode"
    assert names["p7@example.com"] == "a=b is fine inside"


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),  # names cannot hold these two (control characters), other text might
        ("\rx", "'\rx"),
        ("x=1", "x=1"),
        ("", ""),
    ],
)
def test_inert_cells(text, cell):
    assert inert(text) == cell


def test_the_answer_is_a_csv_download_never_cached(crowd):
    _, org, client = crowd
    response = client.get(f"/api/organizations/{org.id}/users.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="roster-{org.id}-members.csv"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    assert text.startswith("user_id,email,name,role,is_active,joined_at\r\n")
    assert text.endswith("\r\n")


def test_paging_parameters_are_ignored(crowd):
    _, org, client = crowd
    whole = _rows(client.get(f"/api/organizations/{org.id}/users.csv"))
    paged = _rows(
        client.get(f"/api/organizations/{org.id}/users.csv?page_number=3&page_size=1&cursor=x")
    )
    assert paged == whole
    assert len(whole) == 1 + 1 + len(AWKWARD_NAMES) + 40  # header, the owner, the rest


def test_a_filter_nobody_matches_gives_the_header_alone(crowd):
    _, org, client = crowd
    assert _rows(client.get(f"/api/organizations/{org.id}/users.csv?q=nobody-at-all")) == [HEADER]


def test_a_bad_filter_is_a_problem_naming_it(crowd, assert_problem):
    _, org, client = crowd
    body = assert_problem(
        client.get(f"/api/organizations/{org.id}/users.csv?role=KING&sort_by=shoe_size"), 400
    )
    assert {e["field"] for e in body["errors"]} == {"role", "sort_by"}


def test_who_may_export_is_who_may_list(every_role, api, assert_problem):
    org = every_role.org
    path = f"/api/organizations/{org.id}/users.csv"
    for role in Role:
        assert api(every_role.by_role(role)).get(path).status_code == 200
    assert_problem(api(every_role.suspended).get(path), 403)
    assert_problem(api(every_role.outsider).get(path), 404)
    assert_problem(api(every_role.owner).get("/api/organizations/999999/users.csv"), 404)


def test_rows_are_read_in_batches_by_one_statement(make_user, api, count_statements):
    owner = make_user()
    org = organizations.create_organization(owner, "Batches", via=Via.CLI)
    client = api(owner)
    assert client.get("/api/organizations").status_code == 200  # warm-up: last_used_at

    def exported() -> tuple[int, int]:
        with count_statements() as log:
            rows = _rows(client.get(f"/api/organizations/{org.id}/users.csv?q=member"))
        return len(rows) - 1, log.count

    few, few_statements = exported()
    ids = users.create_users(
        [(f"b{n}@example.com", f"Member {n:05d}") for n in range(3 * MATCHING_BATCH + 7)],
        via=Via.CLI,
    )
    members.add_members(owner, org.id, ids, role=Role.VIEWER, via=Via.CLI)
    many, many_statements = exported()

    assert (few, many) == (0, 3 * MATCHING_BATCH + 7)
    assert many_statements == few_statements == 3  # token, access, the rows

    # the file comes a batch at a time, not whole: four chunks of at most 1,000 rows
    chunks = list(member_files.export_members(owner, org.id, MemberFilters(q="member")))
    assert len(chunks) == 4
    assert [chunk.count("\r\n") for chunk in chunks] == [1 + MATCHING_BATCH] + [
        MATCHING_BATCH
    ] * 2 + [7]
