"""Maps (source, event type) to the user's handler.

Patterns are fnmatch-style and case-sensitive: ``*`` (any run of characters),
``?`` (one character), ``[abc]`` (one of). When several routes match, the most
specific wins, decided in this order:

1. the source pattern: an exact name beats any wildcard pattern, and between
   two wildcard patterns the one with more literal characters wins;
2. then the event-type pattern, by the same rule;
3. then the API-version pattern (``api_version=``, default ``*``), by the same rule;
4. then the route registered first.

So for ``("stripe", "invoice.paid")``: ``on("stripe", "invoice.paid")`` beats
``on("stripe", "invoice.*")`` beats ``on("stripe", "*")`` beats
``on("*", "invoice.paid")``: a handler written for one source is always
preferred to one written for every source.

A route may also declare its payload: ``model=`` (a pydantic model, or any type
pydantic validates) or ``schema=`` (a JSON Schema). The handler is then called
with the event and the validated payload, and a body that does not match goes
to the dead-letter queue without running it (``shared.validation``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, TypeVar, overload

from shared.event import WebhookEvent
from shared.validation import ModelValidator, SchemaValidator

Handler = Callable[[WebhookEvent], object]
H = TypeVar("H", bound=Handler)
M = TypeVar("M")
# A handler of a route with a model or schema: the event, then its validated payload.
PayloadHandler = Callable[[WebhookEvent, Any], object]
P = TypeVar("P", bound=PayloadHandler)

_WILDCARD_TOKEN = re.compile(r"\*|\?|\[[^\]]+\]")
Specificity = tuple[bool, int]


def _specificity(pattern: str) -> Specificity:
    """(has no wildcard, number of literal characters): greater is more specific."""
    literal = _WILDCARD_TOKEN.sub("", pattern)
    return literal == pattern, len(literal)


@dataclass(frozen=True)
class Route:
    source: str
    event_type: str
    handler: Callable[..., object]
    order: int
    api_version: str = "*"
    # Validates the payload before the handler runs (shared.validation); None: the handler gets the event only.
    validator: ModelValidator | SchemaValidator | None = None

    def matches(self, source: str, event_type: str, api_version: str = "") -> bool:
        return (
            fnmatchcase(source, self.source)
            and fnmatchcase(event_type, self.event_type)
            and fnmatchcase(api_version, self.api_version)
        )

    def rank(self) -> tuple[Specificity, Specificity, Specificity, int]:
        return _specificity(self.source), _specificity(self.event_type), _specificity(self.api_version), -self.order

    def invoke(self, event: WebhookEvent) -> object:
        """Run the handler: with the validated payload when the route declares one (PayloadValidationError if not)."""
        if self.validator is None:
            return self.handler(event)
        return self.handler(event, self.validator(event))


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    @overload
    def on(self, source: str, event_type: str = "*", *, api_version: str = "*") -> Callable[[H], H]: ...

    @overload
    def on(
        self, source: str, event_type: str = "*", *, api_version: str = "*", model: type[M]
    ) -> Callable[[Callable[[WebhookEvent, M], object]], Callable[[WebhookEvent, M], object]]: ...

    @overload
    def on(
        self, source: str, event_type: str = "*", *, api_version: str = "*", schema: Mapping[str, Any]
    ) -> Callable[[P], P]: ...

    def on(
        self,
        source: str,
        event_type: str = "*",
        *,
        api_version: str = "*",
        model: Any = None,
        schema: Mapping[str, Any] | None = None,
    ) -> Callable[[Any], Any]:
        """Register the decorated function for webhooks of ``source``, ``event_type`` and ``api_version``.

        ``api_version`` matches the version the delivery states (``WebhookEvent.api_version``;
        an event that states none has the empty version, which only ``*`` matches).
        With ``model`` or ``schema`` the function is called as ``handler(event, payload)``.
        Registering the same patterns twice is a mistake (the second could never
        run), so it raises ValueError at import time, as does a schema that does
        not compile.
        """
        if not source or not event_type or not api_version:
            raise ValueError("source, event_type and api_version patterns must not be empty (use '*' for anything)")
        if model is not None and schema is not None:
            raise ValueError("give a route model= or schema=, not both")
        validator: ModelValidator | SchemaValidator | None = None
        if model is not None:
            validator = ModelValidator(model)
        elif schema is not None:
            validator = SchemaValidator(schema)

        def register(handler: Callable[..., object]) -> Callable[..., object]:
            for route in self._routes:
                if (route.source, route.event_type, route.api_version) == (source, event_type, api_version):
                    raise ValueError(
                        f"a handler for ({source!r}, {event_type!r}, api_version={api_version!r}) is already "
                        f"registered: {route.handler.__module__}.{route.handler.__qualname__}"
                    )
            self._routes.append(Route(source, event_type, handler, len(self._routes), api_version, validator))
            return handler

        return register

    def route(self, source: str, event_type: str, api_version: str | None = None) -> Route | None:
        """The most specific route for this webhook, or None when none matches."""
        version = api_version or ""
        candidates = [route for route in self._routes if route.matches(source, event_type, version)]
        if not candidates:
            return None
        return max(candidates, key=Route.rank)

    def resolve(self, source: str, event_type: str, api_version: str | None = None) -> Callable[..., object] | None:
        """The handler for this webhook, or None when no route matches."""
        found = self.route(source, event_type, api_version)
        return found.handler if found is not None else None

    def versioned(self, source: str) -> bool:
        """Whether any route that can match ``source`` names an API version (so the version must be read)."""
        return any(route.api_version != "*" and fnmatchcase(source, route.source) for route in self._routes)

    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(self._routes)


# The one router the processor dispatches with; lambdas/handlers.py registers on it.
router = Router()
