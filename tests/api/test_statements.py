"""Constant work per request: the same number of SQL statements whatever the size of the ask.

Counted per request after a warm-up request (the first use of a token in a minute also writes
its ``last_used_at``). The member list issues one statement more when a filter is present (the
filtered COUNT; unfiltered totals come from the organization's counter): each filter
configuration is checked on its own to be constant.
"""

from __future__ import annotations

import pytest

from webapp.models import Role, Via
from webapp.services import members, organizations, users

SIZES = [1, 100, 10_000]


@pytest.fixture
def big(make_user, api):  # type: ignore[no-untyped-def]
    """An owner, an organization of 10,000 members, and 10,000 users outside it."""
    owner = make_user()
    org = organizations.create_organization(owner, "Big", via=Via.CLI)
    inside = users.create_users(
        [(f"in{i}@example.com", f"Member {i:05d}") for i in range(10_000)], via=Via.CLI
    )
    members.add_members(owner, org.id, inside, role=Role.VIEWER, via=Via.CLI)
    outside = users.create_users(
        [(f"out{i}@example.com", f"Outsider {i:05d}") for i in range(10_000)], via=Via.CLI
    )
    client = api(owner)
    assert client.get("/api/organizations").status_code == 200  # warm-up: last_used_at
    return owner, org, inside, outside, client


def _count(count_statements, call) -> int:  # type: ignore[no-untyped-def]
    with count_statements() as log:
        response = call()
    assert response.status_code < 300, response.get_data(as_text=True)
    return log.count


LIST_QUERIES = {
    "unfiltered": [
        "page_number=0",
        "page_number=399&page_size=25",
        "page_size=500&sort_by=email&sort_ascending=false",
        "page_number=10&page_size=1&sort_by=role",
        "page_number=1000&sort_by=joined_at",
        "sort_by=is_active&page_number=200&page_size=50",
    ],
    "filtered": [
        "q=member",
        "q=0042&page_size=500",
        "role=viewer&page_number=300&sort_by=user_id&sort_ascending=false",
        "is_active=true&page_size=7&page_number=900",
        "q=Member 1&role=VIEWER&is_active=true&sort_by=name&page_number=5",
    ],
}


@pytest.mark.parametrize("configuration", list(LIST_QUERIES))
def test_member_list_statements_do_not_depend_on_depth_size_sort_or_filter(
    big, count_statements, configuration
):
    _, org, _, _, client = big
    counts = {
        query: _count(
            count_statements, lambda q=query: client.get(f"/api/organizations/{org.id}/users?{q}")
        )
        for query in LIST_QUERIES[configuration]
    }
    assert len(set(counts.values())) == 1, counts
    print(f"list members, {configuration}: {counts}")


def test_filtered_lists_cost_exactly_one_count_more(big, count_statements):
    _, org, _, _, client = big
    plain = _count(count_statements, lambda: client.get(f"/api/organizations/{org.id}/users"))
    filtered = _count(
        count_statements, lambda: client.get(f"/api/organizations/{org.id}/users?q=member")
    )
    assert filtered == plain + 1


def test_add_update_remove_statements_do_not_depend_on_the_number_of_ids(big, count_statements):
    _, org, _, outside, client = big
    path = f"/api/organizations/{org.id}/users"
    counts: dict[str, list[int]] = {"add": [], "update": [], "remove": [], "remove by body": []}
    for n in SIZES:
        batch = outside[:n]  # added, updated, then removed again, so the next size starts clean
        ids = ",".join(map(str, batch))
        calls = {
            "add": lambda b=batch: client.post(path, json={"user_ids": b}),
            "update": lambda b=batch: client.put(path, json={"user_ids": b, "role": "ADMIN"}),
            "remove": lambda ids=ids: client.delete(f"{path}/{ids}"),
            "add again": lambda b=batch: client.post(path, json={"user_ids": b}),
            "remove by body": lambda b=batch: client.post(f"{path}/remove", json={"user_ids": b}),
        }
        for operation, call in calls.items():
            counts.setdefault(operation, []).append(_count(count_statements, call))
    for operation, values in counts.items():
        assert len(set(values)) == 1, (operation, dict(zip(SIZES, values, strict=True)))
        # Token and lock, the one check, the write, the event rows: no re-reads after the change.
        assert values[0] <= 6, (operation, values[0])
    print({op: dict(zip(SIZES, v, strict=True)) for op, v in counts.items()})


@pytest.mark.parametrize(
    "call",
    [
        "GET /api/organizations",
        "GET /api/organizations/{org}",
        "GET /api/organizations/{org}/role",
        "GET /api/organizations/{org}/summary",
        "PUT /api/organizations/{org}",
    ],
)
def test_account_operations_are_constant_across_organization_sizes(
    make_user, api, count_statements, call
):
    """The same request costs the same in an organization of 2 members and of 2,000."""
    owner = make_user()
    client = api(owner)
    client.get("/api/organizations")  # warm-up
    counts = []
    for size in (1, 2_000):
        org = organizations.create_organization(owner, f"Size {size}", via=Via.CLI)
        ids = users.create_users(
            [(f"s{size}-{i}@example.com", f"S {i}") for i in range(size)], via=Via.CLI
        )
        members.add_members(owner, org.id, ids, role=Role.VIEWER, via=Via.CLI)
        method, path = call.split(" ")
        target = path.format(org=org.id)
        body = {"organization_name": "Renamed"} if method == "PUT" else None
        counts.append(
            _count(count_statements, lambda m=method, t=target, b=body: client.open(m, t, json=b))
        )
    assert counts[0] == counts[1], counts
    print(f"{call}: {counts[0]} statements")


def test_my_accounts_cost_the_same_for_1_or_300_organizations(make_user, api, count_statements):
    """GET /api/organizations lists every organization in one statement of plain columns."""
    counts = {}
    for n in (1, 300):
        me = make_user()
        for i in range(n):
            organizations.create_organization(me, f"Org {i:03d}", via=Via.CLI)
        client = api(me)
        client.get("/api/organizations")  # warm-up: last_used_at
        with count_statements() as log:
            response = client.get("/api/organizations")
        assert len(response.get_json()) == n
        counts[n] = log.count
    assert counts[1] == counts[300] == 2, counts  # the token, then the list


def test_a_summary_is_the_token_then_one_statement(make_user, api, count_statements):
    """What the counters do not keep (active owners, the window's first day, pending
    invitations) is counted in the access check's own statement: one round trip."""
    owner = make_user()
    client = api(owner)
    org = organizations.create_organization(owner, "Summed", via=Via.CLI)
    path = f"/api/organizations/{org.id}/summary"
    client.get(path)  # warm-up: last_used_at
    with count_statements() as log:
        response = client.get(path)
    assert response.status_code == 200
    assert log.count == 2, log  # the token, then the check with every count


def test_a_transfer_costs_a_fixed_number_of_statements(make_user, api, count_statements):
    """The token, the lock (with my membership), the member named, one UPDATE of both
    memberships, the invariant, the counters, the event rows: in an organization of 2 members
    as of 2,000, whether I stay an owner or not."""
    counts = {}
    for size, my_new_role in ((1, "ADMIN"), (2_000, "ADMIN"), (2_000, "OWNER")):
        owner = make_user()
        client = api(owner)
        client.get("/api/organizations")  # warm-up: last_used_at
        org = organizations.create_organization(owner, f"Size {size}", via=Via.CLI)
        ids = users.create_users(
            [(f"t{size}{my_new_role}-{i}@example.com", f"T {i}") for i in range(size)],
            via=Via.CLI,
        )
        members.add_members(owner, org.id, ids, role=Role.ADMIN, via=Via.CLI)
        body = {"user_id": ids[-1], "my_new_role": my_new_role}
        path = f"/api/organizations/{org.id}/transfer"
        counts[size, my_new_role] = _count(
            count_statements, lambda c=client, p=path, b=body: c.post(p, json=b)
        )
    assert set(counts.values()) == {7}, counts


def test_a_personal_token_and_its_access_check_are_one_statement(big, count_statements):
    """The token's statement also reads the caller's Account in the path's organization: the
    member page is that statement and the page's own, the organization that statement alone."""
    _, org, _, _, client = big
    with count_statements() as page:
        assert client.get(f"/api/organizations/{org.id}/users").status_code == 200
    with count_statements() as account:
        assert client.get(f"/api/organizations/{org.id}").status_code == 200
    assert page.count == 2, page.statements
    assert account.count == 1, account.statements
    assert "memberships" in page.statements[0] and "api_tokens" in page.statements[0]
