from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Engine,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    and_,
    literal_column,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, UTCDateTime, utcnow
from webapp.models.roles import Role, RoleType

# Integer ids are 64-bit on PostgreSQL; SQLite's INTEGER PRIMARY KEY is already 64-bit
# and must stay spelled INTEGER to remain the rowid alias.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# An id once handed out is never handed out again (DESIGN §7), so an old link, token or audit
# trail can never name a new row. SQLite reuses the largest deleted rowid unless the table is
# AUTOINCREMENT; PostgreSQL's sequences never go back.
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}

EMAIL_MAX = 254
NAME_MAX = 100
# Case folding can triple a character ("ﬃ" -> "ffi"), so the folded sort key gets room.
SORT_NAME_MAX = 3 * NAME_MAX
ORG_NAME_MAX = 100
TOKEN_NAME_MAX = 100


def _name_key_required(context: Any) -> str:
    """An insert of a user without ``name_key`` fails here rather than store the empty default,
    which the member search would never find: the services write it with the name
    (``services.values.name_sort_key``)."""
    raise ValueError("a user's name_key is written with the name (services.values.name_sort_key)")


class User(UserMixin, Base):
    __tablename__ = "users"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Stored normalised (trimmed, lower case): uniqueness is case-insensitive on every backend.
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    # The name as the member list sorts and searches it (``values.name_sort_key``), written with
    # the name by every service that writes one: the member search's index reads it (0010).
    name_key: Mapped[str] = mapped_column(
        String(SORT_NAME_MAX), default=_name_key_required, server_default=""
    )
    # None for users created without a password (CLI, demo): they cannot sign in by password.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Part of the session identity: rotating it signs out every copy of every earlier cookie.
    session_token: Mapped[str] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # When the owner of the address proved it (a link mailed to it, or an invitation link);
    # None until then. An unverified account cannot be added to an organization nor accept an
    # invitation (DESIGN §8). Users made by the CLI and the demo are verified when made.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def is_verified(self) -> bool:
        return self.email_verified_at is not None

    def get_id(self) -> str:
        """Flask-Login's session identity: rotating ``session_token`` invalidates old cookies."""
        return f"{self.id}:{self.session_token}"

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class Organization(Base):
    __tablename__ = "organizations"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_name: Mapped[str] = mapped_column(String(ORG_NAME_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Counters kept in the same transaction as every membership change, so totals and the
    # summary never count 200,000 rows. A test checks them against real counts.
    member_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    active_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    owner_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    admin_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    contributor_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    accounting_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    viewer_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Current members by the UTC day they joined ("2026-12-02": 3), for the days a summary's
    # "joined in the last 30 days" can still reach; older days are dropped as the org changes.
    # Rewritten with the counters above, under the organization lock, by the same UPDATE.
    joins_by_day: Mapped[dict[str, int]] = mapped_column(
        JSON, default=dict, server_default=text("'{}'")
    )

    def __repr__(self) -> str:
        return f"<Organization {self.id} {self.organization_name!r}>"


# An active OWNER membership (the user's own account must be active too: see
# services.organizations.active_owners). Spelled with literals, not bound parameters, so that
# SQLite matches a query's terms to the partial index below; one expression for both.
ACTIVE_OWNER_ROW = and_(
    literal_column("memberships.role") == literal_column(str(Role.OWNER.value)),
    literal_column("memberships.is_active") == true(),
)


# The member search's index of users' addresses and name keys (migration 0010_user_search): a
# pg_trgm GIN index on PostgreSQL, an FTS5 trigram table on SQLite. The models leave both out:
# an Index here would be one on every backend.
SEARCH_INDEX = "ix_users_search"
USER_SEARCH_TABLE = "user_search"


def described_by_models(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's ``include_name``: what the models describe, so what a comparison looks at.
    Not the search index (PostgreSQL) nor the search table and its FTS5 shadow tables
    (SQLite), which are one backend's."""
    if type_ == "index":
        return name != SEARCH_INDEX
    if type_ == "table":
        return name != USER_SEARCH_TABLE and not (name or "").startswith(f"{USER_SEARCH_TABLE}_")
    return True


class Membership(Base):
    __tablename__ = "memberships"

    organization_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(RoleType)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Copies of the user's sort keys, kept in step by the users service, so that every sort
    # of the member list walks an (organization_id, key, user_id) index instead of sorting.
    sort_email: Mapped[str] = mapped_column(String(EMAIL_MAX))
    sort_name: Mapped[str] = mapped_column(String(SORT_NAME_MAX))

    organization: Mapped[Organization] = relationship(lazy="raise")
    user: Mapped[User] = relationship(lazy="raise")

    __table_args__ = (
        # A user's organizations, most recently joined last: the switcher reads the last few.
        # On PostgreSQL the entries carry the role and state too, so a list of a member's
        # organizations reads the index alone (migration 0011_my_organizations_index).
        Index(
            "ix_memberships_user_joined",
            "user_id",
            "created_at",
            "organization_id",
            postgresql_include=["role", "is_active"],
        ),
        Index("ix_memberships_org_email", "organization_id", "sort_email", "user_id"),
        Index("ix_memberships_org_name", "organization_id", "sort_name", "user_id"),
        Index("ix_memberships_org_role", "organization_id", "role", "user_id"),
        Index("ix_memberships_org_active", "organization_id", "is_active", "user_id"),
        Index("ix_memberships_org_joined", "organization_id", "created_at", "user_id"),
        # The active owners of an organization, a handful even among 200,000 members: the
        # invariant and the summary count these entries, not the organization's members.
        # role and is_active are repeated as columns so that SQLite's planner, which has no
        # statistics, sees three equalities here and prefers this index to the two above.
        Index(
            "ix_memberships_org_active_owners",
            "organization_id",
            "role",
            "is_active",
            "user_id",
            sqlite_where=ACTIVE_OWNER_ROW,
            postgresql_where=ACTIVE_OWNER_ROW,
        ),
    )


SCIM_TEXT_MAX = 255


class ScimProfile(Base):
    """What one organization's identity provider says of a member through SCIM (DESIGN §10):
    ``externalId``, ``displayName`` and ``name``, kept per membership so that one
    organization's provider never rewrites what another organization sees. Dies with the
    membership (the foreign key cascades on both databases)."""

    __tablename__ = "scim_profiles"

    organization_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(SCIM_TEXT_MAX))
    display_name: Mapped[str | None] = mapped_column(String(SCIM_TEXT_MAX))
    given_name: Mapped[str | None] = mapped_column(String(SCIM_TEXT_MAX))
    family_name: Mapped[str | None] = mapped_column(String(SCIM_TEXT_MAX))
    formatted_name: Mapped[str | None] = mapped_column(String(SCIM_TEXT_MAX))

    __table_args__ = (
        ForeignKeyConstraint(
            ["organization_id", "user_id"],
            ["memberships.organization_id", "memberships.user_id"],
            ondelete="CASCADE",
        ),
        # ``filter=externalId eq "..."``, the lookup an identity provider makes before it creates.
        Index("ix_scim_profiles_org_external", "organization_id", "external_id"),
    )


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(TOKEN_NAME_MAX))
    # The public part of the token, used to find the row; the secret is only ever hashed.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_api_tokens_user", "user_id", "id"), NEVER_REUSE_IDS)


class ServiceTokenScope(enum.StrEnum):
    """What a service token may do (DESIGN §10): ``read`` GET only, ``write`` also member
    management below OWNER, ``scim`` only ``/scim/v2``. ``services.permissions`` says the rest."""

    READ = "read"
    WRITE = "write"
    SCIM = "scim"


class ServiceToken(Base):
    """An organization's token for an integration (DESIGN §10): it belongs to the organization,
    not to whoever made it, and dies with the organization. Only its hash is stored."""

    __tablename__ = "service_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("organizations.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(TOKEN_NAME_MAX))
    scope: Mapped[str] = mapped_column(String(8))
    # The public part of the token, used to find the row; the secret is only ever hashed.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who made it, as they were: no foreign key, the token outlives its creator's account.
    created_by_id: Mapped[int | None] = mapped_column(BigId)
    created_by_email: Mapped[str | None] = mapped_column(String(EMAIL_MAX))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_service_tokens_org", "organization_id", "id"), NEVER_REUSE_IDS)


class InvitationStatus(enum.StrEnum):
    """An invitation's state. ``EXPIRED`` is stored once noticed; a ``PENDING`` row past its
    ``expires_at`` is expired already (``services.invitations`` reads it so)."""

    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"


# At most one pending invitation per (organization, email): a partial unique index, spelled with
# a literal so that both backends take the same predicate.
PENDING_ROW = literal_column("invitations.status") == literal_column("'PENDING'")

INVITATION_ERROR_MAX = 300


class Invitation(Base):
    """An email invited into an organization with a role (DESIGN §8).

    No foreign key to the organization: an invitation outlives a deleted organization, so its
    link can say so (410) instead of not knowing it. The token is stored only as a hash.
    """

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(BigId)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX))
    role: Mapped[Role] = mapped_column(RoleType)
    status: Mapped[str] = mapped_column(String(8), default=InvitationStatus.PENDING)
    invited_by_id: Mapped[int | None] = mapped_column(BigId)
    invited_by_email: Mapped[str | None] = mapped_column(String(EMAIL_MAX))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(BigId)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The mail: when it last went out, or why it did not (offered for resend in the dashboard).
    mail_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mail_error: Mapped[str | None] = mapped_column(String(INVITATION_ERROR_MAX))

    __table_args__ = (
        Index("ix_invitations_org", "organization_id", "status", "id"),
        Index(
            "ix_invitations_pending_email",
            "organization_id",
            "email",
            unique=True,
            sqlite_where=PENDING_ROW,
            postgresql_where=PENDING_ROW,
        ),
        NEVER_REUSE_IDS,
    )


# Every action the audit trail records (``AuditEvent.action``), which the events API filters by.
AUDIT_ACTIONS = (
    "organization.create",
    "organization.rename",
    "organization.delete",
    "member.add",
    "member.update",
    "member.remove",
    "member.leave",
    "ownership.transfer",
    "change.revert",
    "invitation.create",
    "invitation.resend",
    "invitation.revoke",
    "invitation.accept",
    "token.create",
    "token.revoke",
    "service_token.create",
    "service_token.revoke",
    "user.create",
    "user.signup",
    "user.verify",
    "user.rename",
    "user.password_change",
    "user.password_reset",
    "user.activate",
    "user.deactivate",
    "user.delete",
)
# The actions recorded in an organization's trail (the others concern a user alone): what the
# events API and the activity page filter by.
ORGANIZATION_ACTIONS = (
    *(
        a
        for a in AUDIT_ACTIONS
        if a.partition(".")[0] in ("organization", "member", "ownership", "change")
    ),
    *(a for a in AUDIT_ACTIONS if a.startswith(("invitation.", "service_token."))),
    "user.delete",
)


class AuditEvent(Base):
    """One row per change and per target user. No foreign keys: events outlive what they name."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Groups the rows written by one request (a bulk change of 500 members is one operation).
    operation_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(40))
    via: Mapped[str] = mapped_column(String(8))
    actor_id: Mapped[int | None] = mapped_column(BigId)
    actor_email: Mapped[str | None] = mapped_column(String(EMAIL_MAX))
    organization_id: Mapped[int | None] = mapped_column(BigId)
    organization_name: Mapped[str | None] = mapped_column(String(ORG_NAME_MAX))
    target_user_id: Mapped[int | None] = mapped_column(BigId)
    target_email: Mapped[str | None] = mapped_column(String(EMAIL_MAX))
    old_role: Mapped[Role | None] = mapped_column(RoleType)
    new_role: Mapped[Role | None] = mapped_column(RoleType)
    old_active: Mapped[bool | None] = mapped_column(Boolean)
    new_active: Mapped[bool | None] = mapped_column(Boolean)
    # The member's joined_at, kept on a removal so that reverting it restores the date.
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))

    __table_args__ = (
        Index("ix_audit_events_org", "organization_id", "id"),
        Index("ix_audit_events_org_target", "organization_id", "target_user_id", "id"),
        # A change set's events (a revert; the activity page's sizes and revertible changes).
        Index("ix_audit_events_org_change", "organization_id", "operation_id", "id"),
        NEVER_REUSE_IDS,
    )


def drop_schema(engine: Engine) -> None:
    """Drop everything the migrations made: the models' tables, the search table (SQLite) and
    Alembic's version table, so that ``upgrade`` starts from nothing."""
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {USER_SEARCH_TABLE}"))
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
