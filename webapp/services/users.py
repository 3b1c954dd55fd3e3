"""Users: sign-up and CLI creation, password sign-in, sign-out, deactivation."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import Membership, Role, User, Via, utcnow
from webapp.services import audit
from webapp.services.errors import AuthenticationFailed, EmailTaken, InvalidInput, LastOwner
from webapp.services.organizations import active_owners
from webapp.services.transactions import lock_organizations, write_transaction
from webapp.services.values import email_address, password, person_name

# argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile). Tests swap in a cheap one.
password_hasher = PasswordHasher()

# Verified when the email is unknown, so a miss costs what a wrong password costs.
_DUMMY_HASH: str | None = None


def _new_session_token() -> str:
    return secrets.token_hex(16)


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
            user = User(
                email=email,
                name=name,
                password_hash=password_hash,
                session_token=_new_session_token(),
                email_verified_at=utcnow() if verified else None,
            )
            db.session.add(user)
            db.session.flush()
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


def create_users(people: Sequence[tuple[str, str]], *, via: Via) -> list[int]:
    """Create many password-less users in one statement (demo data, imports); all or none.
    Their addresses are taken as verified: whoever made them vouches for them."""
    rows = [{"email": email_address(e), "name": person_name(n)} for e, n in people]
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
    user = db.session.get(User, int(user_id))
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
