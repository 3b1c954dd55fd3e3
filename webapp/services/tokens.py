"""Personal API tokens: high-entropy, shown once, stored as a SHA-256 hash, found by prefix.

A token reads ``rst_<prefix>_<secret>``. The prefix finds the row; the hash of the whole token
is compared in constant time. SHA-256 suffices: the secret has 256 bits, nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, inspect, select, update
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from webapp.extensions import db
from webapp.models import ApiToken, Membership, Organization, User, Via, utcnow
from webapp.models.tables import TOKEN_NAME_MAX
from webapp.services import audit
from webapp.services.errors import InvalidInput, NotFound
from webapp.services.organizations import ACCOUNT_COLUMNS, Account
from webapp.services.transactions import prepared, write_transaction
from webapp.services.values import clean_text, is_id

TOKEN_PREFIX = "rst_"
# Writing last_used_at on every request would turn reads into writes; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_PREFIX_HEX = 12
_SECRET_BYTES = 32
_TOKEN_SHAPE = re.compile(rf"{TOKEN_PREFIX}[0-9a-f]{{{_PREFIX_HEX}}}_[A-Za-z0-9_-]{{43}}")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    user: User, name: str = "API token", *, expires_at: datetime | None = None, via: Via
) -> tuple[ApiToken, str]:
    """Create a token for ``user``; returns the row and the token text, which is never kept."""
    name = clean_text(name, "name", max_length=TOKEN_NAME_MAX)
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput.field("expires_at", "must be in the future")
    prefix = secrets.token_hex(_PREFIX_HEX // 2)
    text = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    with write_transaction():
        token = ApiToken(
            user_id=user.id, name=name, prefix=prefix, token_hash=_hash(text), expires_at=expires_at
        )
        db.session.add(token)
        db.session.flush()
        audit.record(
            "token.create",
            actor=user,
            via=via,
            org=None,
            details={"token_id": token.id, "name": name},
        )
    return token, text


def authenticate_token(text: str) -> User | None:
    """The active user a valid, unrevoked, unexpired token belongs to, else None."""
    return authenticate_token_for(text, None)[0]


def authenticate_token_for(
    text: str, organization_id: int | None
) -> tuple[User | None, Account | None]:
    """``authenticate_token``, and the organization as the token's user sees it (their
    ``Account``), read by the same statement: None when they are no member of it (or there is
    no such organization), or when the token is refused.

    A request about one organization checks the caller's access to it next; with the Account
    the services take as ``seen`` (``member_list.list_members``), that check needs no statement
    of its own.
    """
    if not isinstance(text, str) or not _TOKEN_SHAPE.fullmatch(text):
        return None, None  # not a token we could have made: no query needed
    prefix = text[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + _PREFIX_HEX]
    # A plain row on the session's connection: no ORM execution for the one statement every
    # API request runs.
    if organization_id is None or not is_id(organization_id):
        statement, values = _TOKEN_BY_PREFIX, {"prefix": prefix}
    else:
        statement, values = _TOKEN_AND_ACCOUNT, {"prefix": prefix, "org_id": organization_id}
    row = db.session.connection().execute(statement, values).first()
    if row is None:
        return None, None
    token_id, token_hash, revoked_at, expires_at, last_used_at = row[:_TOKEN_FIELDS]
    user = _session_user(row[_TOKEN_FIELDS:_ACCOUNT_FIELDS])
    if not hmac.compare_digest(token_hash, _hash(text)):
        return None, None
    now = utcnow()
    if revoked_at is not None or not user.is_active:
        return None, None
    if expires_at is not None and expires_at <= now:
        return None, None
    if last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION:
        with write_transaction():
            db.session.execute(
                update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
            )
    account = row[_ACCOUNT_FIELDS:]
    return user, Account(*account) if account and account[0] is not None else None


# Every API request asks it: built once (its cache key with it), the token's columns then the
# user's, as one plain row.
_USER_COLUMNS = tuple(User.__table__.c)
_TOKEN_BY_PREFIX = prepared(
    select(
        ApiToken.id,
        ApiToken.token_hash,
        ApiToken.revoked_at,
        ApiToken.expires_at,
        ApiToken.last_used_at,
        *_USER_COLUMNS,
    )
    .join(User, User.id == ApiToken.user_id)
    .where(ApiToken.prefix == bindparam("prefix"))
)
_TOKEN_FIELDS = 5
_ACCOUNT_FIELDS = _TOKEN_FIELDS + len(_USER_COLUMNS)
# The same row, then the user's Account in the organization ``org_id`` (NULLs when they are no
# member): the request's token and its access check in one round trip.
_TOKEN_AND_ACCOUNT = prepared(
    _TOKEN_BY_PREFIX.add_columns(*ACCOUNT_COLUMNS)
    .outerjoin(
        Membership,
        and_(Membership.user_id == User.id, Membership.organization_id == bindparam("org_id")),
    )
    .outerjoin(Organization, Organization.id == Membership.organization_id)
)


def _session_user(values: Sequence[Any]) -> User:
    """The user of a row of ``_USER_COLUMNS`` as the session's own instance, as loading the
    entity would give it, without the ORM's execution: the instance the session already holds
    (its unloaded attributes from the row), else a persistent one made from the row."""
    session = db.session()
    fields = {column.key: value for column, value in zip(_USER_COLUMNS, values, strict=True)}
    user = session.identity_map.get(identity_key(User, fields["id"]))
    if isinstance(user, User):
        for name in inspect(user).unloaded:
            set_committed_value(user, name, fields[name])
        return user
    user = User(**fields)
    make_transient_to_detached(user)  # as if loaded: no pending change, its identity set
    session.add(user)
    return user


def list_tokens(user: User) -> list[ApiToken]:
    """The user's tokens, newest first, revoked ones included."""
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


def revoke_token(user: User, token_id: int, *, via: Via) -> None:
    """Revoke one of the user's own tokens. NotFound for anyone else's or an unknown id."""
    if not is_id(token_id):
        raise NotFound("No such token.")
    with write_transaction():
        token = db.session.scalar(
            select(ApiToken)
            .where(ApiToken.id == token_id, ApiToken.user_id == user.id)
            .with_for_update()
        )
        if token is None:
            raise NotFound("No such token.")
        if token.revoked_at is None:
            token.revoked_at = utcnow()
            audit.record(
                "token.revoke",
                actor=user,
                via=via,
                org=None,
                details={"token_id": token.id, "name": token.name},
            )
