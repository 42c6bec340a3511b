"""The ring verdict table (plugin_utils/rollout.py): one test per case, the precedence between cases,
on_inconclusive, the reason texts, and what is recorded about a ring."""

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.rollout import (
    NOT_RESTORABLE_NOTE,
    UNREACHABLE_NOTE,
    Case,
    FailureKind,
    RingAction,
    RingStatus,
    VerdictError,
    decide,
    earlier_summary,
    host_rollback,
    judge_summary,
    ring_result,
    rollback_targets,
    watch_summary,
)

HOSTS = ["c1", "c2"]
ADMITTED = {"allowed": True, "state": "closed", "reason": "closed"}
WATCH_PASS = {"verdict": "pass", "reason": "no breach", "polls": 12}
BREACH = {
    "metric": "error_ratio",
    "host": "c1",
    "value": 0.3,
    "upper": 0.005,
    "visible_ts": 100.0,
    "detected_ts": 103.5,
}
WATCH_BREACH = {"verdict": "breach", "reason": "error_ratio of c1 is 0.3, beyond 0.005", "polls": 4, "breach": BREACH}
WATCH_INCONCLUSIVE = {"verdict": "inconclusive", "reason": "Prometheus unreachable for 3 polls", "polls": 7}
JUDGE_PASS = {"verdict": "pass", "score": 100.0, "reasons": ["all metrics passed"]}
JUDGE_FAIL = {"verdict": "fail", "score": 50.0, "reasons": ["critical metric(s) failed: error_rate", "more"]}
BUDGET_OK = {"burning": False, "reasons": ["within budget"], "burn_rates": {"1h": 0.1}}
BUDGET_BURNING = {"burning": True, "reasons": ["1h/5m burn 20 > 14.4", "6h/30m burn 7 > 6"], "burn_rates": {"1h": 20}}
SKIPPED = {"skipped": True, "changed": False, "skip_reason": "Conditional result was False"}


def verdict(**kw):
    args = {"ring_hosts": HOSTS, "breaker": ADMITTED, "watch": WATCH_PASS, "ring": "canary"}
    return decide(**(args | kw))


def assert_row(d, case, action, status, trip, failure, count):
    assert (d.case, d.action, d.status, d.trip, d.failure, d.count) == (case, action, status, trip, failure, count)


# -- one test per case --------------------------------------------------------------------------------------------
def test_breaker_open_halts_before_the_ring_starts():
    refused = {"allowed": False, "state": "open", "reason": "the circuit breaker of demo is open since 10:00"}
    d = verdict(breaker=refused, watch=None)
    assert_row(d, Case.BREAKER_OPEN, RingAction.HALT, RingStatus.HALTED, False, FailureKind.NONE, 0)
    assert d.reason == "not started: the circuit breaker of demo is open since 10:00"


def test_a_breaker_that_could_not_be_read_halts_too():
    d = verdict(breaker={"failed": True, "msg": "ledger locked"}, watch=None)
    assert d.case is Case.BREAKER_OPEN and d.status is RingStatus.HALTED
    assert d.reason == "not started: circuit breaker could not be read: ledger locked"


def test_no_host_reachable_halts_as_unreachable_and_counts_the_hosts():
    d = verdict(unreachable=HOSTS, watch=None)
    assert_row(d, Case.UNREACHABLE, RingAction.HALT, RingStatus.UNREACHABLE, False, FailureKind.HOST, 2)
    assert d.reason == "no host of the ring could be reached, nothing applied: unreachable c1, c2"


def test_failed_hosts_roll_back_and_count_each_host():
    d = verdict(failed_hosts=["c2"], watch=None)
    assert_row(d, Case.FAILED_HOSTS, RingAction.ROLLBACK, RingStatus.ROLLED_BACK, False, FailureKind.HOST, 1)
    assert d.reason == "the change failed on c2"


def test_some_hosts_unreachable_is_a_host_failure_that_says_which():
    d = verdict(failed_hosts=["c1"], unreachable=["c2"], watch=None)
    assert d.case is Case.FAILED_HOSTS and d.count == 2
    assert d.reason == "the change failed on c1; unreachable, nothing applied: c2"
    only_gone = verdict(unreachable=["c2"], watch=None)
    assert only_gone.reason == "unreachable, nothing applied: c2" and only_gone.count == 1


def test_breach_rolls_back_and_opens_the_breaker_with_the_breach_as_evidence():
    d = verdict(watch=WATCH_BREACH)
    assert_row(d, Case.BREACH, RingAction.ROLLBACK, RingStatus.ROLLED_BACK, True, FailureKind.NONE, 0)
    assert d.reason == "bake watch breach: error_ratio of c1 is 0.3, beyond 0.005"
    assert d.evidence == {"ring": "canary", "hosts": HOSTS, "breach": BREACH, "judge": None, "burn_rates": None}


@pytest.mark.parametrize("on_inconclusive", ["rollback", "hold"])
def test_watch_inconclusive_follows_on_inconclusive_and_counts_the_ring(on_inconclusive):
    d = verdict(watch=WATCH_INCONCLUSIVE, on_inconclusive=on_inconclusive)
    status = RingStatus.ROLLED_BACK if on_inconclusive == "rollback" else RingStatus.HELD
    assert_row(d, Case.WATCH_INCONCLUSIVE, RingAction(on_inconclusive), status, False, FailureKind.RING, 1)
    assert d.reason == "bake watch inconclusive: Prometheus unreachable for 3 polls"


def test_judge_fail_rolls_back_and_opens_the_breaker():
    d = verdict(judge=JUDGE_FAIL, judge_required=True)
    assert_row(d, Case.JUDGE_FAIL, RingAction.ROLLBACK, RingStatus.ROLLED_BACK, True, FailureKind.NONE, 0)
    assert d.reason == "canary judge fail (score 50): critical metric(s) failed: error_rate"
    assert d.evidence["judge"] == {"verdict": "fail", "score": 50.0}


@pytest.mark.parametrize("said", ["inconclusive", "marginal"])
@pytest.mark.parametrize("on_inconclusive", ["rollback", "hold"])
def test_judge_inconclusive_or_marginal_follows_on_inconclusive(said, on_inconclusive):
    judge = {"verdict": said, "score": 80.5 if said == "marginal" else None, "reasons": [f"{said} reason"]}
    d = verdict(judge=judge, judge_required=True, on_inconclusive=on_inconclusive)
    status = RingStatus.ROLLED_BACK if on_inconclusive == "rollback" else RingStatus.HELD
    assert_row(d, Case.JUDGE_INCONCLUSIVE, RingAction(on_inconclusive), status, False, FailureKind.RING, 1)
    score = "80.5" if said == "marginal" else "none"
    assert d.reason == f"canary judge {said} (score {score}): {said} reason"


@pytest.mark.parametrize("on_inconclusive", ["rollback", "hold"])
def test_budget_unreadable_follows_on_inconclusive(on_inconclusive):
    failed = {"failed": True, "msg": "error_budget: Prometheus unreachable"}
    d = verdict(budget=failed, budget_required=True, on_inconclusive=on_inconclusive)
    status = RingStatus.ROLLED_BACK if on_inconclusive == "rollback" else RingStatus.HELD
    assert_row(d, Case.BUDGET_UNREADABLE, RingAction(on_inconclusive), status, False, FailureKind.RING, 1)
    assert d.reason == "error budget could not be read: error_budget: Prometheus unreachable"


def test_budget_burning_rolls_back_and_opens_the_breaker_with_the_burn_rates():
    d = verdict(budget=BUDGET_BURNING, budget_required=True)
    assert_row(d, Case.BUDGET_BURNING, RingAction.ROLLBACK, RingStatus.ROLLED_BACK, True, FailureKind.NONE, 0)
    assert d.reason == "error budget burning beyond the policy: 1h/5m burn 20 > 14.4; 6h/30m burn 7 > 6"
    assert d.evidence["burn_rates"] == {"1h": 20}


def test_pass_promotes_and_says_what_it_rests_on():
    d = verdict(judge=JUDGE_PASS, judge_required=True, budget=BUDGET_OK, budget_required=True)
    assert_row(d, Case.PASS, RingAction.PROMOTE, RingStatus.PASSED, False, FailureKind.NONE, 0)
    assert d.reason == "watched 12 polls without a breach, canary judge pass (score 100)"
    assert verdict().reason == "watched 12 polls without a breach"  # not judged, budget not asked


# -- fail closed ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("watch", [None, {}, SKIPPED])
def test_no_watch_result_when_no_host_failed_is_not_a_pass(watch):
    d = verdict(watch=watch)
    assert d.case is Case.WATCH_INCONCLUSIVE and d.action is RingAction.ROLLBACK
    assert d.reason == "bake watch inconclusive: the ring's bake was not watched (no watch result)"


def test_a_watch_that_failed_or_gave_an_unknown_verdict_is_inconclusive():
    failed = verdict(watch={"failed": True, "msg": "bake_watch: policy not found"}, on_inconclusive="hold")
    assert failed.case is Case.WATCH_INCONCLUSIVE and failed.status is RingStatus.HELD
    assert failed.reason == "bake watch inconclusive: the watch failed: bake_watch: policy not found"
    odd = verdict(watch={"verdict": "fine"})
    assert odd.case is Case.WATCH_INCONCLUSIVE and odd.reason == "bake watch inconclusive: unknown verdict 'fine'"


@pytest.mark.parametrize("judge", [None, SKIPPED])
def test_a_ring_to_be_judged_without_a_verdict_is_not_a_pass(judge):
    d = verdict(judge=judge, judge_required=True)
    assert d.case is Case.JUDGE_INCONCLUSIVE
    assert d.reason == "canary judge inconclusive: the ring was to be judged and has no verdict"


def test_a_judge_that_failed_or_gave_an_unknown_verdict_is_inconclusive():
    failed = verdict(judge={"failed": True, "msg": "canary_judge: no data"}, judge_required=True)
    assert failed.case is Case.JUDGE_INCONCLUSIVE
    assert failed.reason == "canary judge inconclusive: it could not judge: canary_judge: no data"
    odd = verdict(judge={"verdict": "great", "score": 99.0, "reasons": []}, judge_required=True)
    assert odd.case is Case.JUDGE_INCONCLUSIVE
    assert odd.reason == "canary judge gave an unknown verdict 'great' (score 99): no reason"


@pytest.mark.parametrize("budget", [None, SKIPPED, {"changed": False}])
def test_a_budget_to_be_read_without_a_reading_is_not_a_pass(budget):
    d = verdict(budget=budget, budget_required=True)
    assert d.case is Case.BUDGET_UNREADABLE
    assert d.reason == "error budget could not be read: no error budget result"


def test_a_budget_read_although_not_required_still_counts():
    assert verdict(budget=BUDGET_BURNING).case is Case.BUDGET_BURNING
    assert verdict(budget=SKIPPED).case is Case.PASS  # not asked, not read


def test_a_judge_that_ran_although_not_required_still_counts():
    assert verdict(judge=JUDGE_FAIL).case is Case.JUDGE_FAIL


# -- precedence ---------------------------------------------------------------------------------------------------
def test_precedence_follows_the_table():
    """Everything wrong at once, then one problem fixed at a time: each row of the table decides in turn."""
    args = {
        "breaker": {"allowed": False, "reason": "open"},
        "unreachable": HOSTS,
        "failed_hosts": HOSTS,
        "watch": WATCH_BREACH,
        "judge": JUDGE_FAIL,
        "judge_required": True,
        "budget": BUDGET_BURNING,
        "budget_required": True,
    }
    steps = [
        (Case.BREAKER_OPEN, {"breaker": ADMITTED}),
        (Case.UNREACHABLE, {"unreachable": ["c1"]}),
        (Case.FAILED_HOSTS, {"unreachable": [], "failed_hosts": []}),
        (Case.BREACH, {"watch": WATCH_INCONCLUSIVE}),
        (Case.WATCH_INCONCLUSIVE, {"watch": WATCH_PASS}),
        (Case.JUDGE_FAIL, {"judge": {"verdict": "marginal", "score": 80.0, "reasons": []}}),
        (Case.JUDGE_INCONCLUSIVE, {"judge": JUDGE_PASS, "budget": {"failed": True, "msg": "down"}}),
        (Case.BUDGET_UNREADABLE, {"budget": BUDGET_BURNING}),
        (Case.BUDGET_BURNING, {"budget": BUDGET_OK}),
        (Case.PASS, {}),
    ]
    for case, fix in steps:
        assert verdict(**args).case is case, (case, args)
        args.update(fix)


def test_breach_wins_over_a_failed_judge_and_a_burning_budget():
    d = verdict(watch=WATCH_BREACH, judge=JUDGE_FAIL, budget=BUDGET_BURNING, budget_required=True)
    assert d.case is Case.BREACH


def test_failed_hosts_win_over_a_watch_that_passed():
    assert verdict(failed_hosts=["c1"], watch=WATCH_PASS).case is Case.FAILED_HOSTS


# -- inputs that are not results ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"ring_hosts": []}, "ring_hosts is empty"),
        ({"ring_hosts": "c1"}, "must be a list of host names"),
        ({"failed_hosts": ["zz"]}, "hosts zz are not in the ring"),
        ({"unreachable": ["zz"]}, "hosts zz are not in the ring"),
        ({"on_inconclusive": "ignore"}, "on_inconclusive must be rollback or hold"),
        ({"breaker": None}, "breaker must be the registered result"),
        ({"breaker": {"state": "closed"}}, "breaker must be the registered result"),
    ],
)
def test_inputs_that_cannot_be_decided_on_are_refused(kw, message):
    with pytest.raises(VerdictError, match=message):
        verdict(**kw)


# -- rollback targets -----------------------------------------------------------------------------------------------
EARLIER = [
    {"name": "canary", "status": "passed", "hosts": ["a1"]},
    {"name": "ring-1", "status": "passed", "hosts": ["a2", "legacy"]},
]
CAPABILITY = {"c1": "full", "c2": "none", "a1": "partial", "a2": "full"}


def test_rollback_targets_leave_unreachable_and_not_restorable_hosts_alone():
    d = verdict(watch=WATCH_BREACH)
    out = rollback_targets(d, [*HOSTS, "c3"], ["c3"], CAPABILITY | {"c3": "full"}, EARLIER, rollback_earlier=False)
    assert out == {"hosts": ["c1"], "not_restorable": ["c2"], "earlier": [], "earlier_not_restorable": []}


def test_rollback_earlier_takes_the_passed_rings_and_skips_hosts_without_capability():
    d = verdict(watch=WATCH_BREACH)
    out = rollback_targets(d, HOSTS, [], CAPABILITY, EARLIER, rollback_earlier=True)
    assert out["earlier"] == ["a1", "a2"] and out["earlier_not_restorable"] == ["legacy"]  # unlabelled: none


def test_nothing_is_rolled_back_unless_the_decision_is_rollback():
    for d in (verdict(), verdict(watch=WATCH_INCONCLUSIVE, on_inconclusive="hold"), verdict(unreachable=HOSTS)):
        assert rollback_targets(d, HOSTS, [], CAPABILITY, EARLIER, True)["hosts"] == []


# -- what is recorded ---------------------------------------------------------------------------------------------
def test_host_rollback_summaries():
    done = {"changed": True, "verified": True, "duration_seconds": 0.004, "restored": ["/etc/a", "/etc/b"]}
    assert host_rollback(done) == {
        "rolled_back": True,
        "verified": True,
        "seconds": 0.004,
        "restored": 2,
        "error": "",
        "note": "",
    }
    assert host_rollback({"failed": True, "msg": "deadline passed"})["error"] == "deadline passed"
    assert host_rollback(None, not_restorable=True)["note"] == NOT_RESTORABLE_NOTE
    assert host_rollback(None, unreachable=True)["note"] == UNREACHABLE_NOTE
    assert host_rollback(SKIPPED)["note"] == "host left the play (failed or unreachable)"
    assert not host_rollback(SKIPPED)["rolled_back"]


def test_earlier_summary_pairs_each_host_with_whether_it_was_verified():
    items = [{"item": "a1", "verified": True}, {"item": "a2", "failed": True}, {"item": "x", "skipped": True}]
    assert earlier_summary(items) == [["a1", True], ["a2", False]]
    assert earlier_summary([]) == [] and earlier_summary(None) == []


def test_watch_and_judge_summaries_keep_the_evidence_only():
    assert watch_summary(SKIPPED) is None
    assert watch_summary(WATCH_BREACH | {"metrics": ["big"], "bake_time": "60s"}) == {
        "verdict": "breach",
        "reason": WATCH_BREACH["reason"],
        "polls": 4,
        "bake_time": "60s",
        "breach": BREACH,
        "errors": [],
    }
    assert watch_summary({"failed": True, "msg": "boom"})["verdict"] == "inconclusive"
    judged = judge_summary(JUDGE_FAIL | {"metrics": [{"name": "error_rate", "classification": "high", "points": [1]}]})
    assert judged["metrics"] == [{"name": "error_rate", "classification": "high"}]
    assert judge_summary(None) is None


def test_ring_result_is_what_the_ring_event_and_the_report_read():
    ring = {"index": 0, "name": "canary", "hosts": HOSTS, "env_types": ["cloud"], "regions": ["r"], "domains": ["a"]}
    rollback = {"hosts": {"c1": host_rollback({"verified": True, "duration_seconds": 0.1})}, "earlier": []}
    result = ring_result(
        ring,
        RingStatus.ROLLED_BACK,
        "bake watch breach: x",
        since=90.0,
        ended=110.0,
        failed_hosts=["c2"],
        unreachable=["c2"],
        errors={},
        watch=watch_summary(WATCH_BREACH),
        judge=None,
        breaker="open",
        rollback=rollback,
        rolled_back_at=105.0,
    )
    assert result["status"] == "rolled_back" and result["note"] == "bake watch breach: x"
    assert result["apply_errors"] == {"c2": UNREACHABLE_NOTE}
    assert result["timings"] == {"visible_ts": 100.0, "detected_ts": 103.5, "rolled_back_ts": 105.0}
    assert result["rollback"]["hosts"]["c1"]["verified"] is True and result["breaker"] == "open"
    passed = ring_result(ring, "passed", "ok", since=1.0, ended=2.0)
    assert passed["timings"] is None and passed["rollback"] is None
    with pytest.raises(ValueError, match="not_a_status"):
        ring_result(ring, "not_a_status", "x", since=1.0, ended=2.0)
