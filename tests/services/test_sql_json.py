"""JSON written by the database (``webapp.services.sql_json``): the same bytes as pydantic's.

``GET /api/organizations`` answers a member's organizations as JSON the database encodes row by
row; the Accounts through pydantic (``webapp.api.routes.respond``) are the reference it is held
to, for any name, time, role and state a row may hold.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from sqlalchemy import text, update

from webapp.extensions import db
from webapp.models import Membership, Organization, Role, User, Via
from webapp.services import organizations, service_tokens
from webapp.services.errors import InvalidInput
from webapp.services.organizations import Account
from webapp.services.permissions import Actor
from webapp.services.values import CONTROL_CATEGORIES, organization_name

from ..conftest import ApiClient

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
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
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


# Offsets of a quarter hour, of a half, and Amsterdam's +00:19:32 of before 1937.
ZONES = ("UTC", "Asia/Kathmandu", "America/St_Johns", "Europe/Amsterdam", "Pacific/Kiritimati")


def reference(user: Actor) -> bytes:
    return ACCOUNTS.dump_json(organizations.list_my_organizations(user))


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=accounts, zone=st.sampled_from(ZONES))
def test_the_database_writes_what_pydantic_writes(
    make_user: Callable[..., User], drawn: list[tuple[Any, ...]], zone: str
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
    if db.engine.dialect.name == "postgresql":
        # The session's zone must not show: the answer is in UTC whatever it is.
        db.session.execute(text(f"SET LOCAL TimeZone = '{zone}'"))

    written = organizations.my_organizations_json(me)

    assert written == reference(me)
    assert ACCOUNTS.validate_json(written) == organizations.list_my_organizations(me)


def test_the_api_answers_the_same_bytes_for_a_user_and_through_pydantic_for_a_token(
    app: Flask, make_user: Callable[..., User], api: Callable[..., Any]
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
    # A service token lists its own organization, through pydantic.
    zeta = next(a for a in organizations.list_my_organizations(me) if a.organization_name[0] == "Z")
    made = service_tokens.create_service_token(me, zeta.id, "sync", "read", via=Via.CLI)
    answer = ApiClient(app.test_client(), made.token).get("/api/organizations")
    assert answer.status_code == 200
    principal = service_tokens.authenticate_service_token(made.token)
    assert principal is not None
    assert answer.get_data() == reference(principal)
    assert [a["id"] for a in answer.get_json()] == [zeta.id]


def test_a_time_stored_in_another_form_is_answered_through_pydantic(
    make_user: Callable[..., User], api: Callable[..., Any]
) -> None:
    """SQLite keeps times as text: one written by hand, in a form SQLAlchemy reads but Roster
    never writes, is not cut up as if it were Roster's; the list goes through pydantic."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps times as timestamps, never as text")
    me = make_user()
    kept = organizations.create_organization(me, "Kept", via=Via.CLI)
    hand = organizations.create_organization(me, "By hand", via=Via.CLI)
    assert organizations.my_organizations_json(me) == reference(me)
    for stored in ("2026-12-04 16:29:06.5", "2026-12-04 16:29:06", "2026-12-04"):
        db.session.execute(
            text("UPDATE organizations SET created_at = :at WHERE id = :id"),
            {"at": stored, "id": hand.id},
        )
        db.session.commit()
        assert organizations.my_organizations_json(me) is None, stored
        response = api(me).get("/api/organizations")
        assert response.get_data() == reference(me), stored
        assert [a["id"] for a in response.get_json()] == [hand.id, kept.id]
