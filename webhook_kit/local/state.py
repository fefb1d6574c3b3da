"""Where a running local pipeline can be found: a small file in the working directory while it runs.

``python -m webhook_kit local`` writes its URLs to ``.webhook-kit/local.json``
and removes the file when it stops; ``send`` reads it when it is given
neither ``--url`` nor ``--port``, so it finds a pipeline started on another port.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_FILE = Path(".webhook-kit") / "local.json"


@dataclass(frozen=True)
class RunningPipeline:
    url: str  # the webhook endpoint's base URL, e.g. http://127.0.0.1:8081
    aws_endpoint: str
    pid: int


def write_state(running: RunningPipeline, path: Path = STATE_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(running)) + "\n")


def remove_state(path: Path = STATE_FILE) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def read_state(path: Path = STATE_FILE) -> RunningPipeline | None:
    """The pipeline that wrote ``path``, if the file is readable and its process still runs."""
    try:
        running = RunningPipeline(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    try:
        os.kill(running.pid, 0)
    except ProcessLookupError:
        return None  # left behind by a pipeline that was killed
    except PermissionError:
        pass  # another user's process: it runs
    return running
