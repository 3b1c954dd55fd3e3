"""Mail on the embedded default (no ROSTER_SMTP_URL): every flow can be tried, because mails go
to the log and, in development, to /dev/outbox; production shows no outbox."""

from __future__ import annotations

import logging

import pytest

from webapp import create_app
from webapp.models import Via
from webapp.services import invitations


@pytest.fixture
def app_config(app_config, tmp_path):  # type: ignore[no-untyped-def]
    return {**app_config, "ROSTER_SMTP_URL": None, "ROSTER_OUTBOX_DIR": str(tmp_path / "outbox")}


def test_without_smtp_mails_go_to_the_outbox_page_and_the_log(
    app, client, make_user, make_org, mailbox, caplog
):
    owner = make_user()
    org = make_org(owner, "Outboxed")
    with caplog.at_level(logging.INFO, logger="roster.mail"):
        made = invitations.invite(owner, org.id, ["ada@example.org"], via=Via.CLI)
    assert made.invitations[0].mail_sent_at is not None and not made.mail_failures
    assert mailbox.mails == []  # nothing went to an SMTP server
    assert "mail (no SMTP configured) to ada@example.org" in caplog.text
    assert "/invitations/" in caplog.text
    page = client.get("/dev/outbox")
    assert page.status_code == 200
    assert "invited you to Outboxed on Roster" in page.text and "To ada@example.org" in page.text
    link = page.text.split('<a href="http://roster.test/invitations/', 1)[1].split('"', 1)[0]
    assert client.get(f"/invitations/{link}").status_code == 200  # the link works


def test_the_outbox_is_not_there_in_production(app_config, monkeypatch):
    monkeypatch.setenv("ROSTER_ENV", "production")
    monkeypatch.setenv("ROSTER_SECRET_KEY", "x" * 32)
    production = create_app(app_config)
    assert production.config["ROSTER_ENV"] == "production"
    assert production.test_client().get("/dev/outbox").status_code == 404


def test_with_smtp_the_outbox_keeps_nothing(app, client, app_config):
    from ..services.test_invitations import smtp_url

    with smtp_url(app, "smtp://127.0.0.1:25"):
        page = client.get("/dev/outbox")
    assert page.status_code == 200 and "nothing is kept here" in page.text
