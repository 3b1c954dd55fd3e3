"""What Roster publishes of itself over SCIM: the User and Group models (only the attributes it
keeps, so the published schemas say exactly what a client can rely on), the resource types and
the service provider configuration, as scim2-models objects."""

from __future__ import annotations

from typing import Annotated, Any

from scim2_models import (
    URN,
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    ComplexAttribute,
    ETag,
    Filter,
    GroupMember,
    Mutability,
    Patch,
    Required,
    Resource,
    ResourceType,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    Uniqueness,
)
from scim2_models import Email as _Email
from scim2_models import GroupMembership as _GroupMembership

MAX_RESULTS = 200  # the largest page a list answers (count above it is lowered to it)


class Name(ComplexAttribute):
    formatted: str | None = None
    family_name: str | None = None
    given_name: str | None = None


class User(Resource[Any]):
    """A member of the organization. ``userName`` is the account's email: set when the member
    is created, never changed through SCIM (``immutable``). ``active`` is always known."""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:User")

    user_name: Annotated[str | None, Uniqueness.server, Required.true, Mutability.immutable] = None
    name: Name | None = None
    display_name: str | None = None
    active: Annotated[bool | None, Required.true] = None
    emails: Annotated[list[_Email] | None, Mutability.read_only] = None
    groups: Annotated[list[_GroupMembership] | None, Mutability.read_only] = None


class Group(Resource[Any]):
    """A role. The five groups exist always; only their members change."""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:Group")

    display_name: Annotated[str | None, Required.true, Mutability.read_only] = None
    members: list[GroupMember] | None = None


CONFIG = ServiceProviderConfig(
    documentation_uri=None,
    patch=Patch(supported=True),
    bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_RESULTS),
    change_password=ChangePassword(supported=False),
    sort=Sort(supported=False),
    etag=ETag(supported=False),
    authentication_schemes=[
        AuthenticationScheme(
            type="oauthbearertoken",
            name="Service token",
            description="An organization's scim service token, as 'Authorization: Bearer'.",
            primary=True,
        )
    ],
)


def provider() -> ScimProvider:
    return ScimProvider(
        [User, Group],
        [ResourceType.from_resource(User), ResourceType.from_resource(Group)],
        CONFIG,
    )
