# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ring planner: ordered batches of hosts from their labels (docs/rollouts.md).

Rules, in the order they are applied:

1. Every host needs ``env_type``, ``region`` and a failure domain: ``az`` for cloud hosts, ``site`` for
   on-prem and edge hosts. A host without them cannot be placed safely, so planning stops (fail closed).
2. Env types go in the configured order (default cloud, onprem, edge); edge, where present, must be last.
   A ring never mixes env types.
3. Ring 0 is the canary: ``ceil(canary_percent % of all hosts)`` (at least 1) hosts of ONE failure domain
   (and, with ``canary_scope: tenant``, one tenant) of the first env type. A canary must be able to go back,
   so hosts labelled ``rollback_capability: none`` are never canaries; among the rest the planner prefers
   full rollback, low criticality and no regulated data.
4. Later rings grow to the cumulative ``steps`` (default 1, 5, 25, 100 % of all hosts). A ring brings in at
   most ``max_new_domains`` failure domain(s) and ``max_new_regions`` region(s) that no earlier (judged) ring
   touched, so a bad change meets one new AZ or site at a time; a ring cut short by that rule is followed
   by another ring towards the same step.
5. Within an env type, domains already proven come first, then domains of regions already touched, then
   the rest; within a domain, hosts with full rollback and low criticality go first, hosts that cannot be
   rolled back go last.
6. A ``ring`` label pins a host: ``0``/``canary`` into the canary, an integer into that ring (the last one
   when there are fewer), ``last`` into the last ring. Pinned hosts are the operator's decision; when one
   breaks rule 3 or 4 the plan says so in ``warnings``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import (
    CRITICALITIES,
    DATA_CLASSES,
    ENV_TYPES,
    ROLLBACK_CAPABILITIES,
    host_label,
)

DEFAULT_STEPS = (1.0, 5.0, 25.0, 100.0)
DEFAULT_ENV_ORDER = ENV_TYPES
CANARY = "canary"
CANARY_SCOPES = ("domain", "tenant")


class PlanError(ChangewardError, ValueError):
    """The hosts or the settings do not allow a safe plan."""


@dataclass(frozen=True)
class Host:
    name: str
    env_type: str
    region: str
    domain: str
    tenant: str | None = None
    rollback_capability: str = "none"
    criticality: str = "medium"
    data_class: str = "none"
    pin: int | str | None = None

    @property
    def rank(self) -> tuple:
        """Lower is safer to go early: can be rolled back, not critical, no regulated data."""
        return (
            ROLLBACK_CAPABILITIES.index(self.rollback_capability),
            CRITICALITIES.index(self.criticality),
            0 if self.data_class in ("none", "internal") else 1,
            self.name,
        )


@dataclass
class Ring:
    index: int
    hosts: list = field(default_factory=list)
    new_domains: list = field(default_factory=list)
    new_regions: list = field(default_factory=list)
    target: int = 0
    pinned: list = field(default_factory=list)

    @property
    def name(self) -> str:
        return CANARY if self.index == 0 else f"ring-{self.index}"


def _label(hostvars: Mapping, key: str):
    return host_label(hostvars, key)


def _pin(value, name: str):
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PlanError(f"host {name}: ring label must be an integer >= 0, 'canary' or 'last', got {value!r}")
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(value)
        if number < 0:
            raise PlanError(f"host {name}: ring label must be >= 0, got {value!r}")
        return number
    text = str(value).strip().lower()
    if text == CANARY:
        return 0
    if text == "last":
        return "last"
    raise PlanError(f"host {name}: ring label must be an integer >= 0, 'canary' or 'last', got {value!r}")


def host_from_vars(name: str, hostvars: Mapping) -> Host:
    """A Host from inventory variables (``changeward_labels`` first, then plain label variables)."""
    env_type = _label(hostvars, "env_type")
    domain_key = "az" if env_type == "cloud" else "site"
    missing = [k for k in ("env_type", "region", domain_key) if not _label(hostvars, k)]
    if missing:
        raise PlanError(
            f"host {name} lacks the label(s) {', '.join(missing)}; rings cannot be planned without knowing "
            "where a host is (docs/labels.md)"
        )
    values = {
        "rollback_capability": _label(hostvars, "rollback_capability") or "none",
        "criticality": _label(hostvars, "criticality") or "medium",
        "data_class": _label(hostvars, "data_class") or "none",
    }
    for key, allowed in (
        ("rollback_capability", ROLLBACK_CAPABILITIES),
        ("criticality", CRITICALITIES),
        ("data_class", DATA_CLASSES),
    ):
        if values[key] not in allowed:
            raise PlanError(f"host {name}: {key} must be one of {', '.join(allowed)}, got {values[key]!r}")
    return Host(
        name=name,
        env_type=str(env_type),
        region=str(_label(hostvars, "region")),
        domain=str(_label(hostvars, domain_key)),
        tenant=_label(hostvars, "tenant"),
        pin=_pin(_label(hostvars, "ring"), name),
        **values,
    )


def _steps(steps: Sequence) -> list[float]:
    try:
        values = [float(s) for s in steps]
    except (TypeError, ValueError):
        raise PlanError(f"steps must be percentages, got {list(steps)!r}") from None
    if not values:
        raise PlanError("steps must not be empty")
    if any(not (0 < v <= 100) or math.isnan(v) for v in values):
        raise PlanError(f"steps must lie in (0, 100], got {values}")
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise PlanError(f"steps must increase strictly, got {values}")
    if values[-1] != 100:
        raise PlanError(f"the last step must be 100 (every host), got {values[-1]:g}")
    return values


def _env_order(env_order: Sequence, present: Iterable[str]) -> list[str]:
    order = [str(e) for e in env_order]
    if len(set(order)) != len(order):
        raise PlanError(f"env_order names an env type twice: {order}")
    unknown = sorted(set(present) - set(order))
    if unknown:
        raise PlanError(f"hosts have env types not in env_order {order}: {', '.join(unknown)}")
    if "edge" in order and order[-1] != "edge":
        raise PlanError(f"edge must come last in env_order, got {order}")
    return order


def _count(percent: float, total: int) -> int:
    # round() first: 12 * 25 / 100 must be 3, not ceil(3.0000000000000004) = 4
    return max(1, math.ceil(round(percent * total / 100.0, 9)))


def _canary(pool: list[Host], size: int, scope: str) -> list[Host]:
    eligible = sorted((h for h in pool if h.rollback_capability != "none"), key=lambda h: h.rank)
    if not eligible:
        raise PlanError(
            f"no host of env type {pool[0].env_type} can be a canary: every one is labelled "
            "rollback_capability none (a canary must be able to go back)"
        )
    best = eligible[0]
    same = [h for h in eligible if h.domain == best.domain and (scope != "tenant" or h.tenant == best.tenant)]
    return same[:size]


def _ordered_rest(hosts: list[Host], proven_domains: set, proven_regions: set) -> list[Host]:
    """Hosts of one env type in rollout order, choosing the next domain greedily: proven domains first,
    then domains of regions already touched (by earlier rings or earlier in this order), safest first."""
    by_domain: dict = {}
    for h in hosts:
        by_domain.setdefault((h.region, h.domain), []).append(h)
    for members in by_domain.values():
        members.sort(key=lambda h: h.rank)
    regions = set(proven_regions)
    out = []
    while by_domain:
        key = min(
            by_domain,
            key=lambda k: (0 if k[1] in proven_domains else 1 if k[0] in regions else 2, by_domain[k][0].rank, k),
        )
        out.extend(by_domain.pop(key))
        regions.add(key[0])
    return out


def plan(
    hosts: Sequence[Host],
    *,
    steps: Sequence = DEFAULT_STEPS,
    canary_percent: float | None = None,
    canary_scope: str = "domain",
    env_order: Sequence = DEFAULT_ENV_ORDER,
    max_new_domains: int = 1,
    max_new_regions: int = 1,
) -> dict:
    """The ring plan of ``hosts`` as a plain dict (see the module docstring for the rules)."""
    hosts = list(hosts)
    if not hosts:
        raise PlanError("no hosts to plan: a rollout needs at least one target")
    names = [h.name for h in hosts]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise PlanError(f"hosts named more than once: {', '.join(dupes)}")
    steps = _steps(steps)
    if canary_scope not in CANARY_SCOPES:
        raise PlanError(f"canary_scope must be one of {', '.join(CANARY_SCOPES)}, got {canary_scope!r}")
    if canary_percent is None:
        canary_percent = steps[0]
    if not (0 < float(canary_percent) <= 100):
        raise PlanError(f"canary_percent must lie in (0, 100], got {canary_percent!r}")
    for what, value in (("max_new_domains", max_new_domains), ("max_new_regions", max_new_regions)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PlanError(f"{what} must be an integer >= 1, got {value!r}")
    order = _env_order(env_order, {h.env_type for h in hosts})
    total = len(hosts)
    warnings: list[str] = []

    pinned = [h for h in hosts if h.pin is not None]
    free = [h for h in hosts if h.pin is None]
    envs = [e for e in order if any(h.env_type == e for h in hosts)]

    # Ring 0: pinned canaries, else chosen from the first env type that has free hosts.
    canary_pins = [h for h in pinned if h.pin == 0]
    if canary_pins:
        canary = sorted(canary_pins, key=lambda h: h.rank)
        if len({(h.env_type, h.domain) for h in canary}) > 1:
            warnings.append(
                "hosts pinned to the canary span several failure domains: "
                + ", ".join(sorted({f"{h.env_type}/{h.domain}" for h in canary}))
            )
        for h in canary:
            if h.rollback_capability == "none":
                warnings.append(f"{h.name} is pinned to the canary but is labelled rollback_capability none")
    elif not free:
        raise PlanError("no canary: every host is pinned to a later ring; pin at least one host to ring 0")
    else:
        first_env = next(e for e in envs if any(h.env_type == e for h in free))
        canary = _canary([h for h in free if h.env_type == first_env], _count(canary_percent, total), canary_scope)
    rings = [Ring(0, list(canary), target=len(canary))]
    rings[0].new_domains = sorted({h.domain for h in canary})
    rings[0].new_regions = sorted({h.region for h in canary})
    rings[0].pinned = [h.name for h in canary if h.pin is not None]
    placed = {h.name for h in canary}
    proven_domains = {(h.env_type, h.domain) for h in canary}
    proven_regions = {h.region for h in canary}

    targets = [_count(s, total) for s in steps]
    step = 0
    cumulative = len(canary)
    current: Ring | None = None
    later_pins = [h for h in pinned if h.pin != 0]

    def close_ring():
        nonlocal current
        if current is not None and current.hosts:
            rings.append(current)
        current = None

    for env in envs:
        close_ring()  # a ring never mixes env types
        rest = [h for h in free if h.env_type == env and h.name not in placed]
        ordered = _ordered_rest(rest, {d for e, d in proven_domains if e == env}, proven_regions)
        for h in ordered:
            while step < len(targets) - 1 and targets[step] <= cumulative:
                step += 1
            if current is not None:
                new_domain = (h.env_type, h.domain) not in proven_domains and h.domain not in current.new_domains
                new_region = h.region not in proven_regions and h.region not in current.new_regions
                if (
                    cumulative >= current.target
                    or (new_domain and len(current.new_domains) >= max_new_domains)
                    or (new_region and len(current.new_regions) >= max_new_regions)
                ):
                    # the ring is full, or this host would bring in one failure domain too many: the
                    # domains of the ring just closed count as proven once it is judged
                    proven_domains.update((h2.env_type, h2.domain) for h2 in current.hosts)
                    proven_regions.update(h2.region for h2 in current.hosts)
                    close_ring()
                    while step < len(targets) - 1 and targets[step] <= cumulative:
                        step += 1
            if current is None:
                current = Ring(len(rings), target=max(targets[step], cumulative + 1))
            if (h.env_type, h.domain) not in proven_domains and h.domain not in current.new_domains:
                current.new_domains.append(h.domain)
            if h.region not in proven_regions and h.region not in current.new_regions:
                current.new_regions.append(h.region)
            current.hosts.append(h)
            placed.add(h.name)
            cumulative += 1
        if current is not None:
            proven_domains.update((h2.env_type, h2.domain) for h2 in current.hosts)
            proven_regions.update(h2.region for h2 in current.hosts)
    close_ring()

    # Pinned hosts outside the canary: the operator's placement wins, and the plan says what it breaks.
    for h in sorted(later_pins, key=lambda h: h.name):
        index = len(rings) - 1 if h.pin == "last" else min(int(h.pin), len(rings) - 1)
        if index == 0:  # only the canary exists: a host pinned later gets a ring of its own after it
            rings.append(Ring(1))
            index = 1
        ring = rings[index]
        if ring.hosts and ring.hosts[0].env_type != h.env_type:
            warnings.append(f"{h.name} is pinned to {ring.name}, which holds {ring.hosts[0].env_type} hosts")
        earlier = {(x.env_type, x.domain) for r in rings[:index] for x in r.hosts}
        if (h.env_type, h.domain) not in earlier and h.domain not in ring.new_domains:
            ring.new_domains.append(h.domain)
            if len(ring.new_domains) > max_new_domains:
                warnings.append(f"{h.name} is pinned to {ring.name} and brings a new failure domain ({h.domain})")
        ring.hosts.append(h)
        ring.pinned.append(h.name)

    return _as_dict(rings, total, steps, float(canary_percent), canary_scope, order, warnings)


def _as_dict(rings, total, steps, canary_percent, canary_scope, order, warnings) -> dict:
    out = []
    cumulative = 0
    for i, ring in enumerate(rings):
        ring.index = i
        cumulative += len(ring.hosts)
        hosts = ring.hosts
        out.append(
            {
                "index": i,
                "name": ring.name,
                "hosts": [h.name for h in hosts],
                "size": len(hosts),
                "cumulative": cumulative,
                "percent": round(100.0 * cumulative / total, 2),
                "env_types": sorted({h.env_type for h in hosts}, key=order.index),
                "regions": sorted({h.region for h in hosts}),
                "domains": sorted({h.domain for h in hosts}),
                "tenants": sorted({h.tenant for h in hosts if h.tenant}),
                "new_domains": sorted(ring.new_domains),
                "new_regions": sorted(ring.new_regions),
                "rollback_capability": ROLLBACK_CAPABILITIES[
                    max(ROLLBACK_CAPABILITIES.index(h.rollback_capability) for h in hosts)
                ],
                "pinned": sorted(ring.pinned),
            }
        )
    return {
        "rings": out,
        "total": total,
        "order": [h for r in out for h in r["hosts"]],
        "sizes": [r["size"] for r in out],
        "settings": {
            "steps": steps,
            "canary_percent": canary_percent,
            "canary_scope": canary_scope,
            "env_order": order,
        },
        "warnings": warnings,
    }


def baseline_for(plan_result: Mapping, index: int) -> list[str]:
    """Hosts the change has not reached when ring ``index`` bakes: the baseline to compare it with."""
    return [h for r in plan_result["rings"][index + 1 :] for h in r["hosts"]]
