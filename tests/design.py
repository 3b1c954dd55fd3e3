"""DESIGN §3, transcribed by hand: the contract the permission tests hold the code to.

Not derived from ``webapp.services.permissions``, which is what these tables test.
"""

from __future__ import annotations

from webapp.models import Role
from webapp.services.permissions import Action

OW, AD, CO, AC, VI = Role.OWNER, Role.ADMIN, Role.CONTRIBUTOR, Role.ACCOUNTING, Role.VIEWER

# Which roles may take each action.
DESIGN_TABLE: dict[Action, set[Role]] = {
    Action.VIEW: {OW, AD, CO, AC, VI},
    Action.VIEW_ROLE: {OW, AD, CO, AC, VI},
    Action.VIEW_SUMMARY: {OW, AD, AC},
    Action.RENAME: {OW, AD},
    Action.DELETE: {OW},
    Action.MANAGE_MEMBERS: {OW, AD},
    Action.MANAGE_OWNERS: {OW},
    Action.VIEW_AUDIT: {OW, AD},
    Action.LEAVE: {OW, AD, CO, AC, VI},
    Action.MANAGE_TOKENS: {OW, AD},  # DESIGN §10: service tokens
}
# What a suspended member may still do.
DESIGN_SUSPENDED = {Action.VIEW_ROLE, Action.LEAVE}
