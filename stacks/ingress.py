"""The front door: a regional REST API, one path per source (the web ACL in front of it: stacks/firewall.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagSuppressions
from constructs import Construct

from shared import contract
from stacks.checkov import LOG_GROUP_SKIPS, skip_checks

WEBHOOK_PATH_PREFIX = contract.WEBHOOK_PATH_PREFIX


@dataclass(frozen=True)
class ApiSource:
    """What the API needs to know of a source: its path segment, its own throttle, and its methods.

    ``methods`` is POST plus the GET or HEAD of the source's handshake
    (``stacks.source_config.SourceConfig.methods``): a provider's challenge
    reaches the verifier, and no other source answers anything but POST.
    """

    name: str
    throttle_rate: int
    throttle_burst: int
    methods: tuple[str, ...] = ("POST",)


class WebhookApi(Construct):
    """API Gateway REST API: ``POST /webhooks/{source}`` for each source, the GET or HEAD of its
    provider's handshake where it has one (docs/handshakes.md), and nothing else.

    Binary media type ``*/*`` makes API Gateway hand every body to the verifier
    base64-encoded and untouched, so signatures are checked over the exact bytes
    sent. The stage writes JSON access logs, metrics and X-Ray traces, and
    throttles before the function is reached: each of a source's methods has
    a token bucket of its own (the source's throttle), so a flood on one
    source's URL is answered 429 there and the other sources keep their capacity.

    ``api_name`` must be unique to the deployment: CloudWatch keys the API's
    metrics on it (dimension ``ApiName``), so two APIs of one name in an account
    and region share, and sum, one series. ``create_cloudwatch_role`` makes the
    Region's API Gateway account settings name a CloudWatch Logs role (a role
    and ``AWS::ApiGateway::Account``): REST API stages refuse access-log
    settings until that setting exists.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api_name: str,
        create_cloudwatch_role: bool,
        sources: Sequence[ApiSource],
        verifier: lambda_.IFunction,
        stage_name: str,
        throttle_rate: int,
        throttle_burst: int,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=log_retention, removal_policy=removal_policy)
        skip_checks(self.access_logs, LOG_GROUP_SKIPS)
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=api_name,
            description="webhook-kit: receives third-party webhooks",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            binary_media_types=["*/*"],
            cloud_watch_role=create_cloudwatch_role,
            # The account setting outlives the stack and other APIs of the account may
            # log through it: deleting the role with the stack would break their logging.
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN if create_cloudwatch_role else None,
            deploy_options=apigw.StageOptions(
                stage_name=stage_name,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=throttle_rate,
                throttling_burst_limit=throttle_burst,
                method_options={
                    f"/{WEBHOOK_PATH_PREFIX}/{source.name}/{method}": apigw.MethodDeploymentOptions(
                        # A method's own setting replaces the stage's for it, metrics included.
                        metrics_enabled=True,
                        throttling_rate_limit=source.throttle_rate,
                        throttling_burst_limit=source.throttle_burst,
                    )
                    for source in sources
                    for method in source.methods
                },
            ),
        )
        # An unknown path would otherwise answer 403 "Missing Authentication Token".
        self.api.add_gateway_response(
            "UnknownPath",
            type=apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
            status_code="404",
            templates={"application/json": '{"message": "not found"}'},
        )
        self.webhooks = self.api.root.add_resource(WEBHOOK_PATH_PREFIX)
        # Each source's methods live in the source's nested stack (stacks/source_stack.py).
        # The API itself answers only GET / here, with the same 404 as an unknown path: a
        # REST API needs one method of its own to be deployed.
        root_method = self.api.root.add_method(
            "GET",
            apigw.MockIntegration(
                request_templates={"application/json": '{"statusCode": 404}'},
                integration_responses=[
                    apigw.IntegrationResponse(
                        status_code="404", response_templates={"application/json": '{"message": "not found"}'}
                    )
                ],
            ),
            method_responses=[apigw.MethodResponse(status_code="404")],
        )
        _unauthenticated(root_method, "it answers 404 and reaches nothing")
        # One permission for every source's method, not one per method: the verifier's
        # resource-based policy is capped at 20 KB, about 60 method-scoped statements.
        verifier.add_permission(
            "ApiInvokes",
            principal=iam.ServicePrincipal("apigateway.amazonaws.com"),
            action="lambda:InvokeFunction",
            source_arn=self.api.arn_for_execute_api("POST", f"/{WEBHOOK_PATH_PREFIX}/*", "*"),
        )
        # And one per handshake method some source has (GET, HEAD): at most two more statements.
        for method in sorted({method for source in sources for method in source.methods} - {"POST"}):
            verifier.add_permission(
                f"ApiInvokes{method}",
                principal=iam.ServicePrincipal("apigateway.amazonaws.com"),
                action="lambda:InvokeFunction",
                source_arn=self.api.arn_for_execute_api(method, f"/{WEBHOOK_PATH_PREFIX}/*", "*"),
            )
        # The deployment must be replaced when the set of methods changes; the CDK sees only
        # the methods of this stack, so the sources' names go into its logical id, and it
        # waits for the source stacks that hold the methods (``wait_for``).
        handshake_methods = {source.name: list(source.methods) for source in sources if source.methods != ("POST",)}
        self.api.latest_deployment.add_to_logical_id(  # type: ignore[union-attr]
            {
                "sources": [source.name for source in sources],
                "method": _SOURCE_METHOD_VERSION,
                **({"methods": handshake_methods} if handshake_methods else {}),
            }
        )
        NagSuppressions.add_resource_suppressions(
            self.api,
            [
                {
                    "id": "AwsSolutions-APIG2",
                    "reason": "The body must reach the verifier byte-exact; it validates the request itself.",
                },
            ],
        )
        skip_checks(
            self.api.deployment_stage,
            {
                "CKV_AWS_120": "Each webhook POST must reach the verifier; a cached answer would acknowledge "
                "webhooks that were never stored."
            },
        )
        NagSuppressions.add_resource_suppressions(
            self.api.deployment_stage,
            [
                {
                    "id": "AwsSolutions-APIG6",
                    "reason": "Execution logging stays off: JSON access logs, metrics and X-Ray tracing record "
                    "every request, and execution logs would add a second log line per request.",
                },
            ],
        )
        if create_cloudwatch_role:
            role = self.api.node.find_child("CloudWatchRole")
            NagSuppressions.add_resource_suppressions(
                role,
                [
                    {
                        "id": "AwsSolutions-IAM4",
                        "reason": "API Gateway's account-level CloudWatch Logs role: AWS documents (and the CDK "
                        "attaches) the AWS-managed AmazonAPIGatewayPushToCloudWatchLogs policy for it; only the "
                        "API Gateway service can assume it.",
                        "appliesTo": [
                            "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                            "AmazonAPIGatewayPushToCloudWatchLogs"
                        ],
                    }
                ],
            )

    def wait_for(self, holder: Construct) -> None:
        """Deploy the API only after ``holder`` (a source's stack, with its method) is in place."""
        self.api.latest_deployment.node.add_dependency(holder)  # type: ignore[union-attr]


# Change when add_source_methods builds different methods: the API is then deployed anew.
_SOURCE_METHOD_VERSION = 1


def add_source_methods(
    scope: Construct,
    source_name: str,
    *,
    methods: Sequence[str] = ("POST",),
    api: apigw.IRestApi,
    webhooks: apigw.IResource,
    verifier: lambda_.IFunction,
) -> list[apigw.Method]:
    """``POST /webhooks/<source_name>`` in ``scope``'s stack, and the source's handshake ``methods``
    (GET, HEAD), each proxied to the verifier.

    The parent's ``WebhookApi`` grants API Gateway the invocation once per HTTP
    method for every source; the methods' own integrations add no permission.
    """
    here_api = apigw.RestApi.from_rest_api_attributes(
        scope, "Api", rest_api_id=api.rest_api_id, root_resource_id=api.rest_api_root_resource_id
    )
    here_webhooks = apigw.Resource.from_resource_attributes(
        scope, "Webhooks", rest_api=here_api, resource_id=webhooks.resource_id, path=f"/{WEBHOOK_PATH_PREFIX}"
    )
    # What LambdaIntegration builds, less the per-method invoke permission it would add.
    integration = apigw.Integration(
        type=apigw.IntegrationType.AWS_PROXY,
        integration_http_method="POST",
        uri=f"arn:{Aws.PARTITION}:apigateway:{Aws.REGION}:lambda:path/2015-03-31/functions/"
        f"{verifier.function_arn}/invocations",
    )
    resource = here_webhooks.add_resource(source_name)
    added = []
    for http_method in methods:
        method = resource.add_method(http_method, integration)
        _unauthenticated(
            method,
            "each webhook is authenticated by its signature in the verifier, behind the WAF"
            if http_method == "POST"
            else "the verifier answers only the provider's handshake on it, as far as it can be authenticated",
        )
        added.append(method)
    return added


def _unauthenticated(method: apigw.Method, why: str) -> None:
    skip_checks(method, {"CKV_AWS_59": f"Providers cannot present AWS credentials; {why}."})
    NagSuppressions.add_resource_suppressions(
        method,
        [
            {"id": "AwsSolutions-APIG4", "reason": f"Providers cannot present AWS or Cognito credentials; {why}."},
            {"id": "AwsSolutions-COG4", "reason": f"Providers cannot use a Cognito user pool; {why}."},
        ],
    )
