"""Ownership transfer (DESIGN §8): an owner hands the organization to another member.

One write transaction under the organization lock, like every member change (``members``), so a
transfer and a demotion or removal of the same member run one after the other, and the
last-owner invariant is checked after the change as they check it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, literal, select, update

from webapp.extensions import db
from webapp.models import Membership, Role, User, Via, utcnow
from webapp.services import audit
from webapp.services.errors import (
    FieldError,
    InvalidInput,
    NotMembers,
    TargetSuspended,
    UnprocessableIds,
)
from webapp.services.members import account_after, check_role, counter_deltas, ids_in
from webapp.services.organizations import Account, apply_counter_deltas, check_has_active_owner
from webapp.services.permissions import Action, require
from webapp.services.transactions import write_transaction
from webapp.services.values import email_address, is_id, parse_id

# What the dashboard offers the owner handing over, before they choose: the role below OWNER.
SUGGESTED_ROLE = Role.ADMIN


def transfer_ownership(
    actor: User, org_id: int, user_id: int | str, my_new_role: Role, *, via: Via
) -> Account:
    """Make a member an active OWNER and give the actor ``my_new_role``, in one transaction.

    ``user_id`` names the member: an id, or text as the dashboard's form takes it (an id in
    digits, or the member's email address, looked up among the organization's members under
    the lock). ``my_new_role`` may be any role; OWNER keeps the actor an owner beside the new
    one. Returns the organization as the actor sees it afterwards.

    Needs MANAGE_OWNERS (OWNER only): NotFound for a stranger, Forbidden for anyone else.
    Raises InvalidInput for a value that names no one; NotMembers (422, ``user_ids``) when no
    member has that id or address; UnprocessableIds ``self_transfer`` (422) for the actor
    themselves; TargetSuspended (409) when the member, or their account, is suspended;
    LastOwner should the change ever leave no active owner. Nothing changes then.
    """
    my_new_role = check_role(my_new_role, "my_new_role")
    wanted = _who(user_id)
    with write_transaction():
        org, me = require(actor, org_id, Action.MANAGE_OWNERS, lock=True)
        target = _member(org_id, wanted)
        if target.user_id == actor.id:
            raise UnprocessableIds(
                "You are already an owner: name the member who should take over.",
                code="self_transfer",
                user_ids=[actor.id],
                errors=[FieldError("user_id", "is you; name another member")],
            )
        if not target.is_active:
            raise TargetSuspended(
                f"{target.sort_email} is suspended. Reactivate them before handing them "
                "the organization."
            )
        if not target.account_active:
            raise TargetSuspended(
                f"{target.sort_email}'s account is deactivated: they cannot sign in to look "
                "after the organization.",
                code="account_deactivated",
            )
        before = {target.user_id: (target.role, True), actor.id: (me.role, me.is_active)}
        after = {target.user_id: (Role.OWNER, True), actor.id: (my_new_role, True)}
        changed = [uid for uid in before if before[uid] != after[uid]]
        if not changed:  # already both owners: nothing changes, so nothing is recorded
            return account_after(org, me, {}, org.updated_at)
        now = utcnow()
        role_of = Membership.role.type  # literals in a CASE get no type from the column
        db.session.execute(
            update(Membership)
            .where(Membership.organization_id == org_id, ids_in(Membership.user_id, changed))
            .values(
                role=case(
                    (Membership.user_id == target.user_id, literal(Role.OWNER, role_of)),
                    else_=literal(my_new_role, role_of),
                ),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        check_has_active_owner(org_id)
        deltas = counter_deltas([before[uid] for uid in changed], [after[uid] for uid in changed])
        apply_counter_deltas(org, deltas, now)
        emails = {target.user_id: target.sort_email, actor.id: me.sort_email}
        change_id = audit.record(
            "ownership.transfer",
            actor=actor,
            via=via,
            org=org,
            # The new owner always (the event is about them), the actor when their role moved.
            targets=[
                audit.TargetChange(
                    uid,
                    emails[uid],
                    old_role=before[uid][0],
                    new_role=after[uid][0],
                    old_active=before[uid][1],
                    new_active=after[uid][1],
                )
                for uid in dict.fromkeys([target.user_id, *changed])
            ],
            details={
                "new_owner_id": target.user_id,
                "new_owner_email": target.sort_email,
                "my_new_role": my_new_role.name,
            },
        )
    return account_after(org, me, deltas, now, after, change_id)


def _who(user_id: int | str) -> int | str:
    """The member named: an id, or a (lower-cased) email address; InvalidInput on ``user_id``
    for anything else."""
    if isinstance(user_id, str):
        text = user_id.strip()
        if text.isascii() and text.isdigit():
            return parse_id(text, "user_id")
        if "@" not in text:
            raise InvalidInput.field("user_id", "give the member's email address or user id")
        try:
            return email_address(text)
        except InvalidInput as error:
            raise InvalidInput.field("user_id", error.errors[0].message) from None
    if not is_id(user_id):
        raise InvalidInput.field("user_id", "must be a user id")
    return user_id


def _member(org_id: int, wanted: int | str) -> Any:
    """The named member's membership and whether their account is active; NotMembers if none."""
    named = User.email == wanted if isinstance(wanted, str) else Membership.user_id == wanted
    row = db.session.execute(
        select(
            Membership.user_id,
            Membership.role,
            Membership.is_active,
            Membership.sort_email,
            User.is_active.label("account_active"),
        )
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == org_id, named)
    ).first()
    if row is None:
        if isinstance(wanted, str):
            raise NotMembers(
                f"No member of this organization has the address {wanted}.",
                errors=[FieldError("user_id", "is not the address of a member")],
            )
        raise NotMembers(
            f"User #{wanted} is not a member of this organization.",
            user_ids=[wanted],
            errors=[FieldError("user_id", "is not a member of this organization")],
        )
    return row
