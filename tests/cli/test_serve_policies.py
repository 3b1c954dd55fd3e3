"""``roster serve`` says at start which sign-up policy is in force (DESIGN §8, issue 10): the
``invite`` and ``domains:`` announcements, beside the default ``open`` one that
``test_serve.py`` asserts, and the policy it announces is the one its sign-up page follows."""

from __future__ import annotations

import pytest

from .test_serve import SECRET_KEY, http_request, roster, serve_env, serving


@pytest.mark.parametrize(
    ("setting", "said", "page_says", "form_shown"),
    [
        pytest.param(
            "invite",
            "Sign-up: only through an invitation link (ROSTER_SIGNUP=invite).",
            b"is by invitation only",
            False,
            id="invite",
        ),
        pytest.param(
            "domains: Example.org, @corp.example",
            "Sign-up: open to addresses at example.org, corp.example (ROSTER_SIGNUP=domains:...).",
            b"Create your account",
            True,
            id="domains",
        ),
    ],
)
def test_serve_announces_the_sign_up_policy(tmp_path, setting, said, page_says, form_shown):
    database = f"sqlite:///{tmp_path / 'serve.db'}"
    roster(serve_env(database), "init-db")
    env = serve_env(database, ROSTER_SECRET_KEY=SECRET_KEY, ROSTER_SIGNUP=setting)
    with serving(env, "--workers", "1", log=tmp_path / "serve.log") as served:
        log = served.stderr()
        page = http_request(served.port, "GET", "/signup")
    assert log.count("Sign-up: ") == 1, log
    assert said in log, log
    assert "ROSTER_SIGNUP=open" not in log
    # Said before the server starts serving, with the other start-up lines.
    assert log.index(said) < log.index("Serving Roster on http://127.0.0.1:")
    assert page.status == 200 and page_says in page.body
    assert (b'name="password"' in page.body) is form_shown
