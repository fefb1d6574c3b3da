"""The base every payload model shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Payload(BaseModel):
    """A provider's JSON body, or a part of it: read-only, unknown fields ignored.

    Ignoring unknown fields keeps a model valid when the provider adds fields.
    Frozen, because a handler reads the payload and should not edit what the
    provider sent.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")
