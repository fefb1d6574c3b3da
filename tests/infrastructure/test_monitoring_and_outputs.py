"""Alarms, the alarm topic, the dashboard and the stack outputs."""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

import pytest

from stacks import monitoring
from tests.infrastructure.conftest import ROOT, Synthesized


def _alarms(synth: Synthesized) -> list[dict[str, Any]]:
    return [r["Properties"] for r in synth.resources("AWS::CloudWatch::Alarm").values()]


def _alarms_on(synth: Synthesized, metric_name: str) -> list[dict[str, Any]]:
    return [a for a in _alarms(synth) if a.get("MetricName") == metric_name]


def test_every_alarm_notifies_the_topic(default_stack: Synthesized) -> None:
    (topic_id,) = default_stack.resources("AWS::SNS::Topic")
    alarms = _alarms(default_stack)
    assert alarms
    for alarm in alarms:
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["TreatMissingData"] == "notBreaching"


def test_each_dead_letter_queue_alarms_on_one_visible_message(default_stack: Synthesized) -> None:
    dlq_alarms = _alarms_on(default_stack, "ApproximateNumberOfMessagesVisible")
    watched = {a["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in dlq_alarms}
    dlqs = {q for q in default_stack.resources("AWS::SQS::Queue") if "DeadLetterQueue" in q}
    assert watched == dlqs and len(dlqs) == len(default_stack.config.sources)
    for alarm in dlq_alarms:
        assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_each_work_queue_alarms_on_oldest_message_age(default_stack: Synthesized) -> None:
    age_alarms = _alarms_on(default_stack, "ApproximateAgeOfOldestMessage")
    assert len(age_alarms) == len(default_stack.config.sources)
    assert {a["Threshold"] for a in age_alarms} == {default_stack.config.oldest_message_alarm_seconds}


def test_lambda_errors_and_throttles_alarm_for_every_function(default_stack: Synthesized) -> None:
    functions = {
        logical_id
        for logical_id, resource in default_stack.resources("AWS::Lambda::Function").items()
        if resource["Properties"].get("Handler", "").endswith(".handler.handler")
    }
    for metric in ("Errors", "Throttles"):
        watched = {a["Dimensions"][0]["Value"]["Ref"] for a in _alarms_on(default_stack, metric)}
        assert watched == functions, metric


def test_api_5xx_and_waf_block_spike_alarms(default_stack: Synthesized) -> None:
    (api_alarm,) = _alarms_on(default_stack, "5XXError")
    assert api_alarm["Namespace"] == "AWS/ApiGateway" and api_alarm["Threshold"] == 0
    (waf_alarm,) = _alarms_on(default_stack, "BlockedRequests")
    assert waf_alarm["Namespace"] == "AWS/WAFV2"
    assert waf_alarm["Threshold"] == default_stack.config.waf_blocked_alarm_threshold
    dimensions = {d["Name"]: d["Value"] for d in waf_alarm["Dimensions"]}
    (acl,) = default_stack.resources("AWS::WAFv2::WebACL").values()
    assert dimensions["WebACL"] == acl["Properties"]["VisibilityConfig"]["MetricName"] and dimensions["Rule"] == "ALL"


def test_signature_rejection_rate_alarm_per_source(default_stack: Synthesized) -> None:
    rate_alarms = [a for a in _alarms(default_stack) if "Metrics" in a]
    assert len(rate_alarms) == len(default_stack.config.sources)
    for alarm in rate_alarms:
        assert alarm["Threshold"] == default_stack.config.rejection_rate_alarm_percent
        names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
        assert names == {"Accepted", "Rejected"}
        namespaces = {m["MetricStat"]["Metric"]["Namespace"] for m in alarm["Metrics"] if "MetricStat" in m}
        assert namespaces == {"WebhookKit"}
        rejected = next(
            m for m in alarm["Metrics"] if m.get("MetricStat", {}).get("Metric", {}).get("MetricName") == "Rejected"
        )
        dimensions = {d["Name"]: d["Value"] for d in rejected["MetricStat"]["Metric"]["Dimensions"]}
        assert dimensions["reason"] == "unauthorized" and dimensions["service"] == "webhook-verifier"


def test_the_verifier_publishes_under_the_namespace_the_alarms_read() -> None:
    from stacks import monitoring
    from verifier import handler

    assert handler.metrics.namespace == monitoring.METRICS_NAMESPACE


def test_one_alarm_watches_every_source_for_secrets_served_stale(default_stack: Synthesized) -> None:
    [alarm] = _alarms_on(default_stack, "SecretsServedStale")
    assert alarm["Namespace"] == "WebhookKit"
    # Exactly the dimensions the verifier emits this metric with (no source: one series for all).
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "webhook-verifier"}]
    assert alarm["AlarmActions"] and alarm["Threshold"] == 0


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(default_stack: Synthesized) -> None:
    (key_id,) = default_stack.resources("AWS::KMS::Key")
    default_stack.template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}}
    )
    key = default_stack.resources("AWS::KMS::Key")[key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    principals = json.dumps([s.get("Principal") for s in key["KeyPolicy"]["Statement"]])
    assert "cloudwatch.amazonaws.com" in principals


def test_email_subscription_only_when_configured(default_stack: Synthesized, variant_stack: Synthesized) -> None:
    assert not default_stack.resources("AWS::SNS::Subscription")
    variant_stack.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"}
    )


def test_dashboard_shows_every_source(default_stack: Synthesized) -> None:
    (dashboard,) = default_stack.resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for source in default_stack.config.sources:
        assert f"{source.name}: queue" in body and f"{source.name}: dead letters" in body


def test_outputs_name_urls_secrets_queues_table_and_dashboard(default_stack: Synthesized) -> None:
    outputs = default_stack.template.to_json()["Outputs"]
    for label in ("Stripe", "Github", "Orders"):
        for suffix in ("WebhookUrl", "SecretArn", "QueueUrl", "DeadLetterQueueUrl"):
            assert f"{label}{suffix}" in outputs, f"{label}{suffix}"
    url = json.dumps(outputs["StripeWebhookUrl"]["Value"])
    assert "/webhooks/stripe" in url and "execute-api" in url
    for name in ("IdempotencyTableName", "ClaimCheckBucketName", "AlarmTopicArn", "DashboardName"):
        assert name in outputs


def test_every_alarm_has_a_runbook_entry(default_stack: Synthesized) -> None:
    runbook = (ROOT / "docs" / "reliability.md").read_text()
    headings = [line for line in runbook.splitlines() if line.startswith("### ")]
    alarm_keys = default_stack.stack.ingestion.monitoring.alarms.keys()
    assert len(alarm_keys) == 5 * len(default_stack.config.sources) + 5
    for key in alarm_keys:
        generic = key
        for source in default_stack.config.sources:
            if key.startswith(f"{source.name}-"):
                generic = "<source>" + key[len(source.name) :]
        assert any(f"`{generic}`" in heading for heading in headings), f"no runbook entry for alarm {generic}"


def _github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation but hyphens dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lstrip("#").strip().lower()).replace(" ", "-")


def _runbook_entry(alarm_key: str, source_names: list[str]) -> str:
    """The runbook entry of an alarm key: its source's name (the longest that fits) as `<source>`."""
    for name in sorted(source_names, key=len, reverse=True):
        if alarm_key.startswith(f"{name}-"):
            return "<source>" + alarm_key[len(name) :]
    return alarm_key


@pytest.mark.parametrize("stack", ["default_stack", "variant_stack"])
def test_every_alarm_is_named_after_its_deployment_and_links_its_runbook_entry(
    stack: str, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(stack)
    runbook = ROOT / monitoring.RUNBOOK
    entries = {
        _github_anchor(line): line.removeprefix("### ").strip("`")
        for line in runbook.read_text().splitlines()
        if line.startswith("### `")
    }
    source_names = [source.name for source in synth.config.sources]
    alarms = _alarms(synth)
    assert len(alarms) == 5 * len(source_names) + 5
    prefix = f"{synth.config.stack_name}-"
    for alarm in alarms:
        name = alarm["AlarmName"]
        assert name.startswith(prefix), name
        entry = _runbook_entry(name.removeprefix(prefix), source_names)
        anchor = _github_anchor(f"### `{entry}`")
        assert entries.get(anchor) == entry, f"no runbook heading ### `{entry}` for alarm {name}"
        assert alarm["AlarmDescription"].endswith(f" Runbook: {monitoring.RUNBOOK}#{anchor}"), name
    assert len({alarm["AlarmName"] for alarm in alarms}) == len(alarms)
    # The longest stack name (128) and source name (32) the configuration allows stay
    # within CloudWatch's 255-character alarm names.
    assert 128 + 1 + 32 + max(len(entry.removeprefix("<source>")) for entry in entries.values()) <= 255


# Stand-ins for the pseudo parameters of the environment-agnostic template.
_PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333"}
_CLOUDWATCH = {"Service": "cloudwatch.amazonaws.com"}


def _resolve(value: Any) -> str:
    """A template value built from strings, pseudo parameters and Fn::Join, as deployed in _PSEUDO."""
    if isinstance(value, str):
        return value
    if "Ref" in value and value["Ref"] in _PSEUDO:
        return _PSEUDO[value["Ref"]]
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_resolve(part) for part in parts)
    raise AssertionError(f"cannot resolve {value} to a string")


def _arn_like(pattern: str, arn: str) -> bool:
    # IAM's ArnLike: each of the six colon-separated parts matched with * and ? wildcards.
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    return len(pattern_parts) == len(arn_parts) == 6 and all(
        fnmatch.fnmatchcase(part, wanted) for wanted, part in zip(pattern_parts, arn_parts, strict=True)
    )


def _only_this_accounts_alarms(statement: dict[str, Any]) -> None:
    condition = statement.get("Condition", {})
    assert {"StringEquals", "ArnLike"} <= set(condition), statement
    assert _resolve(condition["StringEquals"]["aws:SourceAccount"]) == _PSEUDO["AWS::AccountId"], statement
    pattern = _resolve(condition["ArnLike"]["aws:SourceArn"])
    assert _arn_like(pattern, "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:WebhookKit-stripe-dead-letters")
    for foreign in (
        "arn:aws:cloudwatch:eu-west-1:444455556666:alarm:WebhookKit-stripe-dead-letters",
        "arn:aws:cloudwatch:us-east-1:111122223333:alarm:WebhookKit-stripe-dead-letters",
        "arn:aws:events:eu-west-1:111122223333:rule/anything",
    ):
        assert not _arn_like(pattern, foreign), (pattern, foreign)


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {a.lower() for a in (action if isinstance(action, list) else [action])}


@pytest.mark.parametrize("stack", ["default_stack", "variant_stack"])
def test_every_alarm_action_reaches_a_topic_cloudwatch_may_publish_to_and_encrypt_for(
    stack: str, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(stack)
    topics = synth.resources("AWS::SNS::Topic")
    topic_policies = synth.resources("AWS::SNS::TopicPolicy").values()
    keys = synth.resources("AWS::KMS::Key")
    alarms = synth.resources("AWS::CloudWatch::Alarm")
    walked_alarms = walked_actions = 0
    for alarm in alarms.values():
        actions = [*alarm["Properties"].get("AlarmActions", []), *alarm["Properties"].get("OKActions", [])]
        assert len(actions) == 2, alarm  # notified when it fires and when it recovers
        for action in actions:
            topic_id = action["Ref"]
            # The topic policy replaces SNS' default one: it must let CloudWatch publish itself.
            statements = [
                statement
                for policy in topic_policies
                if {"Ref": topic_id} in policy["Properties"]["Topics"]
                for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            ]
            publish = [
                s
                for s in statements
                if s["Effect"] == "Allow" and s.get("Principal") == _CLOUDWATCH and "sns:publish" in _actions(s)
            ]
            assert len(publish) == 1, statements
            assert publish[0]["Resource"] == {"Ref": topic_id}
            _only_this_accounts_alarms(publish[0])
            for deny in (s for s in statements if s["Effect"] == "Deny"):
                assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, deny
            # CloudWatch encrypts the message with the topic's key itself.
            key_id = topics[topic_id]["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
            encrypt = [
                s
                for s in keys[key_id]["Properties"]["KeyPolicy"]["Statement"]
                if s["Effect"] == "Allow" and s.get("Principal") == _CLOUDWATCH
            ]
            assert len(encrypt) == 1, keys[key_id]["Properties"]["KeyPolicy"]
            assert _actions(encrypt[0]) == {"kms:decrypt", "kms:generatedatakey*"}
            _only_this_accounts_alarms(encrypt[0])
            walked_actions += 1
        walked_alarms += 1
    assert walked_alarms > 0 and walked_alarms == len(alarms) and walked_actions == 2 * len(alarms)
    assert len(alarms) == len(synth.stack.ingestion.monitoring.alarms)


# --------------------------------------------------------------------------- metric dimensions
# A CloudWatch metric is its namespace, name and exact set of dimensions: an alarm or
# graph whose dimensions name nothing real watches an empty series and stays quiet.


def _dimensions(metric: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}


def _alarm_metrics(synth: Synthesized) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric name, dimensions) of every metric of every alarm, metric math included."""
    metrics = []
    for alarm in _alarms(synth):
        if "MetricName" in alarm:
            metrics.append((alarm["Namespace"], alarm["MetricName"], _dimensions(alarm)))
            continue
        for query in alarm["Metrics"]:
            if "MetricStat" in query:
                metric = query["MetricStat"]["Metric"]
                metrics.append((metric["Namespace"], metric["MetricName"], _dimensions(metric)))
            else:
                assert set(query) >= {"Id", "Expression"}, query
    return metrics


def _dashboard_metrics(synth: Synthesized) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric name, dimensions) of every graph of the dashboard, tokens put back as intrinsics."""
    (dashboard,) = synth.resources("AWS::CloudWatch::Dashboard").values()
    separator, parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"]
    tokens = {f"@@token{index}@@": part for index, part in enumerate(parts) if not isinstance(part, str)}
    names = {id(part): name for name, part in tokens.items()}
    body = json.loads(separator.join(part if isinstance(part, str) else names[id(part)] for part in parts))
    metrics = []
    for widget in body["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            fields = [field for field in row if not isinstance(field, dict)]  # the last may be render options
            namespace, name, *pairs = fields
            assert len(pairs) % 2 == 0 and "..." not in fields and "." not in fields, row
            dimensions = {pairs[i]: tokens.get(pairs[i + 1], pairs[i + 1]) for i in range(0, len(pairs), 2)}
            metrics.append((namespace, name, dimensions))
    return metrics


def _emitted_webhook_kit_dimensions() -> dict[str, set[str]]:
    """Metric name -> the dimensions the verifier publishes it with (lambdas/verifier/handler.py ``_record``).

    ``service`` is Powertools' service dimension; ``source`` is added for every
    outcome, ``reason`` for rejections only; the stale-secrets metric is its own
    single metric with ``service`` alone.
    ``unit/test_verifier_handler.py::test_metrics_count_outcomes_per_source_and_rejections_per_reason``
    reads them from the verifier's EMF output.
    """
    from verifier import handler

    return {
        handler.METRIC_ACCEPTED: {"service", "source"},
        handler.METRIC_REJECTED: {"service", "source", "reason"},
        handler.METRIC_STALE_SECRETS: {"service"},
    }


def _check_dimensions(synth: Synthesized, namespace: str, name: str, dimensions: dict[str, Any]) -> set[str]:
    """Assert each dimension names a resource (or a metric name) of this template; return what was checked."""
    where = (namespace, name, dimensions)
    if namespace == "AWS/ApiGateway":
        (api,) = synth.resources("AWS::ApiGateway::RestApi").values()
        assert dimensions == {"ApiName": api["Properties"]["Name"]}, where
    elif namespace == "AWS/WAFV2":
        # AWS WAF Developer Guide, "AWS WAF metrics and dimensions": a regional web ACL's
        # metrics carry Region, Rule and WebACL, where WebACL is the ACL's *metric name*
        # (VisibilityConfig.MetricName) and Rule is a rule's metric name or ALL.
        (acl,) = synth.resources("AWS::WAFv2::WebACL").values()
        rules = {rule["VisibilityConfig"]["MetricName"] for rule in acl["Properties"]["Rules"]}
        assert set(dimensions) == {"Region", "Rule", "WebACL"}, where
        assert dimensions["WebACL"] == acl["Properties"]["VisibilityConfig"]["MetricName"], where
        assert dimensions["Region"] == {"Ref": "AWS::Region"}, where
        assert dimensions["Rule"] == "ALL" or dimensions["Rule"] in rules, where
    elif namespace == "AWS/Lambda":
        assert set(dimensions) == {"FunctionName"}, where
        assert dimensions["FunctionName"]["Ref"] in synth.resources("AWS::Lambda::Function"), where
    elif namespace == "AWS/SQS":
        assert set(dimensions) == {"QueueName"}, where
        queue, attribute = dimensions["QueueName"]["Fn::GetAtt"]
        assert attribute == "QueueName" and queue in synth.resources("AWS::SQS::Queue"), where
    elif namespace == "WebhookKit":
        from verifier import handler
        from verifier.core import UNAUTHORIZED_REASON

        assert set(dimensions) == _emitted_webhook_kit_dimensions()[name], where
        assert dimensions["service"] == handler.SERVICE, where
        if "source" in dimensions:
            assert dimensions["source"] in {source.name for source in synth.config.sources}, where
        if "reason" in dimensions:
            assert dimensions["reason"] == UNAUTHORIZED_REASON, where
    else:
        raise AssertionError(f"no rule for namespace {namespace}: {where}")
    return {f"{namespace} {dimension}" for dimension in dimensions}


_EVERY_DIMENSION = {
    "AWS/ApiGateway ApiName",
    "AWS/WAFV2 WebACL",
    "AWS/WAFV2 Region",
    "AWS/WAFV2 Rule",
    "AWS/Lambda FunctionName",
    "AWS/SQS QueueName",
    "WebhookKit service",
    "WebhookKit source",
    "WebhookKit reason",
}


@pytest.mark.parametrize("stack", ["default_stack", "variant_stack"])
@pytest.mark.parametrize("where", ["alarms", "dashboard"])
def test_every_metric_dimension_names_a_resource_or_metric_of_the_same_template(
    stack: str, where: str, request: pytest.FixtureRequest
) -> None:
    synth: Synthesized = request.getfixturevalue(stack)
    metrics = _alarm_metrics(synth) if where == "alarms" else _dashboard_metrics(synth)
    checked: set[str] = set()
    for namespace, name, dimensions in metrics:
        checked |= _check_dimensions(synth, namespace, name, dimensions)
    # Every kind of dimension the kit uses was met (a parser that found nothing fails here).
    assert checked == _EVERY_DIMENSION
    if where == "alarms":
        watched = len(metrics)
        assert watched >= len(synth.resources("AWS::CloudWatch::Alarm")) > 0


def test_the_api_and_web_acl_metric_names_are_unique_to_each_deployment(
    default_stack: Synthesized, variant_stack: Synthesized
) -> None:
    # CloudWatch keys API Gateway metrics on the API's name and WAF metrics on the
    # web ACL's metric name: a fixed name ("Api", "webhook-kit") makes every
    # deployment in an account and Region feed, and alarm on, one summed series.
    names = []
    for synth in (default_stack, variant_stack):
        (api,) = synth.resources("AWS::ApiGateway::RestApi").values()
        (acl,) = synth.resources("AWS::WAFv2::WebACL").values()
        api_name, metric_name = api["Properties"]["Name"], acl["Properties"]["VisibilityConfig"]["MetricName"]
        assert synth.config.stack_name in api_name and synth.config.stack_name in metric_name
        # AWS WAF: 1-128 of A-Z, a-z, 0-9, - and _ (AWS::WAFv2::WebACL VisibilityConfig).
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,128}", metric_name)
        names.append((api_name, metric_name))
    assert names[0][0] != names[1][0] and names[0][1] != names[1][1]
