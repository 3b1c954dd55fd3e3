"""JSON written by the database (``webapp.services.sql_json``): the same bytes as pydantic's.

``GET /api/organizations`` answers a member's organizations as JSON the database encodes row by
row; the Accounts through pydantic (``webapp.api.routes.respond``) are the reference it is held
to, for any name, time, role and state a row may hold.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from sqlalchemy import update

from webapp.extensions import db
from webapp.models import Membership, Organization, Role, User, Via
from webapp.services import organizations
from webapp.services.errors import InvalidInput
from webapp.services.organizations import Account
from webapp.services.values import CONTROL_CATEGORIES, organization_name

ACCOUNTS = TypeAdapter(list[Account])

# Quotes, backslashes and slashes, markup, non-ASCII (accents, CJK, an emoji beyond the BMP),
# and whatever else a name may hold.
SPECIAL = "\"\\/'<>&%_ aZ\u00e9\u00df\u0130\u212a\u4e2d\U0001f600\u00a0\u007f\u00ad"
names = st.text(
    st.sampled_from(SPECIAL) | st.characters(exclude_categories=tuple(CONTROL_CATEGORIES)),
    min_size=1,
    max_size=20,
)
# Whole seconds as often as not: pydantic writes no fraction then, and six digits otherwise.
times = st.builds(
    lambda at, whole: at.replace(microsecond=0) if whole else at,
    st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 30)),
    st.booleans(),
).map(lambda at: at.replace(tzinfo=UTC))
accounts = st.lists(
    st.tuples(
        names,
        times,
        times,
        st.integers(1, 2**31 - 1),
        st.sampled_from(list(Role)),
        st.booleans(),
    ),
    max_size=6,
)


def reference(user: User) -> bytes:
    return ACCOUNTS.dump_json(organizations.list_my_organizations(user))


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=accounts)
def test_the_database_writes_what_pydantic_writes(
    make_user: Callable[..., User], drawn: list[tuple[Any, ...]]
) -> None:
    me = make_user()
    for name, created_at, updated_at, member_count, role, is_active in drawn:
        try:
            name = organization_name(name)
        except InvalidInput:  # a name the value rules refuse: not this test's business
            assume(False)
        account = organizations.create_organization(me, name, via=Via.CLI)
        # Stored as drawn, past the rules: the encoding must hold for whatever a row holds.
        db.session.execute(
            update(Organization)
            .where(Organization.id == account.id)
            .values(created_at=created_at, updated_at=updated_at, member_count=member_count)
        )
        db.session.execute(
            update(Membership)
            .where(Membership.organization_id == account.id)
            .values(role=role, is_active=is_active)
        )
    db.session.commit()

    written = organizations.my_organizations_json(me)

    assert written == reference(me)
    assert ACCOUNTS.validate_json(written) == organizations.list_my_organizations(me)


def test_the_api_answers_the_same_bytes_for_a_user_and_through_pydantic_for_a_token(
    make_user: Callable[..., User], api: Callable[..., Any]
) -> None:
    me = make_user()
    for name in ("Zeta \u00e9", 'Quote " \\ /', "alpha"):
        organizations.create_organization(me, name, via=Via.CLI)
    response = api(me).get("/api/organizations")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_data() == reference(me)
    assert [a["organization_name"] for a in response.get_json()] == [
        "alpha",
        'Quote " \\ /',
        "Zeta \u00e9",
    ]
    nobody = make_user()
    assert api(nobody).get("/api/organizations").get_data() == b"[]"
