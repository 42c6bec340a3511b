"""The ring verdict's anomaly rows (plugin_utils/rollout.py): an anomaly the policy declared as failing the ring
rolls it back, one it declared as evidence only is recorded and nothing more, and a scan that was due and could
not say - no result, a failed scan, nodata - is never a pass."""

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.rollout import (
    Case,
    FailureKind,
    RingAction,
    RingStatus,
    anomaly_summary,
    decide,
    ring_result,
)

HOSTS = ["c1", "c2"]
ADMITTED = {"allowed": True, "state": "closed", "reason": "closed"}
WATCH_PASS = {"verdict": "pass", "reason": "no breach", "polls": 12}
JUDGE_FAIL = {"verdict": "fail", "score": 50.0, "reasons": ["critical metric(s) failed: error_rate"]}
BUDGET_BURNING = {"burning": True, "reasons": ["1h/5m burn 20 > 14.4"], "burn_rates": {"1h": 20}}
SKIPPED = {"skipped": True, "changed": False}
SPIKE = {"series": '{host="c1"}', "time": 1000.0, "value": 0.3, "score": 1.0}


def check(metric="error_ratio", verdict="clean", fails_ring=True, reason=None, anomalies=()):
    return {
        "metric": metric,
        "verdict": verdict,
        "fails_ring": fails_ring,
        "reason": reason,
        "anomalies": list(anomalies),
    }


def scan(*checks, verdict="clean"):
    return {"changed": False, "verdict": verdict, "reason": "r", "checks": list(checks)}


def decided(**kw):
    args = {"ring_hosts": HOSTS, "breaker": ADMITTED, "watch": WATCH_PASS, "ring": "canary", "anomaly_required": True}
    return decide(**(args | kw))


def test_an_anomaly_on_a_metric_that_fails_the_ring_rolls_it_back_with_the_evidence():
    found = check(verdict="anomalous", reason="1 anomalous point(s) in 1 series", anomalies=[SPIKE])
    d = decided(anomaly=scan(found, check("latency"), verdict="anomalous"))
    assert (d.case, d.action, d.status, d.trip, d.failure) == (
        Case.ANOMALY,
        RingAction.ROLLBACK,
        RingStatus.ROLLED_BACK,
        True,
        FailureKind.NONE,
    )
    assert d.reason == "anomaly during the bake: error_ratio: 1 anomalous point(s) in 1 series"
    assert d.evidence["anomaly"]["checks"][0]["anomalies"] == [SPIKE]
    assert [c["metric"] for c in d.evidence["anomaly"]["checks"]] == ["error_ratio", "latency"]


def test_an_anomaly_declared_as_evidence_only_is_recorded_and_the_ring_passes():
    d = decided(anomaly=scan(check(verdict="anomalous", fails_ring=False, anomalies=[SPIKE]), check("latency")))
    assert d.case is Case.PASS and d.action is RingAction.PROMOTE
    assert d.evidence["anomaly"]["checks"][0] == {
        "metric": "error_ratio",
        "fails_ring": False,
        "verdict": "anomalous",
        "reason": None,
        "anomalies": [SPIKE],
    }
    assert "2 anomaly check(s)" in d.reason


def test_a_check_without_fails_ring_fails_the_ring_fail_closed():
    found = check(verdict="anomalous")
    del found["fails_ring"]
    assert decided(anomaly=scan(found)).case is Case.ANOMALY


@pytest.mark.parametrize("on_inconclusive", ["rollback", "hold"])
def test_nodata_on_a_check_that_fails_the_ring_is_inconclusive(on_inconclusive):
    starved = check(verdict="nodata", reason="1 series had too few points to learn a baseline")
    d = decided(anomaly=scan(starved, verdict="nodata"), on_inconclusive=on_inconclusive)
    assert (d.case, d.action, d.failure, d.count, d.trip) == (
        Case.ANOMALY_INCONCLUSIVE,
        RingAction(on_inconclusive),
        FailureKind.RING,
        1,
        False,
    )
    assert d.reason == "anomaly scan inconclusive: error_ratio: 1 series had too few points to learn a baseline"


def test_nodata_on_an_evidence_only_check_is_recorded_not_passed_off_as_clean():
    d = decided(anomaly=scan(check(verdict="nodata", fails_ring=False)))
    assert d.case is Case.PASS
    assert d.evidence["anomaly"]["checks"][0]["verdict"] == "nodata"


def test_an_unknown_verdict_is_inconclusive():
    d = decided(anomaly=scan(check(verdict="maybe")))
    assert d.case is Case.ANOMALY_INCONCLUSIVE and "unknown verdict 'maybe'" in d.reason


@pytest.mark.parametrize(
    ("anomaly", "why"),
    [
        (None, "the ring baked and the scan has no result"),
        (SKIPPED, "the ring baked and the scan has no result"),
        ({"failed": True, "msg": "Prometheus unreachable"}, "the scan failed: Prometheus unreachable"),
        ({"changed": False, "verdict": "clean"}, "the scan's result has no checks"),
    ],
)
def test_a_scan_that_was_due_and_said_nothing_is_not_a_pass(anomaly, why):
    d = decided(anomaly=anomaly)
    assert d.case is Case.ANOMALY_INCONCLUSIVE and d.action is RingAction.ROLLBACK
    assert d.reason == f"anomaly scan inconclusive: {why}"
    assert d.evidence["anomaly"]["verdict"] == "inconclusive"


def test_a_failed_scan_counts_even_when_not_required():
    d = decided(anomaly={"failed": True, "msg": "boom"}, anomaly_required=False)
    assert d.case is Case.ANOMALY_INCONCLUSIVE


def test_no_declared_checks_and_a_scan_not_due_change_nothing():
    assert decided(anomaly=scan()).case is Case.PASS  # the policy declares no anomaly check
    assert decided(anomaly=None, anomaly_required=False).case is Case.PASS  # the ring did not bake with a scan due


def test_precedence_after_the_judge_and_before_the_budget():
    found = scan(check(verdict="anomalous"))
    assert decided(anomaly=found, judge=JUDGE_FAIL).case is Case.JUDGE_FAIL
    assert decided(anomaly=found, budget=BUDGET_BURNING, budget_required=True).case is Case.ANOMALY
    assert decided(anomaly=None, watch=SKIPPED).case is Case.WATCH_INCONCLUSIVE


def test_the_ring_result_records_the_anomaly_summary():
    summary = anomaly_summary(scan(check(verdict="anomalous", anomalies=[SPIKE] * 9), verdict="anomalous"))
    assert len(summary["checks"][0]["anomalies"]) == 5  # a record, not the whole scan
    ring = {"index": 0, "name": "canary", "hosts": HOSTS}
    assert ring_result(ring, "rolled_back", "x", since=1.0, ended=2.0, anomaly=summary)["anomaly"] == summary
    assert ring_result(ring, "passed", "ok", since=1.0, ended=2.0)["anomaly"] is None
    assert anomaly_summary(SKIPPED) is None
    assert anomaly_summary({"failed": True, "msg": "m"})["verdict"] == "inconclusive"
