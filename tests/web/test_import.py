"""The dashboard's import: upload, preview, Apply, result with Undo (DESIGN §9), as a person
sees it, and what the database holds after each step."""

from __future__ import annotations

import html
import io
import re
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from webapp.extensions import db
from webapp.models import AuditEvent, Invitation, Membership, Role, Via
from webapp.services import members

from ..conftest import login
from .conftest import HX, Browser, token_of

FILE = (
    b"email,role,is_active\r\n"
    b"newcomer@example.com,CONTRIBUTOR,true\r\n"
    b"stranger@nowhere.example,VIEWER,\r\n"
)


def _totals() -> tuple[int, ...]:
    db.session.commit()
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Membership, Invitation, AuditEvent)
    )


def _url(org_id: int, step: str = "") -> str:
    return f"/orgs/{org_id}/members/import" + (f"/{step}" if step else "")


def _upload(data: bytes, name: str = "members.csv", **fields: Any) -> dict[str, Any]:
    return {"file": (io.BytesIO(data), name, "text/csv"), **fields}


def _post_big(browser: Browser, url: str, data: bytes, *, htmx: bool = False) -> Any:
    """Upload a big file as a browser does, the body encoded here: the test client would spool
    it to a temporary file that only closing its answer closes."""
    fields = {
        "csrf_token": token_of(browser.client),
        "file": FileStorage(io.BytesIO(data), "big.csv", content_type="text/csv"),
    }
    boundary, body = encode_multipart(fields)
    return browser.client.post(
        url,
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=HX if htmx else {},
    )


def _hidden(page: str, name: str) -> str:
    if name == "content":
        match = re.search(r'<textarea name="content" hidden>\n(.*?)</textarea>', page, re.S)
    else:
        match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no {name} in the page"
    return html.unescape(match.group(1))


@pytest.fixture
def browser_for(app):
    """A browser of its own for each user (``login_as`` signs one client in once)."""

    def make(user: Any) -> Browser:
        client = app.test_client()
        login(client, user)
        return Browser(client)

    return make


@pytest.fixture
def newcomer(make_user):
    return make_user("newcomer@example.com", "New Comer")


def test_the_members_page_links_to_the_import_for_those_who_may(browser_for, team):
    assert "Import CSV" in browser_for(team.owner).get(f"/orgs/{team.org.id}/members").text
    assert "Import CSV" in browser_for(team.admin).get(f"/orgs/{team.org.id}/members").text


def test_the_import_page_is_for_owners_and_admins(browser_for, team, make_user):
    page = browser_for(team.owner).get(_url(team.org.id))
    assert page.status_code == 200
    assert '<label for="import-file">CSV file</label>' in page.text
    assert 'name="sync"' in page.text and 'enctype="multipart/form-data"' in page.text
    assert browser_for(team.viewer).get(_url(team.org.id)).status_code == 403
    assert browser_for(make_user()).get(_url(team.org.id)).status_code == 404


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_upload_preview_apply_then_undo(browser_for, team, newcomer, mailbox, htmx):
    owner = browser_for(team.owner)
    before = _totals()
    preview = owner.post(_url(team.org.id), _upload(FILE, sync="true"), htmx=htmx)
    assert preview.status_code == 200, preview.text
    assert _totals() == before  # the preview changed nothing
    text = preview.text
    assert "Preview of members.csv" in text
    assert "<strong>1</strong> to add" in text and "<strong>1</strong> to invite" in text
    # Sync: every member the file leaves out but the owner (admin, viewer, five contributors).
    assert "<strong>7</strong> to remove" in text
    assert (
        "newcomer@example.com: CONTRIBUTOR" in text and "stranger@nowhere.example: VIEWER" in text
    )
    assert ("<html" in text) is not htmx
    form = {
        "content": _hidden(text, "content"),
        "digest": _hidden(text, "digest"),
        "filename": "members.csv",
        "sync": "true",
    }
    assert (
        form["content"].replace("\n", "\r\n") == FILE.decode() or form["content"] == FILE.decode()
    )
    done = owner.post(_url(team.org.id, "apply"), form, htmx=htmx)
    assert done.status_code == 200, done.text
    assert "Import done: added 1, invited 1, removed 7." in done.text
    assert "Undo" in done.text
    state = dict(
        db.session.execute(
            select(Membership.user_id, Membership.role).where(
                Membership.organization_id == team.org.id
            )
        ).all()
    )
    assert state == {team.owner.id: Role.OWNER, newcomer.id: Role.CONTRIBUTOR}
    undo = re.search(r'<form class="undo-form" method="post" action="([^"]+)"', done.text)
    assert undo and "hx-post" not in undo.group(0)  # a page of its own, not an in-place swap
    back = owner.post(html.unescape(undo.group(1)), {"back": "members"})
    assert back.status_code == 302 and back.headers["Location"].endswith(
        f"/orgs/{team.org.id}/members"
    )
    db.session.commit()
    assert _totals()[0] == before[0]
    assert db.session.scalar(select(Invitation.status)) == "REVOKED"


def test_a_preview_with_errors_offers_no_apply_and_says_where(browser_for, team, newcomer):
    data = FILE + b"x@example.com,CHIEF,\r\nbad,VIEWER,maybe\r\n"
    page = browser_for(team.owner).post(_url(team.org.id), _upload(data))
    assert page.status_code == 200
    assert "Rows with errors" in page.text
    assert "<tr><td>4</td><td>role</td>" in page.text
    assert (
        "<tr><td>5</td><td>email</td>" in page.text
        and "<tr><td>5</td><td>is_active</td>" in page.text
    )
    assert "Apply the import" not in page.text
    assert "Nothing is imported while any row has an error" in page.text


def test_an_admin_sees_the_owner_rows_refused(browser_for, team, newcomer):
    data = b"email,role\nnewcomer@example.com,OWNER\n" + team.owner.email.encode() + b",VIEWER\n"
    page = browser_for(team.admin).post(_url(team.org.id), _upload(data))
    assert "Rows refused" in page.text
    assert page.text.count("Only an owner can grant OWNER") == 2
    assert "Apply the import" not in page.text


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", 400, "not text"),
        (b"name,role\nAda,ADMIN\n", 400, "no email column"),
        (b"email\n" + b"\n" * (5 * 1024 * 1024 - 5), 413, "5 MB"),
    ],
    ids=["binary", "no-email", "5MB+1"],
)
def test_a_bad_file_is_said_beside_the_file_field(browser_for, team, data, status, words):
    owner = browser_for(team.owner)
    before = _totals()
    page = _post_big(owner, _url(team.org.id), data, htmx=True)
    assert page.status_code == status
    error = re.search(r'<p class="field-error" id="import-file-error">([^<]*)</p>', page.text)
    assert error and words in html.unescape(error.group(1))
    assert 'aria-invalid="true"' in page.text and "import-file-error" in page.text
    assert _totals() == before


def test_no_file_chosen(browser_for, team):
    page = browser_for(team.owner).post(_url(team.org.id), {})
    assert page.status_code == 400
    assert "Choose a CSV file to import." in page.text


def test_a_file_bigger_than_the_app_cap_uploads(browser_for, team):
    """The app caps bodies at 1 MiB; the import's form takes its 5 MB (CSRF reads it first)."""
    data = b"email\nsomeone@nowhere.example\n" + b"\n" * (3 * 1024 * 1024)
    page = _post_big(browser_for(team.owner), _url(team.org.id), data)
    assert page.status_code == 200, page.text[:500]
    assert "<strong>1</strong> to invite" in page.text


def test_apply_after_the_members_changed_previews_again(browser_for, team, newcomer):
    owner = browser_for(team.owner)
    preview = owner.post(_url(team.org.id), _upload(FILE)).text
    members.add_members(team.owner, team.org.id, [newcomer.id], via=Via.CLI)
    before = _totals()
    page = owner.post(
        _url(team.org.id, "apply"),
        {"content": _hidden(preview, "content"), "digest": _hidden(preview, "digest")},
    )
    assert page.status_code == 409
    assert "The members changed since this preview" in page.text
    assert "newcomer@example.com: CONTRIBUTOR" in page.text  # now an update, in the new preview
    assert _totals() == before


def test_apply_needs_csrf(browser_for, team, newcomer):
    before = _totals()
    page = browser_for(team.owner).post(
        _url(team.org.id, "apply"), {"content": FILE.decode()}, csrf=False
    )
    assert page.status_code == 400
    assert _totals() == before


def test_the_progress_is_shown_while_it_runs(browser_for, team, newcomer):
    page = browser_for(team.owner).post(_url(team.org.id), _upload(FILE)).text
    assert 'hx-indicator="find .htmx-indicator"' in page
    assert "Applying…" in page and "data-busy-region" in page
    assert "<script" not in page.split("</head>")[1]  # no inline script (CSP)
