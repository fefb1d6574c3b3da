"""Slack Events API: the ``event_callback`` envelope.

Slack signs the whole body. The outer ``type`` is a ``Literal``, so a
``url_verification`` body or another envelope type fails validation.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict

from payloads.base import Payload


class InnerEvent(Payload):
    """The ``event`` of an envelope, whose shape depends on its ``type``.

    Written from https://docs.slack.dev/reference/objects/event-object. Only
    ``type`` is modelled; the other fields are kept, not dropped, and read from
    ``model_extra`` (``event.model_extra["channel"]``). Subclass it to type the
    fields of one inner event.
    """

    model_config = ConfigDict(extra="allow")

    type: str


class EventCallback(Payload):
    """The outer envelope of every Events API delivery.

    Written from https://docs.slack.dev/apis/events-api/ (the callback fields)
    and https://docs.slack.dev/reference/objects/event-object.
    """

    type: Literal["event_callback"]
    team_id: str
    api_app_id: str
    event_id: str
    event_time: int
    event: InnerEvent
