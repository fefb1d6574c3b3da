"""How much each scheme's verify costs relative to one bare HMAC-SHA256 of the same body.

Reports ratios, not absolute times (machines differ). Run from the repo root:

    .venv/bin/python bench/verifier/bench_schemes.py [body_bytes]

A ratio near the number of secrets tried (here 2, the rotation case) means the
scheme adds little beyond the HMACs themselves; Twilio form posts parse the body
and, without a port in the URL, also try the URL with the default port.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import timeit
from pathlib import Path

# The repository root (for tests.support, whose request builders the bench shares) and the Lambda asset.
sys.path[:0] = [str(Path(__file__).parents[2]), str(Path(__file__).parents[2] / "lambdas")]

from tests.support.schemes import OPTIONS, secret_for, signed_request  # noqa: E402
from webhook_verify.schemes import SCHEMES, get_scheme  # noqa: E402

NOW = 1_700_000_000


def main(size: int) -> None:
    body = json.dumps({"id": "evt_1", "type": "bench", "pad": "x" * max(0, size - 40)}).encode()[:size]
    baseline = min(timeit.repeat(lambda: hmac.new(b"k" * 32, body, hashlib.sha256).digest(), number=2000, repeat=5))
    print(f"body {len(body)} bytes; ratio = verify with 2 active secrets / one bare HMAC-SHA256")
    for name in sorted(SCHEMES):
        secret = secret_for(name, b"bench-key")
        request = signed_request(name, body, secret, NOW)
        secrets = [secret_for(name, b"other-key"), secret]
        scheme = get_scheme(name)
        assert scheme.verify(request, secrets, now=NOW, tolerance_seconds=300, options=OPTIONS[name])
        cost = min(
            timeit.repeat(
                lambda s=scheme, r=request, ss=secrets, o=OPTIONS[name]: s.verify(
                    r, ss, now=NOW, tolerance_seconds=300, options=o
                ),
                number=2000,
                repeat=5,
            )
        )
        print(f"{name:18} {cost / baseline:6.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4096)
