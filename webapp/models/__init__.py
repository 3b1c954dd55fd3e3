"""Typed SQLAlchemy 2 models. They hold data and its shape; every rule is in ``services``."""

from webapp.models.base import Base, utcnow
from webapp.models.roles import Role, Via
from webapp.models.tables import (
    ApiToken,
    AuditEvent,
    Invitation,
    InvitationStatus,
    Membership,
    Organization,
    ScimProfile,
    ServiceToken,
    ServiceTokenScope,
    User,
    drop_schema,
)

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "Invitation",
    "InvitationStatus",
    "Membership",
    "Organization",
    "Role",
    "ScimProfile",
    "ServiceToken",
    "ServiceTokenScope",
    "User",
    "Via",
    "drop_schema",
    "utcnow",
]
