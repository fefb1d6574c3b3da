"""Load on the local pipeline's verifier path, as ratios to a trivial 202 server measured in the same run.

Concurrent senders (threads, one requests.Session each) post signed webhooks
to two targets in turn, with the same requests: a trivial server answering 202
with the local front's HTTP write pattern, and the local pipeline (WAF/API
Gateway stand-ins, the real verifier, SendMessage to moto). It prints req/s
and p50/p99 latency of accepted requests and the ratios; what is measured and
why is in bench/load/harness.py.

Run from the repository root (``make bench`` runs it with the defaults):

    .venv/bin/python bench/load/run.py
    .venv/bin/python bench/load/run.py --senders 16 --duration 5 --rounds 5 --json load.json   # a longer run
    .venv/bin/python bench/load/run.py --requests 500 --config tests/soak/webhook-kit.soak.toml  # every scheme
    .venv/bin/python bench/load/run.py --requests 1000 --source stripe                           # one source
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "webhook-kit.toml")
    parser.add_argument("--senders", type=int, default=8, help="concurrent senders (threads, one HTTP session each)")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per target and round")
    parser.add_argument("--requests", type=int, default=None, help="requests per target and round instead")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the two targets alternate which goes first")
    parser.add_argument("--source", dest="sources", action="append", default=[], help="only this source (repeatable)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON to this file")
    args = parser.parse_args(argv)

    # Before the Lambda modules are imported: Powertools reads its log level at import.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    warnings.filterwarnings("ignore", message="Dimension .* has already been added")
    from rich.console import Console

    from bench.load.harness import LoadOptions, as_json, results_table, run_load
    from stacks.config import ConfigError, load_config

    console = Console(file=sys.stdout, highlight=False)
    try:
        config = load_config(args.config)
        options = LoadOptions(
            senders=args.senders,
            duration=args.duration,
            requests=args.requests,
            rounds=args.rounds,
            sources=tuple(args.sources),
        )
    except (ConfigError, ValueError) as error:
        console.print(f"error: {error}")
        return 1
    # The verifier's EMF metric lines (Powertools prints them) would bury the table.
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        result = run_load(config, options, phase=console.print)
    console.print(results_table(result))
    if args.json is not None:
        args.json.write_text(as_json(result) + "\n")
    for problem in result.problems():
        console.print(f"problem: {problem}")
    return 1 if result.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
