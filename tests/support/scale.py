"""A configuration of many sources, for the tests that check the kit at scale (local runtime, synth).

The sources cycle through every registered signature scheme, each with what its
scheme needs to validate (a ``public_url`` for the schemes that sign the URL, a
``generic`` table for generic-hmac), and every ``allow_listed_every``-th one has
an IP allow-list that still admits this machine, so webhooks sent from here
reach any of them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from webhook_verify.schemes import SCHEMES

# Loopback first: the tests post from 127.0.0.1; the documentation range makes the list a list.
ALLOWED_CIDRS = ("127.0.0.1/32", "203.0.113.0/24")
PUBLIC_URL_BASE = "https://hooks.example.com/webhooks"
# A signed timestamp, and the delivery id in a header (so a test can follow a webhook by the id it sent).
GENERIC_OPTIONS = {
    "signature_header": "X-Sig",
    "timestamp_header": "X-Ts",
    "signed_template": "{timestamp}.{body}",
    "delivery_id_header": "X-Id",
    "event_type_field": "kind",
}


def scale_source_name(index: int) -> str:
    """``src-000``, ``src-001``, ...: short and stable, so sizes computed from the names do not drift."""
    return f"src-{index:03d}"


def scale_source_scheme(index: int) -> str:
    """The scheme of the ``index``-th source: every registered scheme in turn.

    Each round starts one scheme later, so that every scheme comes both with and
    without an allow-list whatever ``allow_listed_every`` is.
    """
    schemes = sorted(SCHEMES)
    return schemes[(index + index // len(schemes)) % len(schemes)]


def _source(index: int, *, allow_listed: bool) -> dict[str, Any]:
    name = scale_source_name(index)
    scheme = scale_source_scheme(index)
    source: dict[str, Any] = {"name": name, "scheme": scheme}
    if scheme == "shared-token":  # only through a provider of the catalogue
        source = {"name": name, "provider": "okta"}
    if SCHEMES[scheme].needs_public_url:
        source["public_url"] = f"{PUBLIC_URL_BASE}/{name}"
    if scheme == "generic-hmac":
        source["generic"] = dict(GENERIC_OPTIONS)
    if allow_listed:
        source["allowed_cidrs"] = list(ALLOWED_CIDRS)
    return source


def scale_config_data(count: int, *, allow_listed_every: int = 2) -> dict[str, Any]:
    """What ``stacks.config.parse_config`` takes for ``count`` sources named ``src-000`` onwards.

    ``allow_listed_every``: every n-th source, from the first, has ``allowed_cidrs``
    (0: none has). The dict is new on each call: change a source's settings freely.
    """
    if count < 1:
        raise ValueError("a configuration needs at least one source")
    if allow_listed_every < 0:
        raise ValueError("allow_listed_every must be 0 (no allow-lists) or more")
    return {
        "stack_name": "WebhookKitScale",
        "stage_name": "scale",
        "sources": [
            _source(index, allow_listed=allow_listed_every > 0 and index % allow_listed_every == 0)
            for index in range(count)
        ],
    }


def config_toml(data: Mapping[str, Any]) -> str:
    """``data`` (as ``scale_config_data`` makes it) as a webhook-kit.toml, for the commands that read a file.

    Only what that dict holds: scalars, lists of strings, and a table inside a source.
    """

    def value(item: Any) -> str:
        # JSON's strings, numbers, booleans and arrays of them are TOML's too.
        return json.dumps(item)

    lines = [f"{key} = {value(item)}" for key, item in data.items() if key != "sources"]
    for source in data["sources"]:
        lines += ["", "[[sources]]"]
        lines += [f"{key} = {value(item)}" for key, item in source.items() if not isinstance(item, Mapping)]
        for key, table in source.items():
            if isinstance(table, Mapping):
                lines += [f"[sources.{key}]", *(f"{name} = {value(item)}" for name, item in table.items())]
    return "\n".join(lines) + "\n"
