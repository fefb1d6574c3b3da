"""What the public-key schemes cost a verifier's cold start, as ratios measured side by side in one run.

1. An HMAC-only verifier (one stripe source, the bench/verifier set-up), before and
   now: its cold start (``import verifier.handler`` + ``runtime()`` + the first
   invocation) from ``lambdas/`` as it was before the handshake framework and the
   public-key schemes (commit 5693d35, unpacked with ``git archive``), from today's
   ``lambdas/``, and from today's with ``cryptography`` blocked (an import of it
   raises, so a run that imports it fails the bench). Target: now / before <= 1.05,
   and the blocked run equal to the plain one (HMAC sources never import it).
2. What a public-key source adds: in a fresh interpreter, importing what the
   Ed25519 scheme uses, then everything the public-key schemes use (ECDSA, RSA,
   X.509), and one Ed25519 verification; in milliseconds and as a share of the
   HMAC-only cold start. Twice: with byte code cached, and compiled from source,
   as from the layer (it ships no byte code and Lambda's /opt is read-only).

Each figure is the median of fresh interpreters, the variants interleaved so that
drift hits them alike; byte code is cached beforehand (an untimed first round), as
it is in a deployed function's asset. Run from the repository root:

    .venv/bin/python bench/cryptography/run.py
    .venv/bin/python bench/cryptography/run.py --cold-runs 25 --before 2629a26
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VERIFIER_BENCH = ROOT / "bench" / "verifier"
sys.path.insert(0, str(VERIFIER_BENCH))

import local_aws  # noqa: E402

# The commit before the handshake framework: the verifier as it was before the public-key schemes.
BEFORE = "5693d35"
RAISED_LIMIT = 2 * 1024 * 1024  # no claim check, as bench/verifier's cold start
TARGET = 1.05
PHASES = ("import", "setup", "first_call")
AWS_VARIABLES_TO_DROP = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_LAMBDA_FUNCTION_NAME")

# Runs bench/verifier/cold_child.py of a tree (its clock starts inside), optionally with
# cryptography made unimportable, and says afterwards whether cryptography was imported.
# pyOpenSSL is always left out, as Lambda's runtime has none: where the virtualenv has it
# (an oracle library of the tests pulls it in), botocore imports urllib3.contrib.pyopenssl,
# which imports cryptography, in every variant alike.
_VERIFIER_CHILD = """
import runpy, sys
block, child = sys.argv[1] == "block", sys.argv[2]

class Blocked:
    def __init__(self, names):
        self.names = names

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names:
            raise ImportError(name + " is blocked in this run")
        return None

sys.meta_path.insert(0, Blocked({"OpenSSL", "cryptography"} if block else {"OpenSSL"}))
sys.argv = [child, "verifier"]
runpy.run_path(child, run_name="__main__")
print("IMPORTED " + str(any(m.partition(".")[0] == "cryptography" for m in sys.modules)))
"""

# What a public-key source adds to a cold start: the imports (Ed25519 first, then the rest
# of what the public-key schemes use), then one verification.
_PUBLIC_KEY_CHILD = """
import sys, time
marks = [(time.perf_counter(), time.process_time())]
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
marks.append((time.perf_counter(), time.process_time()))
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
marks.append((time.perf_counter(), time.process_time()))
private = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
public, signature = private.public_key(), private.sign(b"payload")
start = (time.perf_counter(), time.process_time())
public.verify(signature, b"payload")
end = (time.perf_counter(), time.process_time())
import json
phase = lambda a, b: {"wall": b[0] - a[0], "cpu": b[1] - a[1]}
print("COLD " + json.dumps({"ed25519": phase(marks[0], marks[1]), "rest": phase(marks[1], marks[2]),
                            "verify": phase(start, end)}))
"""


# Times one import in a fresh interpreter (what the scheme registry itself costs).
_IMPORT_CHILD = """
import importlib, json, sys, time
start = (time.perf_counter(), time.process_time())
importlib.import_module(sys.argv[1])
end = (time.perf_counter(), time.process_time())
print("COLD " + json.dumps({"import": {"wall": end[0] - start[0], "cpu": end[1] - start[1]}}))
"""


def environment(lambdas: Path) -> dict[str, str]:
    env = {
        **os.environ,
        **local_aws.environment(max_body_bytes=RAISED_LIMIT, claim_check_threshold_bytes=RAISED_LIMIT),
        "PYTHONPATH": os.pathsep.join([str(lambdas), str(VERIFIER_BENCH)]),
    }
    for name in (*AWS_VARIABLES_TO_DROP, "CLAIM_CHECK_BUCKET", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    return env


def unpack(commit: str, into: Path) -> Path:
    """``lambdas/`` as it was at ``commit``."""
    archive = subprocess.run(  # noqa: S603 - git on a commit of this repository
        ["git", "archive", "--format=tar", commit, "lambdas"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise SystemExit(
            f"commit {commit} is not in this clone (a shallow one?): `git fetch --unshallow`, or compare with "
            f"another commit (--before). git said: {archive.stderr.decode(errors='replace').strip()}"
        )
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into / "lambdas"


def run_child(arguments: list[str], env: dict[str, str]) -> tuple[dict[str, dict[str, float]], str]:
    out = subprocess.run(  # noqa: S603 - our own interpreter and snippets
        [sys.executable, *arguments], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("COLD "))
    imported = next((line for line in out.splitlines() if line.startswith("IMPORTED ")), "")
    return json.loads(line[5:]), imported.removeprefix("IMPORTED ")


def measure(args: argparse.Namespace) -> tuple[dict[str, dict[str, float]], dict[str, bool]]:
    child = str(VERIFIER_BENCH / "cold_child.py")
    samples: dict[str, list[dict[str, dict[str, float]]]] = {}
    imported: dict[str, bool] = {}
    with tempfile.TemporaryDirectory(prefix="webhook-kit-bench-crypto-") as work:
        before = unpack(args.before, Path(work) / "before")
        pycache = Path(work) / "pycache"  # byte code outside the trees; the untimed first round fills it
        variants = {
            "before": (["-c", _VERIFIER_CHILD, "run", child], before),
            "now": (["-c", _VERIFIER_CHILD, "run", child], ROOT / "lambdas"),
            "now, cryptography blocked": (["-c", _VERIFIER_CHILD, "block", child], ROOT / "lambdas"),
            "public key": (["-c", _PUBLIC_KEY_CHILD], ROOT / "lambdas"),
            "public key, no byte code": (["-c", _PUBLIC_KEY_CHILD], ROOT / "lambdas"),
            "registry before": (["-c", _IMPORT_CHILD, "webhook_verify.schemes"], before),
            "registry now": (["-c", _IMPORT_CHILD, "webhook_verify.schemes"], ROOT / "lambdas"),
        }
        order = list(variants)
        for round_ in range(args.cold_runs + 1):
            for name in order if round_ % 2 else reversed(order):
                arguments, lambdas = variants[name]
                env = {**environment(lambdas), "PYTHONPYCACHEPREFIX": str(pycache)}
                if name.endswith("no byte code"):
                    # As from the layer: it ships no byte code, and /opt is read-only, so each cold start compiles.
                    env.update(PYTHONPYCACHEPREFIX=tempfile.mkdtemp(dir=work), PYTHONDONTWRITEBYTECODE="1")
                result, was_imported = run_child(arguments, env)
                if was_imported:
                    imported[name] = was_imported == "True"
                if round_:
                    samples.setdefault(name, []).append(result)
    medians = {
        name: {
            f"{phase}.{clock}": statistics.median(run[phase][clock] for run in runs)
            for phase in runs[0]
            for clock in ("wall", "cpu")
        }
        for name, runs in samples.items()
    }
    for name in ("before", "now", "now, cryptography blocked"):
        for clock in ("wall", "cpu"):
            medians[name][f"total.{clock}"] = statistics.median(
                sum(run[phase][clock] for phase in PHASES) for run in samples[name]
            )
    return medians, imported


def report(medians: dict[str, dict[str, float]], imported: dict[str, bool], args: argparse.Namespace) -> bool:
    """Print the tables; False if an HMAC-only cold start imported cryptography."""
    print(f"Python {sys.version.split()[0]} on {os.cpu_count()} CPUs; median of {args.cold_runs} fresh interpreters")
    print("HMAC-only verifier cold start (one stripe source; import + runtime() + first invocation), ms")
    print(f"{'':<52} {'wall':>8} {'cpu':>8}  cryptography imported")
    rows = (
        (f"before ({args.before})", "before", "total"),
        ("now", "now", "total"),
        ("now, cryptography blocked", "now, cryptography blocked", "total"),
        (f"import webhook_verify.schemes, before ({args.before})", "registry before", "import"),
        ("import webhook_verify.schemes, now", "registry now", "import"),
    )
    for label, name, phase in rows:
        m = medians[name]
        flag = imported.get(name, "")
        print(f"{label:<52} {m[phase + '.wall'] * 1e3:>8.1f} {m[phase + '.cpu'] * 1e3:>8.1f}  {flag}")
    for label, numerator, denominator, target in (
        ("now / before", "now", "before", TARGET),
        ("now blocked / now", "now, cryptography blocked", "now", None),
    ):
        wall = medians[numerator]["total.wall"] / medians[denominator]["total.wall"]
        cpu = medians[numerator]["total.cpu"] / medians[denominator]["total.cpu"]
        verdict = f"  target <= {target}x: {'met' if max(wall, cpu) <= target else 'MISSED'}" if target else ""
        print(f"{label:<52} {wall:>7.2f}x {cpu:>7.2f}x{verdict}")
    now = medians["now"]
    print()
    print("What a public-key source adds (fresh interpreter), ms, and as a share of the HMAC-only cold start (cpu)")
    for variant, note in (("public key", "byte code cached"), ("public key, no byte code", "compiled from source")):
        public = medians[variant]
        for label, phase in (
            (f"import cryptography's Ed25519, {note}", "ed25519"),
            ("then ECDSA, RSA, X.509, hashes, serialization", "rest"),
            ("first Ed25519 verification", "verify"),
        ):
            wall, cpu = public[phase + ".wall"], public[phase + ".cpu"]
            print(f"{label:<52} {wall * 1e3:>8.1f} {cpu * 1e3:>8.1f}  {cpu / now['total.cpu']:>6.1%}")
    if any(imported.values()):
        print("FAILED: an HMAC-only cold start imported cryptography")
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold-runs", type=int, default=10, help="fresh interpreters per variant (median reported)")
    parser.add_argument("--before", default=BEFORE, help=f"the commit to compare with (default {BEFORE})")
    args = parser.parse_args()
    medians, imported = measure(args)
    if not report(medians, imported, args):
        raise SystemExit(1)  # a broken invariant, not a missed target


if __name__ == "__main__":
    main()
