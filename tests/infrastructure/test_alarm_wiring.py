"""Where alarms lead and what they watch: the topic and key policies CloudWatch needs, every metric dimension."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest

from shared.contract import ALLOWLIST_SYNC_SERVICE, DIMENSION_PRESET
from tests.infrastructure.conftest import Synthesized, dashboard_metrics, located_alarms

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
    alarms = synth.all_resources("AWS::CloudWatch::Alarm")
    walked_alarms = walked_actions = 0
    for (where, _), alarm in alarms.items():
        actions = [*alarm["Properties"].get("AlarmActions", []), *alarm["Properties"].get("OKActions", [])]
        assert len(actions) == 2, alarm  # notified when it fires and when it recovers
        for action in actions:
            # A nested stack's alarm names the topic through a parameter: followed to the root's topic.
            topic_where, topic_ref = synth.follow(where, action)
            assert topic_where == synth.config.stack_name, action
            topic_id = topic_ref["Ref"]
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
    # The root's and the groups' alarms, each source's dead-letter alarm and enforcement-off alarm if any.
    own = [alarm for source in synth.stack.ingestion.sources.values() for alarm in source.alarms.alarms]
    assert len(alarms) == len(synth.stack.ingestion.monitoring.alarms) + len(own)


# --------------------------------------------------------------------------- metric dimensions
# A CloudWatch metric is its namespace, name and exact set of dimensions: an alarm or
# graph whose dimensions name nothing real watches an empty series and stays quiet.


def _dimensions(metric: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}


def _alarm_metrics(synth: Synthesized) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(template key, namespace, metric name, dimensions) of every metric of every alarm, metric math included."""
    metrics = []
    for where, alarm in located_alarms(synth):
        if "MetricName" in alarm:
            metrics.append((where, alarm["Namespace"], alarm["MetricName"], _dimensions(alarm)))
            continue
        for query in alarm["Metrics"]:
            if "MetricStat" in query:
                metric = query["MetricStat"]["Metric"]
                metrics.append((where, metric["Namespace"], metric["MetricName"], _dimensions(metric)))
            else:
                assert set(query) >= {"Id", "Expression"}, query
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
        handler.METRIC_ENFORCEMENT_OFF: {"service", "source"},
        handler.METRIC_REJECTED: {"service", "source", "reason"},
        handler.METRIC_STALE_SECRETS: {"service"},
    }


def _check_dimensions(
    synth: Synthesized, template: str, namespace: str, name: str, dimensions: dict[str, Any]
) -> set[str]:
    """Assert each dimension names a resource (or a metric name) of the deployment; return what was checked.

    A value from another stack (a parameter, a nested stack's output) is followed to
    the template that defines it, and must name a resource of that template.
    """
    where = (template, namespace, name, dimensions)
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
        defined_in, function = synth.follow(template, dimensions["FunctionName"])
        resources = synth.templates()[defined_in]["Resources"]
        assert resources[function["Ref"]]["Type"] == "AWS::Lambda::Function", where
    elif namespace == "AWS/SQS":
        assert set(dimensions) == {"QueueName"}, where
        defined_in, queue_name = synth.follow(template, dimensions["QueueName"])
        queue, attribute = queue_name["Fn::GetAtt"]
        assert attribute == "QueueName", where
        assert synth.templates()[defined_in]["Resources"][queue]["Type"] == "AWS::SQS::Queue", where
    elif namespace == "WebhookKit" and dimensions.get("service") == ALLOWLIST_SYNC_SERVICE:
        # The allow-list sync records every metric with its service and the preset.
        assert set(dimensions) == {"service", DIMENSION_PRESET}, where
        presets = {preset for source in synth.config.sources for preset in source.allowed_presets}
        assert dimensions[DIMENSION_PRESET] in presets, where
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
    metrics = (
        _alarm_metrics(synth)
        if where == "alarms"
        else [(synth.config.stack_name, *metric) for metric in dashboard_metrics(synth)]  # the root's dashboard
    )
    checked: set[str] = set()
    for template, namespace, name, dimensions in metrics:
        checked |= _check_dimensions(synth, template, namespace, name, dimensions)
    # Every kind of dimension the kit uses was met (a parser that found nothing fails here).
    presets = any(source.allowed_presets for source in synth.config.sources)
    assert checked == _EVERY_DIMENSION | ({f"WebhookKit {DIMENSION_PRESET}"} if presets else set())
    if where == "alarms":
        watched = len(metrics)
        assert watched >= len(synth.all_resources("AWS::CloudWatch::Alarm")) > 0


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


def test_only_a_source_with_enforcement_off_has_an_enforcement_alarm_and_it_notifies(
    default_stack: Synthesized, variant_stack: Synthesized
) -> None:
    def names(synth: Synthesized) -> dict[str, dict[str, Any]]:
        return {_resolve(props.get("AlarmName", "")): props for _, props in located_alarms(synth)}

    assert not [name for name in names(default_stack) if name.endswith("-enforcement-off")]
    found = {name: props for name, props in names(variant_stack).items() if name.endswith("-enforcement-off")}
    assert list(found) == ["WebhookKitVariant-erp-enforcement-off"]
    (alarm,) = found.values()
    (query,) = alarm["Metrics"]
    metric = query["MetricStat"]["Metric"]
    assert (metric["MetricName"], metric["Namespace"]) == ("EnforcementOff", "WebhookKit")
    assert _dimensions(metric) == {"service": "webhook-verifier", "source": "erp"}
    assert alarm["AlarmActions"] and alarm["OKActions"]
    assert "#source-enforcement-off" in alarm["AlarmDescription"]
