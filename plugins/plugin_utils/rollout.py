# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What happens to one ring of a rollout, and what is recorded about it.

``decide`` is the ring verdict: given what the ring's steps returned (the breaker check, the reachability
probe, where the change failed, the bake watch, the canary judge, the error budget) it says whether the ring is
promoted, rolled back, held or halted, whether the circuit breaker opens and what failure it counts. It is
pure; the ``changeward.hybrid.ring_verdict`` action is its adapter and ``roles/ring_rollout`` calls it.

Fail closed: every input that is missing where a result was due, failed, or says something unknown decides
like an inconclusive result - never like a pass.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError


class RingStatus(enum.StrEnum):
    """What became of a ring: the ``io.changeward.ring.<status>`` event and every report compare these."""

    PASSED = "passed"  # promoted: the change stays and the next ring starts
    ROLLED_BACK = "rolled_back"  # rolled back from its snapshots; the rollout stops
    HELD = "held"  # left as it is for a person to look at; the rollout stops
    HALTED = "halted"  # not started (the breaker is open); nothing applied
    UNREACHABLE = "unreachable"  # no host answered; nothing applied
    NOT_STARTED = "not_started"  # planned, never reached (reports only; never recorded)


class RingAction(enum.StrEnum):
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    HOLD = "hold"
    HALT = "halt"


class FailureKind(enum.StrEnum):
    """What the circuit breaker counts (its ``kind``); NONE when it counts nothing (or opens outright)."""

    HOST = "host"
    RING = "ring"
    NONE = "none"


class Case(enum.StrEnum):
    """The rows of the verdict table, in precedence order: the first that applies decides."""

    BREAKER_OPEN = "breaker_open"
    UNREACHABLE = "unreachable"
    FAILED_HOSTS = "failed_hosts"
    SYNTHETIC_FAIL = "synthetic_fail"
    SYNTHETIC_INCONCLUSIVE = "synthetic_inconclusive"
    BREACH = "breach"
    WATCH_INCONCLUSIVE = "watch_inconclusive"
    JUDGE_FAIL = "judge_fail"
    JUDGE_INCONCLUSIVE = "judge_inconclusive"
    ANOMALY = "anomaly"
    ANOMALY_INCONCLUSIVE = "anomaly_inconclusive"
    BUDGET_UNREADABLE = "budget_unreadable"
    BUDGET_BURNING = "budget_burning"
    PASS = "pass"  # noqa: S105 - a verdict, not a password


ON_INCONCLUSIVE = (RingAction.ROLLBACK.value, RingAction.HOLD.value)
STATUS_OF = {
    RingAction.PROMOTE: RingStatus.PASSED,
    RingAction.ROLLBACK: RingStatus.ROLLED_BACK,
    RingAction.HOLD: RingStatus.HELD,
    RingAction.HALT: RingStatus.HALTED,
}
# Statuses under which the ring's hosts had the change applied (a report counts them as reached).
APPLIED = (RingStatus.PASSED, RingStatus.ROLLED_BACK, RingStatus.HELD)
UNREACHABLE_NOTE = "unreachable when the ring started: nothing applied"
LEFT_NOTE = "left the play (failed or unreachable)"
NOT_RESTORABLE_NOTE = "rollback_capability none: not restorable, left as it is"


class VerdictError(ChangewardError, ValueError):
    """The inputs cannot be decided on (not a verdict: the caller passed something that is not a result)."""


@dataclass(frozen=True)
class Decision:
    case: Case
    action: RingAction
    status: RingStatus
    trip: bool  # open the circuit breaker with this decision's reason and evidence
    failure: FailureKind  # what the breaker counts
    count: int  # how many of it
    reason: str
    evidence: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "case": self.case.value,
            "action": self.action.value,
            "status": self.status.value,
            "trip": self.trip,
            "failure": self.failure.value,
            "count": self.count,
            "reason": self.reason,
            "evidence": self.evidence,
        }


# -- reading results --------------------------------------------------------------------------------------------
def ran(result) -> bool:
    """True when a registered result is there and its task ran (not skipped)."""
    return isinstance(result, Mapping) and bool(result) and not result.get("skipped")


def _failed(result) -> bool:
    return bool(result.get("failed")) or bool(result.get("unreachable"))


def _msg(result) -> str:
    return str(result.get("msg") or "no message")


def _score(result) -> str:
    score = result.get("score")
    return "none" if score is None else f"{score:g}" if isinstance(score, float) else str(score)


def _first_reason(result) -> str:
    reasons = result.get("reasons") or []
    return str(reasons[0]) if reasons else "no reason"


def _hosts(value, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise VerdictError(f"{what} must be a list of host names, got {type(value).__name__}")
    return [str(h) for h in value]


def _unique(hosts: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(hosts))


# -- the verdict --------------------------------------------------------------------------------------------------
def decide(
    *,
    ring_hosts,
    breaker: Mapping | None,
    unreachable=(),
    failed_hosts=(),
    watch: Mapping | None = None,
    judge: Mapping | None = None,
    budget: Mapping | None = None,
    judge_required: bool = False,
    budget_required: bool = False,
    on_inconclusive: str = "rollback",
    ring: str = "",
    synthetic: Mapping | None = None,
    synthetic_required: bool = False,
    anomaly: Mapping | None = None,
    anomaly_required: bool = False,
) -> Decision:
    """The verdict on one ring.

    ring_hosts: the ring's hosts. breaker: the registered ``circuit_breaker state=checked`` result of this
    ring (required: a ring whose breaker was not asked is not decided). unreachable: hosts that did not answer
    the probe (nothing applied). failed_hosts: hosts where the change failed or that left the play (may repeat
    unreachable ones). watch, judge, budget: the registered ``bake_watch``, ``canary_judge`` and
    ``error_budget`` results, or None / a skipped result when the step did not run. judge_required and
    budget_required: whether the ring was to be judged and its budget read (then a missing result is not a
    pass). on_inconclusive: ``rollback`` or ``hold`` for a ring that could not be shown healthy. synthetic: the
    registered ``synthetic_check`` result (its journeys after the ring was changed); synthetic_required: the ring had
    journeys to run, so a missing result is not a pass. A failing journey decides like a watch breach.
    anomaly: the registered ``anomaly_scan`` result of the policy's declared anomaly checks over the bake
    (``checks``, each with its ``metric``, ``verdict`` and ``fails_ring``); anomaly_required: the scan was due
    (the ring baked), so a missing or failed result is not a pass. A check that ``fails_ring`` and found an
    anomaly rolls the ring back like a breach; one that fails_ring and could not say (nodata, an unknown
    verdict) is inconclusive; the others are recorded as evidence only.
    """
    hosts = _hosts(ring_hosts, "ring_hosts")
    if not hosts:
        raise VerdictError("ring_hosts is empty: there is no ring to decide on")
    unreachable = _unique(_hosts(unreachable, "unreachable"))
    failed = _unique(_hosts(failed_hosts, "failed_hosts") + unreachable)
    strangers = [h for h in failed if h not in hosts]
    if strangers:
        raise VerdictError(f"hosts {', '.join(strangers)} are not in the ring ({', '.join(hosts)})")
    if on_inconclusive not in ON_INCONCLUSIVE:
        raise VerdictError(f"on_inconclusive must be rollback or hold, got {on_inconclusive!r}")
    if not isinstance(breaker, Mapping) or not ("allowed" in breaker or _failed(breaker)):
        raise VerdictError("breaker must be the registered result of circuit_breaker state=checked for this ring")
    unproven = RingAction(on_inconclusive)
    evidence = {"ring": ring, "hosts": hosts, "breach": None, "judge": None, "burn_rates": None}

    def verdict(case, action, reason, *, trip=False, failure=FailureKind.NONE, status=None):
        count = len(failed) if failure is FailureKind.HOST else 1 if failure is FailureKind.RING else 0
        return Decision(case, action, status or STATUS_OF[action], trip, failure, count, reason, evidence)

    # 1. An open breaker (or one that could not be read) halts the rollout before the ring starts.
    if _failed(breaker) or not breaker.get("allowed"):
        why = f"circuit breaker could not be read: {_msg(breaker)}" if _failed(breaker) else breaker.get("reason")
        return verdict(Case.BREAKER_OPEN, RingAction.HALT, f"not started: {why or 'the circuit breaker is open'}")

    # 2. Nobody answered: nothing was applied, so there is nothing to roll back.
    if len(unreachable) == len(hosts):
        return verdict(
            Case.UNREACHABLE,
            RingAction.HALT,
            f"no host of the ring could be reached, nothing applied: unreachable {', '.join(unreachable)}",
            failure=FailureKind.HOST,
            status=RingStatus.UNREACHABLE,
        )

    # 3. The change failed somewhere (or a host went away): roll back without baking.
    if failed:
        broken = [h for h in failed if h not in unreachable]
        parts = [f"the change failed on {', '.join(broken)}"] if broken else []
        parts += [f"unreachable, nothing applied: {', '.join(unreachable)}"] if unreachable else []
        return verdict(Case.FAILED_HOSTS, RingAction.ROLLBACK, "; ".join(parts), failure=FailureKind.HOST)

    # 3b. Synthetic journeys, run once the ring was changed: a failing journey is a breach on its own, whatever the
    # metrics say; journeys that were due and did not run (or could not) are no pass.
    if ran(synthetic) and synthetic.get("verdict") == "fail":
        evidence["synthetic"] = {"reasons": list(synthetic.get("reasons") or []), "journeys": synthetic.get("journeys")}
        reasons = "; ".join(str(r) for r in synthetic.get("reasons") or []) or "a journey failed"
        return verdict(Case.SYNTHETIC_FAIL, RingAction.ROLLBACK, f"synthetic check failed: {reasons}", trip=True)
    if synthetic_required or ran(synthetic):
        said = synthetic.get("verdict") if ran(synthetic) else None
        if not ran(synthetic) or said != "pass":
            why = (
                "the ring had journeys to run and has no result"
                if not ran(synthetic)
                else f"it could not run: {_msg(synthetic)}"
                if _failed(synthetic)
                else f"unknown verdict {said!r}"
            )
            return verdict(
                Case.SYNTHETIC_INCONCLUSIVE, unproven, f"synthetic check inconclusive: {why}", failure=FailureKind.RING
            )

    # 4-5. The bake watch. No result is no pass.
    if not ran(watch):
        return verdict(
            Case.WATCH_INCONCLUSIVE,
            unproven,
            "bake watch inconclusive: the ring's bake was not watched (no watch result)",
            failure=FailureKind.RING,
        )
    if _failed(watch):
        return verdict(
            Case.WATCH_INCONCLUSIVE,
            unproven,
            f"bake watch inconclusive: the watch failed: {_msg(watch)}",
            failure=FailureKind.RING,
        )
    seen = watch.get("verdict")
    if seen == "breach":
        evidence["breach"] = watch.get("breach")
        return verdict(Case.BREACH, RingAction.ROLLBACK, f"bake watch breach: {watch.get('reason', '')}", trip=True)
    if seen != "pass":
        why = watch.get("reason", "") if seen == "inconclusive" else f"unknown verdict {seen!r}"
        return verdict(Case.WATCH_INCONCLUSIVE, unproven, f"bake watch inconclusive: {why}", failure=FailureKind.RING)

    # 6-7. The canary judge, where the ring was to be judged (or was judged anyway).
    judged = ran(judge)
    if judged and not _failed(judge):
        evidence["judge"] = {"verdict": judge.get("verdict"), "score": judge.get("score")}
    if judge_required and not judged:
        return verdict(
            Case.JUDGE_INCONCLUSIVE,
            unproven,
            "canary judge inconclusive: the ring was to be judged and has no verdict",
            failure=FailureKind.RING,
        )
    if judged:
        if _failed(judge):
            return verdict(
                Case.JUDGE_INCONCLUSIVE,
                unproven,
                f"canary judge inconclusive: it could not judge: {_msg(judge)}",
                failure=FailureKind.RING,
            )
        said = judge.get("verdict")
        summary = f"(score {_score(judge)}): {_first_reason(judge)}"
        if said == "fail":
            return verdict(Case.JUDGE_FAIL, RingAction.ROLLBACK, f"canary judge fail {summary}", trip=True)
        if said != "pass":
            label = said if said in ("inconclusive", "marginal") else f"gave an unknown verdict {said!r}"
            return verdict(
                Case.JUDGE_INCONCLUSIVE, unproven, f"canary judge {label} {summary}", failure=FailureKind.RING
            )

    # 7b. Anomaly detection the policy declared for the bake: recorded as evidence; decides where it fails_ring.
    if anomaly_required or ran(anomaly):
        checks = anomaly.get("checks") if ran(anomaly) and not _failed(anomaly) else None
        if not isinstance(checks, list) or not all(isinstance(c, Mapping) for c in checks):
            why = (
                "the ring baked and the scan has no result"
                if not ran(anomaly)
                else f"the scan failed: {_msg(anomaly)}"
                if _failed(anomaly)
                else "the scan's result has no checks"
            )
            evidence["anomaly"] = {"verdict": "inconclusive", "reason": why, "checks": []}
            return verdict(
                Case.ANOMALY_INCONCLUSIVE, unproven, f"anomaly scan inconclusive: {why}", failure=FailureKind.RING
            )
        evidence["anomaly"] = anomaly_summary(anomaly)
        gating = [c for c in checks if c.get("fails_ring", True)]
        found = [c for c in gating if c.get("verdict") == "anomalous"]
        if found:
            what = "; ".join(f"{c.get('metric')}: {c.get('reason') or 'anomalous'}" for c in found)
            return verdict(Case.ANOMALY, RingAction.ROLLBACK, f"anomaly during the bake: {what}", trip=True)
        unsure = [c for c in gating if c.get("verdict") != "clean"]
        if unsure:
            what = "; ".join(
                f"{c.get('metric')}: {c.get('reason') or c.get('verdict')}"
                if c.get("verdict") == "nodata"
                else f"{c.get('metric')}: unknown verdict {c.get('verdict')!r}"
                for c in unsure
            )
            return verdict(
                Case.ANOMALY_INCONCLUSIVE, unproven, f"anomaly scan inconclusive: {what}", failure=FailureKind.RING
            )

    # 8-9. The error budget after the bake.
    if ran(budget) or budget_required:
        if not ran(budget) or _failed(budget) or "burning" not in budget:
            why = _msg(budget) if ran(budget) and _failed(budget) else "no error budget result"
            return verdict(
                Case.BUDGET_UNREADABLE,
                unproven,
                f"error budget could not be read: {why}",
                failure=FailureKind.RING,
            )
        if budget.get("burning"):
            evidence["burn_rates"] = budget.get("burn_rates")
            reasons = "; ".join(str(r) for r in budget.get("reasons") or [])
            return verdict(
                Case.BUDGET_BURNING,
                RingAction.ROLLBACK,
                f"error budget burning beyond the policy: {reasons}",
                trip=True,
            )

    # 10. Healthy.
    reason = f"watched {watch.get('polls', 0)} polls without a breach"
    if ran(synthetic):
        reason += f", {len(synthetic.get('journeys') or [])} synthetic journey run(s) passed"
    if judged:
        reason += f", canary judge {judge.get('verdict')} (score {_score(judge)})"
    if ran(anomaly) and anomaly.get("checks"):
        reason += f", {len(anomaly['checks'])} anomaly check(s) without a failing anomaly"
    return verdict(Case.PASS, RingAction.PROMOTE, reason)


# -- rollback targets ---------------------------------------------------------------------------------------------
def rollback_targets(
    decision: Decision,
    ring_hosts: Iterable[str],
    unreachable: Iterable[str],
    capability: Mapping[str, str],
    earlier_results: Iterable[Mapping] = (),
    rollback_earlier: bool = False,
) -> dict:
    """Which hosts are rolled back for a decision: the ring's hosts that had the change applied and can be rolled
    back, and (rollback_earlier) the hosts of the rings that passed before it. Hosts labelled
    ``rollback_capability: none`` (capability maps host -> label; a host without one counts as none, as in the
    snapshot step) are left as they are and listed as not restorable."""
    out = {"hosts": [], "not_restorable": [], "earlier": [], "earlier_not_restorable": []}
    if decision.action is not RingAction.ROLLBACK:
        return out
    gone = set(unreachable)
    for host in ring_hosts:
        if host in gone:
            continue
        out["hosts" if capability.get(host, "none") != "none" else "not_restorable"].append(host)
    if rollback_earlier:
        for result in earlier_results:
            if result.get("status") != RingStatus.PASSED:
                continue
            for host in result.get("hosts") or []:
                out["earlier" if capability.get(host, "none") != "none" else "earlier_not_restorable"].append(host)
    return out


# -- what is recorded ---------------------------------------------------------------------------------------------
def watch_summary(watch) -> dict | None:
    if not ran(watch) or _failed(watch):
        return {"verdict": "inconclusive", "reason": f"the watch failed: {_msg(watch)}"} if ran(watch) else None
    return {
        "verdict": watch.get("verdict"),
        "reason": watch.get("reason"),
        "polls": watch.get("polls"),
        "bake_time": watch.get("bake_time"),
        "breach": watch.get("breach"),
        "errors": list(watch.get("errors") or []),
    }


def judge_summary(judge) -> dict | None:
    if not ran(judge):
        return None
    if _failed(judge):
        return {"verdict": "inconclusive", "score": None, "reasons": [f"it could not judge: {_msg(judge)}"]}
    return {
        "verdict": judge.get("verdict"),
        "score": judge.get("score"),
        "reasons": list(judge.get("reasons") or []),
        "metrics": [
            {k: m[k] for k in ("name", "classification", "reason") if k in m}
            for m in judge.get("metrics") or []
            if isinstance(m, Mapping)
        ],
    }


def anomaly_summary(anomaly) -> dict | None:
    """What is recorded of the ring's anomaly scan: per declared check its verdict, whether it fails the ring,
    and its first anomalies (a record, not the whole scan)."""
    if not ran(anomaly):
        return None
    if _failed(anomaly) or not isinstance(anomaly.get("checks"), list):
        return {"verdict": "inconclusive", "reason": f"the scan failed: {_msg(anomaly)}", "checks": []}
    checks = [
        {
            "metric": c.get("metric"),
            "fails_ring": bool(c.get("fails_ring", True)),
            "verdict": c.get("verdict"),
            "reason": c.get("reason"),
            "anomalies": list(c.get("anomalies") or [])[:5],
        }
        for c in anomaly["checks"]
        if isinstance(c, Mapping)
    ]
    return {"verdict": anomaly.get("verdict"), "reason": anomaly.get("reason"), "checks": checks}


def synthetic_summary(synthetic) -> dict | None:
    """What is recorded of the ring's synthetic check: its verdict, reasons and per host and journey the steps."""
    if not ran(synthetic):
        return None
    if synthetic.get("verdict") not in ("pass", "fail"):
        return {"verdict": "inconclusive", "reasons": [f"it could not run: {_msg(synthetic)}"], "journeys": []}
    return {
        "verdict": synthetic.get("verdict"),
        "reasons": list(synthetic.get("reasons") or []),
        "journeys": list(synthetic.get("journeys") or []),
    }


def host_rollback(registered, *, unreachable: bool = False, not_restorable: bool = False) -> dict:
    """One host's rollback from its registered ``changeward.hybrid.rollback`` result (None: it did not run)."""
    out = {"rolled_back": False, "verified": False, "seconds": None, "restored": 0, "error": "", "note": ""}
    if not_restorable:
        return out | {"note": NOT_RESTORABLE_NOTE}
    if unreachable:
        return out | {"note": UNREACHABLE_NOTE}
    if not ran(registered):
        return out | {"note": "host " + LEFT_NOTE}
    if _failed(registered):
        return out | {"error": str(registered.get("msg") or "rollback failed")}
    return out | {
        "rolled_back": True,
        "verified": bool(registered.get("verified")),
        "seconds": registered.get("duration_seconds"),
        "restored": len(registered.get("restored") or []),
    }


def earlier_summary(items) -> list:
    """[host, verified] per host of the earlier rings' rollback (the ``results`` of its registered loop)."""
    return [
        [r.get("item"), bool(r.get("verified")) and not _failed(r)]
        for r in items or []
        if isinstance(r, Mapping) and not r.get("skipped")
    ]


def timings(watch, rolled_back_at: float | None) -> dict | None:
    """When the regression showed and was detected (from the watch's breach) and when the rollback completed."""
    if rolled_back_at is None:
        return None
    breach = (watch or {}).get("breach") if isinstance(watch, Mapping) else None
    breach = breach if isinstance(breach, Mapping) else {}
    return {
        "visible_ts": breach.get("visible_ts"),
        "detected_ts": breach.get("detected_ts"),
        "rolled_back_ts": rolled_back_at,
    }


def apply_errors(failed_hosts: Iterable[str], unreachable: Iterable[str], errors: Mapping[str, str]) -> dict:
    """Why the change is not on each failed host: its error, or that it left the play or was never reached."""
    gone = list(unreachable)
    out = {h: str(errors.get(h) or LEFT_NOTE) for h in failed_hosts if h not in gone}
    return out | dict.fromkeys(gone, UNREACHABLE_NOTE)


def ring_result(
    ring: Mapping,
    status: str,
    note: str,
    *,
    since: float | None,
    ended: float,
    failed_hosts: Iterable[str] = (),
    unreachable: Iterable[str] = (),
    errors: Mapping[str, str] | None = None,
    watch=None,
    judge=None,
    breaker: str | None = None,
    rollback: Mapping | None = None,
    rolled_back_at: float | None = None,
    synthetic=None,
    anomaly=None,
) -> dict:
    """The ring's result: the data of its ``io.changeward.ring.<status>`` event and a row of the ring report.

    watch and judge are the summaries (watch_summary, judge_summary) or None; rollback is
    ``{"hosts": {host: host_rollback}, "earlier": [[host, verified], ...], ...}`` when the ring was rolled back,
    else None.
    """
    failed_hosts, unreachable = list(failed_hosts), list(unreachable)
    return {
        "index": ring.get("index"),
        "name": ring.get("name"),
        "hosts": list(ring.get("hosts") or []),
        "env_types": list(ring.get("env_types") or []),
        "regions": list(ring.get("regions") or []),
        "domains": list(ring.get("domains") or []),
        "status": RingStatus(status).value,
        "note": note,
        "since": since,
        "ended": ended,
        "failed_hosts": failed_hosts,
        "apply_errors": apply_errors(failed_hosts, unreachable, errors or {}),
        "unreachable": unreachable,
        "watch": watch,
        "judge": judge,
        "synthetic": synthetic,
        "anomaly": anomaly,
        "breaker": breaker,
        "rollback": dict(rollback) if rollback is not None else None,
        "timings": timings(watch, rolled_back_at) if rollback is not None else None,
    }
