"""What the library costs a cold start, as ratios measured side by side in one run.

In fresh interpreters, each variant N times, interleaved (forwards, then backwards)
so that drift hits them alike, with byte code cached beforehand (an untimed first
round, a private PYTHONPYCACHEPREFIX), ``lambdas/`` on the path:

1. ``pass``: the interpreter alone (and, like every variant, the few lines that time it);
2. ``import webhook_verify``: the package (``verify`` loads on first use);
3. ``from webhook_verify import verify``: the entry point, the check and the scheme registry;
4. the same and the first ``verify`` of a GitHub delivery signed here: the
   catalogue read, the GitHub scheme loaded, HMAC-SHA256 over 1 KB;
5. ``import verifier.handler``: the kit's Lambda verifier (Powertools, boto3), for scale.

Each child times its own statement (wall and CPU, after only ``sys`` and ``time``
are imported), and this process times the whole child, start to exit (wall, and CPU
from the children's rusage): the process figures show what a platform's cold start
pays, the statement figures what the library adds to it. Medians of N.

    .venv/bin/python bench/library/run.py
    .venv/bin/python bench/library/run.py --cold-runs 41 --json library.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LAMBDAS = ROOT / "lambdas"
sys.path.insert(0, str(LAMBDAS))

# The fresh-interpreter harness of bench/scale: a child's environment, and a child timed from here.
_spec = importlib.util.spec_from_file_location("scale_bench", ROOT / "bench" / "scale" / "run.py")
assert _spec is not None and _spec.loader is not None
scale_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scale_bench)

from webhook_verify.schemes import get_scheme  # noqa: E402 - lambdas/ is on the path from here on

GITHUB_SECRET = "bench-secret"  # noqa: S105 - signs the bench's own delivery
BODY = json.dumps({"ref": "refs/heads/main", "commits": [{"message": "x" * 900}]}).encode()

# Times argv[1] (a statement) in this fresh interpreter; the GitHub delivery comes from the environment.
_CHILD = """
import sys, time
start = (time.perf_counter(), time.process_time())
exec(sys.argv[1])
end = (time.perf_counter(), time.process_time())
import json
print("COLD " + json.dumps({"wall": end[0] - start[0], "cpu": end[1] - start[1], "ok": globals().get("ok", True)}))
"""

_FIRST_VERIFY = """
from webhook_verify import verify
import os
ok = verify(
    provider="github",
    url="https://hooks.example.com/webhooks/github",
    headers={os.environ["BENCH_SIGNATURE_HEADER"]: os.environ["BENCH_SIGNATURE"], "X-GitHub-Delivery": "bench-1",
             "X-GitHub-Event": "push", "Content-Type": "application/json"},
    body=os.environ["BENCH_BODY"].encode(),
    secrets=[os.environ["BENCH_SECRET"]],
).accepted
"""

VARIANTS = {
    "pass (the interpreter alone)": "pass",
    "import webhook_verify": "import webhook_verify",
    "from webhook_verify import verify": "from webhook_verify import verify",
    "... + first verify (GitHub, 1 KB)": _FIRST_VERIFY,
    "import verifier.handler (Lambda)": "import verifier.handler",
}
BASELINE, FIRST_VERIFY, HANDLER = (
    "pass (the interpreter alone)",
    "... + first verify (GitHub, 1 KB)",
    "import verifier.handler (Lambda)",
)


def measure(runs: int) -> dict[str, dict[str, float]]:
    ((header, signature),) = (
        get_scheme("github").sign(BODY, GITHUB_SECRET, timestamp=int(time.time()), options={}).items()
    )
    own = {
        "BENCH_SIGNATURE_HEADER": header,
        "BENCH_SIGNATURE": signature,
        "BENCH_BODY": BODY.decode(),
        "BENCH_SECRET": GITHUB_SECRET,
    }
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="webhook-kit-bench-library-") as pycache:
        env = scale_bench.child_environment(pycache, [LAMBDAS], own)
        order = list(VARIANTS)
        for round_ in range(runs + 1):  # round 0 fills the byte-code cache, untimed
            for name in order if round_ % 2 else reversed(order):
                inside, wall, cpu = scale_bench.run_child([sys.executable, "-c", _CHILD, VARIANTS[name]], env, "COLD")
                if not inside["ok"]:
                    raise SystemExit(f"{name}: the GitHub delivery was not accepted")
                if round_:
                    samples[name].append(
                        {"wall": inside["wall"], "cpu": inside["cpu"], "process_wall": wall, "process_cpu": cpu}
                    )
    return {
        name: {key: statistics.median(run[key] for run in runs_) for key in runs_[0]} for name, runs_ in samples.items()
    }


def report(medians: dict[str, dict[str, float]], runs: int) -> dict[str, float]:
    print(f"Python {sys.version.split()[0]} on {os.cpu_count()} CPUs; median of {runs} fresh interpreters each, ms")
    print(f"{'':<38} {'statement':>17}  {'whole process':>17}  {'process cpu':>12}")
    print(f"{'':<38} {'wall':>8} {'cpu':>8}  {'wall':>8} {'cpu':>8}  {'/ pass':>12}")
    base = medians[BASELINE]["process_cpu"]
    for name, m in medians.items():
        print(
            f"{name:<38} {m['wall'] * 1e3:>8.1f} {m['cpu'] * 1e3:>8.1f}  {m['process_wall'] * 1e3:>8.1f} "
            f"{m['process_cpu'] * 1e3:>8.1f}  {m['process_cpu'] / base:>11.2f}x"
        )
    ratios = {
        "first verify / pass (process cpu)": medians[FIRST_VERIFY]["process_cpu"] / base,
        "handler import / pass (process cpu)": medians[HANDLER]["process_cpu"] / base,
        "first verify / handler import (statement cpu)": medians[FIRST_VERIFY]["cpu"] / medians[HANDLER]["cpu"],
        "first verify / handler import (process cpu)": medians[FIRST_VERIFY]["process_cpu"]
        / medians[HANDLER]["process_cpu"],
    }
    for label, value in ratios.items():
        print(f"{label:<52} {value:>6.2f}x")
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold-runs", type=int, default=15, help="fresh interpreters per variant (median reported)")
    parser.add_argument("--json", type=Path, default=None, help="also write the medians and ratios to this file")
    args = parser.parse_args()
    medians = measure(args.cold_runs)
    ratios = report(medians, args.cold_runs)
    if args.json is not None:
        args.json.write_text(json.dumps({"medians": medians, "ratios": ratios}, indent=2) + "\n")


if __name__ == "__main__":
    main()
