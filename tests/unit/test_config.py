"""Configuration: the shipped file is valid; bad configuration names the field and the reason."""

from __future__ import annotations

import copy
import fnmatch
import tomllib
from pathlib import Path
from typing import Any

import pytest

from stacks.arns import secret_arn_for_policies, secret_arn_is_complete
from stacks.aws_limits import API_GATEWAY_MAX_RESOURCES, MAX_SOURCES
from stacks.config import ConfigError, SchemeName, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


def _base() -> dict[str, Any]:
    return copy.deepcopy(tomllib.loads((ROOT / "webhook-kit.toml").read_text()))


def _with_source(**fields: Any) -> dict[str, Any]:
    data = _base()
    data["sources"][0].update(fields)
    return data


def _error(data: dict[str, Any], overrides: dict[str, Any] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, overrides)
    return str(caught.value)


def test_shipped_configuration_declares_stripe_github_and_standard_webhooks() -> None:
    config = load_config(ROOT / "webhook-kit.toml")
    assert {s.scheme for s in config.sources} >= {"stripe", "github", "standard-webhooks"}
    assert config.idempotency_expiry_seconds == 30 * 24 * 3600
    assert config.retain_data is True


def test_unknown_scheme_is_refused_with_the_field() -> None:
    message = _error(_with_source(scheme="stripey"))
    assert "sources[stripe].scheme" in message and "stripe" in message


def test_duplicate_source_names_are_refused() -> None:
    data = _base()
    data["sources"].append({"name": "stripe", "scheme": "github"})
    assert "duplicate source name(s) stripe" in _error(data)


def test_bad_cidr_is_refused_with_the_value() -> None:
    message = _error(_with_source(allowed_cidrs=["3.18.12.63/33"]))
    assert "sources[stripe].allowed_cidrs" in message and "3.18.12.63/33" in message


def test_cidr_with_host_bits_is_refused() -> None:
    assert "10.0.0.1/24" in _error(_with_source(allowed_cidrs=["10.0.0.1/24"]))


@pytest.mark.parametrize("name", ["Stripe", "str ipe", "../admin", "stripe/x", "-stripe", "", "a" * 33])
def test_path_unsafe_source_names_are_refused(name: str) -> None:
    # An unusable name cannot label its own source: the position does (1-based), the value is echoed.
    message = _error(_with_source(name=name))
    assert "sources[#1].name" in message and "URL path segment" in message
    assert f"(got {name!r})" in message or not name


def test_visibility_timeout_below_six_times_the_function_timeout_is_refused() -> None:
    message = _error(_with_source(timeout_seconds=60, visibility_timeout_seconds=300))
    assert "sources[stripe]" in message and "visibility-timeout rule" in message and "360" in message


def test_visibility_timeout_above_the_sqs_maximum_is_refused() -> None:
    message = _error(_with_source(timeout_seconds=900, visibility_timeout_seconds=50_000))
    assert "12-hour" in message


def test_processor_timeout_above_lambdas_maximum_is_refused() -> None:
    assert "sources[stripe].timeout_seconds" in _error(_with_source(timeout_seconds=901))


def test_url_signing_scheme_needs_its_public_url() -> None:
    data = _base()
    data["sources"].append({"name": "sms", "scheme": "twilio"})
    assert "public_url is required for scheme 'twilio'" in _error(data)


@pytest.mark.parametrize("url", ["https://hooks.example.com/sms?tenant=1", "https://hooks.example.com/sms#x"])
def test_a_public_url_with_a_query_or_fragment_is_refused(url: str) -> None:
    # The verifier appends each request's query to public_url: one here would be signed twice.
    data = _base()
    data["sources"].append({"name": "sms", "scheme": "twilio", "public_url": url})
    assert "public_url must not have a query string or fragment" in _error(data)


def test_generic_hmac_needs_its_options_and_a_consistent_template() -> None:
    data = _base()
    data["sources"].append({"name": "erp", "scheme": "generic-hmac"})
    assert "generic" in _error(data)
    data["sources"][-1]["generic"] = {"signature_header": "X-Sig", "signed_template": "{timestamp}.{body}"}
    assert "timestamp_header" in _error(data)


def _generic(**options: Any) -> dict[str, Any]:
    data = _base()
    data["sources"].append({"name": "linear", "scheme": "generic-hmac", "generic": options})
    return data


def test_a_generic_timestamp_header_signs_timestamp_dot_body_by_default() -> None:
    config = parse_config(_generic(signature_header="X-Sig", timestamp_header="X-Ts"))
    assert config.source("linear").verifier_options() == {
        "signature_header": "X-Sig",
        "algorithm": "sha256",
        "encoding": "hex",
        "prefix": "",
        "timestamp_header": "X-Ts",
    }


def test_a_linear_style_body_timestamp_in_milliseconds_is_accepted() -> None:
    config = parse_config(
        _generic(signature_header="Linear-Signature", timestamp_field="webhookTimestamp", timestamp_unit="milliseconds")
    )
    options = config.source("linear").verifier_options()
    assert options["timestamp_field"] == "webhookTimestamp" and options["timestamp_unit"] == "milliseconds"


def test_a_timestamp_in_both_a_header_and_a_body_field_is_refused_naming_both_and_the_fix() -> None:
    message = _error(_generic(signature_header="X-Sig", timestamp_header="X-Ts", timestamp_field="ts"))
    assert "sources[linear].generic: timestamp_header and timestamp_field are both set" in message
    assert "keep timestamp_header if it is a header, timestamp_field if it is in the JSON body" in message


def test_a_timestamp_unit_without_a_body_field_is_refused_naming_the_fix() -> None:
    message = _error(_generic(signature_header="X-Sig", timestamp_header="X-Ts", timestamp_unit="milliseconds"))
    assert "sources[linear].generic: timestamp_unit applies to a body timestamp only" in message
    assert "set timestamp_field, or remove timestamp_unit" in message


def test_an_unknown_timestamp_unit_is_refused_with_the_value_and_the_nearest_unit() -> None:
    message = _error(_generic(signature_header="X-Sig", timestamp_field="ts", timestamp_unit="millisecond"))
    assert "sources[linear].generic.timestamp_unit" in message
    assert "(got 'millisecond'); did you mean 'milliseconds'?" in message


def test_large_batches_need_a_batching_window() -> None:
    assert "batching_window_seconds" in _error(_with_source(batch_size=100))


def test_a_typo_is_an_error_not_a_silent_default() -> None:
    data = _base()
    data["stage_nmae"] = "dev"
    assert "stage_nmae: unknown setting 'stage_nmae'; did you mean 'stage_name'?" in _error(data)
    assert "sources[stripe].bach_size" in _error(_with_source(bach_size=5))


def test_an_error_names_the_source_by_its_name_not_its_position() -> None:
    data = _base()
    data["sources"].append({"name": "linear", "scheme": "github", "batch_size": 0})
    message = _error(data)
    assert "sources[linear].batch_size" in message and "sources.3" not in message


def test_a_misspelt_source_key_suggests_the_nearest_one() -> None:
    message = _error(_with_source(tolerance_secnds=300))
    assert "sources[stripe].tolerance_secnds: unknown setting 'tolerance_secnds'" in message
    assert "did you mean 'tolerance_seconds'?" in message


def test_a_misspelt_generic_option_suggests_the_nearest_one() -> None:
    message = _error(_generic(signature_header="X-Sig", timestamp_feild="ts"))
    assert "sources[linear].generic.timestamp_feild" in message and "did you mean 'timestamp_field'?" in message


def test_a_misspelt_scheme_echoes_the_value_and_suggests_the_nearest_scheme() -> None:
    message = _error(_with_source(scheme="generic-hmc"))
    assert "sources[stripe].scheme" in message
    assert "(got 'generic-hmc'); did you mean 'generic-hmac'?" in message


def test_a_wrong_value_is_echoed() -> None:
    message = _error(_with_source(batch_size=0))
    assert "sources[stripe].batch_size: Input should be greater than or equal to 1 (got 0)" in message


def test_a_one_source_file_with_one_error_gets_one_line(tmp_path: Path) -> None:
    # A list whose only item is invalid is also "too short" to pydantic; that second line misled.
    path = tmp_path / "webhook-kit.toml"
    path.write_text('[[sources]]\nname = "linear"\nscheme = "github"\ntolerance_secnds = 300\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = str(caught.value).splitlines()[1:]
    assert lines == [
        "  sources[linear].tolerance_secnds: unknown setting 'tolerance_secnds'; did you mean 'tolerance_seconds'?"
    ]


def test_an_empty_source_list_is_still_refused() -> None:
    data = _base()
    data["sources"] = []
    assert "sources: Tuple should have at least 1 item" in _error(data)


def test_verifier_timeout_must_fit_api_gateways_29_seconds() -> None:
    data = _base()
    data["verifier_timeout_seconds"] = 30
    assert "verifier_timeout_seconds" in _error(data)


def test_body_cap_must_fit_a_synchronous_lambda_invocation() -> None:
    data = _base()
    data["max_body_bytes"] = 8 * 1024 * 1024
    assert "max_body_bytes" in _error(data)


SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:webhooks/stripe"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_secret_arn_must_be_a_secrets_manager_arn() -> None:
    assert "sources[stripe].secret_arn" in _error(_with_source(secret_arn="arn:aws:s3:::bucket"))


@pytest.mark.parametrize(
    ("secret_arn", "iam_resource"),
    [
        # Complete: Secrets Manager's six-character suffix is there; IAM matches it as it is.
        (SECRET_ARN + "-AbC123", SECRET_ARN + "-AbC123"),
        # Partial: IAM compares the complete ARN, so the suffix is granted as "-??????".
        (SECRET_ARN, SECRET_ARN + "-??????"),
        (
            "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:a/b_c+d=e.f@g",
            "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:a/b_c+d=e.f@g-??????",
        ),
    ],
)
def test_a_secret_arn_is_accepted_complete_or_partial_and_granted_so_iam_matches_the_secret(
    secret_arn: str, iam_resource: str
) -> None:
    source = parse_config(_with_source(secret_arn=secret_arn)).sources[0]
    assert source.secret_arn == secret_arn
    assert secret_arn_for_policies(secret_arn) == iam_resource
    # IAM matches the granted resource (* and ? wildcards) against the secret's real, complete ARN.
    real = secret_arn if secret_arn_is_complete(secret_arn) else secret_arn + "-Xy9Z0a"
    assert fnmatch.fnmatchcase(real, iam_resource)


@pytest.mark.parametrize(
    "secret_arn",
    [
        SECRET_ARN + "-??????",  # a wildcard: the grant would cover other secrets
        SECRET_ARN + "*",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:",
        "arn:aws:secretsmanager:eu-west-1:123456789012:webhooks/stripe",
        "arn:aws:secretsmanager:eu-west-1:1234:secret:webhooks/stripe",
        "webhooks/stripe",
    ],
)
def test_a_secret_arn_iam_could_not_match_as_given_is_refused_naming_the_field(secret_arn: str) -> None:
    message = _error(_with_source(secret_arn=secret_arn))
    assert "sources[stripe].secret_arn" in message and "complete" in message and "partial" in message


def test_an_existing_secrets_customer_managed_key_is_accepted_by_key_arn() -> None:
    source = parse_config(_with_source(secret_arn=SECRET_ARN, secret_kms_key_arn=KEY_ARN)).sources[0]
    assert source.secret_kms_key_arn == KEY_ARN
    assert parse_config(_base()).sources[0].secret_kms_key_arn is None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"secret_arn": SECRET_ARN, "secret_kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:alias/webhooks"},
            "alias",
        ),
        ({"secret_arn": SECRET_ARN, "secret_kms_key_arn": "1234abcd-12ab-34cd-56ef-1234567890ab"}, "key/<key-id>"),
        ({"secret_kms_key_arn": KEY_ARN}, "only for an existing secret (secret_arn)"),
        (
            {"secret_arn": SECRET_ARN, "secret_kms_key_arn": KEY_ARN.replace("eu-west-1", "us-east-1")},
            "a key of its own Region",
        ),
    ],
)
def test_a_secret_kms_key_that_cannot_decrypt_the_secret_is_refused_naming_the_field(
    fields: dict[str, str], expected: str
) -> None:
    message = _error(_with_source(**fields))
    assert "secret_kms_key_arn" in message and expected in message


def test_the_api_gateway_cloudwatch_role_is_created_unless_the_account_has_one() -> None:
    assert load_config(ROOT / "webhook-kit.toml").api_gateway_cloudwatch_role == "create"
    assert parse_config(_base(), {"api_gateway_cloudwatch_role": "existing"}).api_gateway_cloudwatch_role == "existing"
    message = _error(_base(), {"api_gateway_cloudwatch_role": "none"})
    assert "api_gateway_cloudwatch_role" in message and "'create' or 'existing'" in message


def test_context_overrides_replace_global_and_source_scalars() -> None:
    config = parse_config(_base(), {"stage_name": "dev", "waf_rate_limit": "500", "sources.github.batch_size": "3"})
    assert config.stage_name == "dev"
    assert config.waf_rate_limit == 500
    assert config.source("github").batch_size == 3


def test_overrides_are_validated_like_the_file() -> None:
    assert "waf_rate_limit" in _error(_base(), {"waf_rate_limit": "5"})
    assert "no source named 'gitlab'" in _error(_base(), {"sources.gitlab.batch_size": "3"})


def test_missing_file_and_bad_toml_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("sources = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_scheme_names_match_the_verifier_registry() -> None:
    from webhook_verify.schemes import SCHEMES

    assert set(SchemeName.__args__) == set(SCHEMES)


def test_a_deployment_holds_as_many_sources_as_its_template_and_api_have_room_for() -> None:
    data = _base()
    data["sources"] = [{"name": f"source-{i}", "scheme": "github"} for i in range(MAX_SOURCES)]
    assert len(parse_config(data).sources) == MAX_SOURCES < API_GATEWAY_MAX_RESOURCES - 2
    data["sources"].append({"name": "one-more", "scheme": "github"})
    message = _error(data)
    assert f"{MAX_SOURCES + 1} sources, over the {MAX_SOURCES} one deployment holds" in message
    assert "1 MB" in message and f"{API_GATEWAY_MAX_RESOURCES} resources" in message
    assert "stack_name" in message  # the fix: a second deployment


def test_two_source_names_that_make_one_cloudformation_name_are_refused() -> None:
    data = _base()
    data["sources"] = [{"name": "shop-1", "scheme": "github"}, {"name": "shop1", "scheme": "github"}]
    message = _error(data)
    assert "'shop-1' and 'shop1'" in message and "Shop1" in message and "rename one" in message


@pytest.mark.parametrize("seconds", [0, 1, 59])
def test_a_secret_cache_shorter_than_a_minute_is_refused(seconds: int) -> None:
    data = _base()
    data["secrets_max_age_seconds"] = seconds
    message = _error(data)
    assert "secrets_max_age_seconds" in message and "60" in message
    data["secrets_max_age_seconds"] = 60
    assert parse_config(data).secrets_max_age_seconds == 60


def test_each_source_gets_its_own_throttle_within_the_stage_ceiling() -> None:
    config = load_config(ROOT / "webhook-kit.toml")
    for source in config.sources:
        assert 1 <= source.throttle_rate <= source.throttle_burst
        assert source.throttle_rate <= config.api_throttle_rate and source.throttle_burst <= config.api_throttle_burst
    tuned = parse_config(_with_source(throttle_rate=20, throttle_burst=40)).sources[0]
    assert (tuned.throttle_rate, tuned.throttle_burst) == (20, 40)


def test_a_source_burst_below_its_rate_is_refused_naming_the_field() -> None:
    message = _error(_with_source(throttle_rate=30, throttle_burst=20))
    assert "sources[stripe]: throttle_burst 20 must be at least throttle_rate 30" in message


def test_a_source_throttle_above_the_stage_ceiling_is_refused_naming_the_fields() -> None:
    data = _with_source(throttle_rate=600, throttle_burst=1200)
    message = _error(data)
    assert "sources[stripe].throttle_rate 600 exceeds api_throttle_rate 500" in message
    assert "sources[stripe].throttle_burst 1200 exceeds api_throttle_burst 1000" in message
    data["api_throttle_rate"], data["api_throttle_burst"] = 600, 1200
    assert parse_config(data).sources[0].throttle_rate == 600


def test_retention_defaults_keep_bodies_and_idempotency_records_for_a_messages_whole_life() -> None:
    config = parse_config({"sources": [{"name": "gh", "scheme": "github"}]})
    life_days = config.queue_retention_days + config.dead_letter_retention_days
    assert (config.queue_retention_days, config.dead_letter_retention_days) == (14, 14)
    assert config.claim_check_expiry_days >= life_days + 1
    assert config.idempotency_expiry_seconds >= life_days * 24 * 3600


def test_claim_checks_expiring_before_a_message_can_be_redriven_are_refused() -> None:
    data = _base()
    data["claim_check_expiry_days"] = 14
    message = _error(data)
    assert "claim_check_expiry_days 14" in message
    assert "queue_retention_days + dead_letter_retention_days + 1" in message and "29" in message
    assert "raise claim_check_expiry_days" in message
    data["queue_retention_days"], data["dead_letter_retention_days"] = 6, 7
    assert parse_config(data).claim_check_expiry_days == 14


def test_idempotency_records_expiring_before_a_duplicate_can_be_redriven_are_refused() -> None:
    data = _base()
    data["idempotency_expiry_seconds"] = 3 * 24 * 3600
    message = _error(data)
    assert "idempotency_expiry_seconds 259200" in message
    assert "(queue_retention_days + dead_letter_retention_days) x 86400" in message and "2419200" in message
    assert "raise idempotency_expiry_seconds" in message
    data["queue_retention_days"], data["dead_letter_retention_days"] = 1, 2
    assert parse_config(data).idempotency_expiry_seconds == 259200


@pytest.mark.parametrize("field", ["queue_retention_days", "dead_letter_retention_days"])
@pytest.mark.parametrize("days", [0, 15])
def test_queue_retention_outside_what_sqs_allows_is_refused(field: str, days: int) -> None:
    data = _base()
    data[field] = days
    message = _error(data)
    assert field in message and ("greater than or equal to 1" in message or "less than or equal to 14" in message)


def test_a_dead_letter_queue_keeping_messages_shorter_than_the_queue_is_refused() -> None:
    # SQS's own move to the DLQ keeps the first enqueue time: a shorter DLQ deletes late dead letters at once.
    data = _base()
    data["queue_retention_days"], data["dead_letter_retention_days"] = 14, 7
    message = _error(data)
    assert "dead_letter_retention_days 7" in message and "queue_retention_days 14" in message


def test_ed25519_is_for_standard_webhooks_and_svix_sources_and_alone_brings_the_cryptography_layer() -> None:
    pytest.importorskip("aws_cdk", reason="the Python 3.13 test environment has no CDK (stacks.crypto_layer)")
    from stacks.crypto_layer import sources_needing_cryptography

    assert "ed25519 = true is for schemes standard-webhooks and svix" in _error(
        _with_source(name="pay", scheme="stripe", ed25519=True)
    )
    hmac_only = parse_config(_with_source(name="shop", scheme="standard-webhooks"))
    signed_v1a = parse_config(_with_source(name="shop", provider="clerk", scheme=None, ed25519=True))
    assert signed_v1a.sources[0].verifier_options()["ed25519"] is True
    assert sources_needing_cryptography(hmac_only.sources) == []
    assert sources_needing_cryptography(signed_v1a.sources) == ["shop"]
    # The shipped configuration deploys without the layer (and synthesizes offline).
    assert sources_needing_cryptography(load_config(ROOT / "webhook-kit.toml").sources) == []


def test_the_shipped_configuration_allow_lists_stripe_and_github_by_preset() -> None:
    sources = {source.name: source for source in load_config(ROOT / "webhook-kit.toml").sources}
    assert sources["stripe"].allowed_presets == ("stripe",) and sources["github"].allowed_presets == ("github",)
    assert not sources["stripe"].allowed_cidrs and not sources["github"].allowed_cidrs


def test_an_unknown_preset_is_refused_naming_it_and_the_presets_there_are() -> None:
    message = _error(_with_source(allowed_presets=["stripey"]))
    assert "sources[stripe].allowed_presets" in message and "'stripey'" in message
    assert "presets: github, stripe" in message and "allowed_cidrs" in message


def test_a_preset_named_twice_is_refused() -> None:
    message = _error(_with_source(allowed_presets=["stripe", "stripe"]))
    assert "sources[stripe].allowed_presets" in message and "names a preset twice" in message


def test_a_preset_with_extra_cidrs_allows_both() -> None:
    (source, *_) = parse_config(_with_source(allowed_presets=["stripe"], allowed_cidrs=["203.0.113.0/24"])).sources
    assert source.allow_listed and "203.0.113.0/24" in source.snapshot_ranges
    assert "3.18.12.63/32" in source.snapshot_ranges  # from the shipped snapshot


@pytest.mark.parametrize(("hours", "accepted"), [(0, False), (1, True), (72, True), (73, False)])
def test_the_allow_list_sync_runs_every_1_to_72_hours(hours: int, accepted: bool) -> None:
    data = {**_base(), "allowlist_sync_hours": hours}
    if accepted:
        assert parse_config(data).allowlist_sync_hours == hours
    else:
        assert "allowlist_sync_hours" in _error(data)


@pytest.mark.parametrize("percent", [0, 101])
def test_the_unconfirmed_change_bound_is_a_percentage(percent: int) -> None:
    assert "allowlist_max_change_percent" in _error({**_base(), "allowlist_max_change_percent": percent})
