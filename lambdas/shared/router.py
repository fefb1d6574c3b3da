"""Maps (source, event type) to the user's handler.

Patterns are fnmatch-style and case-sensitive: ``*`` (any run of characters),
``?`` (one character), ``[abc]`` (one of). When several routes match, the most
specific wins, decided in this order:

1. the source pattern: an exact name beats any wildcard pattern, and between
   two wildcard patterns the one with more literal characters wins;
2. then the event-type pattern, by the same rule;
3. then the route registered first.

So for ``("stripe", "invoice.paid")``: ``on("stripe", "invoice.paid")`` beats
``on("stripe", "invoice.*")`` beats ``on("stripe", "*")`` beats
``on("*", "invoice.paid")``: a handler written for one source is always
preferred to one written for every source.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TypeVar

from shared.event import WebhookEvent

Handler = Callable[[WebhookEvent], object]
H = TypeVar("H", bound=Handler)

_WILDCARD_TOKEN = re.compile(r"\*|\?|\[[^\]]+\]")


def _specificity(pattern: str) -> tuple[bool, int]:
    """(has no wildcard, number of literal characters): greater is more specific."""
    literal = _WILDCARD_TOKEN.sub("", pattern)
    return literal == pattern, len(literal)


@dataclass(frozen=True)
class Route:
    source: str
    event_type: str
    handler: Handler
    order: int

    def matches(self, source: str, event_type: str) -> bool:
        return fnmatchcase(source, self.source) and fnmatchcase(event_type, self.event_type)

    def rank(self) -> tuple[tuple[bool, int], tuple[bool, int], int]:
        return _specificity(self.source), _specificity(self.event_type), -self.order


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def on(self, source: str, event_type: str = "*") -> Callable[[H], H]:
        """Register the decorated function for webhooks of ``source`` and ``event_type``.

        Registering the same pair of patterns twice is a mistake (the second
        could never run), so it raises ValueError at import time.
        """
        if not source or not event_type:
            raise ValueError("source and event_type patterns must not be empty (use '*' to match anything)")

        def register(handler: H) -> H:
            for route in self._routes:
                if (route.source, route.event_type) == (source, event_type):
                    raise ValueError(
                        f"a handler for ({source!r}, {event_type!r}) is already registered: "
                        f"{route.handler.__module__}.{route.handler.__qualname__}"
                    )
            self._routes.append(Route(source, event_type, handler, len(self._routes)))
            return handler

        return register

    def resolve(self, source: str, event_type: str) -> Handler | None:
        """The handler for this webhook, or None when no route matches."""
        candidates = [route for route in self._routes if route.matches(source, event_type)]
        if not candidates:
            return None
        return max(candidates, key=Route.rank).handler

    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(self._routes)


# The one router the processor dispatches with; lambdas/handlers.py registers on it.
router = Router()
