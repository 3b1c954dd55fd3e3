"""Helpers for the API tests: problem+json assertions and a small populated organization."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from webapp.extensions import db
from webapp.models import Role, User
from webapp.services.organizations import Account

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def _assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The answer is an RFC 9457 problem with this status (and code); returns its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    body = response.get_json(force=True)
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.fixture
def assert_problem() -> Callable[..., dict[str, Any]]:
    """``assert_problem(response, status, code=None)``: checks the problem+json shape."""
    return _assert_problem


@dataclass
class EveryRole:
    """An organization with one member of each role, plus a suspended viewer and an outsider."""

    org: Account
    owner: User
    admin: User
    contributor: User
    accounting: User
    viewer: User
    suspended: User
    outsider: User

    def by_role(self, role: Role) -> User:
        return {
            Role.OWNER: self.owner,
            Role.ADMIN: self.admin,
            Role.CONTRIBUTOR: self.contributor,
            Role.ACCOUNTING: self.accounting,
            Role.VIEWER: self.viewer,
        }[role]


@pytest.fixture
def every_role(
    make_user: Callable[..., User], make_org: Callable[..., Account], add_member
) -> EveryRole:  # type: ignore[no-untyped-def]
    owner = make_user(name="Olivia Owner")
    org = make_org(owner, name="Acme")
    people = {
        role: make_user(name=f"{role.name.title()} Person")
        for role in (Role.ADMIN, Role.CONTRIBUTOR, Role.ACCOUNTING, Role.VIEWER)
    }
    for role, user in people.items():
        add_member(org, user, role)
    suspended = make_user(name="Sam Suspended")
    add_member(org, suspended, Role.VIEWER, is_active=False)
    return EveryRole(
        org=org,
        owner=owner,
        admin=people[Role.ADMIN],
        contributor=people[Role.CONTRIBUTOR],
        accounting=people[Role.ACCOUNTING],
        viewer=people[Role.VIEWER],
        suspended=suspended,
        outsider=make_user(name="Oscar Outsider"),
    )


@pytest.fixture
def isolated_wsgi(app: Flask) -> IsolatedWsgi:
    return IsolatedWsgi(app)


class IsolatedWsgi:
    """Runs each request of a WSGI client (Schemathesis) in its own app context.

    The ``app`` fixture keeps an app context open; without this, requests would share its ``g``
    and database session. Mirrors ``IsolatedClient`` of the top-level conftest.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        db.session.commit()
        try:
            return list(contextvars.Context().run(self.app, environ, start_response))
        finally:
            db.session.commit()
