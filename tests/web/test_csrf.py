"""Every form of the dashboard is CSRF checked: without the token, 400 and nothing changes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import ApiToken, AuditEvent, Organization, User, Via
from webapp.services import tokens, users

from ..conftest import PASSWORD


def _state() -> tuple[object, ...]:
    return (
        db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
        db.session.scalar(select(func.count()).select_from(Organization)) or 0,
        db.session.scalar(select(func.count()).select_from(ApiToken)) or 0,
        list(db.session.scalars(select(Organization.organization_name))),
        # Accounts: names, passwords and sessions (the account page and password reset).
        db.session.execute(
            select(User.id, User.name, User.password_hash, User.session_token).order_by(User.id)
        ).all(),
    )


FORMS = [
    ("/orgs", {"organization_name": "New"}),
    ("/orgs/{org}/settings", {"rename-organization_name": "Renamed"}),
    ("/orgs/{org}/delete", {"delete-confirm_name": "Acme"}),
    ("/orgs/{org}/leave", {}),
    (
        "/orgs/{org}/transfer",
        {
            "transfer-user_id": "{person}",
            "transfer-my_new_role": "ADMIN",
            "transfer-confirmed": "y",
        },
    ),
    ("/orgs/{org}/members/{person}", {"role": "ADMIN"}),
    ("/orgs/{org}/members/bulk", {"action": "remove", "user_ids": "{person}", "confirmed": "yes"}),
    ("/orgs/{org}/members/add", {"entries": "{stranger}", "role": "VIEWER"}),
    ("/settings/tokens", {"name": "ci", "expires": "never"}),
    ("/settings/tokens/{token}/revoke", {}),
    ("/logout", {}),
    ("/settings/account/name", {"name": "Renamed Person"}),
    (
        "/settings/account/password",
        {"current_password": PASSWORD, "new_password": "a new password, long enough"},
    ),
    ("/settings/account/sign-out-everywhere", {}),
    ("/settings/account/delete", {"password": PASSWORD}),
    ("/password/forgot", {"email": "{email}"}),
    ("/password/reset/{reset}", {"password": "a new password, long enough"}),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
@pytest.mark.parametrize(("path", "data"), FORMS, ids=[f[0] for f in FORMS])
def test_form_without_csrf_token_is_refused_and_changes_nothing(
    browser_for, team, make_user, path, data, htmx
):
    stranger = make_user()
    token, _ = tokens.create_token(team.owner, "existing", via=Via.CLI)
    values = {
        "org": team.org.id,
        "person": team.people[0].id,
        "stranger": stranger.email,
        "token": token.id,
        "email": team.owner.email,
        "reset": users.password_reset_token(team.owner),
    }
    browser = browser_for(team.owner)
    before = _state()
    response = browser.post(
        path.format(**values),
        {k: v.format(**values) for k, v in data.items()},
        htmx=htmx,
        csrf=False,
    )
    assert response.status_code == 400
    assert "CSRF" in response.text or "roster:error" in response.headers.get("HX-Trigger", "")
    assert "Traceback" not in response.text
    db.session.expire_all()
    assert _state() == before
    # Still signed in: a missing token did not sign anyone out either.
    assert browser.get("/orgs").status_code == 200
