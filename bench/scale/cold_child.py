"""One verifier cold start, then warm invocations, in a fresh interpreter; started by bench/scale/run.py.

    python cold_child.py EVENT_FILE WARM_CALLS

The environment is the verifier's (run.py builds it: the source table in SSM
parameters on moto's server, every AWS endpoint pointing there). Only ``sys``
and ``time`` are imported before the clock starts. Timed, each phase apart:
``import verifier.handler``; ``runtime()``, which reads the SSM parameters and
validates every source; the first invocation with EVENT_FILE (an API Gateway
event of a validly signed webhook), which builds the Secrets Manager and SQS
clients, fetches the secret and sends the message; then WARM_CALLS more
invocations of the same event. Prints one line ``COLD {json}`` of seconds.
"""

import sys
import time


def main() -> None:
    event_file, warm_calls = sys.argv[1], int(sys.argv[2])
    marks = [(time.perf_counter(), time.process_time())]
    from verifier import handler as verifier_handler

    marks.append((time.perf_counter(), time.process_time()))
    state = verifier_handler.runtime()
    marks.append((time.perf_counter(), time.process_time()))

    import json
    from pathlib import Path

    # The verifier bench's Lambda context (standard library only), imported after the clock like the rest.
    sys.path.append(str(Path(__file__).resolve().parents[1] / "verifier"))
    from local_aws import LambdaContext

    event = json.loads(Path(event_file).read_text())
    context = LambdaContext()

    start = (time.perf_counter(), time.process_time())
    status = verifier_handler.handler(event, context)["statusCode"]
    end = (time.perf_counter(), time.process_time())
    if status != 202:
        raise SystemExit(f"the first invocation answered {status}, not 202")

    walls = []
    cpu_start = time.process_time()
    for _ in range(warm_calls):
        before = time.perf_counter()
        status = verifier_handler.handler(event, context)["statusCode"]
        walls.append(time.perf_counter() - before)
        if status != 202:
            raise SystemExit(f"a warm invocation answered {status}, not 202")
    warm_cpu = time.process_time() - cpu_start

    def phase(a: tuple[float, float], b: tuple[float, float]) -> dict[str, float]:
        return {"wall": b[0] - a[0], "cpu": b[1] - a[1]}

    walls.sort()
    result = {
        "import": phase(marks[0], marks[1]),
        "setup": phase(marks[1], marks[2]),
        "first_call": phase(start, end),
        "warm": {
            "calls": warm_calls,
            "wall": walls[len(walls) // 2] if walls else 0.0,
            "cpu": warm_cpu / warm_calls if warm_calls else 0.0,
        },
        "sources": len(state.config.sources),
    }
    sys.stdout.flush()
    sys.stdout.write("COLD " + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
