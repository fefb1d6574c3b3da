"""One cold start in a fresh interpreter, timed from inside it; started by bench/verifier/run.py.

    python cold_child.py verifier   # import verifier.handler, runtime(), first invocation
    python cold_child.py boto3      # import boto3, boto3.client("sqs"), first SendMessage

Nothing but ``sys`` and ``time`` is imported before the clock starts. The HTTP
stub (local_aws) is installed between the timed phases, outside the clock.
Prints one line ``COLD {json}`` of seconds per phase, wall and CPU.
"""

import sys
import time


def main() -> None:
    mode = sys.argv[1]
    marks = [(time.perf_counter(), time.process_time())]
    if mode == "verifier":
        from verifier import handler as verifier_handler

        marks.append((time.perf_counter(), time.process_time()))
        verifier_handler.runtime()
    elif mode == "boto3":
        import boto3

        marks.append((time.perf_counter(), time.process_time()))
        client = boto3.client("sqs")
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    marks.append((time.perf_counter(), time.process_time()))

    import json

    import local_aws

    calls = local_aws.install_http_stub()
    event = local_aws.api_gateway_event(local_aws.stripe_body(1024))
    context = local_aws.LambdaContext()

    start = (time.perf_counter(), time.process_time())
    if mode == "verifier":
        response = verifier_handler.handler(event, context)
        status = response["statusCode"]
    else:
        client.send_message(QueueUrl=local_aws.QUEUE_URL, MessageBody=local_aws.stripe_body(1024).decode())
        status = 202
    end = (time.perf_counter(), time.process_time())
    if status != 202 or calls["sqs:SendMessage"] != 1:
        raise SystemExit(f"cold run failed: status {status}, calls {dict(calls)}")

    def phase(a: tuple[float, float], b: tuple[float, float]) -> dict[str, float]:
        return {"wall": b[0] - a[0], "cpu": b[1] - a[1]}

    result = {
        "import": phase(marks[0], marks[1]),
        "setup": phase(marks[1], marks[2]),
        "first_call": phase(start, end),
    }
    sys.stdout.flush()
    sys.stdout.write("COLD " + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
