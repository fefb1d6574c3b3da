"""The firewall: a REGIONAL WAF web ACL in front of the API, its rules generated from configuration."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from aws_cdk import Stack
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from shared import contract
from shared.allowlists import MAX_RANGES, by_version, load_snapshot
from stacks.checkov import skip_checks
from stacks.source_alarms import root_stack_name
from stacks.waf_budget import (
    DEFAULT_MAX_IP_SETS,
    DEFAULT_MAX_WCU,
    IP_SET_MAX_NAME_LENGTH,
    FirewallBudgetError,
    check_web_acl_budget,
)
from stacks.waf_statements import (
    and_,
    block_rule,
    ip_set_statement,
    label_rule,
    label_statement,
    managed_rule,
    not_,
    or_,
    raw_path_statement,
    visibility,
)

WEBHOOK_PATH_PREFIX = contract.WEBHOOK_PATH_PREFIX

# One optional segment before /webhooks: the stage on the execute-api URL
# ("/prod/webhooks/x"), a base path on a custom domain, or nothing. Stage names
# ([A-Za-z0-9_], stacks/config.py) fit. Anything but CANONICAL_PATH_REGEX is
# blocked before any other rule (both in shared/contract.py: the local front
# applies the same rule).
_PREFIX = contract.CANONICAL_PATH_PREFIX
CANONICAL_PATH_REGEX = contract.CANONICAL_PATH_REGEX

PATH_LABEL_NAMESPACE = "webhook-kit:path:"
FROM_LABEL_NAMESPACE = "webhook-kit:from:"


@dataclass(frozen=True)
class FirewallSource:
    """What the firewall needs to know of a source."""

    name: str
    allowed_cidrs: Sequence[str] = ()
    allowed_presets: Sequence[str] = ()


@dataclass
class _AllowList:
    """One IP set: a CIDR list of one IP version, shared by every source that lists exactly these addresses."""

    ip_version: int
    addresses: tuple[str, ...]
    sources: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """``ipv4-<hash of the addresses>``: the same for every source listing exactly these addresses."""
        digest = hashlib.sha256(" ".join(self.addresses).encode()).hexdigest()
        return f"ipv{self.ip_version}-{digest[:16]}"


def _from_label(key: str) -> str:
    """The label a request from an IP set's addresses gets, by the set's key."""
    return f"{FROM_LABEL_NAMESPACE}{key}"


def _preset_key(preset: str, version: int) -> str:
    """``preset-stripe-ipv4``: the preset's ``from`` rule and label, apart from every ``ipv4-<hash>`` list."""
    return f"preset-{preset}-ipv{version}"


class WebhookFirewall(Construct):
    """A REGIONAL WAF web ACL for the API stage, its rules generated from configuration.

    In priority order:

    1. ``canonical-path`` blocks every request whose URI path, as received (no
       text transformation), is not ``[/<prefix>]/webhooks/<name>[/]`` in
       characters that no decoding or normalisation changes
       (``CANONICAL_PATH_REGEX``). "/webhooks/%73tripe", "//webhooks/stripe",
       "/x/../webhooks/stripe" and "/prod/webhooks/Stripe" stop here, so the
       rules below can compare the raw path (3 WCU a regex) instead of decoding
       and normalising it per source (23 WCU). The query string is not part of
       the path, so a genuine delivery to ``https://<api>/<stage>/webhooks/<name>?...``
       passes. The rule is there whether or not a source is allow-listed: which
       paths reach the API must not change when a first allow-list is added.
    2. ``from-<list>``, one per IP set: labels a request from the set's
       addresses. A source's ``allowed_cidrs`` are static IP sets keyed by
       their addresses (``ipv4-<hash>``): sources whose lists (per IP version)
       are identical share the IP set and this rule. A preset
       (``allowed_presets``) is one IP set per IP version of its snapshot
       (``preset-<preset>-ipv4``), named ``contract.preset_ip_set_name``,
       shared by every source naming the preset and rewritten in place by the
       allow-list sync, so its id and description depend on neither its
       addresses nor its sources. Each IP set is referenced once in the web
       ACL (AWS WAF allows 50 reference statements per web ACL).
    3. Per allow-listed source, ``path-<name>`` labels a request on the source's
       path, and ``allow-list-<name>`` blocks it unless a ``from`` label of any
       of the source's sets (its presets' and its static lists') is present.
    4. The AWS managed IP-reputation list, a per-IP rate limit, the body-size cap.

    No rule reads the HTTP method: the GET or HEAD of a source's handshake
    (docs/handshakes.md) is on the source's path, so it meets the same
    canonical-path guard, allow-list, rate limit and size cap as its POST.

    The rate limit does not count an allow-listed provider's requests to its
    own source's path. A provider sends every delivery from a few addresses,
    so a busy burst trips a per-IP limit meant for single attackers, and some
    providers never retry a refused delivery (GitHub). Those requests stay
    bounded by the source's own API Gateway throttle and still need a valid
    signature. The exemption costs one label match: a request that reaches the
    rate rule carrying a ``path`` label came from that source's addresses (the
    ``allow-list`` rule blocked every other), so the scope-down leaves out the
    whole ``path`` label namespace.

    Budgets are checked at synth (``stacks.waf_budget``): the rules' capacity
    against ``max_wcu`` (1,500 WCU: above it AWS WAF charges extra), the IP sets
    against ``max_ip_sets`` (the account's default quota per Region, shared with
    other web ACLs there), references and IP set sizes against AWS WAF's fixed
    quotas, a preset's set at the most the sync may put in it
    (``shared.allowlists.MAX_RANGES``), not at its snapshot's size.
    ``capacity`` and ``ip_set_count`` say what this firewall uses;
    ``preset_ip_sets`` holds the presets' sets, for the sync.

    ``metric_name`` is the web ACL's CloudWatch metric name, which AWS WAF
    reports as the ``WebACL`` dimension of its metrics (AWS WAF Developer Guide,
    "AWS WAF metrics and dimensions": "WebACL: The metric name of the WebACL"):
    it must be unique to the deployment, or every web ACL of that metric name in
    the account and Region feeds one series. The rules' metric names need not
    be: their metrics also carry the ``WebACL`` dimension.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        sources: Sequence[FirewallSource],
        metric_name: str,
        stage_arn: str,
        rate_limit: int,
        max_body_bytes: int,
        body_inspection_kb: int,
        max_wcu: int = DEFAULT_MAX_WCU,
        max_ip_sets: int = DEFAULT_MAX_IP_SETS,
    ) -> None:
        super().__init__(scope, construct_id)
        allow_listed = [source for source in sources if source.allowed_cidrs or source.allowed_presets]
        lists_of_source = {source.name: _allow_lists(source) for source in allow_listed}
        shared: dict[str, _AllowList] = {}
        for name, lists in lists_of_source.items():
            for allow_list in lists:
                known = shared.setdefault(allow_list.key, allow_list)
                if known.addresses != allow_list.addresses:  # a hash collision must not merge two lists
                    raise ValueError(f"allow-lists {known.sources} and {name} hash alike; change either list")
                known.sources.append(name)
        self.ip_sets = {key: self._ip_set(allow_list) for key, allow_list in shared.items()}
        # One IP set per preset and IP version, whichever sources name the preset: the
        # allow-list sync keeps it current (stacks/allowlist_sync.py).
        presets = dict.fromkeys(preset for source in allow_listed for preset in source.allowed_presets)
        self.preset_ip_sets: dict[str, dict[int, wafv2.CfnIPSet]] = {
            preset: {
                version: self._preset_ip_set(preset, version, ranges)
                for version, ranges in by_version(load_snapshot(preset).ranges).items()
            }
            for preset in presets
        }
        # Every IP set, by the key of its "from" rule and label.
        labelled = {
            **self.ip_sets,
            **{
                _preset_key(preset, version): ip_set
                for preset, sets in self.preset_ip_sets.items()
                for version, ip_set in sets.items()
            },
        }

        rules: list[wafv2.CfnWebACL.RuleProperty] = [
            block_rule("canonical-path", 0, not_(raw_path_statement(CANONICAL_PATH_REGEX)))
        ]
        for key, ip_set in labelled.items():
            rules.append(label_rule(f"from-{key}", len(rules), ip_set_statement(ip_set), _from_label(key)))
        for source in allow_listed:
            path_label = f"{PATH_LABEL_NAMESPACE}{source.name}"
            rules.append(
                label_rule(
                    f"path-{source.name}", len(rules), raw_path_statement(source_path_regex(source.name)), path_label
                )
            )
            keys = [allow_list.key for allow_list in lists_of_source[source.name]] + [
                _preset_key(preset, version)
                for preset in source.allowed_presets
                for version in self.preset_ip_sets[preset]
            ]
            from_allowed = or_([label_statement(_from_label(key)) for key in keys])
            rules.append(
                block_rule(
                    f"allow-list-{source.name}",
                    len(rules),
                    and_(label_statement(path_label), not_(from_allowed)),
                )
            )
        rules.append(managed_rule("AWSManagedRulesAmazonIpReputationList", priority=len(rules)))
        rules.append(
            block_rule(
                "rate-limit",
                len(rules),
                wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        limit=rate_limit,
                        aggregate_key_type="IP",
                        evaluation_window_sec=300,
                        scope_down_statement=(
                            not_(label_statement(PATH_LABEL_NAMESPACE, scope="NAMESPACE")) if allow_listed else None
                        ),
                    )
                ),
            )
        )
        rules.append(block_rule("body-size", len(rules), _body_size_statement(max_body_bytes, body_inspection_kb)))
        self.capacity = check_web_acl_budget(
            Stack.of(self).resolve(rules),
            ip_sets={
                f"the IPv{allow_list.ip_version} allow-list of {', '.join(allow_list.sources)}": len(
                    allow_list.addresses
                )
                for allow_list in shared.values()
            },
            # Budgeted at the most the sync may put in a preset's set, not at its snapshot's size.
            preset_ip_sets={
                f"the IPv{version} set of preset {preset!r}": MAX_RANGES
                for preset, sets in self.preset_ip_sets.items()
                for version in sets
            },
            max_wcu=max_wcu,
            max_ip_sets=max_ip_sets,
        )
        self.ip_set_count = len(labelled)
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility(metric_name),
            association_config=wafv2.CfnWebACL.AssociationConfigProperty(
                request_body={
                    "API_GATEWAY": wafv2.CfnWebACL.RequestBodyAssociatedResourceTypeConfigProperty(
                        default_size_inspection_limit=f"KB_{body_inspection_kb}"
                    )
                }
            ),
            rules=rules,
        )
        skip_checks(
            self.web_acl,
            {
                "CKV_AWS_192": "No Java runs in the request path, and the known-bad-inputs group inspects bodies: it "
                "could block genuine signed webhooks whose content happens to match, losing them after retries."
            },
        )
        self.association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage_arn, web_acl_arn=self.web_acl.attr_arn
        )
        self.metric_name = metric_name

    def _ip_set(self, allow_list: _AllowList) -> wafv2.CfnIPSet:
        # The id comes from the addresses, not from a source: it stays put while the
        # list does, whichever sources share it. An edited list is a new IP set, which
        # CloudFormation creates before pointing the web ACL at it and deleting the old.
        return wafv2.CfnIPSet(
            self,
            f"AllowList-{allow_list.key}",
            scope="REGIONAL",
            ip_address_version=f"IPV{allow_list.ip_version}",
            addresses=list(allow_list.addresses),
            description=_description(allow_list.sources),
        )

    def _preset_ip_set(self, preset: str, version: int, ranges: Sequence[str]) -> wafv2.CfnIPSet:
        # The sync rewrites the addresses in place, so neither the construct id nor
        # the description depends on them or on the sources naming the preset: a
        # deploy changes a synced set only when the shipped snapshot changes.
        name = contract.preset_ip_set_name(root_stack_name(self), preset, version)
        if len(name) > IP_SET_MAX_NAME_LENGTH:
            raise FirewallBudgetError(
                f"AWS WAF IP set name: {name!r} (the IPv{version} set of preset {preset!r}) has {len(name)} "
                f"characters, over the {IP_SET_MAX_NAME_LENGTH} an IP set's name may have (AWS WAF API Reference, "
                "CreateIPSet, Name): shorten stack_name"
            )
        return wafv2.CfnIPSet(
            self,
            f"Preset-{preset}-ipv{version}",
            name=name,
            scope="REGIONAL",
            ip_address_version=f"IPV{version}",
            addresses=list(ranges),
            description=f"webhook-kit allow-list preset {preset}, IPv{version}: kept current by the allow-list sync",
        )


def _allow_lists(source: FirewallSource) -> list[_AllowList]:
    """The source's CIDRs as one list per IP version, normalised and sorted so equal lists compare equal."""
    networks = {ipaddress.ip_network(cidr) for cidr in source.allowed_cidrs}
    lists = []
    for version in (4, 6):
        same_version = sorted(
            (n for n in networks if n.version == version), key=lambda n: (n.network_address, n.prefixlen)
        )
        if same_version:
            lists.append(_AllowList(ip_version=version, addresses=tuple(str(network) for network in same_version)))
    return lists


def _description(sources: Sequence[str]) -> str:
    """Which sources use an IP set, within the 256 characters AWS::WAFv2::IPSet allows."""
    shown = list(sources)
    while True:
        hidden = len(sources) - len(shown)
        text = f"webhook-kit allow-list of {', '.join(shown)}" + (f" and {hidden} more" if hidden else "")
        if len(text) <= 256:
            return text
        shown.pop()


def source_path_regex(source_name: str) -> str:
    """A regex for the canonical URI paths that reach a source: with or without a stage or base path."""
    # Non-capturing: AWS WAF refuses capturing subexpressions (AWS WAF Developer Guide,
    # "Supported regular expression syntax in AWS WAF").
    return rf"^{_PREFIX}/{WEBHOOK_PATH_PREFIX}/{re.escape(source_name)}/?$"


def integer_greater_than_regex(limit: int) -> str:
    """A regex matching exactly the decimal integers (leading zeros allowed) above ``limit``."""
    digits = str(limit)
    alternatives = [rf"[1-9]\d{{{len(digits)},}}"]  # more digits than the limit
    for index, digit in enumerate(digits):
        if digit == "9":
            continue
        rest = len(digits) - index - 1
        higher = str(int(digit) + 1) if digit == "8" else f"[{int(digit) + 1}-9]"
        alternatives.append(digits[:index] + higher + (rf"\d{{{rest}}}" if rest else ""))
    return rf"^0*(?:{'|'.join(alternatives)})$"


def _body_size_statement(max_body_bytes: int, body_inspection_kb: int) -> wafv2.CfnWebACL.StatementProperty:
    """Block bodies above the cap, as exactly as WAF can see them.

    WAF reads at most ``body_inspection_kb`` of a body. When the cap fits in
    that window the body itself is measured (and anything WAF cannot fully
    read is over the cap). Above it, WAF compares the declared Content-Length
    with the cap numerically, by regex; the verifier enforces the exact cap
    (413) on what actually arrives, whatever a client declared.
    """
    if max_body_bytes <= body_inspection_kb * 1024:
        return wafv2.CfnWebACL.StatementProperty(
            size_constraint_statement=wafv2.CfnWebACL.SizeConstraintStatementProperty(
                field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                    body=wafv2.CfnWebACL.BodyProperty(oversize_handling="MATCH")
                ),
                comparison_operator="GT",
                size=max_body_bytes,
                text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")],
            )
        )
    return wafv2.CfnWebACL.StatementProperty(
        regex_match_statement=wafv2.CfnWebACL.RegexMatchStatementProperty(
            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(single_header={"Name": "content-length"}),
            regex_string=integer_greater_than_regex(max_body_bytes),
            text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")],
        )
    )
