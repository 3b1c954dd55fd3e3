"""Users: sign-up and CLI creation, password sign-in, sign-out, deactivation."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from itsdangerous import BadData, BadSignature, URLSafeTimedSerializer
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from webapp import mail
from webapp.config import signup_policy as config_signup_policy
from webapp.extensions import db
from webapp.models import Membership, Organization, Role, User, Via, utcnow
from webapp.services import audit
from webapp.services.errors import (
    AuthenticationFailed,
    EmailTaken,
    InvalidInput,
    InvalidLink,
    LastOwner,
    SignupClosed,
    WrongPassword,
)
from webapp.services.members import counter_deltas
from webapp.services.organizations import ROLE_COUNTERS, active_owners, joins_after
from webapp.services.transactions import PREPARED, lock_organizations, write_transaction
from webapp.services.values import email_address, is_id, name_sort_key, password, person_name

# argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile). Tests swap in a cheap one.
password_hasher = PasswordHasher()

# Verified when the email is unknown, so a miss costs what a wrong password costs.
_DUMMY_HASH: str | None = None


def _new_session_token() -> str:
    return secrets.token_hex(16)


def _add_user(email: str, name: str, password_hash: str | None, *, verified: bool) -> User:
    """A new account's row, written (flushed) in the caller's transaction; verified as it is
    made (the same instant: migration 0005 backfills so too) or not."""
    now = utcnow()
    user = User(
        email=email,
        name=name,
        name_key=name_sort_key(name),
        password_hash=password_hash,
        session_token=_new_session_token(),
        created_at=now,
        updated_at=now,
        email_verified_at=now if verified else None,
    )
    db.session.add(user)
    db.session.flush()
    return user


def create_user(
    email: str,
    name: str,
    password_text: str | None = None,
    *,
    via: Via,
    verified: bool | None = None,
) -> User:
    """Create a user. Without a password the user cannot sign in by password.

    ``verified``: whether the address is taken as proved; by default so for the CLI (an
    operator made the account) and not for sign-up, whose mailed link proves it.
    Raises InvalidInput for a bad email, name or password, EmailTaken if the address is used.
    """
    if verified is None:
        verified = via is Via.CLI
    email = email_address(email)
    name = person_name(name)
    password_hash = (
        password_hasher.hash(password(password_text)) if password_text is not None else None
    )
    try:
        with write_transaction():
            if db.session.scalar(select(User.id).where(User.email == email)) is not None:
                raise EmailTaken()
            user = _add_user(email, name, password_hash, verified=verified)
            audit.record(
                "user.create",
                actor=user,
                via=via,
                org=None,
                targets=[audit.TargetChange(user.id, user.email)],
            )
    except IntegrityError:  # the same address, created by a concurrent request
        raise EmailTaken() from None
    return user


# -- sign-up with a verified address (DESIGN §8) ---------------------------------------------

VERIFY_SALT = "roster-verify-email"
VERIFY_MAX_AGE = 3 * 24 * 3600  # seconds a verification link works


def signup_policy() -> tuple[str, tuple[str, ...]]:
    """Who may sign up: ("open", ()), ("invite", ()) or ("domains", (...)) (ROSTER_SIGNUP)."""
    return config_signup_policy(current_app.config["ROSTER_SIGNUP"])


def _check_policy(email: str) -> None:
    policy, domains = signup_policy()
    if policy == "invite":
        raise SignupClosed()
    if policy == "domains" and email.rpartition("@")[2] not in domains:
        raise InvalidInput.field(
            "email", "sign-up is open to addresses at " + ", ".join(domains) + " only"
        )


def _fingerprint(user: User) -> str:
    """Changes whenever the password does: an earlier link stops working."""
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=VERIFY_SALT)


def _verification_mail(user: User) -> Any:
    return mail.compose(
        user.email,
        "Confirm your address to finish signing up to Roster",
        "verify",
        user=user,
        link=verification_link(user),
        hours=VERIFY_MAX_AGE // 3600,
    )


def verification_link(user: User) -> str:
    token = _serializer().dumps([user.id, user.email, _fingerprint(user)])
    return mail.link(f"/verify/{token}")


def sign_up(email: str, name: str, password_text: str) -> None:
    """Sign up from the form: the answer is the same whether or not the address is taken.

    A new address gets an unverified account and a mailed link that verifies it and signs in
    (``verify_email``). A verified account's address gets a note that someone tried to sign up
    with it, and nothing changes; so does an unverified account that belongs to an organization
    (one an identity provider made through SCIM): its person signs in through password reset,
    and nobody else may give it a password. An unverified account's address (someone signed up
    and never verified, perhaps not its owner) gets its name and password replaced and a fresh
    link: only the mailbox's owner can use it, and every earlier link dies with the old
    password.
    Raises InvalidInput (bad values, a domain the policy does not take), SignupClosed.
    """
    address = email_address(email)
    name = person_name(name)
    password_hash = password_hasher.hash(password(password_text))
    _check_policy(address)
    sent: list[Any]
    with write_transaction():
        user = db.session.scalar(
            select(User).where(User.email == address).execution_options(populate_existing=True)
        )
        if user is not None and (user.is_verified or _is_member_anywhere(user.id)):
            sent = [
                mail.compose(
                    address,
                    "Someone tried to sign up to Roster with your address",
                    "signup_taken",
                    user=user,
                    login=mail.link("/login"),
                    reset=mail.link("/password/forgot"),
                )
            ]
        else:
            if user is None:
                user = User(email=address, session_token=_new_session_token())
                db.session.add(user)
            user.name, user.name_key = name, name_sort_key(name)
            user.password_hash = password_hash
            user.session_token = _new_session_token()
            db.session.flush()
            audit.record(
                "user.signup",
                actor=user,
                via=Via.WEB,
                org=None,
                targets=[audit.TargetChange(user.id, user.email)],
            )
            sent = [_verification_mail(user)]
    mail.send(sent)


def _is_member_anywhere(user_id: int) -> bool:
    return (
        db.session.scalar(
            select(Membership.organization_id).where(Membership.user_id == user_id).limit(1)
        )
        is not None
    )


def provisioned_account(email: str, name: str, *, actor: Any, via: Via) -> int:
    """The id of the account an identity provider names by ``email`` (SCIM, DESIGN §10), inside
    the caller's write transaction: made without a password, unverified, when there is none (its
    person signs in through password reset, which proves the address).

    A verified account is used as it is. An unverified one that belongs to no organization was
    signed up by someone who never proved the address: it is taken back (name replaced,
    password and sessions ended). One that belongs to an organization was made by a provider
    already and is used as it is: nothing one organization's provider says renames what
    another organization sees. Audited as ``user.create`` (``through: scim``) when made or taken
    back.
    """
    address = email_address(email)
    account = db.session.execute(
        select(User.id, User.email_verified_at).where(User.email == address)
    ).first()
    if account is None:
        try:
            with db.session.begin_nested():
                user_id = _add_user(address, person_name(name), None, verified=False).id
        except IntegrityError:  # made by a concurrent request: use it, as if it were here first
            account = db.session.execute(
                select(User.id, User.email_verified_at).where(User.email == address)
            ).first()
            if account is None:
                raise
            return int(account.id)
    elif account.email_verified_at is None and not _is_member_anywhere(account.id):
        user_id = account.id
        name = person_name(name)
        db.session.execute(
            update(User)
            .where(User.id == user_id)
            .values(
                name=name,
                name_key=name_sort_key(name),
                password_hash=None,
                session_token=_new_session_token(),
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
    else:
        return int(account.id)
    audit.record(
        "user.create",
        actor=actor,
        via=via,
        org=None,
        targets=[audit.TargetChange(user_id, address)],
        details={"through": "scim"},
    )
    return int(user_id)


def join_by_invitation(email: str, name: str, password_text: str) -> User:
    """The account for someone who followed an invitation link to sign up: made verified (the
    link reached the address). An unverified account with that address (someone signed up
    with it and never confirmed, perhaps not its owner) is taken over: its name and password
    replaced, its sessions ended. EmailTaken for a verified one: its owner signs in instead.
    """
    address = email_address(email)
    name = person_name(name)
    password_hash = password_hasher.hash(password(password_text))
    with write_transaction():
        user = db.session.scalar(
            select(User).where(User.email == address).execution_options(populate_existing=True)
        )
        if user is not None and user.is_verified:
            raise EmailTaken()
        now = utcnow()
        if user is None:
            user = User(email=address, created_at=now)
            db.session.add(user)
        user.name, user.name_key = name, name_sort_key(name)
        user.password_hash = password_hash
        user.session_token = _new_session_token()
        user.email_verified_at = now
        user.updated_at = now
        db.session.flush()
        # An account taken over may already be a member (an identity provider made it): its
        # memberships sort and search by the new name too.
        _resort_memberships(user.id, user.name_key)
        audit.record(
            "user.create",
            actor=user,
            via=Via.WEB,
            org=None,
            targets=[audit.TargetChange(user.id, user.email)],
            details={"through": "invitation"},
        )
    return user


def verify_email(token: str) -> User:
    """The account a verification link names, now verified; InvalidLink for a link that is
    malformed, expired, used, or made before the password changed."""
    try:
        user_id, address, fingerprint = _serializer().loads(token, max_age=VERIFY_MAX_AGE)
    except (BadSignature, ValueError, TypeError):
        raise InvalidLink() from None
    with write_transaction():
        user = db.session.get(User, user_id, populate_existing=True) if is_id(user_id) else None
        if (
            user is None
            or not user.is_active
            or user.email != address
            or user.is_verified
            or _fingerprint(user) != fingerprint
        ):
            raise InvalidLink("This link is not valid any more: sign in, or sign up again.")
        user.email_verified_at = utcnow()
        audit.record(
            "user.verify",
            actor=user,
            via=Via.WEB,
            org=None,
            targets=[audit.TargetChange(user.id, user.email)],
        )
    return user


def resend_verification(user: User) -> None:
    """Mail an unverified account a fresh link (signing in before verifying does)."""
    if user.is_verified:
        return
    mail.send([_verification_mail(user)])


def create_users(people: Sequence[tuple[str, str]], *, via: Via) -> list[int]:
    """Create many password-less users in one statement (demo data, imports); all or none.
    Their addresses are taken as verified: whoever made them vouches for them."""
    rows = [{"email": email_address(e), "name": person_name(n)} for e, n in people]
    for row in rows:
        row["name_key"] = name_sort_key(row["name"])
    emails = [r["email"] for r in rows]
    if len(set(emails)) != len(emails):
        raise InvalidInput.field("email", "the same address appears twice")
    with write_transaction():
        taken = db.session.scalars(select(User.email).where(User.email.in_(emails))).all()
        if taken:
            raise EmailTaken(f"These addresses are already used: {', '.join(sorted(taken))}")
        now = utcnow()
        db.session.execute(
            insert(User),
            [
                r
                | {
                    "password_hash": None,
                    "session_token": _new_session_token(),
                    "is_active": True,
                    "email_verified_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for r in rows
            ],
        )
        ids = dict(
            db.session.execute(select(User.email, User.id).where(User.email.in_(emails))).all()
        )
    return [ids[e] for e in emails]


def get_user_by_email(email: str) -> User | None:
    try:
        address = email_address(email)
    except InvalidInput:
        return None
    return db.session.scalar(select(User).where(User.email == address))


def authenticate(email: str, password_text: str) -> User:
    """Check an email and password; rehash when the hashing parameters changed.

    Raises AuthenticationFailed alike for an unknown email, a wrong password, a user without a
    password and a deactivated account: the answer never tells which.
    """
    global _DUMMY_HASH
    user = get_user_by_email(email) if isinstance(email, str) else None
    stored = user.password_hash if user is not None else None
    if stored is None:
        _DUMMY_HASH = _DUMMY_HASH or password_hasher.hash(secrets.token_hex(16))
        stored = _DUMMY_HASH
        user = None
    try:
        password_hasher.verify(stored, password_text if isinstance(password_text, str) else "")
    except (VerificationError, InvalidHashError):
        raise AuthenticationFailed() from None
    if user is None or not user.is_active:
        raise AuthenticationFailed()
    if password_hasher.check_needs_rehash(stored):
        new_hash = password_hasher.hash(password_text)
        with write_transaction():
            db.session.execute(
                update(User).where(User.id == user.id).values(password_hash=new_hash)
            )
        db.session.refresh(user)
    return user


def load_session_user(session_id: str) -> User | None:
    """The user a session cookie names as ``"<id>:<session token>"``, if still valid."""
    user_id, _, token = session_id.partition(":")
    if not user_id.isdigit() or not token:
        return None
    user = db.session.get(User, int(user_id), execution_options=PREPARED)
    if user is None or not user.is_active:
        return None
    if not hmac.compare_digest(user.session_token.encode(), token.encode()):
        return None
    return user


def end_all_sessions(user: User) -> None:
    """Rotate the session token: every earlier copy of every session cookie stops working."""
    with write_transaction():
        db.session.execute(
            update(User)
            .where(User.id == user.id)
            .values(session_token=_new_session_token(), updated_at=utcnow())
        )
    db.session.refresh(user)


def set_user_active(user_id: int, is_active: bool, *, via: Via, actor: User | None = None) -> None:
    """Deactivate (or reactivate) an account. Deactivation ends every session.

    Refused with LastOwner when the user is the last active owner of an organization: an owner
    who cannot sign in does not keep it owned.
    """
    with write_transaction():
        user = db.session.get(User, user_id, populate_existing=True)
        if user is None:
            raise InvalidInput.field("user_id", "no such user")
        owned: list[int] = []
        if not is_active:
            owned = lock_organizations(
                select(Membership.organization_id).where(
                    Membership.user_id == user_id,
                    Membership.role == Role.OWNER,
                    Membership.is_active.is_(True),
                )
            )
        user.is_active = is_active
        user.session_token = _new_session_token()
        user.updated_at = utcnow()
        db.session.flush()
        if owned:
            still_owned = {org_id for org_id, _ in db.session.execute(active_owners(owned))}
            orphaned = sorted(set(owned) - still_owned)
            if orphaned:
                raise LastOwner(
                    f"{user.email} is the last active owner of organization(s) "
                    f"{', '.join(map(str, orphaned))}. Promote another member to OWNER first."
                )
        audit.record(
            "user.activate" if is_active else "user.deactivate",
            actor=actor,
            via=via,
            org=None,
            targets=[audit.TargetChange(user.id, user.email, new_active=is_active)],
        )


# -- my account (DESIGN §8): password reset, name, password, sign out everywhere, deletion ------

RESET_LINK_SECONDS = 3600
_RESET_SALT = "roster.password-reset"
_RESET_TOKEN_MAX = 500  # a real one is about 100 characters
_RESET_LINK_GONE = (
    "This link to choose a new password has expired or was already used. Ask for a new one."
)


def _reset_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=_RESET_SALT)  # type: ignore[arg-type]


def _reset_fingerprint(user: User) -> str:
    """What a reset link is bound to: the account's address, password hash and session token
    as they are now. A reset changes the last two, so a link works once; a password change or
    signing out everywhere kills every link sent before it. Keyed with the app's secret, so the
    link shows nothing of the hash."""
    material = "\x00".join((str(user.id), user.email, user.password_hash or "", user.session_token))
    key = str(current_app.secret_key).encode()
    return hmac.new(key, material.encode(), hashlib.sha256).hexdigest()[:32]


def password_reset_token(user: User) -> str:
    """A signed, timestamped token naming the user and the fingerprint of the account now."""
    return _reset_serializer().dumps([user.id, _reset_fingerprint(user)])


def request_password_reset(email: str) -> None:
    """Mail a link to choose a new password, valid for an hour, to the active account using
    this address, if there is one.

    Nothing tells the caller whether there is: nothing is returned, the same work is done for
    an unknown address (the mail is composed, and not sent), and the mail goes out from the mail
    thread once the answer is written (``mail.send_after_response``), so an SMTP round trip does
    not show in the time to answer. A deactivated account gets no mail. Raises InvalidInput
    only for something that is not an email address.
    """
    address = email_address(email)
    user = db.session.scalar(select(User).where(User.email == address, User.is_active.is_(True)))
    token = password_reset_token(user) if user else _reset_serializer().dumps([0, ""])
    message = mail.compose(
        address,
        "Choose a new Roster password",
        "password_reset",
        name=user.name if user else "",
        link=mail.link(f"/password/reset/{token}"),
        minutes=RESET_LINK_SECONDS // 60,
    )
    if user is not None:
        mail.send_after_response([message])


def read_reset_link(token: str) -> User:
    """The account a reset link is for.

    Raises InvalidLink, alike, for a link that is over an hour old, altered, or made before the
    account's password or sessions last changed (so after it was used), and for an account
    deactivated or deleted since.
    """
    if not isinstance(token, str) or len(token) > _RESET_TOKEN_MAX:
        raise InvalidLink(_RESET_LINK_GONE)
    try:
        payload = _reset_serializer().loads(token, max_age=RESET_LINK_SECONDS)
    except BadData:  # a bad signature, an expired one, a payload that is not ours
        raise InvalidLink(_RESET_LINK_GONE) from None
    if not (
        isinstance(payload, list)
        and len(payload) == 2
        and is_id(payload[0])
        and isinstance(payload[1], str)
    ):
        raise InvalidLink(_RESET_LINK_GONE)
    user = db.session.get(User, payload[0], populate_existing=True)
    if (
        user is None
        or not user.is_active
        or not hmac.compare_digest(payload[1].encode(), _reset_fingerprint(user).encode())
    ):
        raise InvalidLink(_RESET_LINK_GONE)
    return user


def _new_password(value: object, field: str) -> str:
    """``values.password``, its error named after the form's field."""
    try:
        return password(value)
    except InvalidInput as error:
        raise InvalidInput.field(field, error.errors[0].message) from None


def _password_matches(user: User, password_text: object) -> bool:
    if user.password_hash is None or not isinstance(password_text, str):
        return False
    try:
        return password_hasher.verify(user.password_hash, password_text)
    except (VerificationError, InvalidHashError):
        return False


def _set_password(user: User, new_hash: str, *, verify: bool = False) -> bool:
    """Set the hash and rotate the session token, only if the password hash and session token
    are still those ``user`` was read with: a change that raced this one wins, and this one
    changes nothing (False). ``verify`` also marks the address as proved."""
    now = utcnow()
    values: dict[str, object] = {
        "password_hash": new_hash,
        "session_token": _new_session_token(),
        "updated_at": now,
    }
    if verify:
        values["email_verified_at"] = func.coalesce(User.email_verified_at, now)
    result = db.session.execute(
        update(User)
        .where(
            User.id == user.id,
            User.is_active.is_(True),
            User.session_token == user.session_token,
            User.password_hash.is_not_distinct_from(user.password_hash),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def reset_password(token: str, new_password: str, *, via: Via) -> User:
    """Set a new password through a reset link; the link's user, signed out everywhere.

    The password follows ``values.password``. Every session of the account ends (the caller
    signs its own browser in anew), and the address counts as verified: the link reached it.
    An account without a password gets one this way. Raises InvalidInput for the password,
    InvalidLink as ``read_reset_link`` does, or when another request used the link first.
    """
    new_password = _new_password(new_password, "password")
    user = read_reset_link(token)
    new_hash = password_hasher.hash(new_password)
    with write_transaction():
        if not _set_password(user, new_hash, verify=True):
            raise InvalidLink(_RESET_LINK_GONE)
        audit.record(
            "user.password_reset",
            actor=user,
            via=via,
            org=None,
            targets=[audit.TargetChange(user.id, user.email)],
        )
    db.session.refresh(user)
    return user


def rename_user(user: User, name: str, *, via: Via) -> User:
    """Change the user's name, and the sort key every membership of theirs keeps of it, so
    every organization's member list shows and sorts the new name. The same name again changes
    nothing and is not recorded. Raises InvalidInput for a bad name."""
    name = person_name(name)
    with write_transaction():
        old = db.session.scalar(select(User.name).where(User.id == user.id))
        if old != name:
            now, key = utcnow(), name_sort_key(name)
            db.session.execute(
                update(User)
                .where(User.id == user.id)
                .values(name=name, name_key=key, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            _resort_memberships(user.id, key)
            audit.record(
                "user.rename",
                actor=user,
                via=via,
                org=None,
                targets=[audit.TargetChange(user.id, user.email)],
                details={"old_name": old, "new_name": name},
            )
    db.session.refresh(user)
    return user


def _resort_memberships(user_id: int, name_key: str) -> None:
    """Every membership's copy of the user's name key, after the name changed: what the member
    lists sort and search by (``Membership.sort_name``). One statement however many."""
    db.session.execute(
        update(Membership)
        .where(Membership.user_id == user_id)
        .values(sort_name=name_key)
        .execution_options(synchronize_session=False)
    )


def change_password(user: User, current: str, new: str, *, via: Via) -> None:
    """Change the password; the current one is required. Every session ends, this one too:
    the caller signs its own browser in again with the user's new session token.

    Raises InvalidInput for a new password that breaks ``values.password`` (on
    ``new_password``), WrongPassword (on ``current_password``) when the current one does not
    match, the account has none, or another change came first.
    """
    new = _new_password(new, "new_password")
    if not _password_matches(user, current):
        raise WrongPassword.field("current_password", "is not your current password")
    new_hash = password_hasher.hash(new)
    with write_transaction():
        if not _set_password(user, new_hash):
            raise WrongPassword.field("current_password", "is not your current password")
        audit.record(
            "user.password_change",
            actor=user,
            via=via,
            org=None,
            targets=[audit.TargetChange(user.id, user.email)],
        )
    db.session.refresh(user)


@dataclass(frozen=True)
class OwnedOrganization:
    """An organization the user alone owns: it must change hands before the account can go."""

    id: int
    organization_name: str


def _sole_owned(user_id: int) -> list[OwnedOrganization]:
    mine = select(Membership.organization_id).where(
        Membership.user_id == user_id,
        Membership.role == Role.OWNER,
        Membership.is_active.is_(True),
    )
    # Of those, the ones with another active owner (whose own account is active too).
    shared = (
        active_owners(mine)
        .where(Membership.user_id != user_id)
        .with_only_columns(Membership.organization_id)
    )
    rows = db.session.execute(
        select(Organization.id, Organization.organization_name)
        .where(Organization.id.in_(mine), Organization.id.not_in(shared))
        .order_by(func.lower(Organization.organization_name), Organization.id)
    )
    return [OwnedOrganization(*row) for row in rows]


def sole_owned_organizations(user: User) -> list[OwnedOrganization]:
    """The organizations whose only active owner is this user, by name (one statement)."""
    return _sole_owned(user.id)


def delete_user(user: User, password_text: str, *, via: Via) -> None:
    """Delete the account, confirmed by its password: its memberships (each organization's
    counters follow, and its activity log records the departure), its API tokens, the user.
    Audit events stay, with the address and name as they were.

    Refused with LastOwner, naming them, while the user is the last active owner of any
    organization: another member must become OWNER there first (a transfer), or the
    organization be deleted.
    Raises WrongPassword (on ``password``) for a wrong password. One transaction, under the
    locks of every organization the user is in, in a fixed number of statements however many.
    """
    if not _password_matches(user, password_text):
        raise WrongPassword.field("password", "is not your password")
    with write_transaction():
        lock_organizations(select(Membership.organization_id).where(Membership.user_id == user.id))
        sole = _sole_owned(user.id)
        if sole:
            names = ", ".join(org.organization_name for org in sole)
            raise LastOwner(
                f"You are the last active owner of {names}. Transfer the ownership of each, "
                "or delete it, before you delete your account."
            )
        rows = db.session.execute(
            select(
                Membership.organization_id,
                Membership.role,
                Membership.is_active,
                Membership.created_at,
                Organization.organization_name,
                Organization.joins_by_day,
            )
            .join(Organization, Organization.id == Membership.organization_id)
            .where(Membership.user_id == user.id)
        ).all()
        now = utcnow()
        if rows:
            db.session.execute(
                delete(Membership)
                .where(Membership.user_id == user.id)
                .execution_options(synchronize_session=False)
            )
            _count_departures(rows, now)
        details = {"name": user.name}
        audit.record_in_organizations(
            "user.delete",
            actor=user,
            via=via,
            entries=[
                (None, None, audit.TargetChange(user.id, user.email)),
                *(
                    (
                        row.organization_id,
                        row.organization_name,
                        audit.TargetChange(
                            user.id, user.email, old_role=row.role, old_active=row.is_active
                        ),
                    )
                    for row in rows
                ),
            ],
            details=details,
        )
        # The database deletes the API tokens with the user (ON DELETE CASCADE).
        db.session.execute(
            delete(User).where(User.id == user.id).execution_options(synchronize_session=False)
        )
        db.session.expunge(user)


def _count_departures(rows: Sequence[Any], now: datetime) -> None:
    """Take one departed member (role, active flag, join day) off each organization's
    counters: one executemany, each organization's row as read under its lock."""
    table = Organization.__table__
    counters = ("member_count", "active_count", *ROLE_COUNTERS.values())
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            updated_at=bindparam("b_now"),
            joins_by_day=bindparam("b_joins"),
            **{name: table.c[name] + bindparam(f"b_{name}") for name in counters},
        )
    )
    params = []
    for row in rows:
        deltas = counter_deltas([(row.role, row.is_active)], [])
        params.append(
            {
                "b_id": row.organization_id,
                "b_now": now,
                "b_joins": joins_after(row.joins_by_day, now, left=[row.created_at]),
                **{f"b_{name}": deltas.get(name, 0) for name in counters},
            }
        )
    db.session.connection().execute(statement, params)
