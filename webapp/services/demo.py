"""Demo data: a few people to sign in as, one large organization and several small ones.

Built through the same services as everything else, in a handful of set-based calls.
"""

from __future__ import annotations

import itertools

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Organization, Role, User, Via
from webapp.services import members, organizations, users
from webapp.services.errors import InvalidInput

DEMO_PASSWORD = "roster-demo-password"
DEMO_MEMBERS_MIN = 60
DEMO_SIGN_INS: list[tuple[str, str]] = [
    ("owner@example.com", "OWNER of every demo organization"),
    ("admin@example.com", "ADMIN of Acme, OWNER of Globex"),
    ("contributor@example.com", "CONTRIBUTOR of Acme"),
    ("accounting@example.com", "ACCOUNTING of Acme"),
    ("viewer@example.com", "VIEWER of Acme, suspended in Initech"),
]
_NAMES = {
    "owner@example.com": "Olivia Owner",
    "admin@example.com": "Adam Admin",
    "contributor@example.com": "Chloe Contributor",
    "accounting@example.com": "Arthur Accounting",
    "viewer@example.com": "Vera Viewer",
}
_FIRST = [
    "Ada",
    "Ben",
    "Cleo",
    "Dev",
    "Esme",
    "Farid",
    "Gwen",
    "Hugo",
    "Ines",
    "Jun",
    "Kofi",
    "Lena",
    "Milo",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
]
_LAST = [
    "Abara",
    "Berg",
    "Costa",
    "Dubois",
    "Eze",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
]


def demo_users_exist() -> bool:
    return db.session.scalar(select(User.id).where(User.email == "owner@example.com")) is not None


def fill_demo_data(large_org_members: int = 1500) -> bool:
    """Fill an empty database; return False (and change nothing) when it has any user or org."""
    has_data = db.session.scalar(select(func.count()).select_from(User)) or db.session.scalar(
        select(func.count()).select_from(Organization)
    )
    if has_data:
        return False
    if large_org_members < DEMO_MEMBERS_MIN:
        raise InvalidInput.field("members", f"must be at least {DEMO_MEMBERS_MIN}")
    people = {
        email: users.create_user(email, name, DEMO_PASSWORD, via=Via.CLI)
        for email, name in _NAMES.items()
    }
    owner, admin = people["owner@example.com"], people["admin@example.com"]

    names = itertools.cycle(itertools.product(_FIRST, _LAST))
    generated = []
    for number in range(1, large_org_members + 1):
        first, last = next(names)
        generated.append((f"{first}.{last}.{number}@example.org".lower(), f"{first} {last}"))
    ids = users.create_users(generated, via=Via.CLI)

    acme = organizations.create_organization(owner, "Acme Corporation", via=Via.CLI)
    for email, role in [
        ("admin@example.com", Role.ADMIN),
        ("contributor@example.com", Role.CONTRIBUTOR),
        ("accounting@example.com", Role.ACCOUNTING),
        ("viewer@example.com", Role.VIEWER),
    ]:
        members.add_members(owner, acme.id, [people[email].id], role=role, via=Via.CLI)
    # The large membership: a second owner, then every role, one in ten suspended.
    second_owner, rest = ids[:1], ids[1:]
    members.add_members(owner, acme.id, second_owner, role=Role.OWNER, via=Via.CLI)
    roles = [Role.VIEWER] * 6 + [Role.CONTRIBUTOR] * 2 + [Role.ACCOUNTING, Role.ADMIN]
    groups: dict[tuple[Role, bool], list[int]] = {}
    for index, user_id in enumerate(rest):
        groups.setdefault((roles[index % len(roles)], index % 10 != 3), []).append(user_id)
    for (role, active), group in groups.items():
        members.add_members(owner, acme.id, group, role=role, is_active=active, via=Via.CLI)

    globex = organizations.create_organization(admin, "Globex", via=Via.CLI)
    members.add_members(admin, globex.id, [owner.id], role=Role.OWNER, via=Via.CLI)
    members.add_members(admin, globex.id, ids[10:40], role=Role.CONTRIBUTOR, via=Via.CLI)

    initech = organizations.create_organization(owner, "Initech", via=Via.CLI)
    members.add_members(
        owner,
        initech.id,
        [people["viewer@example.com"].id],
        role=Role.VIEWER,
        is_active=False,
        via=Via.CLI,
    )
    members.add_members(owner, initech.id, ids[40:52], role=Role.ACCOUNTING, via=Via.CLI)

    organizations.create_organization(owner, "Umbrella Research", via=Via.CLI)
    return True
