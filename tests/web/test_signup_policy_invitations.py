"""A sign-up policy closes the sign-up form, never an invitation (DESIGN §8): with
``ROSTER_SIGNUP=invite``, or ``domains:`` for an address outside them, plain sign-up is
refused while an invitation link still leads to sign-up and lands the person in the org."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Membership, Role, User, Via
from webapp.services import invitations

from ..conftest import PASSWORD, csrf_token

LINK = re.compile(r"http://roster\.test(/invitations/[A-Za-z0-9_-]+)")
GUEST = "guest@elsewhere.net"  # outside example.org


@pytest.fixture(
    params=[
        pytest.param(("invite", 403, "is by invitation only"), id="invite"),
        pytest.param(
            (
                "domains:example.org",
                400,
                "sign-up is open to addresses at example.org only",
            ),
            id="domains",
        ),
    ]
)
def policy(request: pytest.FixtureRequest) -> tuple[str, int, str]:
    """ROSTER_SIGNUP, and how the sign-up form refuses GUEST under it."""
    return request.param


@pytest.fixture
def app_config(app_config: dict[str, Any], policy: tuple[str, int, str]) -> dict[str, Any]:
    return {
        **app_config,
        "ROSTER_SIGNUP": policy[0],
        "ROSTER_SIGNUP_LIMIT_PER_ADDRESS": "100 per minute",
    }


def _user(email: str) -> User | None:
    return db.session.scalar(
        select(User).where(User.email == email).execution_options(populate_existing=True)
    )


def _sign_up(client: Any, email: str) -> Any:
    return client.post(
        "/signup",
        data={
            "name": "Gus Guest",
            "email": email,
            "password": PASSWORD,
            "csrf_token": csrf_token(client, "/signup"),
        },
    )


def _refused(client: Any, mailbox: Any, policy: tuple[str, int, str], email: str) -> None:
    _, status, said = policy
    answer = _sign_up(client, email)
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert said in answer.get_data(as_text=True)
    assert _user(email) is None
    assert mailbox.to(email) == []


def test_plain_sign_up_is_refused_but_the_invitation_link_signs_up_and_joins(
    app, client, make_user, make_org, mailbox, policy
):
    assert app.config["ROSTER_SIGNUP"] == policy[0]
    _refused(client, mailbox, policy, GUEST)

    owner = make_user(email="owner@example.org")
    org = make_org(owner, "Invitational")
    invitations.invite(owner, org.id, [GUEST], Role.CONTRIBUTOR, via=Via.CLI)
    (mail,) = mailbox.to(GUEST)
    found = LINK.search(mail.text)
    assert found, mail.text
    path = found.group(1)

    assert f"Create one with {GUEST}" in client.get(path).text
    form = client.get(f"{path}/signup")
    assert form.status_code == 200
    assert f'value="{GUEST}" readonly' in form.text and 'name="password"' in form.text
    done = client.post(
        f"{path}/signup",
        data={
            "name": "Gus Guest",
            "password": PASSWORD,
            "csrf_token": csrf_token(client, f"{path}/signup"),
        },
    )
    assert done.status_code == 302, done.get_data(as_text=True)
    assert done.headers["Location"] == f"/orgs/{org.id}"
    user = _user(GUEST)
    assert user is not None and user.is_verified
    membership = db.session.get(Membership, (org.id, user.id), populate_existing=True)
    assert membership is not None and membership.role is Role.CONTRIBUTOR and membership.is_active
    assert "Invitational" in client.get(f"/orgs/{org.id}").text  # signed in, and a member
    assert invitations.list_invitations(owner, org.id)[0].status.value == "ACCEPTED"

    # The link made one account; the form stays closed to the next stranger.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/orgs")})
    _refused(client, mailbox, policy, "another@elsewhere.net")
    assert db.session.scalar(select(func.count()).select_from(User)) == 2
