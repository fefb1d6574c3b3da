"""Handler reload: watch the Lambda code and retire the workers that run an old copy of it.

Polls file modification times (about once a second, no dependency). When a
file changes, the pools of the functions that import it are recycled
(``WorkerPool.recycle``): idle workers stop now, busy ones after their
current invocation, and the next invocation starts a worker that imports the
code anew. moto's state (queues, dead letters, idempotency records) is not
touched, so a queued message or a dead letter survives the reload.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

# The size and modification time of every watched file.
Snapshot = dict[Path, tuple[int, int]]
INTERVAL_SECONDS = 1.0


def module_paths(modules: Iterable[str]) -> list[Path]:
    """Where ``modules`` live, without importing them here: a package's directory, a module's file."""
    paths = []
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        paths.append(origin.parent if spec.submodule_search_locations else origin)
    return paths


def snapshot(roots: Iterable[Path]) -> Snapshot:
    found: Snapshot = {}
    for root in roots:
        files = root.rglob("*.py") if root.is_dir() else [root]
        for path in files:
            try:
                stat = path.stat()
            except OSError:
                continue  # removed while we looked: the next poll sees it gone
            found[path] = (stat.st_size, stat.st_mtime_ns)
    return found


def changed(before: Snapshot, after: Snapshot) -> list[Path]:
    return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))


class CodeWatcher:
    """Calls ``on_change`` with the changed files whenever a ``*.py`` under ``roots`` changes."""

    def __init__(self, roots: Sequence[Path], on_change: Callable[[list[Path]], None], stop: threading.Event) -> None:
        self._roots = list(roots)
        self._on_change = on_change
        self._stop = stop
        self._last = snapshot(self._roots)
        self._thread = threading.Thread(target=self._watch, name="webhook-kit-reload", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _watch(self) -> None:
        while not self._stop.wait(INTERVAL_SECONDS):
            current = snapshot(self._roots)
            paths = changed(self._last, current)
            self._last = current
            if paths:
                self._on_change(paths)
