"""Helpers for the dashboard's HTTP tests: htmx headers, CSRF-carrying posts, an org with people."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from webapp.models import Role, User
from webapp.services.organizations import Account

HX = {"HX-Request": "true"}
_META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def token_of(client: FlaskClient) -> str:
    page = client.get("/roles").get_data(as_text=True)
    match = _META_CSRF.search(page)
    assert match, "no csrf meta tag"
    return match.group(1)


@dataclass
class Browser:
    """A signed-in test client that posts forms the way the pages do."""

    client: FlaskClient

    def get(self, path: str, *, htmx: bool = False, **kwargs: Any) -> TestResponse:
        return self.client.get(path, headers=HX if htmx else {}, **kwargs)

    def post(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        htmx: bool = False,
        csrf: bool = True,
    ) -> TestResponse:
        form = dict(data or {})
        headers = dict(HX) if htmx else {}
        if csrf:
            token = token_of(self.client)
            if htmx:
                headers["X-CSRFToken"] = token  # what app.js sends
            else:
                form["csrf_token"] = token
        return self.client.post(path, data=form, headers=headers)


@pytest.fixture
def browser_for(app: Any, login_as: Callable[[User], FlaskClient]) -> Callable[[User], Browser]:
    def make(user: User) -> Browser:
        return Browser(login_as(user))

    return make


@dataclass
class Team:
    org: Account
    owner: User
    admin: User
    viewer: User
    people: list[User]


@pytest.fixture
def team(make_user: Callable[..., User], make_org: Callable[..., Account], add_member: Any) -> Team:
    """An org with an owner, an admin, a viewer and five contributors."""
    owner = make_user(name="Olivia Owner")
    org = make_org(owner, "Acme")
    admin = make_user(name="Adam Admin")
    viewer = make_user(name="Vera Viewer")
    add_member(org, admin, Role.ADMIN)
    add_member(org, viewer, Role.VIEWER)
    people = [make_user(name=f"Person {n}") for n in range(5)]
    for person in people:
        add_member(org, person, Role.CONTRIBUTOR)
    return Team(org, owner, admin, viewer, people)
