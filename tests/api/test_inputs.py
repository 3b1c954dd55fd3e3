"""Inputs per DESIGN §4: ids, flags, roles and the member-list query, each accepted or named."""

from __future__ import annotations

import pytest

from webapp import inputs
from webapp.models import Role, Via
from webapp.services import member_list, organizations, users, values

QUERY_FIELDS = ["page_number", "page_size", "sort_by", "sort_ascending", "q", "role", "is_active"]


def _users(n: int) -> list[int]:
    return users.create_users(
        [(f"bulk{i}@example.com", f"Bulk {i:05d}") for i in range(n)], via=Via.CLI
    )


def _member_ids(every_role) -> set[int]:  # type: ignore[no-untyped-def]
    page = member_list.list_members(
        every_role.owner, every_role.org.id, inputs.MemberQuery(page_size=inputs.PAGE_SIZE_MAX)
    )
    return {m.user_id for m in page.items}


@pytest.mark.parametrize("form", ["array", "string", "string with duplicates"])
def test_user_ids_as_array_or_comma_separated_string(every_role, api, form):
    ids = _users(3)
    value = {
        "array": ids,
        "string": ",".join(map(str, ids)),
        "string with duplicates": ",".join(map(str, ids + ids)),
    }[form]
    response = api(every_role.owner).post(
        f"/api/organizations/{every_role.org.id}/users", json={"user_ids": value}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["member_count"] == 6 + 3
    assert set(ids) <= _member_ids(every_role)


def test_ten_thousand_ids_are_accepted(every_role, api):
    ids = _users(values.USER_IDS_MAX)
    response = api(every_role.owner).post(
        f"/api/organizations/{every_role.org.id}/users", json={"user_ids": ids}
    )
    assert response.status_code == 200
    assert response.get_json()["member_count"] == 6 + values.USER_IDS_MAX


@pytest.mark.parametrize(
    "user_ids",
    [
        [],
        "",
        [0],
        [-4],
        [2**63],
        [True],
        [1.5],
        ["7"],
        "1,,2",
        "1,x",
        " 1",
        "0",
        str(2**63),
        list(range(1, values.USER_IDS_MAX + 2)),
        None,
        {"id": 1},
    ],
    ids=repr,
)
def test_bad_user_ids_are_400_naming_the_field(every_role, api, assert_problem, user_ids):
    response = api(every_role.owner).post(
        f"/api/organizations/{every_role.org.id}/users", json={"user_ids": user_ids}
    )
    body = assert_problem(response, 400, "invalid_input")
    assert {e["field"].split(".")[0] for e in body["errors"]} == {"user_ids"}
    assert organizations.get_organization(every_role.owner, every_role.org.id).member_count == 6


def test_ids_written_with_a_zero_fraction_are_read_exactly(every_role, api, make_user):
    """Decided: 11.0 is the id 11, as JSON Schema counts it an integer; numbers are read exactly,
    so an id past 2**53 written with a fraction is not rounded to a neighbour's id."""
    client = api(every_role.owner)

    def add(ids: str):  # the ids exactly as written, not as Python would write them
        return client.post(
            f"/api/organizations/{every_role.org.id}/users",
            data=f'{{"user_ids": [{ids}]}}',
            headers={"Content-Type": "application/json"},
        )

    person = make_user()
    assert add(f"{person.id}.0").status_code == 200
    assert organizations.get_my_role(person, every_role.org.id) is Role.VIEWER
    far = add("9007199254740993.0, 9007199254740993e0")
    assert far.status_code == 422  # no such user: the exact id, not ...992
    assert far.get_json()["user_ids"] == [9007199254740993]
    for number in ("1e400", "-1e30", "1.5", "1e-3"):
        refused = add(number)
        assert refused.status_code == 400, number
        assert [e["field"] for e in refused.get_json()["errors"]] == ["user_ids.0"], number
    # An exponent no decimal can hold is not a number JSON can mean: 400, never a 500.
    for number in ("1e9999999999999999999", "1e-9999999999999999999"):
        refused = add(number)
        assert refused.status_code == 400, number
        assert refused.get_json()["errors"] == [{"field": "body", "message": "is not valid JSON"}]


@pytest.mark.parametrize("segment", ["1,,x", "23,,x", "x", "0", "1;2", "-1", "1,2,"])
def test_bad_ids_in_the_remove_path_are_400(every_role, api, assert_problem, segment):
    response = api(every_role.owner).delete(
        f"/api/organizations/{every_role.org.id}/users/{segment}"
    )
    body = assert_problem(response, 400, "invalid_input")
    assert body["errors"][0]["field"] == "user_ids"


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), (False, False), ("true", True), ("false", False)]
)
def test_is_active_as_boolean_or_string(every_role, api, value, expected):
    [uid] = _users(1)
    response = api(every_role.owner).post(
        f"/api/organizations/{every_role.org.id}/users",
        json={"user_ids": [uid], "is_active": value},
    )
    assert response.status_code == 200
    user = users.get_user_by_email("bulk0@example.com")
    assert organizations.get_organization(every_role.owner, every_role.org.id).member_count == 7
    assert any(a.is_active is expected for a in organizations.list_my_organizations(user))


@pytest.mark.parametrize("spelling", ["ADMIN", "admin", "Admin", "aDmIn"])
def test_role_in_any_case(every_role, api, spelling):
    response = api(every_role.owner).put(
        f"/api/organizations/{every_role.org.id}/users",
        json={"user_ids": [every_role.viewer.id], "role": spelling},
    )
    assert response.status_code == 200
    assert organizations.get_my_role(every_role.viewer, every_role.org.id) is Role.ADMIN


@pytest.mark.parametrize(
    ("field", "value"),
    [
        *(("is_active", value) for value in ["yes", "True", 1, 0, None, "1"]),
        *(("role", value) for value in ["boss", "", " admin", 2, None]),
    ],
)
def test_other_roles_and_flags_are_400_naming_the_field(
    every_role, api, assert_problem, field, value
):
    response = api(every_role.owner).put(
        f"/api/organizations/{every_role.org.id}/users",
        json={"user_ids": [every_role.viewer.id], field: value},
    )
    body = assert_problem(response, 400)
    assert {e["field"] for e in body["errors"]} == {field}


def test_update_needs_a_role_or_is_active(every_role, api, assert_problem):
    response = api(every_role.owner).put(
        f"/api/organizations/{every_role.org.id}/users", json={"user_ids": [every_role.viewer.id]}
    )
    assert_problem(response, 400, "invalid_input")


def test_unknown_body_fields_are_400(every_role, api, assert_problem):
    response = api(every_role.owner).post(
        "/api/organizations", json={"organization_name": "X", "owner": 1}
    )
    body = assert_problem(response, 400)
    assert {e["field"] for e in body["errors"]} == {"owner"}


@pytest.mark.parametrize("name", ["", "   ", "a\nb", "tab\there", "x" * 101, "\u200b", 7, None])
def test_bad_organization_names_are_400(make_user, api, assert_problem, name):
    response = api(make_user()).post("/api/organizations", json={"organization_name": name})
    body = assert_problem(response, 400)
    assert {e["field"] for e in body["errors"]} == {"organization_name"}


@pytest.mark.parametrize("name", ["Acme", "x" * 100, "Ünïcødé 🚀 GmbH", "  padded  "])
def test_good_organization_names_are_accepted(make_user, api, name):
    response = api(make_user()).post("/api/organizations", json={"organization_name": name})
    assert response.status_code == 201
    assert response.get_json()["organization_name"] == name.strip()


def test_the_seed_example_query_names_each_bad_parameter(every_role, api, assert_problem):
    response = api(every_role.owner).get(
        f"/api/organizations/{every_role.org.id}/users"
        "?page_number=9&page_size=0&sort_ascending=false&sort_by=Jozhan"
    )
    body = assert_problem(response, 400, "invalid_input")
    assert {e["field"] for e in body["errors"]} == {"page_size", "sort_by"}
    assert "page_size" in body["detail"] and "sort_by" in body["detail"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page_number=-1", "page_number"),
        (f"page_number={inputs.PAGE_NUMBER_MAX + 1}", "page_number"),
        ("page_number=x", "page_number"),
        (f"page_size={inputs.PAGE_SIZE_MAX + 1}", "page_size"),
        ("page_size=1.5", "page_size"),
        ("sort_by=NAME", "sort_by"),
        ("sort_ascending=yes", "sort_ascending"),
        ("sort_ascending=1", "sort_ascending"),
        ("q=" + "x" * (inputs.QUERY_MAX + 1), "q"),
        ("q=%00", "q"),
        ("role=boss", "role"),
        ("is_active=maybe", "is_active"),
    ],
)
def test_each_bad_query_parameter_is_named(every_role, api, assert_problem, query, field):
    response = api(every_role.owner).get(f"/api/organizations/{every_role.org.id}/users?{query}")
    body = assert_problem(response, 400, "invalid_input")
    assert {e["field"] for e in body["errors"]} == {field}


@pytest.mark.parametrize("sort_by", list(member_list.SORT_KEYS))
@pytest.mark.parametrize("ascending", ["true", "false"])
def test_every_sort_key_both_ways(every_role, api, sort_by, ascending):
    response = api(every_role.owner).get(
        f"/api/organizations/{every_role.org.id}/users?sort_by={sort_by}&sort_ascending={ascending}"
    )
    assert response.status_code == 200
    page = response.get_json()
    assert page["sort_by"] == sort_by and page["sort_ascending"] is (ascending == "true")
    assert page["total_items"] == 6


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("role=viewer", {"viewer", "suspended"}),
        ("role=VIEWER&is_active=false", {"suspended"}),
        ("is_active=true&role=Owner", {"owner"}),
        ("q=SUSPENDED", {"suspended"}),
        ("q=person", {"admin", "contributor", "accounting", "viewer"}),
    ],
)
def test_filters(every_role, api, query, expected):
    response = api(every_role.owner).get(f"/api/organizations/{every_role.org.id}/users?{query}")
    assert response.status_code == 200
    page = response.get_json()
    ids = {m["user_id"] for m in page["items"]}
    assert ids == {getattr(every_role, name).id for name in expected}
    assert page["total_items"] == len(expected)
