"""Fuzzing the verifier handler: malformed requests never raise and never pass.

The real handler runs (Powertools logging, metrics, tracing) against an
in-memory AWS fake that never fails unless told to. Every malformed request
must get 400, 401, 404 or 413 and put nothing on a queue or in S3. Each
family states its example count in its name; each test counts the examples
Hypothesis really ran and fails if fewer than the target ran (the malformed
families add up to ``MALFORMED_TARGET``).

Two properties round it off: a validly signed request with any body is
accepted with 202 and queued byte-exact; and with the queue (or S3, or the
secret) failing, a valid request gets 503 with Retry-After and nothing is sent.

Header values and query parameters here never hold lone surrogates: those make
the schemes raise (a bug, see test_security_findings.py).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from security_support import (
    ALL_SCHEMES,
    BUCKET,
    HEADER_SIGNED,
    MAX_BODY,
    OPTIONS,
    SECRETS,
    TIMESTAMPED,
    FakeAws,
    call,
    drop_header,
    envelope,
    event,
    posted,
    secret_for,
    set_header,
    sign,
    signed_event,
    verifier_runtime,
)

from shared.message import from_sqs_record
from tests.support.schemes import split_signature
from verifier import handler as verifier_handler
from webhook_verify.handshakes import Context, get_handshake
from webhook_verify.schemes import SCHEMES, Request

# 405: a method other than POST (or a source's handshake GET/HEAD).
MALFORMED = frozenset({400, 401, 404, 405, 413})

TARGETS = {
    "headers": 12_000,
    "encodings": 8_000,
    "sizes": 4_000,
    "paths": 6_000,
    "signatures": 1_500 * len(HEADER_SIGNED),
    "structure": 6_000,
}
MALFORMED_TARGET = 50_000
NO_KEYS = Context(secrets=(), keys=(), options={})
PER_SCHEME_SIGNATURES = 1_500
VALID_EXAMPLES = 3_000
UNAVAILABLE_EXAMPLES = 2_000

COUNTS: Counter[str] = Counter()
FAKE = FakeAws.with_secrets(SECRETS)


def fuzz(examples: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


@pytest.fixture
def runtime() -> Iterator[FakeAws]:
    FAKE.clear()
    # Keep pytest's log capture from storing every record of a 10,000-example run.
    logger = logging.getLogger(verifier_handler.logger.name)
    propagate, logger.propagate = logger.propagate, False
    try:
        with verifier_runtime(FAKE):
            yield FAKE
    finally:
        logger.propagate = propagate


def run_and_count(family: str, target: int, run: Callable[[], None]) -> None:
    before = COUNTS[family]
    # Metrics are printed: keep 10,000 EMF lines out of pytest's capture.
    with contextlib.redirect_stdout(io.StringIO()):
        run()
    ran = COUNTS[family] - before
    if os.environ.get("FUZZ_REPORT"):
        print(f"fuzz {family}: {ran} examples (target {target})", file=sys.__stderr__)
    assert ran >= target, f"{family}: only {ran} of {target} examples ran"


def assert_refused(evt: Any, expected: set[int] | frozenset[int] = MALFORMED) -> dict[str, Any]:
    FAKE.clear()
    response = call(evt)
    assert response["statusCode"] in expected, response
    assert json.loads(response["body"]).keys() == {"message"}
    assert FAKE.sent == []
    assert FAKE.objects == {}
    return response


# --------------------------------------------------------------------------- building blocks

SURROGATE_FREE = st.characters(exclude_categories=("Cs",))
header_text = st.one_of(
    st.text(SURROGATE_FREE, max_size=60),
    st.text(st.characters(max_codepoint=0x1F), max_size=20),  # control characters
    st.just(""),
    # Over MAX_HEADER_LENGTH (Hypothesis cannot draw text this long directly).
    st.text(SURROGATE_FREE, min_size=1, max_size=10).map(lambda t: t * (8193 // len(t) + 1)),
    st.text(st.sampled_from("0123456789abcdef=,; v1tsh"), max_size=80),
)
bodies = st.binary(min_size=1, max_size=600)
schemes = st.sampled_from(ALL_SCHEMES)
# A token sent as it is authenticates whatever body comes with it (the "weaker"
# providers): the families that mangle the body or the event around a valid
# signature draw from the schemes that sign the body.
body_signing_schemes = st.sampled_from([name for name in ALL_SCHEMES if SCHEMES[name].signs_body])


CASE_BITS = st.integers(0, 2**64 - 1)
INDEX = st.integers(0, 1_000)
BIG = st.integers(0, 10**19)


def random_case(draw: st.DrawFn, name: str) -> str:
    bits = draw(CASE_BITS)
    return "".join(c.upper() if bits >> (i % 64) & 1 else c.lower() for i, c in enumerate(name))


def pick(draw: st.DrawFn, options: list[Any] | tuple[Any, ...]) -> Any:
    """One of ``options`` (one shared strategy: cheaper than a new sampled_from per draw)."""
    return options[draw(INDEX) % len(options)]


def other_than(draw: st.DrawFn, strategy: st.SearchStrategy[str], value: str) -> str:
    drawn = draw(strategy)
    return drawn if drawn != value else drawn + "x"


VERIFICATION_HEADERS = {scheme: sorted(sign(scheme, envelope(scheme, b"x"))[0]) for scheme in ALL_SCHEMES}
# The schemes whose signature is a header: where it travels in the body (Adyen, Mailgun, AWS SNS)
# the headers sent with it are not what verifies it, and the body families mangle it instead.
header_schemes = st.sampled_from(HEADER_SIGNED)


def verification_headers(scheme: str) -> list[str]:
    """The headers ``scheme`` reads to verify (what its ``sign`` produces)."""
    return VERIFICATION_HEADERS[scheme]


# --------------------------------------------------------------------------- family: headers


@st.composite
def header_attacks(draw: st.DrawFn, modes: tuple[str, ...]) -> tuple[dict[str, Any], bytes, bool]:
    """(event, signed body, whether the valid header value is still sent, first of a duplicate)."""
    scheme = draw(header_schemes)
    evt = signed_event(scheme, draw(bodies))
    body = posted(evt)
    still_sent = False
    target = pick(draw, verification_headers(scheme))
    valid = evt["headers"][target]
    mode = pick(draw, modes)
    if mode == "missing":
        drop_header(evt, target)
    elif mode == "empty":
        set_header(evt, random_case(draw, target), "")
    elif mode == "replaced":
        value = other_than(draw, header_text, valid)
        set_header(evt, random_case(draw, target), value)
    elif mode == "huge":
        set_header(evt, target, valid + " " * (8193 + draw(INDEX) * 10))
    elif mode == "duplicated":
        # Sent twice: API Gateway lists both in multiValueHeaders and keeps the last in headers.
        second = draw(st.one_of(st.just(valid), header_text))
        evt["multiValueHeaders"][target] = [valid, second]
        evt["headers"][target] = second
        still_sent = True
    elif mode == "multi-conflict":
        # The multi-value form (what the verifier trusts) disagrees with the single one.
        evt["multiValueHeaders"][target] = [other_than(draw, header_text, valid)]
    else:
        drop_header(evt, target)
        lookalike = pick(draw, [target + " ", target.replace("-", "_"), "x-" + target, target[:-1]])
        set_header(evt, lookalike, valid)
    junk = draw(st.dictionaries(st.text(SURROGATE_FREE, min_size=1, max_size=30), header_text, max_size=4))
    for name, value in junk.items():
        if name.lower() not in {h.lower() for h in evt["headers"]}:
            evt["headers"][name] = value
            evt["multiValueHeaders"][name] = [value]
    return evt, body, still_sent


HEADER_MODES = {
    "missing-empty-replaced-huge": ("missing", "empty", "replaced", "huge"),
    "duplicated-conflicting-renamed": ("duplicated", "multi-conflict", "renamed"),
}


@pytest.mark.slow
@pytest.mark.parametrize("modes", list(HEADER_MODES))
def test_headers_6000_per_group_missing_empty_replaced_huge_duplicated_or_conflicting_are_refused(
    modes: str, runtime: FakeAws
) -> None:
    @fuzz(TARGETS["headers"] // 2)
    @given(case=header_attacks(HEADER_MODES[modes]))
    def run(case: tuple[dict[str, Any], bytes, bool]) -> None:
        evt, body, still_sent = case
        COUNTS["headers"] += 1
        if not still_sent:
            assert_refused(evt, {401})
            return
        # A header sent twice still carries the genuine value first. Paddle separates its
        # entries with ";" not ",", so the joined pair still holds the genuine ts and h1
        # and may pass; anything accepted must be exactly the signed body.
        FAKE.clear()
        response = call(evt)
        assert response["statusCode"] in {202, 401}, response
        if response["statusCode"] == 202:
            [(_queue, kwargs)] = FAKE.sent
            message = from_sqs_record({"body": kwargs["MessageBody"], "messageAttributes": kwargs["MessageAttributes"]})
            assert message.body == body or FAKE.objects
        else:
            assert FAKE.sent == []

    run_and_count("headers", TARGETS["headers"] // 2, run)


# --------------------------------------------------------------------------- family: encodings


def _decodes_to(text: str, original: bytes) -> bool:
    try:
        return base64.b64decode(text, validate=True) == original
    except (binascii.Error, ValueError):
        return False


@st.composite
def encoding_attacks(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """(event, whether it still carries exactly the signed bytes)."""
    scheme = draw(body_signing_schemes)
    evt = signed_event(scheme, draw(bodies))
    body = posted(evt)
    encoded: str = evt["body"]
    mode = pick(
        draw,
        [
            "truncated",
            "bad-char",
            "whitespace",
            "urlsafe",
            "unpadded",
            "text-unicode",
            "text-surrogate",
            "null",
            "non-string",
            "empty",
            "flag-off",
            "flag-odd",
        ],
    )
    if mode == "truncated":
        evt["body"] = encoded[: draw(INDEX) % len(encoded)]
    elif mode == "bad-char":
        at = draw(INDEX) % (len(encoded) + 1)
        evt["body"] = encoded[:at] + pick(draw, "!*.~$%é\x00-_") + encoded[at:]
    elif mode == "whitespace":
        at = draw(INDEX) % (len(encoded) + 1)
        evt["body"] = encoded[:at] + pick(draw, [" ", "\n", "\r\n", "\t"]) + encoded[at:]
    elif mode == "urlsafe":
        evt["body"] = base64.urlsafe_b64encode(body).decode()
    elif mode == "unpadded":
        evt["body"] = encoded.rstrip("=") or "="
    elif mode == "text-unicode":
        evt["isBase64Encoded"] = False
        evt["body"] = draw(st.text(SURROGATE_FREE, min_size=1, max_size=300))
    elif mode == "text-surrogate":
        evt["isBase64Encoded"] = False
        text = draw(st.text(SURROGATE_FREE, max_size=100))
        at = draw(INDEX) % (len(text) + 1)
        evt["body"] = text[:at] + draw(st.characters(categories=("Cs",))) + text[at:]
    elif mode == "null":
        evt["body"] = None
    elif mode == "non-string":
        evt["body"] = pick(draw, [b"eyJ9", 42, 4.2, ["a"], {"a": 1}, True])
    elif mode == "empty":
        evt["body"] = ""
    elif mode == "flag-off":
        evt["isBase64Encoded"] = False  # the base64 text itself is then the body
    else:
        evt["isBase64Encoded"] = pick(draw, [None, 0, "", [], {}])
    still_signed = evt["isBase64Encoded"] is True and isinstance(evt["body"], str) and _decodes_to(evt["body"], body)
    if evt["isBase64Encoded"] is False and isinstance(evt["body"], str):
        still_signed = evt["body"].encode("utf-8", "surrogatepass") == body
    return evt, still_signed


@pytest.mark.slow
def test_encodings_8000_invalid_base64_text_bodies_and_odd_types_are_refused(runtime: FakeAws) -> None:
    @fuzz(TARGETS["encodings"])
    @given(case=encoding_attacks())
    def run(case: tuple[dict[str, Any], bool]) -> None:
        evt, still_signed = case
        # A mangling that happens to decode to the very bytes signed is not malformed.
        assume(not still_signed)
        COUNTS["encodings"] += 1
        assert_refused(evt, {400, 401})

    run_and_count("encodings", TARGETS["encodings"], run)


# --------------------------------------------------------------------------- family: sizes

sizes = st.one_of(
    st.just(0),
    st.integers(MAX_BODY - 3, MAX_BODY + 3),
    st.integers(1, MAX_BODY + 1000),
    st.integers(MAX_BODY + 1, 20 * MAX_BODY),
)


@pytest.mark.slow
def test_sizes_4000_empty_near_and_over_the_cap_get_401_or_413(runtime: FakeAws) -> None:
    @fuzz(TARGETS["sizes"])
    @given(
        scheme=schemes,
        size=sizes,
        fill=st.integers(0, 255),
        base64_body=st.booleans(),
        signed=st.booleans(),
    )
    def run(scheme: str, size: int, fill: int, base64_body: bool, signed: bool) -> None:
        body = bytes([fill if base64_body else fill % 128]) * size
        # Over the cap it is refused even if validly signed; at or under it (empty
        # included: providers sign empty bodies too), only unsigned.
        assume(size > MAX_BODY or not signed)
        COUNTS["sizes"] += 1
        headers, query = sign(scheme, envelope(scheme, body)) if signed else ({}, {})
        evt = event(scheme, body, headers, query=query, base64_body=base64_body)
        expected = 413 if size > MAX_BODY else 401
        assert assert_refused(evt)["statusCode"] == expected

    run_and_count("sizes", TARGETS["sizes"], run)


# --------------------------------------------------------------------------- family: paths and sources

source_names = st.one_of(
    st.sampled_from(ALL_SCHEMES),
    st.text(SURROGATE_FREE, max_size=40),
    st.builds(
        lambda s, t: t.format(s),
        st.sampled_from(ALL_SCHEMES),
        st.sampled_from(
            [
                "../{}",
                "{}/..",
                "./{}",
                "{}/",
                "{} ",
                " {}",
                "{}\x00",
                "%2e%2e/{}",
                "{}%00",
                "..\\{}",
                "{}.",
                "WEBHOOKS/{}",
            ]
        ),
    ),
    st.sampled_from(ALL_SCHEMES).map(str.upper),
    st.sampled_from(ALL_SCHEMES).map(lambda s: s.replace("-", "_")),
)


def resolved_source(path_parameters: Any, path: Any) -> str | None:
    """The documented rule: the {source} path parameter, else the last segment of the path."""
    name = path_parameters.get("source") if isinstance(path_parameters, dict) else None
    if not name and isinstance(path, str):
        name = path.rstrip("/").rsplit("/", 1)[-1]
    return name or None


@pytest.mark.slow
def test_paths_6000_unknown_unicode_traversal_or_missing_sources_get_404_and_known_ones_401(
    runtime: FakeAws,
) -> None:
    @fuzz(TARGETS["paths"])
    @given(
        signer=schemes,
        body=bodies,
        parameter=st.one_of(source_names.map(lambda s: {"source": s}), st.none(), st.just({})),
        path=st.one_of(st.none(), source_names.map(lambda s: f"/webhooks/{s}"), st.text(SURROGATE_FREE, max_size=40)),
    )
    def run(signer: str, body: bytes, parameter: Any, path: Any) -> None:
        # Signed for ``signer`` and sent elsewhere: the signature must not carry over.
        evt = signed_event(signer, body)
        evt["pathParameters"] = parameter
        evt["path"] = path
        name = resolved_source(parameter, path)
        assume(name != signer)
        COUNTS["paths"] += 1
        expected = 401 if name in SCHEMES else 404
        assert assert_refused(evt)["statusCode"] == expected

    run_and_count("paths", TARGETS["paths"], run)


# --------------------------------------------------------------------------- family: signatures per scheme

BASE64_DIGEST = {"standard-webhooks", "svix", "shopify", "twilio", "square", "hubspot", "box", "paypal"}
BASE64_DIGEST |= {"telnyx", "sendgrid"}
# Where each scheme's signer writes its digest, for every registered scheme.
SIGNATURE_HEADER = {
    scheme: next(h for h in sign(scheme, b"{}")[0] if h in SCHEMES[scheme].signature_headers(OPTIONS[scheme]))
    for scheme in HEADER_SIGNED
}
TIMESTAMP_HEADER = {
    "standard-webhooks": "webhook-timestamp",
    "svix": "svix-timestamp",
    "slack": "x-slack-request-timestamp",
    "generic-hmac": "x-timestamp",
    "hubspot": "x-hubspot-request-timestamp",
    "box": "box-delivery-timestamp",
    "twitch": "twitch-eventsub-message-timestamp",
    "paypal": "paypal-transmission-time",
    "cloudinary": "x-cld-timestamp",
    "discord": "x-signature-timestamp",
    "telnyx": "telnyx-timestamp",
    "sendgrid": "x-twilio-email-event-webhook-timestamp",
}
# Schemes whose timestamp is the first item of the signature header: (its key, the item separator).
TIMESTAMP_ITEM = {
    "workos": ("t=", ", "),
    "stripe": ("t=", ","),
    "paddle": ("ts=", ";"),
    "mux": ("t=", ","),
    "buildkite": ("timestamp=", ","),
}
MULTI_SIGNATURE = {"standard-webhooks": " ", "svix": " ", "stripe": ",", "paddle": ";"}


def _fullwidth(text: str) -> str:
    return text.translate(str.maketrans("0123456789", "".join(chr(0xFF10 + i) for i in range(10))))


def _arabic_indic(text: str) -> str:
    return text.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))


DIGEST_CHARS = st.text(st.sampled_from("0123456789abcdefABCDEF=+/"), min_size=1, max_size=4)
HEX_TEXT = st.text(st.sampled_from("0123456789abcdef"), min_size=1, max_size=70)
ANY_TEXT = st.text(SURROGATE_FREE, max_size=100)


@st.composite
def bad_digests(draw: st.DrawFn, scheme: str, digest: str, body: bytes) -> str:
    """A digest that is not the valid one (under the scheme's comparison rules)."""
    base64_digest = scheme in BASE64_DIGEST
    kinds = [
        "truncated",
        "extended",
        "re-encoded",
        "urlsafe",
        "fullwidth",
        "arabic",
        "text",
        "other-secret",
        "empty",
        "flipped",
    ]
    if scheme != "generic-hmac":  # generic hex compares case-insensitively by design
        kinds.append("swapcase")
    kind = pick(draw, kinds)
    if not SCHEMES[scheme].signs_body:  # a token sent as it is: its text is the "digest"
        raw = digest.encode()
    else:
        raw = base64.b64decode(digest) if base64_digest else bytes.fromhex(digest)
    position = draw(INDEX) % len(digest)
    if kind == "truncated":
        candidate = digest[:position]
    elif kind == "extended":
        candidate = digest + draw(DIGEST_CHARS)
    elif kind == "re-encoded":
        candidate = raw.hex() if base64_digest else base64.b64encode(raw).decode()
    elif kind == "urlsafe":
        candidate = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    elif kind == "fullwidth":
        candidate = _fullwidth(digest)
    elif kind == "arabic":
        candidate = _arabic_indic(digest)
    elif kind == "text":
        candidate = draw(ANY_TEXT)
    elif kind == "other-secret":
        other_headers, _ = sign(scheme, body, secret=secret_for(scheme, "attacker"))
        candidate = split_signature(other_headers[SIGNATURE_HEADER[scheme]])[1]
    elif kind == "empty":
        candidate = ""
    elif kind == "flipped":
        replacement = pick(draw, "0123456789abcdefABCDEF+/")
        candidate = digest[:position] + replacement + digest[position + 1 :]
    else:
        candidate = digest.swapcase()
    same = candidate.lower() == digest.lower() if scheme == "generic-hmac" else candidate == digest
    return draw(HEX_TEXT) if same else candidate


@st.composite
def bad_timestamps(draw: st.DrawFn, original: str) -> str:
    ts = int(original)
    kind = draw(INDEX) % 17
    n = draw(BIG)
    candidates = (
        lambda: "9" * (20 + n % 400),
        lambda: str(TOLERANCE_OUT + n),
        lambda: str(ts - 301 - n % 10**9),
        lambda: "-" + original,
        lambda: str(-ts),
        lambda: original + ".0",
        lambda: f"{ts:.3e}",
        lambda: "+" + original,
        lambda: " " + original,
        lambda: original + " ",
        lambda: "0" + original,
        lambda: _fullwidth(original),
        lambda: _arabic_indic(original),
        lambda: hex(ts),
        lambda: "",
        lambda: original + "\x00",
        lambda: draw(st.text(SURROGATE_FREE, max_size=25)),
    )
    candidate = candidates[kind]()
    return candidate if candidate != original else "x" + original


TOLERANCE_OUT = 1_700_000_000 + 301


@st.composite
def bad_rfc3339(draw: st.DrawFn, original: str) -> str:
    """An RFC 3339 timestamp (Box's) that is not the signed one: moved, respelled or malformed."""
    shift = timedelta(seconds=draw(st.integers(-(10**6), 10**6)))
    moved = datetime.fromisoformat(original.replace("Z", "+00:00")) + shift
    candidates = [
        moved.isoformat().replace("+00:00", "Z"),
        original.replace("Z", "+00:00"),
        original.replace("T", " "),
        original.lower(),
        original[:-1],
        " " + original,
        original + "\x00",
        _fullwidth(original),
        str(int(moved.timestamp())),
        draw(st.text(SURROGATE_FREE, max_size=30)),
    ]
    candidate = pick(draw, candidates)
    return candidate if candidate != original else "x" + original


@st.composite
def signature_attacks(draw: st.DrawFn, scheme: str) -> dict[str, Any]:
    body = draw(bodies)
    headers, query = sign(scheme, body)
    headers = dict(headers)
    name = next(h for h in headers if h.lower() == SIGNATURE_HEADER[scheme].lower())
    head, digest = split_signature(headers[name])
    ops = ["digest", "prefix", "entries", "separators"]
    if scheme in TIMESTAMPED:
        ops.append("timestamp")
    op = pick(draw, ops)
    if op == "digest":
        headers[name] = head + draw(bad_digests(scheme, digest, body))
    elif op == "prefix":
        prefixes = {
            "standard-webhooks": ["v1a,", "v2,", "V1,", "v1 ,", "v1=", ",", "v1,,"],
            "stripe": [head.replace("v1=", "V1="), head.replace("v1=", "v0="), head.replace(",v1=", ";v1=")],
            "paddle": [head.replace("h1=", "H1="), head.replace(";h1=", ",h1="), head.replace("h1=", "h2=")],
        }
        prefixes["svix"] = prefixes["standard-webhooks"]
        default = ["sha1=", "sha256:", "SHA256=", "v0:", "v1=", " ", "sha256==", "=", "v0=v0="]
        wrong = pick(draw, [p for p in prefixes.get(scheme, default) if p != head])
        headers[name] = wrong + digest
    elif op == "entries":
        # Up to 200 entries, made of a few distinct wrong digests.
        distinct = draw(st.lists(bad_digests(scheme, digest, body), min_size=1, max_size=4))
        junk = [distinct[i % len(distinct)] for i in range(1 + draw(INDEX) % 200)]
        if scheme in MULTI_SIGNATURE:
            # Several signatures are allowed here (rotation), so the valid one must be absent.
            entry = head.rsplit(MULTI_SIGNATURE[scheme], 1)[-1] if scheme in ("stripe", "paddle") else head
            prefix = head[: len(head) - len(entry)]
            headers[name] = prefix + MULTI_SIGNATURE[scheme].join(entry + j for j in junk)
        else:
            # One signature only: a list that includes the valid one is not it.
            parts = [head + j for j in junk] + [head + digest]
            headers[name] = ",".join(draw(st.permutations(parts)))
    elif op == "separators":
        noise = pick(draw, [",", ";", " ", ",,", ";;", "  ", ", ", "; "])
        where = pick(draw, ["inside", "double", "after-prefix"])
        bad = draw(bad_digests(scheme, digest, body))
        if digest in bad:  # split by the noise, it would hand the valid digest back as an entry
            bad = "0" + bad.replace(digest, "")
        broken = head + bad
        if where == "inside":
            at = draw(INDEX) % (len(broken) + 1)
            headers[name] = broken[:at] + noise + broken[at:]
        elif where == "double":
            headers[name] = broken + noise + broken
        else:
            headers[name] = head + noise + digest if scheme not in MULTI_SIGNATURE else noise + broken
    else:
        if scheme in TIMESTAMP_ITEM:
            key, sep = TIMESTAMP_ITEM[scheme]
            first, rest = headers[name].split(sep, 1)
            original = first[len(key) :]
            if draw(st.booleans()):
                headers[name] = key + draw(bad_timestamps(original)) + sep + rest
            else:  # two timestamps: exactly one is required
                headers[name] = first + sep + key + pick(draw, [original, str(int(original) + 1)]) + sep + rest
        else:
            ts_name = next(h for h in headers if h.lower() == TIMESTAMP_HEADER[scheme].lower())
            original = headers[ts_name]
            headers[ts_name] = draw(bad_timestamps(original) if original.isdigit() else bad_rfc3339(original))
    return event(scheme, body, headers, query=query)


def _signature_test(scheme: str) -> None:
    family = f"signatures:{scheme}"

    @fuzz(PER_SCHEME_SIGNATURES)
    @given(evt=signature_attacks(scheme))
    def run(evt: dict[str, Any]) -> None:
        COUNTS[family] += 1
        COUNTS["signatures"] += 1
        assert_refused(evt, {401})

    run_and_count(family, PER_SCHEME_SIGNATURES, run)


# Where the signature travels in the body (Adyen, Mailgun), test_providers_d.py and the
# property tests mangle it there.
@pytest.mark.slow
@pytest.mark.parametrize("scheme", HEADER_SIGNED)
def test_signatures_1500_per_scheme_truncated_prefixed_listed_or_timestamp_mangled_get_401(
    scheme: str, runtime: FakeAws
) -> None:
    _signature_test(scheme)


# --------------------------------------------------------------------------- family: event structure

odd_values = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(SURROGATE_FREE, max_size=20),
    st.lists(st.text(SURROGATE_FREE, max_size=5), max_size=3),
    st.dictionaries(st.text(SURROGATE_FREE, max_size=5), st.integers(), max_size=3),
)
odd_containers = st.one_of(
    st.none(),
    st.lists(st.tuples(st.text(SURROGATE_FREE, max_size=10), st.text(SURROGATE_FREE, max_size=10)), max_size=3),
    st.text(SURROGATE_FREE, max_size=20),
    st.integers(),
    st.just({}),
)


ODD_PATHS = st.one_of(st.none(), st.integers(), st.lists(st.text(max_size=3), max_size=2), st.just(""))
ODD_PATH_PARAMETERS = st.one_of(
    odd_containers, st.builds(dict, source=odd_values.filter(lambda v: not isinstance(v, list | dict)))
)
ODD_QUERIES = st.one_of(
    odd_containers,
    st.dictionaries(
        st.text(SURROGATE_FREE, max_size=8),
        st.one_of(st.none(), st.lists(st.one_of(st.text(SURROGATE_FREE, max_size=8), st.integers()))),
        max_size=3,
    ),
)
SECONDARY = st.lists(
    st.sampled_from(["queryStringParameters", "requestContext", "stageVariables", "httpMethod", "resource", "extra"]),
    unique=True,
)
MISSING = st.lists(st.sampled_from(["body", "headers", "multiValueHeaders"]), min_size=1, unique=True)
ODD_BODIES = st.one_of(odd_values.filter(lambda v: not isinstance(v, str)), st.just(""))
MULTI_ODD = st.one_of(odd_values, st.lists(odd_values, max_size=3))


@st.composite
def structure_attacks(draw: st.DrawFn) -> dict[str, Any]:
    scheme = draw(body_signing_schemes)
    evt = signed_event(scheme, draw(bodies))
    primary = pick(draw, ["header-containers", "header-values", "body", "source", "missing-keys"])
    if primary == "header-containers":
        evt["headers"] = draw(odd_containers)
        evt["multiValueHeaders"] = draw(odd_containers)
    elif primary == "header-values":
        for name in verification_headers(scheme):
            drop_header(evt, name)
            evt["headers"][name] = draw(odd_values)
            evt["multiValueHeaders"][name] = draw(MULTI_ODD)
    elif primary == "body":
        evt["body"] = draw(ODD_BODIES)
    elif primary == "source":
        # Unhashable source values (lists, dicts) crash: see test_security_findings.py.
        evt["pathParameters"] = draw(ODD_PATH_PARAMETERS)
        evt["path"] = draw(ODD_PATHS)
        assume(resolved_source(evt["pathParameters"], evt["path"]) != scheme)
    else:
        for key in draw(MISSING):
            evt.pop(key)
        if "body" in evt and ("headers" in evt or "multiValueHeaders" in evt):
            # Dropping one header map alone can leave the other, valid, one: drop both.
            evt.pop("headers", None)
            evt.pop("multiValueHeaders", None)
    # Secondary damage to fields the verifier may read but must not trust.
    for key in draw(SECONDARY):
        evt[key] = draw(odd_containers if key == "queryStringParameters" else odd_values)
    if draw(st.booleans()):
        evt["multiValueQueryStringParameters"] = draw(ODD_QUERIES)
    return evt


@pytest.mark.slow
def test_structure_6000_wrongly_typed_or_missing_event_fields_are_refused(runtime: FakeAws) -> None:
    @fuzz(TARGETS["structure"])
    @given(evt=structure_attacks())
    def run(evt: dict[str, Any]) -> None:
        COUNTS["structure"] += 1
        assert_refused(evt)

    run_and_count("structure", TARGETS["structure"], run)


def test_the_malformed_families_add_up_to_at_least_50000_examples() -> None:
    # Each family test above fails unless its own target really ran.
    assert TARGETS["signatures"] == PER_SCHEME_SIGNATURES * len(HEADER_SIGNED)
    assert sum(TARGETS.values()) >= MALFORMED_TARGET


# --------------------------------------------------------------------------- valid requests


@st.composite
def valid_requests(draw: st.DrawFn) -> tuple[str, bytes, dict[str, Any]]:
    scheme = draw(schemes)
    body = draw(
        st.one_of(
            st.binary(min_size=1, max_size=MAX_BODY),
            st.binary(min_size=1, max_size=300).map(lambda b: b + b"\n" * 3),
            st.text(SURROGATE_FREE, min_size=1, max_size=500).map(lambda t: t.encode("utf-8")),
            st.sampled_from([b"\xff\xfe\x00", b"\r\n", b" ", b"{}\n", b"\x00"]),
        )
    )
    # Where the signature travels in the body, the provider's envelope of it is what is posted.
    body = envelope(scheme, body)
    assume(len(body) <= MAX_BODY)
    # A handshake is answered, not queued.
    handshake = SCHEMES[scheme].default_handshake
    assume(handshake is None or get_handshake(handshake).after_verification(Request({}, body), NO_KEYS) is None)
    headers, query = sign(scheme, body)
    headers = {random_case(draw, name): value for name, value in headers.items()}
    try:
        body.decode("utf-8")
        as_text = draw(st.booleans())
    except UnicodeDecodeError:
        as_text = False
    return scheme, body, event(scheme, body, headers, query=query, base64_body=not as_text)


@pytest.mark.slow
def test_valid_3000_any_signed_body_is_accepted_and_queued_byte_exact(runtime: FakeAws) -> None:
    @fuzz(VALID_EXAMPLES)
    @given(case=valid_requests())
    def run(case: tuple[str, bytes, dict[str, Any]]) -> None:
        scheme, body, evt = case
        COUNTS["valid"] += 1
        FAKE.clear()
        response = call(evt)
        assert response["statusCode"] == 202, response
        assert len(FAKE.sent) == 1
        queue, kwargs = FAKE.sent[0]
        assert queue.endswith(f"webhooks-{scheme}")
        message = from_sqs_record({"body": kwargs["MessageBody"], "messageAttributes": kwargs["MessageAttributes"]})
        if message.claim_check is None:
            assert message.body == body
        else:
            assert FAKE.objects[(BUCKET, message.claim_check.key)][0] == body
        assert json.loads(response["body"]) == {"id": message.delivery_id}

    run_and_count("valid", VALID_EXAMPLES, run)


@pytest.mark.slow
def test_unavailable_2000_valid_request_with_a_failing_dependency_gets_503_and_nothing_is_sent(
    runtime: FakeAws,
) -> None:
    @fuzz(UNAVAILABLE_EXAMPLES)
    @given(case=valid_requests(), failing=st.sampled_from(["send", "put", "secrets"]))
    def run(case: tuple[str, bytes, dict[str, Any]], failing: str) -> None:
        _scheme, _body, evt = case
        COUNTS["unavailable"] += 1
        FAKE.clear()
        FAKE.fail_send = True  # whatever else fails, SQS never takes it either
        FAKE.fail_put = failing == "put"
        FAKE.fail_secrets = failing == "secrets"
        response = call(evt)
        assert response["statusCode"] == 503, response
        assert int(response["headers"]["Retry-After"]) > 0
        assert FAKE.sent == []

    run_and_count("unavailable", UNAVAILABLE_EXAMPLES, run)
