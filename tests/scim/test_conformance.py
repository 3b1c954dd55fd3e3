"""SCIM conformance as an identity provider would judge it: ``scim2-tester`` against a live
``roster serve`` (DESIGN §10, issue 12 point 3).

The server runs as ``tests/test_two_processes.py`` runs its own: a real ``roster serve``
subprocess (``tests/cli/test_serve.py``'s helpers) on the suite's database, SQLite file or
PostgreSQL (ROSTER_TEST_DATABASE_URL), which the ``app`` fixture has migrated and emptied. The
test seeds an owner, an organization and its ``scim`` service token through the services,
commits, then starts the server and lets the tester create, read, replace, patch and delete
Users and Groups over HTTP.

The one adaptation: scim2-tester fills ``userName`` with a random UUID, but Roster's
``userName`` is the account's email (DESIGN §10) and a UUID is refused as an address. While
the tester runs, ``scim2_tester.filling.generate_random_value`` is wrapped so that a path
ending in ``userName`` gets a random address under ``.example.com`` instead. Nothing else of
the tester is changed.

What must hold: no ERROR or CRITICAL outside Group (discovery, misc and User checks all pass);
every Group ERROR is Group creation refused (403, ``scimType: mutability``): the Group
``object_creation`` check fails with that refusal, and every other Group check that fails fails
at its own creation step with the same text; and at least ``MIN_SUCCESSES`` checks succeed, so
a tester that silently skipped everything fails here. The summary is printed (``pytest -s``)
and written to ``scim2-tester-summary.txt`` in the test's tmp dir.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
import scim2_tester.filling as filling
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import CheckResult, Status, check_server
from sqlalchemy import select

from tests.cli.test_serve import SECRET_KEY, serve_env, serving
from webapp.extensions import db
from webapp.models import Membership, Role, Via
from webapp.scim.storage import FixedGroups
from webapp.services.service_tokens import create_service_token

MIN_SUCCESSES = 40
FAILED = (Status.ERROR, Status.CRITICAL)
# The refusal a Group create meets (webapp.scim.storage.FixedGroups), as the tester reports it.
REFUSAL = FixedGroups().detail


def _random_address() -> str:
    return f"{uuid.uuid4().hex[:12]}@{uuid.uuid4().hex[:8]}.example.com"


@pytest.fixture
def email_user_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one adaptation (see the module's docstring): a userName is an email address."""
    original = filling.generate_random_value

    def generate(context: Any, path: Any, mutability: Any = None, required: Any = None) -> Any:
        value = original(context, path, mutability=mutability, required=required)
        if value is not None and str(path).endswith("userName"):
            return _random_address()
        return value

    monkeypatch.setattr(filling, "generate_random_value", generate)


def _memberships(org_id: int) -> list[Membership]:
    return list(db.session.scalars(select(Membership).where(Membership.organization_id == org_id)))


def _line(result: CheckResult) -> str:
    reason = " ".join((result.reason or "").split())
    return f"{result.status.name:8} {result.resource_type or '-':6} {result.title} | {reason}"


def _summary(results: list[CheckResult]) -> str:
    by_type: dict[str, Counter[str]] = {}
    for result in results:
        by_type.setdefault(result.resource_type or "(discovery/misc)", Counter())[
            result.status.name
        ] += 1
    lines = [
        f"scim2-tester: {len(results)} checks, {dict(Counter(r.status.name for r in results))}"
    ]
    lines += [f"  {kind}: {dict(counts)}" for kind, counts in sorted(by_type.items())]
    lines += ["", *(_line(r) for r in results)]
    return "\n".join(lines)


def test_scim2_tester_reports_no_failure_outside_group_creation(
    app: Any,
    database_url: str,
    make_user: Callable[..., Any],
    make_org: Callable[..., Any],
    email_user_names: None,
    tmp_path: Path,
) -> None:
    owner = make_user(email="scim-owner@example.com")
    org = make_org(owner, name="Conformance")
    token = create_service_token(owner, org.id, name="tester", scope="scim", via=Via.CLI).token
    owner_id, org_id = owner.id, org.id
    db.session.commit()
    db.session.remove()  # the server alone uses the database while the tester runs

    env = serve_env(database_url, ROSTER_SECRET_KEY=SECRET_KEY)
    with serving(env, log=tmp_path / "serve.log") as served:
        http = httpx2.Client(
            base_url=f"http://127.0.0.1:{served.port}/scim/v2",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        with http:
            results = check_server(SyncSCIMClient(http))
        log = served.stderr()

    summary = _summary(results)
    print("\n" + summary)
    (tmp_path / "scim2-tester-summary.txt").write_text(summary + "\n")

    failed = [r for r in results if r.status in FAILED]
    outside_groups = [r for r in failed if r.resource_type != "Group"]
    assert not outside_groups, "\n".join(map(_line, outside_groups))

    group_failures = [r for r in failed if r.resource_type == "Group"]
    creation = [r for r in results if r.resource_type == "Group" and r.title == "object_creation"]
    assert [r.status for r in creation] == [Status.ERROR], summary
    assert REFUSAL in (creation[0].reason or ""), creation[0].reason
    assert isinstance(creation[0].data, dict), creation[0].data  # the SCIM error answered
    assert creation[0].data.get("status") == "403", creation[0].data
    assert creation[0].data.get("scimType") == "mutability", creation[0].data
    not_the_refusal = [r for r in group_failures if REFUSAL not in (r.reason or "")]
    assert not not_the_refusal, "\n".join(map(_line, not_the_refusal))

    successes = sum(r.status is Status.SUCCESS for r in results)
    assert successes >= MIN_SUCCESSES, summary
    assert "Traceback" not in log, log
    # The tester deletes every User it made: the organization ends as it began.
    left = {(m.user_id, m.role, m.is_active) for m in _memberships(org_id)}
    assert left == {(owner_id, Role.OWNER, True)}, left
