"""The allow-list presets' WAF IP sets on moto's WAFv2: created as the stack creates them, read as the WAF does.

Per preset a source names (``allowed_presets``) and per IP version of its
shipped snapshot, one REGIONAL IP set named ``contract.preset_ip_set_name``,
shared by every source that names the preset, holding the snapshot's ranges.
The front reads the sets' current addresses back through WAFv2 (at most every
``REFRESH_SECONDS``), so whatever changes them through ``UpdateIPSet`` (the
allow-list sync, ``aws wafv2 update-ip-set`` with its lock token, a test)
changes what the front lets through, as in AWS, where a changed IP set applies
to the web ACL within moments.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared import contract
from shared.allowlists import by_version, load_snapshot
from stacks.config import WebhookKitConfig
from webhook_kit.local.events import PipelineEvent, Reporter
from webhook_kit.local.resources import local_client

SCOPE = "REGIONAL"
# How stale the front's copy of an IP set may be: a sync's change applies within this.
REFRESH_SECONDS = 1.0

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# This machine, which no provider's list holds (see ``PresetAllowLists``'s ``allow_loopback``).
LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@dataclass(frozen=True)
class LocalIpSet:
    preset: str
    version: int
    name: str
    id: str


def used_presets(config: WebhookKitConfig) -> tuple[str, ...]:
    """The presets the configuration's sources name, each once, sorted."""
    return tuple(sorted({preset for source in config.sources for preset in source.allowed_presets}))


def provision_ip_sets(config: WebhookKitConfig, endpoint: str) -> dict[str, tuple[LocalIpSet, ...]]:
    """Create each used preset's IP sets, holding its shipped snapshot; return them by preset."""
    presets = used_presets(config)
    if not presets:
        return {}
    wafv2 = local_client("wafv2", endpoint)
    created: dict[str, tuple[LocalIpSet, ...]] = {}
    for preset in presets:
        sets = []
        for version, addresses in by_version(load_snapshot(preset).ranges).items():
            name = contract.preset_ip_set_name(config.stack_name, preset, version)
            summary = wafv2.create_ip_set(
                Name=name,
                Scope=SCOPE,
                IPAddressVersion=f"IPV{version}",
                Addresses=list(addresses),
                Description=f"webhook-kit allow-list preset {preset} (IPv{version}), local",
            )["Summary"]
            sets.append(LocalIpSet(preset=preset, version=version, name=name, id=summary["Id"]))
        created[preset] = tuple(sets)
    return created


class PresetAllowLists:
    """The presets' current networks as the front checks them: read from WAFv2, cached for ``refresh_seconds``.

    ``client``: a WAFv2 client (default: one of ``endpoint``, made on the first read).
    ``allow_loopback``: a preset also allows this machine (``LOOPBACK``), so that ``send``, the soak
    and the load bench, which post from here, reach a source that only a provider's list allows.

    A read that fails keeps the networks last read (and reports it), as a WAF
    keeps applying an IP set whatever happens to its API.
    """

    def __init__(
        self,
        endpoint: str,
        ip_sets: Mapping[str, Sequence[LocalIpSet]],
        *,
        report: Reporter | None = None,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        client: Any = None,
        allow_loopback: bool = False,
    ) -> None:
        self.allow_loopback = allow_loopback
        self._ip_sets = dict(ip_sets)
        self._endpoint = endpoint
        self._client = client
        self._report = report
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._networks: dict[str, tuple[Network, ...]] = {}
        self._read_at: dict[str, float] = {}

    def networks(self, presets: Iterable[str]) -> tuple[Network, ...]:
        """The networks the IP sets of ``presets`` hold now (as of at most ``refresh_seconds`` ago)."""
        networks = tuple(network for preset in presets for network in self._current(preset))
        return (*networks, *LOOPBACK) if networks and self.allow_loopback else networks

    def _current(self, preset: str) -> tuple[Network, ...]:
        with self._lock:
            now = self._clock()
            read_at = self._read_at.get(preset)
            if read_at is None or now - read_at >= self._refresh_seconds:
                self._read_at[preset] = now
                self._networks[preset] = self._read(preset)
            return self._networks[preset]

    def _read(self, preset: str) -> tuple[Network, ...]:
        if self._client is None:
            self._client = local_client("wafv2", self._endpoint)
        networks: list[Network] = []
        try:
            for ip_set in self._ip_sets.get(preset, ()):
                found = self._client.get_ip_set(Name=ip_set.name, Scope=SCOPE, Id=ip_set.id)["IPSet"]
                networks.extend(ipaddress.ip_network(cidr) for cidr in found["Addresses"])
        except Exception as error:  # moto gone or a set deleted: keep applying what was read last
            if self._report is not None:
                self._report(
                    PipelineEvent(preset, "error", detail=f"WAF: cannot read the {preset} IP sets ({error}); kept")
                )
            return self._networks.get(preset, ())
        return tuple(networks)
