"""``roster demo`` makes verified users (DESIGN §8: CLI-made and demo users are verified), so
its people can sign in and be added to organizations at once."""

from __future__ import annotations

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import User
from webapp.services import demo
from webapp.services.demo import DEMO_MEMBERS_MIN

from ..conftest import csrf_token


def test_every_user_the_demo_makes_is_verified(runner, app):
    result = runner.invoke(args=["demo", "--members", str(DEMO_MEMBERS_MIN)])
    assert result.exit_code == 0, result.output
    assert "Demo data created." in result.stderr
    made = db.session.scalar(select(func.count()).select_from(User))
    assert made == len(demo.DEMO_SIGN_INS) + DEMO_MEMBERS_MIN
    unverified = db.session.scalars(
        select(User.email).where(User.email_verified_at.is_(None)).order_by(User.email)
    ).all()
    assert unverified == []
    # Each sign-in the demo offers works in the browser, which refuses an unverified address.
    for email, _ in demo.DEMO_SIGN_INS:
        browser = app.test_client()
        signed_in = browser.post(
            "/login",
            data={
                "email": email,
                "password": demo.DEMO_PASSWORD,
                "csrf_token": csrf_token(browser, "/login"),
            },
        )
        assert signed_in.status_code == 302, (email, signed_in.get_data(as_text=True))
        assert browser.get("/orgs").status_code == 200
