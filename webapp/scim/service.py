"""scim2-server's protocol (``ScimService``) with what Roster decides on top of it (DESIGN §10):

- the groups are fixed: creating, replacing or deleting one is 403 ``mutability``;
- a member created without ``active`` is active;
- a user's PATCH answers 200 with the user, as Okta and Entra ID expect (RFC 7644 §3.5.2
  allows it; scim2-server answers 204 unless ``attributes`` are asked for); a group's answers
  204, and changes the roles directly (``RosterScimHandler``, ``RosterStorage.patch_group``);
- what an identity provider sends of RFC 7643's User that Roster does not keep (``title``,
  ``phoneNumbers``, ``locale``, ``password``, ``name.middleName``, the enterprise extension…)
  is accepted and not kept, as RFC 7644 §3.3 lets a service provider do: Okta's and Entra
  ID's default mappings send them on every create and update. Anything else is still an
  invalid attribute;
- ``emails`` is read-only (it is ``userName``, the account's address): an update restating the
  address, as Entra ID sends ``emails[type eq "work"].value``, changes nothing; another address
  is 400 ``mutability``.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from flask import g
from scim2_models import Context, MutabilityException
from scim2_models import User as CoreUser
from scim2_server.handler import ScimHandler
from scim2_server.requests import ScimRequest
from scim2_server.responses import ScimResponse
from scim2_server.routing import Operation, Target
from scim2_server.service import ScimService

from webapp.scim.storage import FixedGroups

_GROUP_REFUSED = frozenset({Operation.create, Operation.replace, Operation.delete})
_EXTENSION = "urn:ietf:params:scim:schemas:extension:"
_CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:user:"
_KEPT = {"schemas", "id", "externalid", "meta", "username", "name", "displayname", "active"}
# RFC 7643 §4.1's attributes of a User that Roster does not keep, lower case. ``emails`` and
# ``groups`` are kept (read-only) and handled on their own.
_NOT_KEPT = (
    {(field.serialization_alias or name).lower() for name, field in CoreUser.model_fields.items()}
    - _KEPT
    - {"emails", "groups"}
)
# Of ``name``, Roster keeps givenName, familyName and formatted.
_NAME_KEPT = {"givenname", "familyname", "formatted"}
_NO_CHANGE = object()  # a PATCH left with no operation Roster keeps


def _attribute(path: str) -> str:
    """The top attribute a PATCH path or a body key names, lower case."""
    text = path.lower()
    if text.startswith(_CORE_USER):
        text = text[len(_CORE_USER) :]
    for mark in ("[", "."):
        text = text.split(mark, 1)[0]
    return text


def _ignored(key: str) -> bool:
    text = key.lower()
    if text.startswith(_CORE_USER):
        text = text[len(_CORE_USER) :]
    if text.startswith("name."):  # name.middleName, name.honorificPrefix...
        return text[len("name.") :] not in _NAME_KEPT
    return text.startswith(_EXTENSION) or _attribute(text) in _NOT_KEPT


def _addresses(value: Any) -> list[Any]:
    """The addresses an ``emails`` value names: a string, an entry, or a list of entries."""
    entries = value if isinstance(value, list) else [value]
    return [e.get("value") if isinstance(e, dict) else e for e in entries]


def _user_name(value: Any) -> Any:
    """A userName as Roster stores it (the address, trimmed and in lower case), so that a
    provider restating the spelling it created with is not taken for a change."""
    return value.strip().lower() if isinstance(value, str) else value


def _kept_user(payload: Any) -> Any:
    """A User body without what Roster does not keep (see the module's docstring)."""
    if not isinstance(payload, dict):
        return payload
    kept = {
        k: _user_name(v) if k.lower() == "username" else v
        for k, v in payload.items()
        if not _ignored(k)
    }
    for key, value in kept.items():
        if key.lower() == "name" and isinstance(value, dict):
            kept[key] = {k: v for k, v in value.items() if k.lower() in _NAME_KEPT}
    if isinstance(kept.get("schemas"), list):
        kept["schemas"] = [s for s in kept["schemas"] if not str(s).lower().startswith(_EXTENSION)]
    return kept


def _group_removals(body: bytes) -> bytes:
    """Entra ID removes group members as ``{"op": "Remove", "path": "members", "value":
    [{"value": id}]}``, which RFC 7644 §3.5.2.2 spells ``members[value eq "id"]`` (scim2-models
    refuses a remove with a value): each listed member becomes one remove of that form."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body  # scim2-server says what is wrong with it
    operations = payload.get("Operations") if isinstance(payload, dict) else None
    if not isinstance(operations, list):
        return body
    spelled = []
    for operation in operations:
        value = operation.get("value") if isinstance(operation, dict) else None
        if (
            isinstance(operation, dict)
            and str(operation.get("op", "")).lower() == "remove"
            and str(operation.get("path", "")).lower() == "members"
            and isinstance(value, list)
            and value
            and all(isinstance(v, dict) and isinstance(v.get("value"), str) for v in value)
        ):
            spelled.extend(
                {"op": "remove", "path": f"members[value eq {json.dumps(v['value'])}]"}
                for v in value
            )
        else:
            spelled.append(operation)
    return json.dumps(payload | {"Operations": spelled}).encode()


class RosterScimHandler(ScimHandler):
    """A group's PATCH goes to the storage's ``patch_group``, which changes roles directly."""

    def patch_resource(
        self, resource_type: Any, resource_id: str, patch_op: Any, conditions: Any
    ) -> Any:
        if resource_type.name == "Group":
            self.storage.patch_group(resource_id, patch_op)  # type: ignore[attr-defined]
            return None
        return super().patch_resource(resource_type, resource_id, patch_op, conditions)


class RosterScimService(ScimService):
    def authorize(self, request: ScimRequest, target: Target, resource_type: Any) -> None:
        if resource_type.name == "Group" and target.operation in _GROUP_REFUSED:
            raise FixedGroups()

    def patch_response(self, base_url: str, resource: Any, response_parameters: Any) -> Any:
        if resource is None:  # a group: 204, its members may be a whole organization
            return ScimResponse(HTTPStatus.NO_CONTENT)
        published = self.publish(base_url, resource)
        return self.resource_response(
            published, Context.RESOURCE_REPLACEMENT_RESPONSE, response_parameters
        )

    def read_creation(self, resource_type: Any, body: bytes, content_type: str | None) -> Any:
        if resource_type.name == "User":
            payload = _kept_user(self.decode_body(body, content_type))
            if isinstance(payload, dict) and payload.get("active") is None:
                payload["active"] = True
            body = json.dumps(payload).encode()
        return super().read_creation(resource_type, body, content_type)

    def read_replacement(self, resource_type: Any, body: bytes, content_type: str | None) -> Any:
        if resource_type.name == "User":
            body = json.dumps(_kept_user(self.decode_body(body, content_type))).encode()
        return super().read_replacement(resource_type, body, content_type)

    def read_patch(self, resource_type: Any, body: bytes, content_type: str | None) -> Any:
        g.scim_claimed_emails = []
        if resource_type.name == "Group":
            return super().read_patch(resource_type, _group_removals(body), content_type)
        if resource_type.name != "User":
            return super().read_patch(resource_type, body, content_type)
        payload = self.decode_body(body, content_type)
        operations = payload.get("Operations") if isinstance(payload, dict) else None
        if not isinstance(operations, list) or not operations:
            return super().read_patch(resource_type, body, content_type)  # its own error
        kept = []
        for operation in operations:
            if not isinstance(operation, dict):
                kept.append(operation)
                continue
            path, value = operation.get("path"), operation.get("value")
            adds = str(operation.get("op", "")).lower() in ("add", "replace")
            if isinstance(path, str) and _attribute(path) == "emails" and adds:
                g.scim_claimed_emails.extend(_addresses(value))
                continue
            if isinstance(path, str) and _ignored(path):
                continue
            if isinstance(path, str) and _attribute(path) == "username":
                operation = operation | {"value": _user_name(value)}
            if path is None and isinstance(value, dict):
                emails = next((v for k, v in value.items() if k.lower() == "emails"), None)
                if emails is not None:
                    g.scim_claimed_emails.extend(_addresses(emails))
                value = {k: v for k, v in _kept_user(value).items() if k.lower() != "emails"}
                if not value:
                    continue
                operation = operation | {"value": value}
            kept.append(operation)
        if not kept:
            self.ensure_patch_supported()
            return _NO_CHANGE
        return super().read_patch(
            resource_type, json.dumps(payload | {"Operations": kept}).encode(), content_type
        )

    def apply_patch(self, current: Any, patch_op: Any, conditions: Any) -> Any:
        email = getattr(current, "user_name", None)
        for claimed in getattr(g, "scim_claimed_emails", []):
            if not isinstance(claimed, str) or claimed.strip().lower() != email:
                raise MutabilityException(
                    detail="emails is the account's address (userName): SCIM cannot change it."
                )
        if patch_op is _NO_CHANGE:
            self.check_preconditions(current, "PATCH", conditions)
            return None
        return super().apply_patch(current, patch_op, conditions)
