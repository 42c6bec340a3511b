"""The fleet plan: which hosts the lab runs, their addresses and their labels.

Pure and deterministic (no I/O), so the same host count always gives the same names, addresses
and labels, and the plan can be tested without root.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

LAB_NET = ipaddress.ip_network("198.18.0.0/15")
CONTROLLER_IP = "198.18.0.1"
CONTROLLER_IF = "cw0"
NETNS_PREFIX = "cwh-"
VETH_PREFIX = "cwv"
DEFAULT_HOSTS = 12
MIN_HOSTS = 8
MAX_HOSTS = 240  # veth names stay well under 15 chars and every subnet keeps free addresses
FIRST_HOST_OCTET = 10

# (az, region, short name used in host names, subnet)
CLOUD_AZS = (
    ("eu-west-1a", "eu-west-1", "euw1a", "198.18.11.0/24"),
    ("eu-west-1b", "eu-west-1", "euw1b", "198.18.12.0/24"),
    ("us-east-1a", "us-east-1", "use1a", "198.18.21.0/24"),
    ("us-east-1b", "us-east-1", "use1b", "198.18.22.0/24"),
)
DATACENTERS = {"dc1": ("onprem-eu", "198.18.31.0/24"), "dc2": ("onprem-us", "198.18.32.0/24")}
PROVIDERS = {"cloud": "aws", "onprem": "vmware", "edge": "bare-metal"}
OWNER_TEAMS = {"cloud": "cloud-platform", "onprem": "dc-ops", "edge": "edge-ops"}
LEGACY_HOST = "onprem-dc1-legacy"
# Above this many on-prem hosts a second datacenter opens; above this many edge hosts a site holds two.
ONPREM_ONE_DC_MAX = 4
EDGE_ONE_PER_SITE_MAX = 3


class FleetError(ValueError):
    """The requested fleet cannot be planned."""


def edge_subnet(site_number: int) -> str:
    if not 1 <= site_number <= 155:
        raise FleetError(f"edge site {site_number} is outside 1..155 (198.18.101-255.0/24)")
    return f"198.18.{100 + site_number}.0/24"


def edge_region(site_number: int) -> str:
    return "edge-eu" if site_number % 2 else "edge-us"


@dataclass(frozen=True)
class HostSpec:
    """One lab host: identity, network attachment and labels."""

    index: int
    name: str
    address: str
    subnet: str
    labels: dict = field(hash=False)

    @property
    def netns(self) -> str:
        return f"{NETNS_PREFIX}{self.index}"

    @property
    def veth(self) -> str:
        return f"{VETH_PREFIX}{self.index}"

    @property
    def env_type(self) -> str:
        return self.labels["env_type"]

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "name": self.name,
            "address": self.address,
            "subnet": self.subnet,
            "netns": self.netns,
            "veth": self.veth,
            "labels": dict(self.labels),
        }

    @classmethod
    def from_dict(cls, data: dict) -> HostSpec:
        return cls(data["index"], data["name"], data["address"], data["subnet"], dict(data["labels"]))


def split_counts(n: int) -> tuple[int, int, int]:
    """~50% cloud, ~25% on-prem, the rest edge (12 -> 6/3/3, 48 -> 24/12/12)."""
    cloud = (n + 1) // 2
    onprem = (n + 2) // 4
    return cloud, onprem, n - cloud - onprem


class _Addresses:
    """Hands out .10, .11, ... per subnet."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def take(self, subnet: str) -> str:
        net = ipaddress.ip_network(subnet)
        octet = self._next.get(subnet, FIRST_HOST_OCTET)
        if octet > 254:
            raise FleetError(f"subnet {subnet} has no free host address left")
        self._next[subnet] = octet + 1
        return str(net.network_address + octet)


def plan_fleet(n: int = DEFAULT_HOSTS) -> list[HostSpec]:
    """Return the deterministic host plan for a lab of n hosts."""
    if not isinstance(n, int) or isinstance(n, bool):
        raise FleetError(f"host count must be an integer, got {n!r}")
    if n < MIN_HOSTS or n > MAX_HOSTS:
        raise FleetError(f"host count {n} is outside {MIN_HOSTS}..{MAX_HOSTS}")
    n_cloud, n_onprem, n_edge = split_counts(n)
    addresses = _Addresses()
    rows: list[tuple[str, str, dict]] = []  # (name, subnet, placement labels)

    per_az: dict[str, int] = {}
    for i in range(n_cloud):
        az, region, short, subnet = CLOUD_AZS[i % len(CLOUD_AZS)]
        per_az[short] = per_az.get(short, 0) + 1
        rows.append((f"cloud-{short}-{per_az[short]:02d}", subnet, {"env_type": "cloud", "region": region, "az": az}))

    dcs = ["dc1"] if n_onprem <= ONPREM_ONE_DC_MAX else ["dc1", "dc2"]
    members: dict[str, int] = dict.fromkeys(dcs, 0)
    for i in range(n_onprem):
        members[dcs[i % len(dcs)]] += 1
    for dc in dcs:
        region, subnet = DATACENTERS[dc]
        for k in range(1, members[dc] + 1):
            # dc1's last host is the one legacy machine that cannot be rolled back.
            name = LEGACY_HOST if dc == "dc1" and k == members[dc] else f"onprem-{dc}-{k:02d}"
            rows.append((name, subnet, {"env_type": "onprem", "region": region, "site": dc}))

    n_sites = n_edge if n_edge <= EDGE_ONE_PER_SITE_MAX else (n_edge + 1) // 2
    per_site = [0] * n_sites
    for i in range(n_edge):
        per_site[i % n_sites] += 1
    for s in range(1, n_sites + 1):
        for k in range(1, per_site[s - 1] + 1):
            rows.append(
                (
                    f"edge-s{s}-{k:02d}",
                    edge_subnet(s),
                    {"env_type": "edge", "region": edge_region(s), "site": f"edge-site-{s}"},
                )
            )

    first_cloud = rows[0][0]
    first_onprem = rows[n_cloud][0]
    first_edge = rows[n_cloud + n_onprem][0]
    hosts = []
    for index, (name, subnet, placement) in enumerate(rows, start=1):
        env_type = placement["env_type"]
        services = ["demo", "web"]
        if name == first_cloud:
            services.append("billing")
        if name == first_onprem:
            services.append("auth")
        if name == LEGACY_HOST:
            rollback, criticality = "none", "high"
        else:
            rollback = "partial" if name == first_edge else "full"
            criticality = "critical" if "billing" in services else ("low", "medium", "high")[index % 3]
        labels = {
            **placement,
            "provider": PROVIDERS[env_type],
            "tenant": "acme" if index % 2 else "globex",
            "data_class": "pii" if index % 4 == 0 else "none",
            "rollback_capability": rollback,
            "criticality": criticality,
            "owner_team": OWNER_TEAMS[env_type],
            "services": services,
        }
        hosts.append(HostSpec(index, name, addresses.take(subnet), subnet, labels))
    return hosts


def select(hosts: list[HostSpec], target: str) -> list[HostSpec]:
    """Hosts matching a target: 'all', a host name, an env_type, an az, a site or a region.

    A comma-separated list is the union. A target that matches nothing is an error, never an empty
    selection: a fault aimed at a typo must not silently do nothing.
    """
    chosen: dict[str, HostSpec] = {}
    for part in (p.strip() for p in target.split(",")):
        if not part:
            continue
        found = [
            h
            for h in hosts
            if part in ("all", h.name)
            or part in (h.labels.get("env_type"), h.labels.get("az"), h.labels.get("site"), h.labels.get("region"))
        ]
        if not found:
            raise FleetError(f"no lab host matches {part!r} (use a host name, all, cloud/onprem/edge, an az or a site)")
        for h in found:
            chosen[h.name] = h
    if not chosen:
        raise FleetError(f"empty target {target!r}")
    return sorted(chosen.values(), key=lambda h: h.index)
