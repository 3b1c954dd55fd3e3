"""The member list's keyset ``cursor`` (DESIGN §4) through the API: every sort and filter walks
the whole list forward and backward, exactly once each, in the order page numbers give; a
cursor that does not name a place in the list is a 400 naming the field, never a 500."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import ApiClient
from webapp.models import Role, User, Via
from webapp.services import members, organizations, users
from webapp.services.member_list import SORT_KEYS

SIZE = 47  # members, owner included: pages of 6 leave a short last page
PAGE = 6
FILTERS = [
    {},
    {"role": "CONTRIBUTOR"},
    {"is_active": "false"},
    {"q": "person 1"},
    {"q": "example", "role": "VIEWER", "is_active": "true"},
]


@pytest.fixture
def listed(app: Any, make_user: Callable[..., User], api: Callable[[User], ApiClient]):
    """An organization of SIZE members whose names, roles, flags and join times repeat, so
    every sort has ties for user_id to break; the owner's API client and the list's path."""
    owner = make_user(name="Olivia Owner")
    org = organizations.create_organization(owner, "Paged", via=Via.CLI)
    people = [(f"p{n:02}@example.com", f"Person {n % 13}") for n in range(SIZE - 1)]
    ids = users.create_users(people, via=Via.CLI)
    roles = [Role.VIEWER, Role.CONTRIBUTOR, Role.ADMIN, Role.ACCOUNTING]
    for n in range(4):  # four set-based adds: four join times
        chunk = ids[n::4]
        members.add_members(owner, org.id, chunk, role=roles[n], is_active=n != 1, via=Via.CLI)
    return api(owner), f"/api/organizations/{org.id}/users"


def _get(client: ApiClient, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _whole_list(client: ApiClient, path: str, params: dict[str, Any]) -> list[int]:
    page = _get(client, path, page_size=500, **params)
    assert page["next_cursor"] is None and page["prev_cursor"] is None
    return [m["user_id"] for m in page["items"]]


@pytest.mark.parametrize(
    "filters", FILTERS, ids=lambda f: "&".join(f"{k}={v}" for k, v in f.items()) or "all"
)
@pytest.mark.parametrize("sort_by", sorted(SORT_KEYS))
def test_cursors_walk_the_whole_list_both_ways(
    listed, sort_by: str, filters: dict[str, Any]
) -> None:
    client, path = listed
    for ascending in ("true", "false"):
        params = {**filters, "sort_by": sort_by, "sort_ascending": ascending}
        expected = _whole_list(client, path, params)
        assert expected, "the filter matches nobody: the test data is wrong"
        pages = -(-len(expected) // PAGE)

        # Forward from page 0: each page is the one its number names.
        page = _get(client, path, page_size=PAGE, **params)
        seen, numbers = [], []
        while True:
            seen += [m["user_id"] for m in page["items"]]
            numbers.append(page["page_number"])
            if page["next_cursor"] is None:
                break
            # The cursor alone: it carries its sort, the filters are sent again.
            page = _get(client, path, page_size=PAGE, cursor=page["next_cursor"], **filters)
            assert (page["sort_by"], page["sort_ascending"]) == (sort_by, ascending == "true")
        assert seen == expected, (sort_by, ascending)
        assert numbers == list(range(pages))

        # Backward from the last page, by number then by cursor.
        page = _get(client, path, page_size=PAGE, page_number=pages - 1, **params)
        chunks = []
        while True:
            chunks.insert(0, [m["user_id"] for m in page["items"]])
            if page["prev_cursor"] is None:
                break
            page = _get(client, path, page_size=PAGE, cursor=page["prev_cursor"], **params)
        assert [n for chunk in chunks for n in chunk] == expected
        assert page["page_number"] == 0 and len(chunks) == pages


def test_a_cursor_past_the_rows_removed_since_gives_what_lies_beyond(listed, app) -> None:
    client, path = listed
    first = _get(client, path, page_size=PAGE)
    second = _get(client, path, page_size=PAGE, cursor=first["next_cursor"])
    # The first page's members leave: the cursor still names the place after them.
    gone = [m["user_id"] for m in first["items"][1:]]
    assert client.delete(f"{path}/{','.join(map(str, gone))}").status_code == 204
    again = _get(client, path, page_size=PAGE, cursor=first["next_cursor"])
    assert again["items"] == second["items"]
    back = _get(client, path, page_size=PAGE, cursor=again["prev_cursor"])
    assert [m["user_id"] for m in back["items"]] == [first["items"][0]["user_id"]]
    assert back["page_number"] == 0 and back["prev_cursor"] is None


def _cursor(document: Any) -> str:
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"cursor": "!!!"}, "not base64"),
        ({"cursor": _cursor("a string")}, "not a list"),
        ({"cursor": base64.urlsafe_b64encode(b"\xff\xfe").decode()}, "not UTF-8 JSON"),
        ({"cursor": _cursor([2, "name", True, True, "a", 1, 1])}, "another version"),
        ({"cursor": _cursor([1, "password", True, True, "a", 1, 1])}, "not a sort"),
        ({"cursor": _cursor([1, "name", True, True, 5, 1, 1])}, "a number for a name"),
        ({"cursor": _cursor([1, "user_id", True, True, "1", 1, 1])}, "text for an id"),
        ({"cursor": _cursor([1, "name", True, True, "a\x00b", 1, 1])}, "NUL in the key"),
        ({"cursor": _cursor([1, "joined_at", True, True, "2026-01-01T00:00:00", 1, 1])}, "naive"),
        ({"cursor": _cursor([1, "joined_at", True, True, "yesterday", 1, 1])}, "not a time"),
        ({"cursor": _cursor([1, "role", True, True, 99, 1, 1])}, "no such role"),
        ({"cursor": _cursor([1, "name", True, True, "a", -1, 1])}, "not an id"),
        ({"cursor": _cursor([1, "name", True, True, "a", 2**63, 1])}, "id too big"),
        ({"cursor": _cursor([1, "name", True, True, "a", 1, -1])}, "negative page"),
        ({"cursor": _cursor([1, "name", True, True, "a", 1])}, "too short"),
        ({"cursor": "A" * 2049}, "too long"),
        ({"cursor": _cursor([1, "name", True, True, "a", 1, 1]), "sort_by": "email"}, "sort"),
        (
            {"cursor": _cursor([1, "name", True, True, "a", 1, 1]), "sort_ascending": "false"},
            "direction",
        ),
        ({"cursor": _cursor([1, "name", True, True, "a", 1, 1]), "page_number": 1}, "both"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_cursor_that_names_no_place_is_refused(listed, assert_problem, params, why) -> None:
    client, path = listed
    response = client.get(path, query_string=params)
    body = assert_problem(response, 400)
    assert [e["field"] for e in body["errors"]] == ["cursor"], (why, body)


def test_a_cursor_costs_what_page_0_costs(listed, count_statements) -> None:
    client, path = listed
    _get(client, path)  # the token's first use is recorded once: not part of any page's cost
    counts = {}
    with count_statements() as log:
        page = _get(client, path, page_size=PAGE, sort_by="name")
    counts["page 0"] = log.count
    for _ in range(5):
        with count_statements() as log:
            page = _get(client, path, page_size=PAGE, cursor=page["next_cursor"])
        counts[f"page {page['page_number']} by cursor"] = log.count
    with count_statements() as log:
        _get(client, path, page_size=PAGE, cursor=page["prev_cursor"], q="person")
    counts["filtered, by cursor"] = log.count
    with count_statements() as log:
        _get(client, path, page_size=PAGE, q="person")
    counts["filtered page 0"] = log.count
    assert len({n for k, n in counts.items() if "filtered" not in k}) == 1, counts
    assert counts["filtered, by cursor"] == counts["filtered page 0"], counts
