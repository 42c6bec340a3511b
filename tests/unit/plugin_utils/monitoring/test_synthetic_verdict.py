"""The ring verdict with synthetic journeys (plugin_utils/rollout.py decide): a failing journey fails the ring like a
watch breach, whatever the metrics say; journeys that were due and did not run, or could not, are no pass."""

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.rollout import (
    Case,
    FailureKind,
    RingAction,
    RingStatus,
    decide,
    ring_result,
    synthetic_summary,
)

HOSTS = ["c1", "c2"]
ADMITTED = {"allowed": True, "state": "closed", "reason": "closed"}
WATCH_PASS = {"verdict": "pass", "reason": "no breach", "polls": 12}
JOURNEY_FAIL = {
    "host": "c1",
    "journey": "health",
    "passed": False,
    "steps": [{"step": "healthz", "passed": False, "status": 500, "problems": ["status 500, expected 200"]}],
    "not_run": [],
    "reason": "step healthz: status 500, expected 200",
}
SYNTHETIC_FAIL = {
    "verdict": "fail",
    "reasons": ["c1: journey health failed at step healthz: status 500, expected 200"],
    "journeys": [JOURNEY_FAIL],
}
SYNTHETIC_PASS = {"verdict": "pass", "reasons": [], "journeys": [{"host": "c1", "passed": True}]}
SKIPPED = {"skipped": True, "changed": False}


def verdict(**kw):
    args = {"ring_hosts": HOSTS, "breaker": ADMITTED, "watch": WATCH_PASS, "ring": "canary"}
    return decide(**(args | kw))


def test_a_failing_journey_rolls_back_and_opens_the_breaker_although_the_metrics_are_clean():
    d = verdict(synthetic=SYNTHETIC_FAIL, synthetic_required=True)
    assert (d.case, d.action, d.status, d.trip, d.failure) == (
        Case.SYNTHETIC_FAIL,
        RingAction.ROLLBACK,
        RingStatus.ROLLED_BACK,
        True,
        FailureKind.NONE,
    )
    assert d.reason == "synthetic check failed: c1: journey health failed at step healthz: status 500, expected 200"
    assert d.evidence["synthetic"]["journeys"] == [JOURNEY_FAIL]


def test_a_failing_journey_decides_without_a_watch_result():
    # the role skips the bake watch once a journey failed: the journey is the verdict, not "not watched"
    assert verdict(synthetic=SYNTHETIC_FAIL, synthetic_required=True, watch=SKIPPED).case is Case.SYNTHETIC_FAIL


def test_a_failed_task_that_still_says_fail_is_a_fail():
    failed = SYNTHETIC_FAIL | {"failed": True, "msg": "synthetic_check: ..."}
    assert verdict(synthetic=failed, synthetic_required=True).case is Case.SYNTHETIC_FAIL


def test_the_change_failing_on_a_host_comes_first():
    d = verdict(failed_hosts=["c2"], synthetic=SYNTHETIC_FAIL, synthetic_required=True)
    assert d.case is Case.FAILED_HOSTS


@pytest.mark.parametrize("on_inconclusive", ["rollback", "hold"])
@pytest.mark.parametrize(
    ("synthetic", "why"),
    [
        (None, "the ring had journeys to run and has no result"),
        (SKIPPED, "the ring had journeys to run and has no result"),
        ({"failed": True, "msg": "blackbox exporter unreachable"}, "it could not run: blackbox exporter unreachable"),
        ({"verdict": "maybe", "reasons": []}, "unknown verdict 'maybe'"),
    ],
)
def test_journeys_due_that_did_not_run_are_inconclusive(synthetic, why, on_inconclusive):
    d = verdict(synthetic=synthetic, synthetic_required=True, on_inconclusive=on_inconclusive)
    assert d.case is Case.SYNTHETIC_INCONCLUSIVE
    assert d.action is RingAction(on_inconclusive)
    assert d.failure is FailureKind.RING
    assert d.reason == f"synthetic check inconclusive: {why}"


def test_passing_journeys_let_the_watch_decide():
    d = verdict(synthetic=SYNTHETIC_PASS, synthetic_required=True)
    assert d.case is Case.PASS
    assert d.reason == "watched 12 polls without a breach, 1 synthetic journey run(s) passed"
    breach = {"verdict": "breach", "reason": "error_ratio of c1 is 0.3", "polls": 2, "breach": {}}
    assert verdict(synthetic=SYNTHETIC_PASS, synthetic_required=True, watch=breach).case is Case.BREACH


def test_a_ring_without_journeys_is_decided_as_before():
    assert verdict().case is Case.PASS
    assert "synthetic" not in verdict().evidence


def test_the_ring_result_records_the_journeys():
    summary = synthetic_summary(SYNTHETIC_FAIL)
    assert summary == {"verdict": "fail", "reasons": SYNTHETIC_FAIL["reasons"], "journeys": [JOURNEY_FAIL]}
    result = ring_result(
        {"name": "canary", "hosts": HOSTS}, "rolled_back", "x", since=1.0, ended=2.0, synthetic=summary
    )
    assert result["synthetic"] == summary
    assert synthetic_summary(SKIPPED) is None
    assert synthetic_summary({"failed": True, "msg": "down"})["verdict"] == "inconclusive"
