"""Service tokens (DESIGN §10): an organization's tokens for integrations.

A token belongs to one organization, not to the person who made it, so an integration
survives its creator leaving. It reads ``rss_<prefix>_<secret>``: made, stored and checked as
personal tokens are (``services.tokens``: SHA-256 of the whole text, found by its unique
prefix in one indexed statement, compared in constant time, last use written at most once a
minute). OWNER and ADMIN create, list and revoke them (``Action.MANAGE_TOKENS``); a token never
manages tokens itself. What a token may do once used is ``services.permissions``' business.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from pydantic import Field
from sqlalchemy import bindparam, select, update

from webapp.extensions import db
from webapp.models import ServiceToken, ServiceTokenScope, Via, utcnow
from webapp.models.tables import TOKEN_NAME_MAX
from webapp.services import audit
from webapp.services.errors import (
    FieldError,
    Forbidden,
    InvalidInput,
    InvalidServiceToken,
    NotFound,
)
from webapp.services.permissions import Action, Actor, ServicePrincipal, is_allowed, require
from webapp.services.tokens import LAST_USED_RESOLUTION, _hash
from webapp.services.transactions import write_transaction
from webapp.services.values import clean_text, is_id

SERVICE_TOKEN_PREFIX = "rss_"
_PREFIX_HEX = 12
_SECRET_BYTES = 32
_TOKEN_SHAPE = re.compile(rf"{SERVICE_TOKEN_PREFIX}[0-9a-f]{{{_PREFIX_HEX}}}_[A-Za-z0-9_-]{{43}}")
SCOPES = tuple(scope.value for scope in ServiceTokenScope)


@dataclass(frozen=True)
class ServiceTokenInfo:
    """A service token as OWNER/ADMIN see it: never its text."""

    id: int
    name: str
    scope: Annotated[ServiceTokenScope, Field(description="read, write or scim.")]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, row: ServiceToken) -> ServiceTokenInfo:
        return cls(
            row.id,
            row.name,
            ServiceTokenScope(row.scope),
            row.created_at,
            row.expires_at,
            row.last_used_at,
        )


@dataclass(frozen=True)
class CreatedServiceToken(ServiceTokenInfo):
    """The answer to a creation: the only time the token's text is shown."""

    token: str = ""


@dataclass(frozen=True)
class ListedServiceToken(ServiceTokenInfo):
    """A token in the list: revoked ones are listed too, and who made it (as they were)."""

    revoked_at: datetime | None = None
    created_by: Annotated[
        str | None, Field(description="The address of whoever made it, as it was then.")
    ] = None


def _invalid(field: str, message: str) -> InvalidServiceToken:
    return InvalidServiceToken(f"{field}: {message}", errors=[FieldError(field, message)])


def token_scope(value: str | ServiceTokenScope) -> ServiceTokenScope:
    """``read``, ``write`` or ``scim`` in any letter case; InvalidServiceToken otherwise."""
    try:
        return ServiceTokenScope(str(value).strip().lower())
    except ValueError:
        raise _invalid("scope", f"must be one of {', '.join(SCOPES)}") from None


def token_expiry(value: str | datetime | None) -> datetime | None:
    """When the token stops working: None (never), an aware datetime, or ISO 8601 text (a
    date alone is midnight UTC at its start; a time without a zone is UTC). It must be in the
    future; InvalidServiceToken otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _invalid("expires_at", "must be an ISO 8601 date or date and time") from None
    else:
        moment = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # a zone that pushes it past year 9999 or before year 1
        raise _invalid("expires_at", "must be an ISO 8601 date or date and time") from None
    if moment <= utcnow():
        raise _invalid("expires_at", "must be in the future")
    return moment


def token_name(value: str) -> str:
    try:
        return clean_text(value, "name", max_length=TOKEN_NAME_MAX)
    except InvalidInput as error:
        raise InvalidServiceToken(error.message, errors=error.errors) from None


def create_service_token(
    actor: Actor,
    org_id: int,
    name: str,
    scope: str | ServiceTokenScope,
    expires_at: str | datetime | None = None,
    *,
    via: Via,
) -> CreatedServiceToken:
    """Make a token for the organization; its text is in the answer and never kept.

    Needs MANAGE_TOKENS (OWNER, ADMIN; never a token), and MANAGE_OWNERS (OWNER) for a
    ``scim`` token. Raises NotFound / Forbidden as
    ``require`` does, then InvalidServiceToken naming the field (name 1-100 characters without
    control characters, scope read|write|scim, expires_at in the future).
    """
    require(actor, org_id, Action.MANAGE_TOKENS)
    errors = []
    values = {}
    for field, check, value in (
        ("name", token_name, name),
        ("scope", token_scope, scope),
        ("expires_at", token_expiry, expires_at),
    ):
        try:
            values[field] = check(value)
        except InvalidInput as error:
            errors.extend(error.errors)
    if errors:
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
        raise InvalidServiceToken(summary, errors=errors)
    prefix = secrets.token_hex(_PREFIX_HEX // 2)
    text = f"{SERVICE_TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    with write_transaction():
        org, me = require(actor, org_id, Action.MANAGE_TOKENS, lock=True)
        # A scim token manages owners (the identity provider is the source of truth, DESIGN
        # §10), so only who may manage owners may make one: an ADMIN mints no more than they hold.
        if values["scope"] is ServiceTokenScope.SCIM and not is_allowed(me, Action.MANAGE_OWNERS):
            raise Forbidden("Only an owner may make a scim token: it can manage owners.")
        row = ServiceToken(
            organization_id=org.id,
            name=values["name"],
            scope=str(values["scope"]),
            prefix=prefix,
            token_hash=_hash(text),
            created_by_id=actor.id,
            created_by_email=actor.email,
            expires_at=values["expires_at"],
        )
        db.session.add(row)
        db.session.flush()
        audit.record(
            "service_token.create",
            actor=actor,
            via=via,
            org=org,
            details={"token_id": row.id, "name": row.name, "scope": row.scope},
        )
        info = ServiceTokenInfo.of(row)
    return CreatedServiceToken(**vars(info), token=text)


def list_service_tokens(actor: Actor, org_id: int) -> list[ListedServiceToken]:
    """The organization's tokens, newest first, revoked ones included. Needs MANAGE_TOKENS."""
    require(actor, org_id, Action.MANAGE_TOKENS)
    rows = db.session.scalars(
        select(ServiceToken)
        .where(ServiceToken.organization_id == org_id)
        .order_by(ServiceToken.id.desc())
    )
    return [
        ListedServiceToken(
            **vars(ServiceTokenInfo.of(row)),
            revoked_at=row.revoked_at,
            created_by=row.created_by_email,
        )
        for row in rows
    ]


def revoke_service_token(actor: Actor, org_id: int, token_id: int, *, via: Via) -> None:
    """Revoke one of the organization's tokens; it answers 401 from then on. Needs
    MANAGE_TOKENS. NotFound for an unknown id or another organization's token; revoking a
    revoked token changes nothing."""
    require(actor, org_id, Action.MANAGE_TOKENS)
    if not is_id(token_id):
        raise NotFound("No such service token.")
    with write_transaction():
        org, _ = require(actor, org_id, Action.MANAGE_TOKENS, lock=True)
        row = db.session.scalar(
            select(ServiceToken)
            .where(ServiceToken.id == token_id, ServiceToken.organization_id == org_id)
            .with_for_update()
        )
        if row is None:
            raise NotFound("No such service token.")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            audit.record(
                "service_token.revoke",
                actor=actor,
                via=via,
                org=org,
                details={"token_id": row.id, "name": row.name, "scope": row.scope},
            )


def is_service_token(text: str) -> bool:
    return text.startswith(SERVICE_TOKEN_PREFIX)


def authenticate_service_token(text: str) -> ServicePrincipal | None:
    """The principal of a valid, unrevoked, unexpired service token, else None. One indexed
    statement; ``last_used_at`` written at most once a minute."""
    if not isinstance(text, str) or not _TOKEN_SHAPE.fullmatch(text):
        return None
    prefix = text[len(SERVICE_TOKEN_PREFIX) : len(SERVICE_TOKEN_PREFIX) + _PREFIX_HEX]
    row = db.session.connection().execute(_BY_PREFIX, {"prefix": prefix}).first()
    if row is None or not hmac.compare_digest(row.token_hash, _hash(text)):
        return None
    now = utcnow()
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        with write_transaction():
            db.session.execute(
                update(ServiceToken).where(ServiceToken.id == row.id).values(last_used_at=now)
            )
    return ServicePrincipal(row.id, row.organization_id, row.name, ServiceTokenScope(row.scope))


_BY_PREFIX = select(
    ServiceToken.id,
    ServiceToken.organization_id,
    ServiceToken.name,
    ServiceToken.scope,
    ServiceToken.token_hash,
    ServiceToken.revoked_at,
    ServiceToken.expires_at,
    ServiceToken.last_used_at,
).where(ServiceToken.prefix == bindparam("prefix"))
