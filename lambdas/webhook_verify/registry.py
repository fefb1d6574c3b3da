"""A registry whose entries are imported the first time they are asked for.

The verifier serves a handful of sources but knows dozens of schemes and
handshakes; importing every module at each cold start cost an HMAC-only
verifier several per cent of its cold start (bench/cryptography). Each entry
names its module and attribute, and is built on first use: a verifier imports
only the modules of the schemes and handshakes its sources use. Iterating the
registry (tests, the catalogue, synth) imports them all.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, Generic, Protocol, TypeVar


class _Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=_Named)

# module, attribute, and the keyword arguments to call it with (None: the attribute is the entry itself).
Entry = tuple[str, str, Mapping[str, Any] | None]


class LazyRegistry(MutableMapping[str, T], Generic[T]):
    """Entries by name, each imported and built once, on first ``[name]``.

    ``in`` and iteration over the names import nothing; ``[name] = value``
    (tests) adds or replaces an entry that is already built.
    """

    def __init__(self, entries: Mapping[str, Entry]) -> None:
        self._entries = dict(entries)
        self._built: dict[str, T] = {}

    def __getitem__(self, name: str) -> T:
        built = self._built.get(name)
        if built is not None:
            return built
        module, attribute, arguments = self._entries[name]  # KeyError: an unknown name
        found = getattr(importlib.import_module(module), attribute)
        value: T = found if arguments is None else found(**arguments)
        if value.name != name:
            raise RuntimeError(f"registry entry {name!r} built {value.name!r} ({module}.{attribute})")
        self._built[name] = value
        return value

    def __setitem__(self, name: str, value: T) -> None:
        self._built[name] = value

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self._entries.pop(name, None)
        self._built.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._built

    def __iter__(self) -> Iterator[str]:
        yield from self._entries
        yield from (name for name in self._built if name not in self._entries)

    def __len__(self) -> int:
        return len(self._entries) + sum(1 for name in self._built if name not in self._entries)

    def loaded(self) -> frozenset[str]:
        """The names built so far (what a process has imported)."""
        return frozenset(self._built)
