"""An inbound webhook as every scheme sees it: headers (repeats kept apart), body, URL, query."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property

# Headers this long are not parsed: no provider sends one, and parsing is linear.
MAX_HEADER_LENGTH = 8192
# A proxy that repeats a header repeats one value; a request whose repeated
# signature, timestamp or id headers make more combinations than this is refused.
MAX_HEADER_COMBINATIONS = 4


class Headers(Mapping[str, str]):
    """Request headers: lower-cased names, each with its distinct values in arrival order.

    As a mapping, a name gives its values joined with "," (RFC 9110 5.3), the
    name -> string shape forwarded to the queue; ``multi`` keeps the values
    apart, and identical repeats count once.
    """

    __slots__ = ("_values",)

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        seen: dict[str, dict[str, None]] = {}
        for name, value in pairs:
            seen.setdefault(name.lower(), {})[value] = None
        self._values = {name: tuple(values) for name, values in seen.items()}

    @property
    def multi(self) -> Mapping[str, tuple[str, ...]]:
        return self._values

    def __getitem__(self, name: str) -> str:
        return ",".join(self._values[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Headers({self._values!r})"


@dataclass(frozen=True)
class Request:
    """An inbound webhook as the verifier sees it.

    ``headers`` has lower-cased names: a ``Headers`` when a header may have
    been repeated, else any mapping of one value per name. ``url`` is the
    public URL the request was sent to, without the query string; ``query``
    holds the query parameters in order (API Gateway hands them over decoded).
    ``method`` is the HTTP method in capitals: webhooks are POSTs, and a GET or
    HEAD only ever reaches a handshake (``webhook_verify.handshakes``).
    """

    headers: Mapping[str, str]
    body: bytes
    url: str = ""
    query: tuple[tuple[str, str], ...] = ()
    method: str = "POST"

    def query_value(self, name: str) -> str | None:
        """The value of query parameter ``name`` if it is given exactly once."""
        values = [value for key, value in self.query if key == name]
        return values[0] if len(values) == 1 else None

    @cached_property
    def header_values(self) -> Mapping[str, tuple[str, ...]]:
        """Every distinct value of each header."""
        if isinstance(self.headers, Headers):
            return self.headers.multi
        return {name: (value,) for name, value in self.headers.items() if isinstance(value, str)}

    def header(self, name: str) -> str | None:
        """The value of ``name`` if it has exactly one (a header repeated with different values has none)."""
        values = self.header_values.get(name, ())
        if len(values) != 1 or len(values[0]) > MAX_HEADER_LENGTH:
            return None
        return values[0]

    def combinations(self, names: Iterable[str]) -> list[Request]:
        """This request once per combination of the values of ``names`` repeated with
        different values, each with one value per such header; none above the cap."""
        values = self.header_values
        repeated = [name for name in dict.fromkeys(names) if len(values.get(name, ())) > 1]
        if not repeated:
            return [self]
        if math.prod(len(values[name]) for name in repeated) > MAX_HEADER_COMBINATIONS:
            return []
        fixed = [(name, value) for name, all_values in values.items() if name not in repeated for value in all_values]
        return [
            replace(self, headers=Headers([*fixed, *zip(repeated, chosen, strict=True)]))
            for chosen in itertools.product(*(values[name] for name in repeated))
        ]
