"""The API's own answer shapes: what no service returns. Everything else is written once.

Requests are parsed with ``webapp.inputs`` (shared with the dashboard); answers are the service
dataclasses themselves (``Account``, ``Member``, ``MemberPage``, ``Metric``), serialized by
pydantic. Both also make the OpenAPI document (``api/openapi.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class LeftOrganization(BaseModel):
    organization_id: int
    user_id: int
    left: Literal[True]


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, ``application/problem+json``."""

    type: str = Field(examples=["about:blank"])
    title: str = Field(examples=["Conflict"])
    status: int = Field(examples=[409])
    detail: str
    code: str = Field(description="Stable and machine-readable.", examples=["last_owner"])
    errors: list[FieldProblem] | None = Field(
        default=None, description="Field errors, for 400 answers."
    )
    user_ids: list[int] | None = Field(default=None, description="The offending user ids.")
    emails: list[str] | None = Field(default=None, description="The offending email addresses.")
