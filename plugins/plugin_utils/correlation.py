# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which change caused this? Rank the ledger's changes for an incident (an alert or an anomaly on a host,
for a service, at a time) by how well each explains it - after Azure's Gandalf: time, topology and rollout
progression - with an explanation per candidate and a confidence.

Each change's history comes from the ledger: its opened record (summary, service, targets), every
``io.changeward.ring.started`` (which hosts it reached, and when: ``since``) and the ring's outcome event
(rolled back, and when; what the bake watch and the judge found on which host). A change without ring
events reached its targets when it was opened.

A candidate's score in [0, 1] is ``topology x time``, raised by evidence:

* **topology**: how the change relates to the incident - it reached the incident's host and is of the
  incident's service (1.0); reached the host, of a service the incident's service depends on (0.8); reached
  the host, another service (0.5: hosts share kernel, disk, network); did not reach the host but is of the
  same service elsewhere (0.35) or of a dependency (0.5 per hop, at most three hops, by the dependency map);
  otherwise it is no candidate.
* **time**: ``0.5 ** (t / half_life)`` for the time t from the change reaching the host (or the service, for
  the remote relations) to the incident (default half-life 30 minutes); a change that reached it after the
  incident (beyond ``clock_skew``) explains nothing; one rolled back there more than ``settle`` before the
  incident explains a fifth as much.
* **evidence** (``score = 1 - (1 - base) (1 - evidence)``): the change's own bake watch breached, or its
  judge failed, on the incident's host (0.9); anomalies known on other hosts follow the change's rollout -
  hosts it reached turned anomalous after it reached them, in two rings or more (0.6), in one ring (0.3).
  Known anomalies that do *not* follow it count against it: when the change had been on three hosts or more
  for ``follow`` (30 minutes) and at most a third of them show anything, base is multiplied by 0.6.

The culprit is named (``confident``) when the best candidate scores at least ``min_score`` (0.5) and leads
the next by ``margin`` (0.15); otherwise the answer is "no confident culprit", with the candidates listed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

OPENED = "io.changeward.change.opened"
CLOSED = "io.changeward.change.closed"
RING_STARTED = "io.changeward.ring.started"
RING_OUTCOMES = tuple(f"io.changeward.ring.{s}" for s in ("passed", "rolled_back", "held", "halted", "unreachable"))

TOPOLOGY = {
    "same_host_same_service": 1.0,
    "same_host_dependency": 0.8,
    "same_host": 0.5,
    "same_service": 0.35,
    "dependency": 0.5,
}
MAX_HOPS = 3


class CorrelationError(ChangewardError, ValueError):
    """An incident, a dependency map or a ledger history that cannot be used as given."""


@dataclass
class Incident:
    host: str
    service: str | None
    time: float  # unix seconds
    what: str = ""  # the alert's or anomaly's name, for the explanation


@dataclass
class Exposure:
    since: float  # when the change reached the host
    ring: str | None = None
    until: float | None = None  # when it was rolled back there, if it was


@dataclass
class ChangeHistory:
    change_id: str
    summary: str = ""
    service: str | None = None
    targets: list = field(default_factory=list)
    opened: float | None = None
    closed: float | None = None
    outcome: str | None = None
    exposures: dict = field(default_factory=dict)  # host -> Exposure
    rings: list = field(default_factory=list)  # [ring name, ...] in order
    findings: list = field(default_factory=list)  # (host, what, time): the change's own watch/judge findings


def parse_time(value, what: str) -> float:
    """Unix seconds from a number, an ISO 8601 time with an offset, or now (timeparse)."""
    from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import parse_instant

    return float(parse_instant(value, what))


def _rfc3339(text) -> float | None:
    if not text:
        return None
    from datetime import datetime

    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


# -- the ledger's side ------------------------------------------------------------------------------------------------
def histories(events: Iterable[Mapping]) -> dict:
    """ChangeHistory per change id from ledger events (CloudEvents dicts, any order of subjects, seq order)."""
    out: dict[str, ChangeHistory] = {}
    for event in events:
        kind, subject, data = event.get("type"), event.get("subject"), event.get("data") or {}
        if kind == OPENED:
            record = data.get("record") or {}
            out[subject] = ChangeHistory(
                change_id=subject,
                summary=record.get("summary") or "",
                service=data.get("service") or record.get("service"),
                targets=list(record.get("targets") or []),
                opened=_rfc3339(record.get("opened_at")) or _rfc3339(event.get("time")),
            )
            continue
        change = out.get(subject)
        if change is None:
            continue
        if kind == CLOSED:
            record = data.get("record") or {}
            change.closed = _rfc3339(record.get("closed_at")) or _rfc3339(event.get("time"))
            change.outcome = record.get("outcome")
        elif kind == RING_STARTED:
            since = data.get("since")
            since = float(since) if since is not None else _rfc3339(event.get("time"))
            ring = data.get("ring")
            if ring not in change.rings:
                change.rings.append(ring)
            unreachable = set(data.get("unreachable") or [])
            for host in data.get("hosts") or []:
                if host not in unreachable and host not in change.exposures:
                    change.exposures[host] = Exposure(since=since, ring=ring)
        elif kind in RING_OUTCOMES:
            _ring_outcome(change, kind.rsplit(".", 1)[1], data, _rfc3339(event.get("time")))
    return out


def _ring_outcome(change: ChangeHistory, status: str, data: Mapping, at: float | None) -> None:
    watch = data.get("watch") if isinstance(data.get("watch"), Mapping) else {}
    breach = watch.get("breach") if isinstance(watch.get("breach"), Mapping) else None
    if breach and breach.get("host"):
        when = breach.get("visible_ts") or breach.get("detected_ts") or at
        change.findings.append((breach["host"], f"bake watch breach on {breach.get('metric')}", float(when)))
    judge = data.get("judge") if isinstance(data.get("judge"), Mapping) else {}
    if judge.get("verdict") == "fail":
        for host in data.get("hosts") or []:
            change.findings.append((host, "canary judge failed", float(data.get("ended") or at or 0)))
    if status == "rolled_back":
        timings = data.get("timings") if isinstance(data.get("timings"), Mapping) else {}
        until = timings.get("rolled_back_ts") or data.get("ended") or at
        rollback = data.get("rollback") if isinstance(data.get("rollback"), Mapping) else {}
        per_host = rollback.get("hosts") if isinstance(rollback.get("hosts"), Mapping) else {}
        for host in data.get("hosts") or []:
            info = per_host.get(host)
            if host in change.exposures and (not isinstance(info, Mapping) or info.get("rolled_back", True)):
                change.exposures[host].until = float(until) if until is not None else None
        for pair in rollback.get("earlier") or []:
            host = pair[0] if isinstance(pair, (list, tuple)) and pair else None
            if host in change.exposures and (len(pair) < 2 or pair[1]):
                change.exposures[host].until = float(until) if until is not None else None


def finish(change: ChangeHistory) -> ChangeHistory:
    """A change without ring events reached its targets when it was opened."""
    if not change.exposures and change.opened is not None:
        for target in change.targets:
            if isinstance(target, str):
                change.exposures[target] = Exposure(since=change.opened)
    return change


# -- the dependency map ---------------------------------------------------------------------------------------------
def dependency_hops(dependencies: Mapping | None, service: str | None) -> dict:
    """{service it depends on: hops} for service, by the map {service: [services it depends on]}."""
    if dependencies is None or service is None:
        return {}
    if not isinstance(dependencies, Mapping):
        raise CorrelationError("the dependency map must map a service to the list of services it depends on")
    hops, frontier = {}, [service]
    for depth in range(1, MAX_HOPS + 1):
        nxt = []
        for current in frontier:
            deps = dependencies.get(current) or []
            if isinstance(deps, str) or not isinstance(deps, list):
                raise CorrelationError(f"dependency map: {current} must list the services it depends on")
            for dep in deps:
                if dep != service and dep not in hops:
                    hops[dep] = depth
                    nxt.append(dep)
        frontier = nxt
    return hops


def depends_on(graph) -> dict:
    """{consumer: [providers]} from the project's dependency graph (plugin_utils.dependencies.graph.Graph, whose
    edges are consumer -> provider): the direction dependency_hops follows."""
    out: dict = {}
    for consumer, provider in sorted(graph.edges):
        out.setdefault(consumer, []).append(provider)
    return out


# -- scoring ------------------------------------------------------------------------------------------------------
@dataclass
class Settings:
    half_life: float = 1800.0
    settle: float = 300.0  # how long after a rollback (or after reaching a host) effects are expected to show
    clock_skew: float = 60.0
    follow: float = 1800.0  # an anomaly this soon after the change reached its host follows the change
    lookback: float = 86400.0
    min_score: float = 0.5
    margin: float = 0.15


def _hm(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def score_change(
    incident: Incident,
    change: ChangeHistory,
    hops: Mapping,
    anomalies: list | None,
    settings: Settings,
    host_services: Mapping | None = None,
) -> dict | None:
    """The candidate entry of change for incident, or None when the change is not related to it at all."""
    why = []
    here = change.exposures.get(incident.host)
    same_service = change.service is not None and change.service == incident.service
    dep_hops = hops.get(change.service) if change.service is not None else None
    if here is not None:
        if same_service or incident.service is None:
            relation = "same_host_same_service"
        elif dep_hops is not None:
            relation = "same_host_dependency"
        else:
            relation = "same_host"
        reached = here.since
        exposure = here
    else:
        others = [e for h, e in change.exposures.items() if h != incident.host]
        if not others:
            return None
        # an alert that names no service is about whatever the host runs (its services label)
        runs = (host_services or {}).get(incident.host) or () if incident.service is None else ()
        if same_service or change.service in runs:
            relation = "same_service"
        elif dep_hops is not None:
            relation = "dependency"
        else:
            return None
        exposure = min(others, key=lambda e: e.since)
        reached = exposure.since
    topology = TOPOLOGY[relation] * (0.5 ** (dep_hops - 1) if relation == "dependency" else 1.0)
    where = {
        "same_host_same_service": f"changed {change.service or 'this service'} on {incident.host} itself",
        "same_host_dependency": f"changed {change.service} on {incident.host}, which {incident.service} depends on",
        "same_host": f"changed {incident.host} ({change.service or 'no service named'}), not {incident.service}",
        "same_service": f"changed {change.service} on other hosts, not {incident.host}",
        "dependency": f"changed {change.service} elsewhere, which {incident.service} depends on"
        f" ({dep_hops} hop{'s' if dep_hops != 1 else ''})",
    }[relation]
    why.append(where)

    delta = incident.time - reached
    if delta < -settings.clock_skew:
        return _candidate(change, relation, 0.0, 0.0, 0.0, [*why, f"reached it {_hm(delta)} after the incident"])
    if delta > settings.lookback:
        return None
    timing = 0.5 ** (max(delta, 0.0) / settings.half_life)
    why.append(
        f"reached {'it' if here else 'them'} {_hm(delta)} before the incident"
        + (f" (ring {exposure.ring})" if exposure.ring else "")
    )
    if exposure.until is not None and incident.time > exposure.until + settings.settle:
        timing *= 0.2
        why.append(f"rolled back there {_hm(incident.time - exposure.until)} before the incident")
    base = topology * timing

    evidence = 0.0
    own = [f for f in change.findings if f[0] == incident.host]
    if own:
        evidence = 0.9
        why.append(f"its own {own[0][1]} on {incident.host}")
    if anomalies is not None:
        followed, rings = _progression(change, incident, anomalies, settings)
        if len(followed) >= 2:
            evidence = max(evidence, 0.6 if len(rings) >= 2 else 0.3)
        elif followed:
            evidence = max(evidence, 0.1)
        if followed:
            why.append(
                f"anomalies followed its rollout on {len(followed)} other host(s) in ring(s) {', '.join(sorted(rings))}"
            )
        if here is None:
            spread = _spread(change, incident, anomalies, reached, settings)
            if len(spread) >= 2:
                evidence = max(evidence, 0.5)
                why.append(f"{incident.service} turned anomalous on {len(spread)} other host(s) after it")
        exposed = [
            h
            for h, e in change.exposures.items()
            if incident.time - e.since >= settings.follow and (e.until is None or e.until > e.since + settings.follow)
        ]
        hit = {a["host"] for a in anomalies if a["host"] in exposed} | ({incident.host} & set(exposed))
        if len(exposed) >= 3 and len(hit) <= len(exposed) / 3:
            base *= 0.6
            why.append(f"only {len(hit)} of the {len(exposed)} hosts it had reached show anything")
    score = 1.0 - (1.0 - base) * (1.0 - evidence) if base > 0 else 0.0
    return _candidate(change, relation, topology, timing, evidence, why, score, delta)


def _progression(change, incident, anomalies, settings):
    """Other hosts' anomalies that came after the change reached them (and before a rollback settled)."""
    followed, rings = [], set()
    for anomaly in anomalies:
        host = anomaly["host"]
        exposure = change.exposures.get(host)
        if host == incident.host or exposure is None:
            continue
        delta = anomaly["time"] - exposure.since
        if -settings.clock_skew <= delta <= settings.follow and (
            exposure.until is None or anomaly["time"] <= exposure.until + settings.settle
        ):
            followed.append(host)
            if exposure.ring:
                rings.add(exposure.ring)
    here = change.exposures.get(incident.host)
    if followed and here is not None and here.ring:
        rings.add(here.ring)
    return followed, rings


def _spread(change, incident, anomalies, reached, settings):
    """Hosts the change did not reach whose anomaly of the incident's service came soon after it started."""
    return sorted(
        {
            a["host"]
            for a in anomalies
            if a["host"] != incident.host
            and a["host"] not in change.exposures
            and a.get("service") == incident.service
            and -settings.clock_skew <= a["time"] - reached <= settings.follow
        }
    )


def _candidate(change, relation, topology, timing, evidence, why, score=0.0, delta=None) -> dict:
    return {
        "change_id": change.change_id,
        "summary": change.summary,
        "service": change.service,
        "outcome": change.outcome,
        "relation": relation,
        "score": round(score, 4),
        "factors": {"topology": round(topology, 4), "time": round(timing, 4), "evidence": round(evidence, 4)},
        "seconds_before_incident": None if delta is None else round(delta, 1),
        "explanation": "; ".join(why),
    }


def correlate(
    incident: Incident,
    changes: Iterable[ChangeHistory],
    dependencies: Mapping | None = None,
    anomalies: Iterable[Mapping] | None = None,
    settings: Settings | None = None,
    host_services: Mapping | None = None,
) -> dict:
    """The ranked candidates for incident and the verdict: culprit (a change id or None), confident, reason."""
    settings = settings or Settings()
    if not incident.host:
        raise CorrelationError("the incident needs the host it happened on")
    if not isinstance(incident.time, (int, float)) or not math.isfinite(incident.time):
        raise CorrelationError("the incident needs a time")
    hops = dependency_hops(dependencies, incident.service)
    known = None
    if anomalies is not None:
        known = []
        for i, a in enumerate(anomalies):
            if not isinstance(a, Mapping) or not a.get("host") or a.get("time") is None:
                raise CorrelationError(f"anomaly {i} needs host and time")
            known.append(
                {"host": a["host"], "service": a.get("service"), "time": parse_time(a["time"], f"anomaly {i} time")}
            )
    candidates = []
    for change in changes:
        found = score_change(incident, finish(change), hops, known, settings, host_services)
        if found is not None:
            candidates.append(found)
    candidates.sort(key=lambda c: (-c["score"], c["seconds_before_incident"] or 0.0))
    total = sum(c["score"] for c in candidates)
    for rank, c in enumerate(candidates, 1):
        c["rank"] = rank
        c["share"] = round(c["score"] / total, 4) if total > 0 else 0.0
    top = candidates[0] if candidates else None
    second = candidates[1]["score"] if len(candidates) > 1 else 0.0
    if top is None:
        reason = "no change in the ledger touched this host, its service or a dependency within the lookback"
        culprit, confident = None, False
    elif top["score"] < settings.min_score:
        reason = (
            f"no confident culprit: the best candidate, {top['change_id']}, scores {top['score']:.2f} "
            f"< {settings.min_score}"
        )
        culprit, confident = None, False
    elif top["score"] - second < settings.margin:
        reason = (
            f"no confident culprit: {top['change_id']} ({top['score']:.2f}) and {candidates[1]['change_id']} "
            f"({second:.2f}) explain it about equally well"
        )
        culprit, confident = None, False
    else:
        reason = f"{top['change_id']} ({top['score']:.2f}): {top['explanation']}"
        culprit, confident = top["change_id"], True
    return {
        "incident": {"host": incident.host, "service": incident.service, "time": incident.time, "what": incident.what},
        "culprit": culprit,
        "confident": confident,
        "confidence": top["score"] if confident else 0.0,
        "reason": reason,
        "candidates": candidates,
    }


def ledger_histories(ledger, since: float | None = None) -> list:
    """The ChangeHistory of every change in an open Ledger; with since, only those that were opened or reached a
    host at or after since."""
    types = [OPENED, CLOSED, RING_STARTED, *RING_OUTCOMES]
    found = [finish(c) for c in histories(e.event for e in ledger.iter_events(types=types)).values()]
    if since is None:
        return found
    return [c for c in found if max([c.opened or 0.0, *(e.since for e in c.exposures.values())]) >= since]


def report(result: Mapping, limit: int = 5) -> list:
    """Lines for a person: the answer, then the best candidates with their scores and explanations."""
    reason = result["reason"]
    lines = [reason[:1].upper() + reason[1:]]
    for c in result["candidates"][:limit]:
        lines.append(
            f"{c['rank']}. {c['change_id']} score {c['score']:.2f} ({c['summary'] or '-'}): {c['explanation']}"
        )
    if len(result["candidates"]) > limit:
        lines.append(f"... and {len(result['candidates']) - limit} more")
    return lines


def annotation(result: Mapping) -> dict:
    """Alert annotations for a correlation result (for Alertmanager and notifications): the suspected change,
    or that there is no confident culprit, and the top candidates."""
    top = result["candidates"][:3]
    return {
        "changeward_suspect": result["culprit"] or "",
        "changeward_suspect_confidence": f"{result['confidence']:.2f}",
        "changeward_suspect_reason": result["reason"],
        "changeward_candidates": ", ".join(f"{c['change_id']} ({c['score']:.2f})" for c in top) or "none",
    }


def suspect(
    ledger,
    host: str,
    service: str | None,
    at: float,
    *,
    alert: str = "",
    dependencies=None,
    anomalies=None,
    settings: Settings | None = None,
) -> dict:
    """The correlation result for one alert, read from an open Ledger, with its ``annotations`` - the one call an
    alert integration needs (Alertmanager annotations, a notification's text)."""
    settings = settings or Settings()
    changes = ledger_histories(ledger, since=at - settings.lookback)
    result = correlate(Incident(host, service, at, alert), changes, dependencies, anomalies, settings)
    return {**result, "annotations": annotation(result)}
