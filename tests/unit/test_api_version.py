"""Where a delivery states its provider's API version: the setting, the catalogue, the library and the stack.

Provider facts:
* Stripe: the Event object's ``api_version``, "the Stripe API version used to
  render data" (https://docs.stripe.com/api/events/object), in the signed body.
* Shopify: the ``X-Shopify-API-Version`` request header of every webhook POST
  (https://shopify.dev/docs/apps/webhooks/versioning); Shopify's HMAC covers
  the body only, so the header is not signed.
* Twitch EventSub: ``subscription.version`` in the notification body
  (https://dev.twitch.tv/docs/eventsub/handling-webhook-events), signed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from processor.settings import Settings
from shared import contract
from stacks.config import ConfigError, parse_config
from webhook_kit.devsecrets import dev_secret
from webhook_kit.send import build
from webhook_verify import verify
from webhook_verify.api_version import ApiVersionFrom
from webhook_verify.providers import PROVIDERS

NOW = 1_700_000_000
URL = "https://hooks.example.com/webhooks/p"


@pytest.mark.parametrize(
    ("spec", "place", "name"),
    [
        ("body:api_version", "body", "api_version"),
        ("body:subscription.version", "body", "subscription.version"),
        ("header:X-Shopify-API-Version", "header", "X-Shopify-API-Version"),
    ],
)
def test_a_place_parses_and_prints_back(spec: str, place: str, name: str) -> None:
    where = ApiVersionFrom.parse(spec)
    assert (where.place, where.name, str(where)) == (place, name, spec)


@pytest.mark.parametrize(
    "spec", ["", "api_version", "query:v", "body:", "header:", "body:a..b", "header:Bad Header", "body:" + "a." * 9, 3]
)
def test_a_place_that_cannot_work_is_refused_with_the_expected_forms(spec: object) -> None:
    with pytest.raises(ValueError, match=r"body:<dotted JSON path>.*header:<header name>"):
        ApiVersionFrom.parse(spec)


@pytest.mark.parametrize(
    ("value", "read"),
    [
        ("2024-06-20", "2024-06-20"),
        ("2025-03-31.basil", "2025-03-31.basil"),
        ("1", "1"),
        (1, "1"),
        ("", None),
        (" 2024-06-20", None),
        ("2024-06-20\nX-Injected: yes", None),
        ("v" * 65, None),
        (True, None),
        ({"nested": "2024"}, None),
        (None, None),
    ],
)
def test_only_a_value_shaped_like_a_version_is_read(value: object, read: str | None) -> None:
    body = json.dumps({"api_version": value}).encode()
    assert ApiVersionFrom.parse("body:api_version").read({}, body) == read
    assert ApiVersionFrom.parse("header:X-Version").read({"x-version": value}) == read  # type: ignore[dict-item]


def test_a_body_path_reads_nested_objects_and_nothing_else() -> None:
    where = ApiVersionFrom.parse("body:subscription.version")
    assert where.read({}, b'{"subscription": {"version": "2"}}') == "2"
    assert where.read({}, b'{"subscription": ["version"]}') is None
    assert where.read({}, b"not json") is None
    assert where.read({}, b"[1, 2]") is None


def test_signed_only_from_the_body_of_a_delivery_that_verified() -> None:
    assert ApiVersionFrom.parse("body:api_version").signed()
    assert not ApiVersionFrom.parse("body:api_version").signed(verified=False)
    assert not ApiVersionFrom.parse("header:X-Shopify-API-Version").signed()


def test_the_catalogue_names_where_stripe_shopify_and_twitch_state_it() -> None:
    stated = {name: str(entry.api_version_from) for name, entry in PROVIDERS.items() if entry.api_version_from}
    assert stated == {
        "stripe": "body:api_version",
        "shopify": "header:X-Shopify-API-Version",
        "twitch": "body:subscription.version",
    }


def _delivery(tmp_path: Path, provider: str, template: dict[str, object]) -> tuple[dict[str, str], bytes, str]:
    source = parse_config({"stack_name": "V", "sources": [{"name": "p", "provider": provider}]}).sources[0]
    secret = dev_secret("p", source.scheme)
    body_file = tmp_path / "body.json"
    body_file.write_text(json.dumps(template))
    webhook = build(source, secret=secret, url=URL, body_file=body_file, now=NOW)
    return dict(webhook.headers), webhook.body, secret


def test_the_library_reads_stripes_signed_version(tmp_path: Path) -> None:
    headers, body, secret = _delivery(
        tmp_path, "stripe", {"id": "evt_1", "object": "event", "type": "invoice.paid", "api_version": "2024-06-20"}
    )

    result = verify(provider="stripe", url=URL, headers=headers, body=body, secrets=secret, now=NOW)

    assert (result.result, result.api_version, result.api_version_signed) == ("accepted", "2024-06-20", True)


def test_the_library_reads_shopifys_header_as_not_signed(tmp_path: Path) -> None:
    headers, body, secret = _delivery(tmp_path, "shopify", {"id": 820982911946154508})
    # Added after signing, as Shopify's signature covers the body alone: a replayer could change it.
    headers["X-Shopify-API-Version"] = "2024-07"

    result = verify(provider="shopify", url=URL, headers=headers, body=body, secrets=secret, now=NOW)

    assert (result.result, result.api_version, result.api_version_signed) == ("accepted", "2024-07", False)


def test_the_library_reads_twitchs_subscription_version(tmp_path: Path) -> None:
    template = {"subscription": {"id": "f1c2a387", "type": "channel.follow", "version": "2"}, "event": {}}
    headers, body, secret = _delivery(tmp_path, "twitch", template)

    result = verify(provider="twitch", url=URL, headers=headers, body=body, secrets=secret, now=NOW)

    assert (result.result, result.api_version, result.api_version_signed) == ("accepted", "2", True)


def test_the_library_takes_a_place_for_any_sender_and_refuses_a_bad_one(tmp_path: Path) -> None:
    headers, body, secret = _delivery(tmp_path, "stripe", {"id": "evt_2", "meta": {"v": "7"}, "type": "x"})

    result = verify(
        provider="stripe", url=URL, headers=headers, body=body, secrets=secret, now=NOW, api_version_from="body:meta.v"
    )
    assert result.api_version == "7"
    with pytest.raises(ValueError, match=r"^api_version_from: 'meta\.v' is not"):
        verify(
            provider="stripe", url=URL, headers=headers, body=body, secrets=secret, now=NOW, api_version_from="meta.v"
        )


def test_a_rejected_delivery_states_no_version(tmp_path: Path) -> None:
    headers, body, _ = _delivery(tmp_path, "stripe", {"id": "evt_3", "type": "x", "api_version": "2024-06-20"})

    result = verify(provider="stripe", url=URL, headers=headers, body=body, secrets="whsec_other", now=NOW)

    assert (result.result, result.api_version) == ("rejected", None)


# ---- configuration: a source's setting, else its provider's; the processor's environment


def _source(**spec: object) -> object:
    return parse_config({"stack_name": "V", "sources": [{"name": "p", **spec}]}).sources[0]


def test_a_source_takes_its_providers_place_unless_it_names_its_own() -> None:
    assert _source(provider="stripe").api_version_source == "body:api_version"  # type: ignore[attr-defined]
    own = _source(provider="stripe", api_version_from="header:Stripe-Version")
    assert own.api_version_source == "header:Stripe-Version"  # type: ignore[attr-defined]
    assert _source(provider="github").api_version_source is None  # type: ignore[attr-defined]
    # The shipped webhook-kit.toml names schemes: a scheme made for one provider has its entry.
    assert _source(scheme="stripe").api_version_source == "body:api_version"  # type: ignore[attr-defined]
    assert _source(scheme="shopify").api_version_source == "header:X-Shopify-API-Version"  # type: ignore[attr-defined]
    assert _source(scheme="standard-webhooks").api_version_source is None  # type: ignore[attr-defined]


def test_a_bad_setting_names_the_field_and_the_expected_forms() -> None:
    with pytest.raises(ConfigError, match=r"sources\[p\]\.api_version_from: 'version' is not 'body:<dotted JSON"):
        _source(provider="github", api_version_from="version")


def test_the_processor_reads_its_place_from_the_environment_and_refuses_a_bad_one() -> None:
    env = contract.processor_environment(
        source="p",
        idempotency_table="t",
        idempotency_expiry_seconds=60,
        claim_check_bucket="b",
        dead_letter_queue_url="https://sqs.example/dlq",
        unhandled_events="acknowledge",
        api_version_from="body:api_version",
    )
    assert Settings.from_env(env).api_version_from == ApiVersionFrom("body", "api_version")
    env.pop(contract.ENV_API_VERSION_FROM)
    assert Settings.from_env(env).api_version_from is None
    with pytest.raises(RuntimeError, match=r"^API_VERSION_FROM: 'x' is not"):
        Settings.from_env({**env, contract.ENV_API_VERSION_FROM: "x"})
