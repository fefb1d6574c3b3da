"""One synth in a fresh interpreter, timed from inside it; started by bench/scale/run.py.

    python synth_child.py COUNT OUTDIR   # the stack of scale_config_data(COUNT), as app.py builds it

As app.py: ``WebhookKitStack`` plus cdk-nag's ``AwsSolutionsChecks`` aspect, with
cdk.json's context (the feature flags ``cdk synth`` sets), synthesized into
OUTDIR. Only ``sys`` and ``time`` are imported before the clock starts. Prints
one line ``SYNTH {json}``: wall seconds per phase, and what was written.
"""

import sys
import time


def main() -> None:
    count, outdir = int(sys.argv[1]), sys.argv[2]
    marks = [time.perf_counter()]
    import aws_cdk as cdk
    from cdk_nag import AwsSolutionsChecks

    from stacks.config import parse_config
    from stacks.webhook_stack import WebhookKitStack
    from tests.support.scale import scale_config_data

    marks.append(time.perf_counter())
    import json
    from pathlib import Path

    # Read outside the clock: app.py gets it from the CDK CLI, already parsed.
    context = json.loads(Path("cdk.json").read_text())["context"]
    marks.append(time.perf_counter())
    app = cdk.App(context=context, outdir=outdir)
    config = parse_config(scale_config_data(count))
    stack = WebhookKitStack(app, config.stack_name, config=config)
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    marks.append(time.perf_counter())
    app.synth()
    marks.append(time.perf_counter())

    templates = sorted(Path(outdir).glob("*.template.json"))
    root = Path(outdir) / f"{stack.artifact_id}.template.json"
    result = {
        "import": marks[1] - marks[0],
        "build": marks[3] - marks[2],
        "synth": marks[4] - marks[3],
        "python_cpu": time.process_time(),
        "templates": len(templates),
        "root_bytes": root.stat().st_size,
        "root_resources": len(json.loads(root.read_text())["Resources"]),
        "all_template_bytes": sum(path.stat().st_size for path in templates),
        "sources": len(config.sources),
    }
    sys.stdout.write("SYNTH " + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
