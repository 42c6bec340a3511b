# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Risk score of a change: its complexity weighed against the failure history of similar changes.

    score = sum(weight_f * value_f)   over the factors below, values in [0, 1], weights summing to 100

Complexity factors: hosts, services, env_types, change_kind, rollback, downstream, data_class, blackout.
History factor: the failure rate of similar changes (same service, or same system class at half weight)
estimated from closed changes in the ledger with a Beta prior, so a system with no history is not "zero risk".
The class comes from the policy thresholds of the services and teams involved (the strictest wins).
Every input is reduced to sorted, rounded numbers first, so the same inputs always give the same score.
docs/risk-and-approvals.md explains each factor and the prior.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ansible_collections.changeward.hybrid.plugins.module_utils import timeparse
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import (
    DEFAULTS as LABEL_DEFAULTS,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import (
    LABELS,
    LabelError,
    host_labels,
    normalize_labels,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import (
    RISK_CLASSES,
    GatePolicy,
)

CHANGE_KINDS = {"config": 0.25, "package": 0.5, "binary": 0.75, "schema": 1.0}
ROLLBACK_VALUE = {"full": 0.0, "partial": 0.5, "none": 1.0}
DATA_CLASS_VALUE = {"none": 0.0, "internal": 0.25, "pii": 1.0, "pci": 1.0, "phi": 1.0}
HOSTS_SATURATION = 100  # hosts at which the hosts factor reaches 1 (log scale)
SERVICES_SATURATION = 5  # services at which the services factor reaches 1
DOWNSTREAM_SATURATION = 10  # downstream consumers at which the downstream factor reaches 1
DOWNSTREAM_UNKNOWN = 0.5  # no dependency map: consumers unknown, assumed moderate rather than none
BLACKOUT_HORIZON = 24 * 3600  # a blackout starting within this many seconds raises the score linearly
HISTORY_SATURATION = 0.5  # a failure rate of 50 % or more gives the whole history weight
# How much a closed change counts as a failure; aborted changes (stopped by a gate before they ran) say nothing.
OUTCOME_FAILURE = {"failed": 1.0, "rolled_back": 1.0, "successful_with_issues": 0.5, "successful": 0.0}
SIMILARITY = {"service": 1.0, "system_class": 0.5}
TAG_KEYS = ("tags", "changeward_tags")
NAME_KEYS = ("name", "host", "inventory_hostname")
ROUND = 4
MAX_MATCHES = 20  # similar changes listed in a result (all of them count)


class RiskInputError(ChangewardError, ValueError):
    """The inputs cannot be scored (no targets, bad labels, unknown change kind, ...); names what is wrong."""


@dataclass(frozen=True)
class Target:
    name: str
    labels: dict
    tags: tuple = ()

    @property
    def services(self) -> list:
        return list(self.labels.get("services") or [])


# -- targets ----------------------------------------------------------------------------------------------------
def _tags(value, where) -> tuple:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(t, str) for t in items):
        raise RiskInputError(f"{where}: tags must be a list of names or a comma separated string")
    return tuple(sorted({t.strip().lower() for t in items if t.strip()}))


def target_from_vars(name: str, mapping: Mapping) -> Target:
    """A target from its host vars (``changeward_labels`` preferred, else top-level label vars) or a label dict."""
    if not isinstance(mapping, Mapping):
        raise RiskInputError(f"target {name}: labels must be a mapping, got {type(mapping).__name__}")
    given = host_labels(mapping)  # changeward_labels.<label>, else the plain variable (the one label lookup)
    labels, errors = normalize_labels(given, host=name, ignore_unknown=True)
    if errors:
        raise RiskInputError("; ".join(str(e) for e in errors))
    for label, default in LABEL_DEFAULTS.items():
        labels.setdefault(label, list(default) if isinstance(default, tuple) else default)
    tags = ()
    for key in TAG_KEYS:
        if key in mapping:
            tags = tuple(sorted(set(tags) | set(_tags(mapping[key], f"target {name}.{key}"))))
    return Target(str(name), labels, tags)


def normalise_targets(targets) -> list:
    """Targets from a list of label dicts (each may carry name/host) or a mapping of host name -> vars/labels."""
    if isinstance(targets, Mapping) and not targets:
        items = []
    elif isinstance(targets, Mapping):
        if not (set(targets) & set(LABELS)) and all(isinstance(v, Mapping) for v in targets.values()):
            items = [(str(k), v) for k, v in targets.items()]
        else:
            items = [(None, targets)]
    elif isinstance(targets, (list, tuple)):
        items = [(None, t) for t in targets]
    else:
        raise RiskInputError(f"targets must be a list of label dicts or a mapping of host -> labels, got {targets!r}")
    out = []
    for i, (name, value) in enumerate(items):
        if isinstance(value, str):
            raise RiskInputError(f"targets[{i}] is a host name ({value}); host names need the inventory's hostvars")
        if not isinstance(value, Mapping):
            raise RiskInputError(f"targets[{i}] must be a mapping of labels, got {type(value).__name__}")
        if name is None:
            name = next((str(value[k]) for k in NAME_KEYS if value.get(k)), f"target-{i}")
        try:
            out.append(target_from_vars(name, value))
        except LabelError as exc:  # pragma: no cover - normalize_labels reports instead of raising
            raise RiskInputError(str(exc)) from None
    if not out:
        raise RiskInputError("no targets: a change without targets cannot be scored (it is not 'low risk')")
    names = [t.name for t in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RiskInputError(f"targets named more than once: {', '.join(dupes)}")
    return sorted(out, key=lambda t: t.name)


def change_services(services: Iterable, targets: Iterable) -> tuple:
    """(services, how): the services named for the change, else every service the targets run."""
    named = sorted({str(s).strip().lower() for s in services or () if str(s).strip()})
    if named:
        return named, "given"
    derived = sorted({s for t in targets for s in t.services})
    return derived, "from the targets' services labels"


def change_teams(teams: Iterable, targets: Iterable, services: Iterable, policy: GatePolicy) -> list:
    found = {str(t).strip().lower() for t in teams or () if str(t).strip()}
    found |= {t.labels["owner_team"] for t in targets if t.labels.get("owner_team")}
    found |= {policy.team_of(s) for s in services if policy.team_of(s)}
    return sorted(found)


# -- inputs -----------------------------------------------------------------------------------------------------
def downstream_consumers(dependency_map, services: Iterable) -> list:
    """Every service that consumes the given services, directly or through others (provider -> [consumers])."""
    if not isinstance(dependency_map, Mapping):
        raise RiskInputError("dependency_map must be a mapping of service -> list of consuming services")
    graph = {}
    for provider, consumers in dependency_map.items():
        if isinstance(consumers, str) or not isinstance(consumers, (list, tuple)):
            raise RiskInputError(f"dependency_map.{provider} must be a list of consuming services")
        graph[str(provider).lower()] = [str(c).lower() for c in consumers]
    start = set(services)
    seen, queue = set(), sorted(start)
    while queue:
        node = queue.pop()
        for consumer in graph.get(node, ()):
            if consumer not in seen and consumer not in start:
                seen.add(consumer)
                queue.append(consumer)
    return sorted(seen)


def service_blast_radius(dependency_map, services: Iterable, rule: Mapping | None) -> dict:
    """Transitive consumers of the services weighted by criticality (dependencies.graph.blast_radius), and the
    class the policy's ``risk.blast_radius`` puts the change in at least (``floor``), or None."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.dependencies.graph import (
        DependencyError,
        blast_radius,
        graph_from_value,
    )

    rule = rule or {}
    try:
        radius = blast_radius(graph_from_value(dependency_map), services, rule.get("criticality_weights"))
    except DependencyError as exc:
        raise RiskInputError(f"dependency_map: {exc}") from None
    floor = None
    if rule.get("weighted_consumers") is not None and radius["weighted"] >= rule["weighted_consumers"]:
        floor = rule.get("class") or "high"
    radius["floor"] = floor
    radius["rule"] = dict(rule) or None
    return radius


def parse_time(value, what: str) -> datetime.datetime:
    """An aware UTC datetime of an instant (module_utils.timeparse: ISO 8601 with a UTC offset, unix seconds, now)."""
    try:
        return timeparse.instant(value, what)
    except timeparse.TimeFormatError as exc:
        raise RiskInputError(str(exc)) from None


def seconds_until(next_blackout_in, at=None) -> float | None:
    """Seconds from ``at`` to the next blackout: a number of seconds, or an ISO 8601 start time."""
    if next_blackout_in is None or next_blackout_in == "":
        return None
    if isinstance(next_blackout_in, bool):
        raise RiskInputError("next_blackout_in must be seconds or an ISO 8601 time, not a boolean")
    if isinstance(next_blackout_in, (int, float)):
        if math.isnan(next_blackout_in):
            raise RiskInputError("next_blackout_in is not a number")
        return float(next_blackout_in)
    if isinstance(next_blackout_in, str):
        try:
            return float(next_blackout_in.strip())
        except ValueError:
            pass
        start = parse_time(next_blackout_in, "next_blackout_in")
        if at is None:
            raise RiskInputError("next_blackout_in is a time: the time of the change (at) is needed too")
        return (start - parse_time(at, "at")).total_seconds()
    raise RiskInputError(f"next_blackout_in must be seconds or an ISO 8601 time, got {next_blackout_in!r}")


# -- history ----------------------------------------------------------------------------------------------------
@dataclass
class History:
    source: str
    alpha0: float
    beta0: float
    similar: float = 0.0  # weighted number of similar closed changes
    failures: float = 0.0  # weighted failures among them
    matches: list = field(default_factory=list)  # [{change, outcome, similarity}]
    unclassified: int = 0  # closed changes without a risk record, so without services or class to compare

    @property
    def failure_rate(self) -> float:
        return (self.alpha0 + self.failures) / (self.alpha0 + self.beta0 + self.similar)

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "prior": {"alpha": self.alpha0, "beta": self.beta0},
            "posterior": {
                "alpha": round(self.alpha0 + self.failures, ROUND),
                "beta": round(self.beta0 + self.similar - self.failures, ROUND),
            },
            "similar_changes": round(self.similar, ROUND),
            "failures": round(self.failures, ROUND),
            "failure_rate": round(self.failure_rate, ROUND),
            "matches": self.matches[:MAX_MATCHES],
            "matches_total": len(self.matches),
            "unclassified_changes": self.unclassified,
        }


def history_from_records(records: Iterable, services, system_class, prior: Mapping, source: str, exclude=None):
    """Fold closed change records into a Beta posterior over the failure rate of similar changes."""
    hist = History(source, float(prior["alpha"]), float(prior["beta"]))
    wanted = set(services)
    for record in sorted(records, key=lambda r: r["id"]):
        if record["id"] == exclude or record.get("status") != "closed":
            continue
        failure = OUTCOME_FAILURE.get(record.get("outcome"))
        if failure is None:
            continue
        risk = record.get("risk") or {}
        if not isinstance(risk, Mapping) or ("services" not in risk and "system_class" not in risk):
            hist.unclassified += 1
            continue
        if wanted & set(risk.get("services") or ()):
            how = "service"
        elif system_class and risk.get("system_class") == system_class:
            how = "system_class"
        else:
            continue
        weight = SIMILARITY[how]
        hist.similar += weight
        hist.failures += weight * failure
        hist.matches.append({"change": record["id"], "outcome": record["outcome"], "similarity": how})
    return hist


def closed_records(ledger) -> list:
    """Final records of the closed changes in a ledger (an indexed query by event type, one snapshot)."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import CHANGE_CLOSED

    records = {}
    with ledger.snapshot():
        for entry in ledger.iter_events(types=[CHANGE_CLOSED]):
            record = entry.event["data"]["record"]
            records[record["id"]] = record
    return list(records.values())


# -- score ------------------------------------------------------------------------------------------------------
def classify(score: int, thresholds: Mapping) -> str:
    for cls in reversed(RISK_CLASSES[1:]):
        if score >= thresholds[cls]:
            return cls
    return "low"


def _factor(name, value, weight, detail, assessed=True) -> dict:
    value = round(min(1.0, max(0.0, float(value))), ROUND)
    return {
        "name": name,
        "value": value,
        "weight": weight,
        "points": round(weight * value, ROUND),
        "assessed": assessed,
        "detail": detail,
    }


def default_system_class(change_kind: str, targets: Iterable) -> str:
    envs = sorted({t.labels.get("env_type") or "unknown" for t in targets})
    return f"{change_kind}/{'+'.join(envs)}"


def score_change(
    targets,
    change_kind: str,
    policy: GatePolicy,
    *,
    services=(),
    teams=(),
    dependency_map=None,
    next_blackout_in=None,
    at=None,
    system_class: str | None = None,
    history: History | None = None,
) -> dict:
    """Score a change. ``targets`` as normalise_targets takes them; ``history`` None means prior only."""
    if change_kind not in CHANGE_KINDS:
        raise RiskInputError(f"change_kind must be one of {', '.join(CHANGE_KINDS)}, got {change_kind!r}")
    if not (isinstance(targets, list) and targets and all(isinstance(t, Target) for t in targets)):
        targets = normalise_targets(targets)
    services, services_how = change_services(services, targets)
    teams = change_teams(teams, targets, services, policy)
    system_class = system_class or default_system_class(change_kind, targets)
    weights = policy.risk["weights"]
    if history is None:
        prior = policy.risk["prior"]
        history = History("prior only: no ledger given", float(prior["alpha"]), float(prior["beta"]))

    n = len(targets)
    envs = sorted({t.labels.get("env_type") or "unknown" for t in targets})
    rollbacks = {t.name: t.labels.get("rollback_capability") or "none" for t in targets}
    worst_rb = max(rollbacks.values(), key=lambda v: ROLLBACK_VALUE.get(v, 1.0))
    data = {t.name: t.labels.get("data_class") or "none" for t in targets}
    worst_dc = max(data.values(), key=lambda v: DATA_CLASS_VALUE.get(v, 1.0))

    factors = [
        _factor("hosts", math.log1p(n) / math.log1p(HOSTS_SATURATION), weights["hosts"], f"{n} target host(s)"),
        _factor(
            "services",
            (len(services) - 1) / (SERVICES_SATURATION - 1) if services else 0.0,
            weights["services"],
            f"{len(services)} service(s) ({services_how}): {', '.join(services) or 'none'}",
        ),
        _factor("env_types", (len(envs) - 1) / 2, weights["env_types"], f"environment types: {', '.join(envs)}"),
        _factor("change_kind", CHANGE_KINDS[change_kind], weights["change_kind"], f"kind of change: {change_kind}"),
        _factor(
            "rollback",
            ROLLBACK_VALUE.get(worst_rb, 1.0),
            weights["rollback"],
            f"weakest rollback_capability: {worst_rb} "
            f"({sum(1 for v in rollbacks.values() if v == worst_rb)} of {n} target(s))",
        ),
    ]
    radius = None
    if dependency_map is None:
        factors.append(
            _factor(
                "downstream",
                DOWNSTREAM_UNKNOWN,
                weights["downstream"],
                "no dependency map given: downstream consumers unknown, assumed moderate",
                assessed=False,
            )
        )
    else:
        radius = service_blast_radius(dependency_map, services, policy.risk.get("blast_radius"))
        names = [c["service"] for c in radius["consumers"]]
        factors.append(
            _factor(
                "downstream",
                radius["weighted"] / DOWNSTREAM_SATURATION,
                weights["downstream"],
                f"{len(names)} downstream consumer(s), {radius['weighted']:g} weighted by criticality: "
                f"{', '.join(names) or 'none'}",
            )
        )
    factors.append(
        _factor(
            "data_class",
            DATA_CLASS_VALUE.get(worst_dc, 1.0),
            weights["data_class"],
            f"most sensitive data_class: {worst_dc}",
        )
    )
    seconds = seconds_until(next_blackout_in, at)
    if seconds is None:
        factors.append(
            _factor("blackout", 0.0, weights["blackout"], "next blackout not given: not assessed", assessed=False)
        )
    else:
        factors.append(
            _factor(
                "blackout",
                1.0 - max(0.0, seconds) / BLACKOUT_HORIZON,
                weights["blackout"],
                f"next blackout in {int(seconds)} s (within {BLACKOUT_HORIZON // 3600} h raises the score)",
            )
        )
    rate = history.failure_rate
    factors.append(
        _factor(
            "history",
            rate / HISTORY_SATURATION,
            weights["history"],
            f"estimated failure rate {rate:.1%} of similar changes ({history.similar:g} similar, "
            f"{history.failures:g} failed; {history.source})",
            assessed=history.similar > 0,
        )
    )
    total = sum(f["points"] for f in factors)
    score = min(100, max(0, math.floor(total + 0.5)))
    thresholds = policy.thresholds(services, teams)
    cls = classify(score, thresholds)
    floor = None
    if radius and radius["floor"]:
        floor = radius["floor"]
        if RISK_CLASSES.index(floor) > RISK_CLASSES.index(cls):
            cls = floor
    complexity_weight = sum(f["weight"] for f in factors if f["name"] != "history")
    complexity = sum(f["points"] for f in factors if f["name"] != "history")
    return {
        "score": score,
        "class": cls,
        "thresholds": thresholds,
        "blast_radius": radius,
        "factors": factors,
        "complexity": round(complexity / complexity_weight, ROUND) if complexity_weight else 0.0,
        "history": history.as_dict(),
        "change_kind": change_kind,
        "system_class": system_class,
        "services": services,
        "teams": teams,
        "hosts": n,
        "policy": policy.summary(),
    }


def ledger_risk(result: Mapping, scored_at: str) -> dict:
    """What a change record keeps of a score: enough to find similar changes later."""
    return {
        "level": result["class"],
        "score": result["score"],
        "services": list(result["services"]),
        "system_class": result["system_class"],
        "change_kind": result["change_kind"],
        "failure_rate": result["history"]["failure_rate"],
        "policy_digest": result["policy"]["digest"],
        "scored_at": scored_at,
    }
