"""Scale: synth time and the verifier's cold start and per-request cost, a few sources against many, as ratios.

Both sizes are ``tests/support/scale.py``'s configuration (every scheme in
turn, every other source allow-listed), measured side by side in one run,
interleaved (small, large, large, small, ...), every sample in a fresh
interpreter; medians, and the ratio large / small.

1. Synth: the stack as app.py builds it (``WebhookKitStack``, cdk-nag's
   ``AwsSolutionsChecks`` aspect, cdk.json's context) into a temporary outdir
   (bench/scale/synth_child.py). Also what it wrote: templates, and the root
   template's resources and size.
2. Verifier: the environment a deployed verifier gets (the source table in SSM
   parameters, packed as a deployment packs them), served by moto's server in
   a process of its own as ``make local`` runs it. Per sample: ``import
   verifier.handler``, ``runtime()`` (reads the parameters, validates every
   source), the first invocation with a validly signed webhook, then warm
   invocations in the same process (bench/scale/cold_child.py).

Run from the repository root (``make bench-scale`` runs it with the defaults):

    .venv/bin/python bench/scale/run.py
    .venv/bin/python bench/scale/run.py --synth-runs 5 --cold-runs 15 --warm-calls 200   # a longer run
    .venv/bin/python bench/scale/run.py --no-synth                                       # the verifier alone
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]

Samples = dict[int, list[dict[str, Any]]]
# What the children must not inherit from this shell: its AWS and Powertools settings (they get the
# verifier's own), and no byte code writing (each run fills a private cache, see private_pycache).
_INHERITED_NOT = ("AWS_", "POWERTOOLS_", "WEBHOOK_", "CLAIM_CHECK_", "MAX_BODY_", "SECRETS_")
_DROPPED = ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "PYTHONPYCACHEPREFIX")


def child_environment(pycache: str, pythonpath: Sequence[Path], own: Mapping[str, str]) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_INHERITED_NOT) and name not in _DROPPED
    }
    # Byte code of every module in a private cache, filled by an untimed first round, so no timed
    # run compiles anything, whatever PYTHONDONTWRITEBYTECODE says and without writing into the tree.
    env["PYTHONPYCACHEPREFIX"] = pycache
    env["PYTHONPATH"] = os.pathsep.join(str(path) for path in pythonpath)
    return {**env, **own}


def run_child(command: Sequence[str], env: Mapping[str, str], prefix: str) -> tuple[dict[str, Any], float, float]:
    """The child's ``PREFIX {json}`` line, its wall time and the CPU time of it and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(  # noqa: S603 - our own interpreter and script
        command, env=env, capture_output=True, text=True, check=False, cwd=ROOT
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command[1:])} failed:\n{completed.stderr[-4000:]}")
    line = next((line for line in completed.stdout.splitlines() if line.startswith(prefix + " ")), None)
    if line is None:
        raise SystemExit(f"{' '.join(command[1:])} printed no {prefix} line:\n{completed.stderr[-4000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(line[len(prefix) + 1 :]), wall, cpu


def rounds(sizes: tuple[int, int], runs: int) -> Iterator[tuple[bool, int]]:
    """(timed, size): an untimed warm-up of the small size, then ``runs`` of each, alternating which goes first."""
    small, large = sizes
    yield False, small
    for round_ in range(runs):
        yield from ((True, size) for size in ((small, large) if round_ % 2 == 0 else (large, small)))


def medians(samples: list[dict[str, Any]], keys: Sequence[str]) -> dict[str, float]:
    def value(sample: dict[str, Any], key: str) -> float:
        node: Any = sample
        for part in key.split("."):  # "warm.cpu": sample["warm"]["cpu"]
            node = node[part]
        return float(node)

    return {key: statistics.median(value(sample, key) for sample in samples) for key in keys}


# ---- synth

SYNTH_KEYS = (
    "import",
    "build",
    "synth",
    "process_wall",
    "tree_cpu",
    "python_cpu",
    "templates",
    "root_resources",
    "root_bytes",
    "all_template_bytes",
)


def synth_samples(sizes: tuple[int, int], runs: int, pycache: str) -> Samples:
    env = child_environment(pycache, [ROOT, ROOT / "lambdas"], {})
    samples: Samples = {size: [] for size in sizes}
    for timed, size in rounds(sizes, runs):
        with tempfile.TemporaryDirectory(prefix="webhook-kit-bench-synth-") as outdir:
            command = [sys.executable, str(HERE / "synth_child.py"), str(size), outdir]
            result, wall, cpu = run_child(command, env, "SYNTH")
        if result["sources"] != size:
            raise SystemExit(f"synth of {size} sources built {result['sources']}")
        print(f"  synth {size:>3} sources: {wall:6.1f} s{'' if timed else ' (warm-up, not counted)'}", flush=True)
        if timed:
            samples[size].append({**result, "process_wall": wall, "tree_cpu": cpu})
    return samples


def print_synth(sizes: tuple[int, int], synth: dict[int, dict[str, float]], runs: int) -> None:
    small, large = sizes
    print(f"\nSynth as app.py (cdk-nag aspect, cdk.json context), fresh interpreter, median of {runs} runs each")
    print(f"{'':<50} {f'{small} sources':>12} {f'{large} sources':>12} {'ratio':>8}")
    rows = [
        ("import aws_cdk, cdk_nag, stacks (s)", "import", 1.0, "{:.2f}"),
        ("build: config, constructs (s)", "build", 1.0, "{:.2f}"),
        ("app.synth(): aspects, cdk-nag, templates, assets (s)", "synth", 1.0, "{:.2f}"),
        ("whole process, start to exit (s)", "process_wall", 1.0, "{:.2f}"),
        ("CPU of the process tree, Python + node (s)", "tree_cpu", 1.0, "{:.2f}"),
        ("CPU of the Python process alone (s)", "python_cpu", 1.0, "{:.2f}"),
        ("templates written", "templates", 1.0, "{:.0f}"),
        ("root template: resources", "root_resources", 1.0, "{:.0f}"),
        ("root template: KB", "root_bytes", 1 / 1024, "{:.1f}"),
        ("all templates: KB", "all_template_bytes", 1 / 1024, "{:.1f}"),
    ]
    for label, key, scale, form in rows:
        a, b = synth[small][key] * scale, synth[large][key] * scale
        print(f"{label:<50} {form.format(a):>12} {form.format(b):>12} {ratio(b, a):>7.2f}x")


# ---- verifier


COLD_PHASES = ("import", "setup", "first_call", "total", "warm")


def probe_sources(configs: Mapping[int, Any], sizes: tuple[int, int]) -> dict[int, str]:
    """The source each table's webhooks go to: the small table's last source, and in the large table
    the last source of that scheme, so that both sides verify with the same scheme."""
    small, large = sizes
    last = configs[small].sources[-1]
    deepest = [source.name for source in configs[large].sources if source.scheme == last.scheme][-1]
    return {small: last.name, large: deepest}


def signed_event(config: Any, name: str, secret: str) -> dict[str, Any]:
    """API Gateway's event for a webhook ``name``'s provider signed just now (webhook_kit send's signing)."""
    from shared.contract import WEBHOOK_PATH_PREFIX
    from webhook_kit.local.front import api_gateway_event
    from webhook_kit.send import build

    path = f"/{WEBHOOK_PATH_PREFIX}/{name}"
    webhook = build(config.source(name), secret=secret, url=f"https://hooks.example.com{path}")
    return api_gateway_event(
        method="POST",
        path=path,
        query="",
        headers=list(webhook.headers.items()),
        body=webhook.body,
        source=name,
        source_ip="127.0.0.1",
        stage=config.stage_name,
    )


def cold_samples(
    sizes: tuple[int, int], runs: int, warm_calls: int, pycache: str
) -> tuple[Samples, dict[int, dict[str, Any]]]:
    """Samples per size, and per size its source table: parameters, their bytes, the probed source."""
    from shared.contract import ENV_SOURCES_PARAMETERS, SSM_GET_PARAMETERS_MAX_NAMES
    from stacks.config import parse_config
    from tests.support.scale import scale_config_data
    from webhook_kit.local.environments import verifier_environment
    from webhook_kit.local.resources import BUCKET_NAME, TABLE_NAME, LocalAws, local_client, provision

    large = sizes[1]
    # A stack name each, so that both tables live side by side in one moto (parameter names hold it).
    configs = {
        size: parse_config({**scale_config_data(size), "stack_name": f"WebhookKitScale{size}"}) for size in sizes
    }
    probes = probe_sources(configs, sizes)
    samples: Samples = {size: [] for size in sizes}
    tables: dict[int, dict[str, Any]] = {}
    aws = LocalAws("127.0.0.1", 0)
    try:
        # The small configuration's sources are the large one's first ones: its queues and secrets serve both.
        sources = provision(
            configs[large], aws.endpoint, visibility_scale=1.0, table_name=TABLE_NAME, bucket_name=BUCKET_NAME
        )
        ssm = local_client("ssm", aws.endpoint)
        envs, tables_read = {}, {}
        for size in sizes:
            env = verifier_environment(configs[size], sources, endpoint=aws.endpoint, bucket_name=BUCKET_NAME)
            # Powertools writes the EMF metrics as in Lambda; only tracing stays off (opt-in, and not simulated).
            env.pop("POWERTOOLS_METRICS_DISABLED", None)
            envs[size] = child_environment(pycache, [ROOT / "lambdas"], env)
            names = env[ENV_SOURCES_PARAMETERS].split(",")
            values: dict[str, str] = {}
            for at in range(0, len(names), SSM_GET_PARAMETERS_MAX_NAMES):
                answer = ssm.get_parameters(Names=names[at : at + SSM_GET_PARAMETERS_MAX_NAMES])
                values.update({parameter["Name"]: parameter["Value"] for parameter in answer["Parameters"]})
            tables_read[size] = (env, values)
            tables[size] = {
                "parameters": len(names),
                "get_parameters_calls": math.ceil(len(names) / SSM_GET_PARAMETERS_MAX_NAMES),
                "bytes": sum(len(value.encode()) for value in values.values()),
                "probe": f"{probes[size]} ({configs[size].source(probes[size]).scheme})",
            }
        for size, cost in table_parse_cost(tables_read, runs).items():
            tables[size]["parse_us"] = cost
        with tempfile.TemporaryDirectory(prefix="webhook-kit-bench-event-") as folder:
            event_file = Path(folder) / "event.json"
            # Nothing drains the probes' queues (moto allows one PurgeQueue a minute): interleaved, each
            # side's queue grows by the same messages in step, so moto's state weighs on both alike.
            for timed, size in rounds(sizes, runs):
                name = probes[size]
                # Signed just before each sample: well inside the scheme's timestamp window.
                event_file.write_text(json.dumps(signed_event(configs[size], name, sources[name].secret)))
                command = [sys.executable, str(HERE / "cold_child.py"), str(event_file), str(warm_calls)]
                result, _, _ = run_child(command, envs[size], "COLD")
                if result["sources"] != size:
                    raise SystemExit(f"the verifier of {size} sources loaded {result['sources']}")
                if timed:
                    total = {
                        clock: sum(result[phase][clock] for phase in ("import", "setup", "first_call"))
                        for clock in ("wall", "cpu")
                    }
                    samples[size].append({**result, "total": total})
    finally:
        aws.stop()
    return samples, tables


def table_parse_cost(tables: Mapping[int, tuple[Mapping[str, str], Mapping[str, str]]], runs: int) -> dict[int, float]:
    """CPU µs of ``load_config`` over each table's parameter values held in memory: the part of
    ``runtime()`` that grows with the sources (JSON of the table, every source validated), without AWS."""
    from verifier.config import load_config

    def reader(values: Mapping[str, str]) -> Callable[[Sequence[str]], Mapping[str, str]]:
        return lambda names: values

    calls = 20
    samples: dict[int, list[float]] = {size: [] for size in tables}
    for _ in range(runs):
        for size, (env, values) in tables.items():
            read = reader(values)
            start = time.process_time()
            for _ in range(calls):
                config = load_config(env, read_parameters=read)
            samples[size].append((time.process_time() - start) / calls * 1e6)
            if len(config.sources) != size:
                raise SystemExit(f"load_config read {len(config.sources)} of {size} sources")
    return {size: statistics.median(costs) for size, costs in samples.items()}


def print_cold(
    sizes: tuple[int, int], cold: dict[int, dict[str, float]], tables: dict[int, dict[str, Any]], args: Any
) -> None:
    small, large = sizes
    print(
        f"\nVerifier cold start, fresh interpreter, source table in SSM parameters on moto's server"
        f" (median of {args.cold_runs} runs each, ms)"
    )
    print(f"{'':<48} {f'{small} sources':>17} {f'{large} sources':>17} {'ratio':>17}")
    print(f"{'':<48} {'wall':>8} {'cpu':>8} {'wall':>8} {'cpu':>8} {'wall':>8} {'cpu':>8}")
    rows = [
        ("import verifier.handler", "import"),
        ("runtime(): read SSM, validate every source", "setup"),
        ("first invocation: clients, secret, SendMessage", "first_call"),
        ("total", "total"),
    ]
    for label, phase in rows:
        print_pair(label, cold, sizes, phase, 1e3, "{:.1f}")
    print(f"Warm, per request ({args.warm_calls} calls after the cold start, median of {args.cold_runs} runs; µs)")
    print_pair("per request (wall: median call, cpu: mean)", cold, sizes, "warm", 1e6, "{:.0f}")
    print("Source table")
    for label, key in (
        ("SSM parameters", "parameters"),
        ("GetParameters calls at a cold start", "get_parameters_calls"),
        ("bytes in the parameters", "bytes"),
        ("load_config from them in memory: CPU µs", "parse_us"),
    ):
        a, b = tables[small][key], tables[large][key]
        print(f"{label:<48} {a:>17.0f} {b:>17.0f} {ratio(b, a):>16.2f}x")
    print(f"webhooks sent to: {tables[small]['probe']} and {tables[large]['probe']} (same scheme, last in each table)")


def print_pair(
    label: str, medians_: dict[int, dict[str, float]], sizes: tuple[int, int], phase: str, scale: float, form: str
) -> None:
    small, large = sizes
    cells = []
    for size in sizes:
        cells += [form.format(medians_[size][f"{phase}.{clock}"] * scale) for clock in ("wall", "cpu")]
    ratios = [
        ratio(medians_[large][f"{phase}.{clock}"], medians_[small][f"{phase}.{clock}"]) for clock in ("wall", "cpu")
    ]
    print(f"{label:<48} {cells[0]:>8} {cells[1]:>8} {cells[2]:>8} {cells[3]:>8} {ratios[0]:>7.2f}x {ratios[1]:>7.2f}x")


def ratio(large: float, small: float) -> float:
    return large / small if small else math.nan


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--small", type=int, default=3, help="sources of the small configuration")
    parser.add_argument("--large", type=int, default=100, help="sources of the large configuration")
    parser.add_argument("--synth-runs", type=int, default=3, help="synths per size (median reported)")
    parser.add_argument("--cold-runs", type=int, default=9, help="verifier cold starts per size (median reported)")
    parser.add_argument("--warm-calls", type=int, default=50, help="warm invocations after each cold start")
    parser.add_argument("--no-synth", action="store_true", help="skip the synth comparison")
    parser.add_argument("--no-cold", action="store_true", help="skip the verifier comparison")
    parser.add_argument("--json", type=Path, default=None, help="also write the medians and ratios to this file")
    args = parser.parse_args(argv)
    sizes = (args.small, args.large)
    if not 0 < args.small < args.large or args.synth_runs < 1 or args.cold_runs < 1 or args.warm_calls < 1:
        parser.error("need 0 < --small < --large and at least one run and one warm call")

    # The project's Node.js first, as the Makefile puts it: the synths run on it, and so does the
    # jsii runtime that stacks.config starts here (its source-table check imports aws_cdk).
    os.environ["PATH"] = os.pathsep.join([str(ROOT / "node_modules" / ".bin"), os.environ.get("PATH", "")])
    os.environ["JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION"] = "1"
    print(f"Python {sys.version.split()[0]} on {os.cpu_count()} CPUs; {args.small} vs {args.large} sources")
    report: dict[str, Any] = {"sizes": list(sizes), "cpus": os.cpu_count(), "ratios": {}}
    with tempfile.TemporaryDirectory(prefix="webhook-kit-bench-pyc-") as pycache:
        if not args.no_cold:
            samples, tables = cold_samples(sizes, args.cold_runs, args.warm_calls, pycache)
            keys = [f"{phase}.{clock}" for phase in COLD_PHASES for clock in ("wall", "cpu")]
            cold = {size: medians(samples[size], keys) for size in sizes}
            print_cold(sizes, cold, tables, args)
            report["cold"] = {str(size): {**cold[size], **tables[size]} for size in sizes}
            report["ratios"].update(
                {f"cold.{key}": ratio(cold[args.large][key], cold[args.small][key]) for key in keys}
            )
        if not args.no_synth:
            print("\nSynthesizing (each in a fresh interpreter)", flush=True)
            synth_runs = synth_samples(sizes, args.synth_runs, pycache)
            synth = {size: medians(synth_runs[size], SYNTH_KEYS) for size in sizes}
            print_synth(sizes, synth, args.synth_runs)
            report["synth"] = {str(size): synth[size] for size in sizes}
            report["ratios"].update(
                {f"synth.{key}": ratio(synth[args.large][key], synth[args.small][key]) for key in SYNTH_KEYS}
            )
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
