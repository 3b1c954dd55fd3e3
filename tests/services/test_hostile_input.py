"""What a client can send never reaches the database as a 500: each is a domain error."""

from __future__ import annotations

import pytest

from webapp import inputs
from webapp.models import Role, Via
from webapp.services import audit, member_list, members, organizations, tokens, users
from webapp.services.errors import InvalidInput, NotFound
from webapp.services.values import parse_user_ids


@pytest.mark.parametrize(
    ("email", "name"),
    [
        ("ann@example.com", "Ann \ud800"),  # a lone surrogate
        ("ann\ud800@example.com", "Ann"),
        ("ann@example.com", "Ann\u2028Lee"),  # a line separator
        ("İ" * 200 + "@example.com", "Ann"),  # longer once lower-cased
    ],
)
def test_text_no_database_can_store_is_refused(app, email, name):
    with pytest.raises(InvalidInput):
        users.create_user(email, name, "a long enough password", via=Via.WEB)


def test_names_that_grow_when_case_folded_still_fit(make_user, make_org):
    """ "ß" folds to "ss", "ﬃ" to "ffi": the sort key of a 100-character name has room."""
    wide = make_user(name="ß" * 50 + "ﬃ" * 50)
    org = make_org(wide)
    other = make_user(name="ß" * 100)
    members.add_members(wide, org.id, [other.id], role=Role.VIEWER, via=Via.API)
    page = member_list.list_members(wide, org.id, inputs.MemberQuery(q="ssss"))
    assert {m.user_id for m in page.items} == {wide.id, other.id}


@pytest.mark.parametrize("q", ["a\x00b", "\ud800", "x" * 101])
def test_bad_search_text_is_refused(q):
    with pytest.raises(InvalidInput) as error:
        inputs.parse(inputs.MemberQuery, {"q": q})
    assert error.value.errors[0].field == "q"


@pytest.mark.parametrize("org_id", [0, -1, 2**63, 10**30])
def test_ids_beyond_any_row_are_not_found(make_user, org_id):
    user = make_user()
    with pytest.raises(NotFound):
        organizations.get_organization(user, org_id)
    with pytest.raises(NotFound):
        members.remove_members(user, org_id, [user.id], via=Via.API)
    with pytest.raises(NotFound):
        tokens.revoke_token(user, org_id, via=Via.WEB)


def test_audit_pages_and_filters_are_bounded(make_user, make_org):
    owner = make_user()
    org = make_org(owner)
    with pytest.raises(InvalidInput):
        audit.list_audit_events(owner, org.id, page_number=10**19)
    with pytest.raises(InvalidInput):
        audit.list_audit_events(owner, org.id, target_user_id=2**64)


@pytest.mark.parametrize(
    "text", ["rst_ab\x00cd_efgh", "rst_" + "0" * 12 + "_" + "\ud800" * 43, "rst_", "x" * 5000]
)
def test_malformed_tokens_are_refused_without_a_query(make_user, count_statements, text):
    make_user()
    with count_statements() as log:
        assert tokens.authenticate_token(text) is None
    assert log.count == 0


@pytest.mark.parametrize("text", ["9" * 5000, "1," + "2" * 20, "0" * 5000])
def test_huge_ids_in_the_comma_form_are_invalid_input(text):
    with pytest.raises(InvalidInput):
        parse_user_ids(text)


def test_leading_zeros_are_still_an_id():
    assert parse_user_ids("0007,7,0008") == [7, 8]
    assert parse_user_ids("0" * 5000 + "9") == [9]


@pytest.mark.parametrize(
    "change",
    [
        {"role": 1},
        {"role": "OWNER"},
        {"role": Role.VIEWER, "is_active": "yes"},
        {"role": Role.VIEWER, "is_active": None},
    ],
)
def test_values_of_the_wrong_type_are_refused(make_user, make_org, change):
    owner, other = make_user(), make_user()
    org = make_org(owner)
    with pytest.raises(InvalidInput):
        members.add_members(owner, org.id, [other.id], via=Via.API, **change)
    assert organizations.get_organization(owner, org.id).member_count == 1
