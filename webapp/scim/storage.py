"""Roster's members and roles as a scim2-server storage: scim2-server reads the requests,
applies PUT and PATCH to the resource and answers; this storage reads and writes through
``services.scim``, and turns its domain errors into SCIM errors."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

from flask import g, request
from scim2_models import (
    ConflictException,
    Email,
    ForbiddenException,
    GroupMember,
    GroupMembership,
    InvalidFilterException,
    InvalidPathException,
    InvalidValueException,
    Meta,
    MutabilityException,
    NotFoundException,
    NotImplementedException,
    ResourceType,
    ResponseParameters,
    SearchRequest,
    UniquenessException,
)
from scim2_models import Resource as ScimResource
from scim2_server.storage import ScimStorage, SearchPage
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Organization, Role
from webapp.scim.resources import MAX_RESULTS, Group, Name, User
from webapp.services import scim
from webapp.services.errors import (
    AlreadyMembers,
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    UnprocessableIds,
)
from webapp.services.permissions import ServicePrincipal

F = TypeVar("F", bound=Callable[..., Any])


class FixedGroups(ForbiddenException):
    """Groups are the five roles: they cannot be created, replaced or deleted."""

    scim_type = "mutability"
    _default_detail = (
        "Groups are Roster's five roles (owner, admin, contributor, accounting, viewer): they "
        "cannot be created, replaced, renamed or deleted; PATCH their members instead."
    )


def translate(error: DomainError) -> NoReturn:
    """Raise the SCIM error that says what ``error`` says."""
    if isinstance(error, scim.InvalidFilter):
        raise InvalidFilterException(detail=error.message) from None
    if isinstance(error, NotFound):
        raise NotFoundException(detail="No such member in this organization.") from None
    if isinstance(error, AlreadyMembers):
        raise UniquenessException(
            detail="This account is already a member of the organization."
        ) from None
    if isinstance(error, Conflict) and error.code == "uniqueness":
        raise UniquenessException(detail=error.message) from None
    if isinstance(error, Conflict):  # LastOwner among them: 409, with no scimType
        raise ConflictException(detail=error.message) from None
    if isinstance(error, UnprocessableIds):
        ids = ", ".join(map(str, error.user_ids or []))
        raise InvalidValueException(detail=f"{error.message} ({ids})") from None
    if isinstance(error, scim.Immutable):
        raise MutabilityException(detail=error.message) from None
    if isinstance(error, InvalidInput):
        detail = "; ".join(f"{e.field}: {e.message}" for e in error.errors) or error.message
        raise InvalidValueException(detail=detail) from None
    if isinstance(error, Forbidden):
        raise ForbiddenException(detail=error.message) from None
    raise InvalidValueException(detail=error.message) from None


def scim_errors(method: F) -> F:
    """Answer each domain error as the SCIM error that says the same."""

    @functools.wraps(method)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except DomainError as error:
            translate(error)

    return wrapped  # type: ignore[return-value]


@contextmanager
def scim_errors_context() -> Iterator[None]:
    """``scim_errors`` for a block: the errors raised as the transaction ends too."""
    try:
        yield
    except DomainError as error:
        translate(error)


def principal() -> ServicePrincipal:
    caller: ServicePrincipal = g.scim_principal
    return caller


def _user(member: scim.ScimMember) -> User:
    p = member.profile
    name = None
    if p.given_name or p.family_name or p.formatted_name:
        name = Name(given_name=p.given_name, family_name=p.family_name, formatted=p.formatted_name)
    role = member.role
    return User(
        id=str(member.user_id),
        external_id=p.external_id,
        user_name=member.email,
        name=name,
        display_name=p.display_name,
        active=member.is_active,
        emails=[Email(value=member.email, type="work", primary=True)],
        groups=[
            GroupMembership(
                value=role.name.lower(),
                ref=f"Groups/{role.name.lower()}",
                display=role.name,
                type="direct",
            )
        ],
        meta=Meta(
            resource_type="User",
            created=member.created_at,
            last_modified=member.updated_at,
        ),
    )


def _profile(resource: User) -> scim.Profile:
    name = resource.name
    return scim.Profile(
        external_id=resource.external_id,
        display_name=resource.display_name,
        given_name=name.given_name if name else None,
        family_name=name.family_name if name else None,
        formatted_name=name.formatted if name else None,
    )


def _role_of(resource_id: str) -> Role:
    role = scim.GROUP_IDS.get(resource_id)
    if role is None:
        raise NotFoundException(detail=f"No group {resource_id!r}: the groups are the five roles.")
    return role


_ONE_MEMBER = re.compile(r'members\[\s*value\s+eq\s+"([^"]*)"\s*\]', re.IGNORECASE)


def _member_ids(value: Any) -> list[int]:
    """The ids of a ``members`` value: a list of entries, each a GroupMember or an object with
    a string ``value``. Anything else (a bare string, a number, one object) is 400: read as a
    list, "12" would name members 1 and 2."""
    if not isinstance(value, list):
        raise InvalidValueException(
            detail='members is a list of objects with a value: [{"value": "<user id>"}].'
        )
    ids = []
    for item in value:
        member_id = item.get("value") if isinstance(item, dict) else getattr(item, "value", None)
        if not isinstance(member_id, str):
            raise InvalidValueException(
                detail='Each member is an object with a string value: {"value": "<user id>"}.'
            )
        ids.append(_member_id(member_id))
    return ids


def _member_id(value: str) -> int:
    try:
        return scim.user_id_of(value)
    except NotFound:
        raise InvalidValueException(
            detail=f"{value!r} is not the id of a member of this organization."
        ) from None


def _wants_members(parameters: ResponseParameters[Any] | None) -> bool:
    if parameters is None:
        return True
    named = [str(a).lower().rsplit(":", 1)[-1] for a in parameters.attributes or []]
    if named:
        return any(a == "members" or a.startswith("members.") for a in named)
    excluded = [str(a).lower().rsplit(":", 1)[-1] for a in parameters.excluded_attributes or []]
    return "members" not in excluded


class RosterStorage(ScimStorage):
    """The organization of the request's scim token, as SCIM resources."""

    @contextmanager
    def operation(self) -> Iterator[None]:
        write = request.method not in ("GET", "HEAD") and not request.path.endswith(".search")
        with scim_errors_context(), scim.operation(principal(), write=write) as org:
            g.scim_org = org
            yield

    def _org(self) -> Organization:
        org: Organization = g.scim_org
        return org

    # -- reading ---------------------------------------------------------------------------

    @scim_errors
    def get(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        response_parameters: ResponseParameters[Any] | None = None,
    ) -> ScimResource[Any]:
        if resource_type.name == "Group":
            return self._group(_role_of(resource_id), _wants_members(response_parameters))
        return _user(scim.get_member(principal(), scim.user_id_of(resource_id)))

    def _group(self, role: Role, with_members: bool) -> Group:
        created, updated = db.session.execute(
            select(Organization.created_at, Organization.updated_at).where(
                Organization.id == principal().organization_id
            )
        ).one()
        members = None
        if with_members:
            members = [
                GroupMember(value=str(user_id), ref=f"Users/{user_id}", display=email, type="User")
                for user_id, email in scim.group_members(principal(), role)
            ]
        return Group(
            id=role.name.lower(),
            display_name=role.name,
            members=members,
            meta=Meta(resource_type="Group", created=created, last_modified=updated),
        )

    @scim_errors
    def search(
        self,
        resource_types: list[ResourceType],
        search_request: SearchRequest[Any],
        *,
        position: Any = None,
    ) -> SearchPage:
        names = {rt.name for rt in resource_types}
        if names != {"User"} and names != {"Group"}:
            # RFC 7644 §3.12: 501 for an operation the server does not support.
            raise NotImplementedException(
                detail="Search /Users or /Groups: the root is not searched across both."
            )
        # Past any organization's size, and within what both databases take as an OFFSET.
        start = min(search_request.start_index or 1, 2**31)
        count = MAX_RESULTS if search_request.count is None else search_request.count
        count = min(count, MAX_RESULTS)
        if names == {"Group"}:
            return self._search_groups(search_request, start, count)
        condition = (
            scim.filter_condition(search_request.filter.ast)
            if search_request.filter is not None
            else None
        )
        total, found = scim.find_members(principal(), condition, start, count)
        return SearchPage(total=total, resources=[_user(m) for m in found])

    def _search_groups(self, search_request: SearchRequest[Any], start: int, count: int) -> Any:
        scim_filter = search_request.filter
        with_members = _wants_members(search_request) or (
            scim_filter is not None and "members" in str(scim_filter).lower()
        )
        groups = [self._group(role, with_members) for role in Role]
        if scim_filter is not None:
            groups = [group for group in groups if scim_filter.match(group)]
        return SearchPage(total=len(groups), resources=groups[start - 1 : start - 1 + count])

    # -- writing ---------------------------------------------------------------------------

    @scim_errors
    def create(self, resource_type: ResourceType, resource: ScimResource[Any]) -> ScimResource[Any]:
        # Groups never get here: RosterScimService.authorize refuses their create, replace and
        # delete, and RosterScimHandler sends their PATCH to patch_group.
        assert isinstance(resource, User)
        member = scim.create_member(
            principal(),
            self._org(),
            resource.user_name or "",
            is_active=True if resource.active is None else resource.active,
            profile=_profile(resource),
        )
        return _user(member)

    @scim_errors
    def update(
        self,
        resource_type: ResourceType,
        resource: ScimResource[Any],
        *,
        expected_version: str | None = None,
    ) -> ScimResource[Any]:
        assert isinstance(resource, User)
        current = scim.get_member(principal(), scim.user_id_of(resource.id or ""))
        member = scim.update_member(
            principal(),
            self._org(),
            current,
            user_name=resource.user_name,
            is_active=resource.active,
            profile=_profile(resource),
        )
        return _user(member)

    @scim_errors
    def patch_group(self, resource_id: str, patch_op: Any) -> None:
        """A group's PATCH, applied to the roles directly (not to a list of its members, which
        for the viewers of a large organization would be all of them): ``add`` members,
        ``remove`` ``members[value eq "id"]``, listed members or all of them, ``replace``
        ``members``, and, without a path, ``{"members": [...]}``. ``displayName`` may be
        restated, not changed. One change set for the whole request."""
        role = _role_of(resource_id)
        change_id = None
        for operation in patch_op.operations or []:
            verb = str(operation.op.value if hasattr(operation.op, "value") else operation.op)
            path = str(operation.path) if operation.path is not None else ""
            value = operation.value
            if not path and isinstance(value, dict):
                for key, item in value.items():
                    change_id = self._group_change(role, verb, key, item, change_id)
                continue
            change_id = self._group_change(role, verb, path, value, change_id)

    def _group_change(
        self, role: Role, verb: str, path: str, value: Any, change_id: str | None
    ) -> str | None:
        name = path.lower()
        if name in ("displayname", "id"):
            restated = str(value) in (role.name, role.name.lower())
            if verb == "remove" or not restated:
                raise FixedGroups()
            return change_id
        one = _ONE_MEMBER.fullmatch(path)
        if one and verb == "remove":
            ids = [_member_id(one.group(1))]
            return scim.remove_from_group(principal(), self._org(), role, ids, change_id=change_id)
        if name != "members":
            raise InvalidPathException(detail=f"A group's PATCH changes its members, not {path!r}.")
        if verb == "remove" and value is None:  # every member of the group
            return scim.remove_from_group(principal(), self._org(), role, None, change_id=change_id)
        ids = _member_ids(value)
        if verb == "add":
            return scim.add_to_group(principal(), self._org(), role, ids, change_id=change_id)
        if verb == "remove":
            return scim.remove_from_group(principal(), self._org(), role, ids, change_id=change_id)
        return scim.set_group_members(principal(), self._org(), role, ids, change_id=change_id)

    @scim_errors
    def delete(
        self, resource_type: ResourceType, resource_id: str, *, expected_version: str | None = None
    ) -> None:
        current = scim.get_member(principal(), scim.user_id_of(resource_id))
        scim.remove_member(principal(), self._org(), current)
