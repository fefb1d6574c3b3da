"""AWS SNS and PayPal: RSA signatures checked with a certificate the request names by URL.

Signed here with the kit's test key (webhook_kit.local.certificates), whose certificates the
tests serve; the official vectors are in vectors/providers/{aws-sns,paypal}.json. What is
proven: the certificate URL is checked before anything is fetched (look-alike hosts, other
regions, ports, user info), a fetch that fails is KeyUnavailable (the verifier's 503, never a
401), and each signed field, the topic and the webhook id are bound.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhook_kit.local.certificates import (
    PAYPAL_CERTIFICATE,
    SIGNING_KEY,
    SNS_CERTIFICATE,
    SNS_CERTIFICATE_NAME,
    signing_options,
)
from webhook_verify.schemes import KeyUnavailable, Request, get_scheme
from webhook_verify.schemes.aws_sns import message, signed_message, subscribe_url_ok

NOW = 1_700_000_000
TOPIC = "arn:aws:sns:us-east-2:123456789012:orders"
HOST = "sns.us-east-2.amazonaws.com"
CERT_URL = f"https://{HOST}/{SNS_CERTIFICATE_NAME}"
WEBHOOK_ID = "4JH86294D6297924G"
SNS = get_scheme("aws-sns")
PAYPAL = get_scheme("paypal")


class Served:
    """A fetch that serves ``certificates`` by URL and records each call."""

    def __init__(self, certificates: dict[str, bytes] | None = None) -> None:
        self.certificates = certificates or {}
        self.calls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        if url not in self.certificates:
            raise KeyUnavailable(url)
        return self.certificates[url]


def _sns_fields(**changes: str) -> dict[str, str]:
    fields = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Subject": "Order shipped",
        "Message": '{"order_id": "8841"}',
        "Timestamp": "2023-11-14T22:13:20.000Z",
    }
    fields.update(changes)
    return {name: value for name, value in fields.items() if value != "-"}


def _sns_body(fields: dict[str, str], *, url: str = CERT_URL, version: str = "2", **after: Any) -> bytes:
    document = signed_message(fields, private_key=SIGNING_KEY, certificate_url=url, version=version)
    document.update(after)
    return json.dumps(document).encode()


def _sns_verify(body: bytes, fetch: Callable[[str], bytes] | None = None, secrets: list[str] | None = None) -> bool:
    fetch = fetch if fetch is not None else Served({CERT_URL: SNS_CERTIFICATE})
    return SNS.verify(
        Request(headers={}, body=body), secrets or [TOPIC], now=NOW, tolerance_seconds=300, options={}, fetch=fetch
    )


# --------------------------------------------------------------------------- AWS SNS


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("subject", ["Order shipped", "-"], ids=["subject", "no-subject"])
def test_an_sns_notification_signed_with_either_version_verifies(version: str, subject: str) -> None:
    assert _sns_verify(_sns_body(_sns_fields(Subject=subject), version=version))


def test_an_sns_confirmation_signs_its_subscribe_url_and_token() -> None:
    fields = _sns_fields(Type="SubscriptionConfirmation", Subject="-")
    fields |= {"SubscribeURL": f"https://{HOST}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=abc", "Token": "abc"}
    body = _sns_body(fields)
    assert _sns_verify(body)
    tampered = json.loads(body) | {"Token": "abd"}
    assert not _sns_verify(json.dumps(tampered).encode())


@pytest.mark.parametrize("name", ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"])
def test_changing_any_signed_sns_field_is_rejected(name: str) -> None:
    document = json.loads(_sns_body(_sns_fields()))
    document[name] = "UnsubscribeConfirmation" if name == "Type" else document[name] + "x"
    assert not _sns_verify(json.dumps(document).encode(), secrets=[TOPIC, TOPIC + "x"])


def test_unsigned_sns_fields_do_not_matter_but_a_repeated_field_is_refused() -> None:
    body = _sns_body(_sns_fields(), MessageAttributes={"a": {"Type": "String", "Value": "1"}})
    assert _sns_verify(body)
    text = body.decode()
    repeated = text[:-1] + ', "Message": "{\\"order_id\\": \\"9999\\"}"}'
    assert not _sns_verify(repeated.encode())


def test_a_message_from_a_topic_the_source_does_not_accept_is_rejected_without_a_fetch() -> None:
    served = Served({CERT_URL: SNS_CERTIFICATE})
    assert not _sns_verify(_sns_body(_sns_fields()), served, secrets=["arn:aws:sns:us-east-2:123456789012:other"])
    assert served.calls == []


@pytest.mark.parametrize(
    "url",
    [
        f"http://{HOST}/{SNS_CERTIFICATE_NAME}",
        f"https://sns.us-east-1.amazonaws.com/{SNS_CERTIFICATE_NAME}",  # another region
        f"https://{HOST}.evil.example/{SNS_CERTIFICATE_NAME}",
        f"https://evil.example/{HOST}/{SNS_CERTIFICATE_NAME}",
        f"https://x{HOST}/{SNS_CERTIFICATE_NAME}",
        f"https://{HOST}:443/{SNS_CERTIFICATE_NAME}",
        f"https://user@{HOST}/{SNS_CERTIFICATE_NAME}",
        f"https://{HOST}/{SNS_CERTIFICATE_NAME}?x=1",
        f"https://{HOST}/dir/{SNS_CERTIFICATE_NAME}",
        f"https://{HOST}/cert.key",
        f"https://s3.us-east-2.amazonaws.com/{SNS_CERTIFICATE_NAME}",
        f"https://{HOST.upper()}/{SNS_CERTIFICATE_NAME}",
    ],
)
def test_an_sns_certificate_url_off_the_topics_regional_host_is_refused_without_a_fetch(url: str) -> None:
    served = Served({url: SNS_CERTIFICATE})
    assert not _sns_verify(_sns_body(_sns_fields(), url=url), served)
    assert served.calls == []


def test_an_sns_certificate_that_cannot_be_fetched_is_key_unavailable_not_a_rejection() -> None:
    with pytest.raises(KeyUnavailable):
        _sns_verify(_sns_body(_sns_fields()), Served())


def test_without_a_fetcher_an_sns_message_verifies_nothing() -> None:
    body = _sns_body(_sns_fields())
    assert not SNS.verify(Request(headers={}, body=body), [TOPIC], now=NOW, tolerance_seconds=300, options={})


@pytest.mark.parametrize(
    ("certificate", "now"),
    [(PAYPAL_CERTIFICATE, NOW), (SNS_CERTIFICATE, 4_200_000_000), (b"not a certificate", NOW), (b"", NOW)],
    ids=["paypal-subject", "expired", "garbage", "empty"],
)
def test_an_sns_certificate_with_another_subject_expired_or_unreadable_verifies_nothing(
    certificate: bytes, now: int
) -> None:
    body = _sns_body(_sns_fields())
    fetch = Served({CERT_URL: certificate})
    assert not SNS.verify(
        Request(headers={}, body=body), [TOPIC], now=now, tolerance_seconds=300, options={}, fetch=fetch
    )


@pytest.mark.parametrize("kind", ["Notificbtion", "notification", "", "SubscriptionConfirmation"])
def test_an_sns_message_of_an_unknown_type_or_missing_fields_is_no_message(kind: str) -> None:
    # A SubscriptionConfirmation without SubscribeURL and Token lacks fields its type signs.
    document = json.loads(_sns_body(_sns_fields())) | {"Type": kind}
    body = json.dumps(document).encode()
    assert message(body) is None
    assert not _sns_verify(body)


@pytest.mark.parametrize("version", ["3", "", "01"])
def test_an_unknown_signature_version_is_rejected(version: str) -> None:
    document = json.loads(_sns_body(_sns_fields())) | {"SignatureVersion": version}
    assert not _sns_verify(json.dumps(document).encode())


def test_sns_delivery_id_and_event_type_are_the_signed_message_id_and_type() -> None:
    request = Request(headers={}, body=_sns_body(_sns_fields()))
    assert SNS.delivery_id(request, {}) == "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
    assert SNS.event_type(request, {}) == "Notification"
    assert SNS.delivery_id_signed({}) and SNS.event_type_signed({})


def test_only_topic_arns_are_sns_keys() -> None:
    assert SNS.keys([TOPIC, "not-an-arn", "arn:aws:sqs:us-east-2:123456789012:q", ""]) == [TOPIC.encode()]


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        (f"https://{HOST}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=t1", True),
        (f"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=t1", False),
        (f"https://{HOST}.evil.example/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=t1", False),
        (f"http://{HOST}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=t1", False),
        (f"https://{HOST}/?Action=Unsubscribe&TopicArn={TOPIC}&Token=t1", False),
        (f"https://{HOST}/?Action=ConfirmSubscription&TopicArn={TOPIC}x&Token=t1", False),
        (f"https://{HOST}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=", False),
        (f"https://{HOST}/?Action=ConfirmSubscription&Action=Publish&TopicArn={TOPIC}&Token=t1", False),
        (f"https://{HOST}/x?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=t1", False),
        (f"https://{HOST}:8443/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=t1", False),
        (f"https://u@{HOST}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=t1", False),
    ],
)
def test_a_subscribe_url_must_confirm_its_own_topic_on_its_regional_host(url: str, ok: bool) -> None:
    assert subscribe_url_ok({"SubscribeURL": url, "TopicArn": TOPIC}) is ok


@settings(max_examples=200, deadline=None)
@given(
    document=st.dictionaries(
        st.sampled_from(
            [
                "Type",
                "Message",
                "MessageId",
                "TopicArn",
                "Timestamp",
                "Signature",
                "SignatureVersion",
                "SigningCertURL",
                "Subject",
                "SubscribeURL",
                "Token",
            ]
        ),
        st.one_of(st.text(max_size=60), st.none(), st.integers(), st.lists(st.text(max_size=3), max_size=2)),
    ),
    raw=st.binary(max_size=200),
)
def test_hostile_sns_bodies_never_raise_and_never_verify(document: dict[str, Any], raw: bytes) -> None:
    served = Served({CERT_URL: SNS_CERTIFICATE})
    for body in (json.dumps(document).encode(), raw):
        assert not _sns_verify(body, served)
        request = Request(headers={}, body=body)
        SNS.delivery_id(request, {})
        SNS.event_type(request, {})
        message(body)


# --------------------------------------------------------------------------- PayPal

PAYPAL_BODY = b'{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{}}'
PAYPAL_URL = "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-webhook-kit-test"


def _paypal_headers(body: bytes = PAYPAL_BODY, webhook_id: str = WEBHOOK_ID, **changes: str) -> dict[str, str]:
    headers = PAYPAL.sign(body, webhook_id, timestamp=NOW, options=signing_options("paypal"))
    return {**headers, **changes}


def _paypal_verify(headers: dict[str, str], body: bytes = PAYPAL_BODY, fetch: Served | None = None, **kw: Any) -> bool:
    fetch = fetch if fetch is not None else Served({PAYPAL_URL: PAYPAL_CERTIFICATE})
    return PAYPAL.verify(
        Request(headers=headers, body=body),
        kw.get("secrets", [WEBHOOK_ID]),
        now=kw.get("now", NOW),
        tolerance_seconds=300,
        options={},
        fetch=fetch,
    )


def test_a_paypal_delivery_verifies_with_any_of_the_sources_webhook_ids() -> None:
    assert _paypal_verify(_paypal_headers(), secrets=["OLDWEBHOOK1", WEBHOOK_ID])
    assert not _paypal_verify(_paypal_headers(), secrets=["OLDWEBHOOK1"])


@pytest.mark.parametrize(
    "url",
    [
        "https://api.paypal.com.evil.example/v1/notifications/certs/CERT-webhook-kit-test",
        "https://evil.example/v1/notifications/certs/CERT-webhook-kit-test",
        "http://api.sandbox.paypal.com/v1/notifications/certs/CERT-webhook-kit-test",
        "https://api.sandbox.paypal.com:8443/v1/notifications/certs/CERT-webhook-kit-test",
        "https://api.sandbox.paypal.com/v1/other/CERT-webhook-kit-test",
        "https://www.paypal.com/v1/notifications/certs/CERT-webhook-kit-test",
        "https://user@api.sandbox.paypal.com/v1/notifications/certs/CERT-webhook-kit-test",
    ],
)
def test_a_paypal_certificate_url_off_paypals_api_hosts_is_refused_without_a_fetch(url: str) -> None:
    served = Served({url: PAYPAL_CERTIFICATE})
    assert not _paypal_verify(_paypal_headers(**{"paypal-cert-url": url}), fetch=served)
    assert served.calls == []


def test_paypal_accepts_its_documented_api_hosts() -> None:
    for host in ("api.paypal.com", "api-m.paypal.com", "api.sandbox.paypal.com", "api-m.sandbox.paypal.com"):
        url = f"https://{host}/v1/notifications/certs/CERT-1"
        served = Served({url: PAYPAL_CERTIFICATE})
        headers = PAYPAL.sign(
            PAYPAL_BODY, WEBHOOK_ID, timestamp=NOW, options=signing_options("paypal") | {"signing_certificate_url": url}
        )
        assert _paypal_verify(headers, fetch=served), host


def test_a_paypal_certificate_that_cannot_be_fetched_is_key_unavailable() -> None:
    with pytest.raises(KeyUnavailable):
        _paypal_verify(_paypal_headers(), fetch=Served())


@pytest.mark.parametrize("algorithm", ["SHA1withRSA", "sha256", "", "SHA256WITHRSA"])
def test_paypal_accepts_only_sha256_with_rsa(algorithm: str) -> None:
    assert not _paypal_verify(_paypal_headers(**{"paypal-auth-algo": algorithm}))


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_paypal_transmission_outside_the_window_is_rejected(offset: int) -> None:
    assert _paypal_verify(_paypal_headers(), now=NOW + offset - (1 if offset > 0 else -1))
    assert not _paypal_verify(_paypal_headers(), now=NOW + offset)


def test_an_sns_certificate_is_not_a_paypal_certificate() -> None:
    assert not _paypal_verify(_paypal_headers(), fetch=Served({PAYPAL_URL: SNS_CERTIFICATE}))


def test_a_body_with_the_same_crc32_is_a_duplicate_of_the_delivery_it_copies() -> None:
    # PayPal signs CRC32(body), so such a body verifies: the kit therefore treats the body's id
    # and type as unsigned and keys the delivery on the signed headers and CRC (replay_digest).
    headers = _paypal_headers()
    forged = b'{"id":"WH-2","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{}}'
    forged += _crc_patch(zlib.crc32(forged), zlib.crc32(PAYPAL_BODY))
    assert zlib.crc32(forged) == zlib.crc32(PAYPAL_BODY)
    assert _paypal_verify(headers, forged)
    assert not PAYPAL.delivery_id_signed({}) and not PAYPAL.event_type_signed({})
    original, copy = Request(headers=headers, body=PAYPAL_BODY), Request(headers=headers, body=forged)
    assert PAYPAL.replay_digest(original, {}) == PAYPAL.replay_digest(copy, {})


def _crc_patch(current: int, wanted: int) -> bytes:
    """Four bytes that, appended to a message whose CRC32 is ``current``, make it ``wanted``."""
    table = [0] * 256
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0xEDB88320 if crc & 1 else crc >> 1
        table[i] = crc
    inverse = {entry >> 24: index for index, entry in enumerate(table)}
    wanted ^= 0xFFFFFFFF
    indices = []
    for _ in range(4):
        index = inverse[wanted >> 24]
        indices.append(index)
        wanted = ((wanted ^ table[index]) << 8) & 0xFFFFFFFF
    patch = bytearray()
    crc = current ^ 0xFFFFFFFF
    for index in reversed(indices):
        byte = (crc ^ index) & 0xFF
        patch.append(byte)
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return bytes(patch)


def test_only_webhook_ids_are_paypal_keys() -> None:
    assert PAYPAL.keys([WEBHOOK_ID, "has|pipe", "", "x" * 65]) == [WEBHOOK_ID.encode()]


# --------------------------------------------------------------------------- the providers' own formulas


def test_the_signed_strings_are_the_ones_the_providers_own_tests_expect() -> None:
    # aws-php-sns-message-validator tests/MessageValidatorTest.php (01f10492),
    # testBuildsStringToSignCorrectly: the string to sign of its test message.
    from webhook_verify.schemes.aws_sns import string_to_sign
    from webhook_verify.schemes.paypal import signed_string

    fields = {
        "Message": "foo",
        "MessageId": "bar",
        "Timestamp": "1435697129",
        "TopicArn": "baz",
        "Type": "Notification",
    }
    assert (
        string_to_sign(fields)
        == b"Message\nfoo\nMessageId\nbar\nTimestamp\n1435697129\nTopicArn\nbaz\nType\nNotification\n"
    )
    # PayPal-Python-SDK test/unit_tests/notifications_test.py (0d704e7d), test_get_expected_sig:
    # transmission_id|timestamp|webhook_id|str(zlib.crc32(event_body) & 0xffffffff).
    body = b'{"id":"WH-0G2756385H040842W-5Y612302CV158622M"}'
    expected = (
        f"dfb3be50-fd74-11e4-8bf3-77339302725b|2015-05-18T15:45:13Z|4JH86294D6297924G|{zlib.crc32(body) & 0xFFFFFFFF}"
    )
    assert (
        signed_string("dfb3be50-fd74-11e4-8bf3-77339302725b", "2015-05-18T15:45:13Z", WEBHOOK_ID, body)
        == expected.encode()
    )
