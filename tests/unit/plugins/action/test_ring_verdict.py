"""The ring_verdict action on a real SQLite ledger: its arguments, how each state hands the ring to the next, what
it reads from the ring hosts' variables, and the events it records itself."""

import pytest
from action_runner import run_action
from ansible.errors import AnsibleActionFail

from ansible_collections.changeward.hybrid.plugins.action import ring_verdict
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

KEY = "hmac:unit-test-ring-verdict-key-0123456789"
PLAN = {
    "rings": [
        {"index": 0, "name": "canary", "hosts": ["a1"], "baseline": ["b1", "b2"], "bake_time": "60s"},
        {"index": 1, "name": "ring-1", "hosts": ["b1", "b2"], "baseline": [], "bake_time": "10s"},
    ],
    "add_hosts": [
        {"host": "a1", "groups": ["ring_0", "changeward_rollout"], "ring": 0},
        {"host": "b1", "groups": ["ring_1", "changeward_rollout"], "ring": 1},
        {"host": "b2", "groups": ["ring_1", "changeward_rollout"], "ring": 1},
    ],
}
ADMITTED = {"changed": False, "allowed": True, "state": "closed", "reason": "closed"}
WATCH_PASS = {"verdict": "pass", "reason": "no breach", "polls": 12, "breach": None, "errors": []}
BREACH = {"metric": "error_ratio", "host": "b1", "visible_ts": 1.0, "detected_ts": 4.0}
WATCH_BREACH = {"verdict": "breach", "reason": "error_ratio of b1 is 0.3", "polls": 3, "breach": BREACH}
SKIPPED = {"skipped": True, "changed": False}


def hostvars(**per_host):
    base = {
        "a1": {"rollback_capability": "full"},
        "b1": {"changeward_labels": {"rollback_capability": "full"}},
        "b2": {"rollback_capability": "none"},
    }
    for host, extra in per_host.items():
        base[host] = {**base[host], **extra}
    return base


def run(args, task_vars=None, check_mode=False):
    return run_action(ring_verdict.ActionModule, "ring_verdict", args, task_vars or {}, check_mode=check_mode)


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    path = str(tmp_path / "ledger.db")
    monkeypatch.setenv("CHANGEWARD_LEDGER", path)
    monkeypatch.setenv("CHANGEWARD_LEDGER_KEY", KEY)
    with open_ledger(path, key=KEY) as led:
        led.open_change(model.new_record("CHG-1", "standard", "release 2", "alice", targets=["a1", "b1", "b2"]))
    return path


def ring_events(path, kind=None):
    with open_ledger(path, create=False, readonly=True) as led:
        evs = [e.event for e in led.entries() if e.event["subject"] == "CHG-1"]
    return [
        e for e in evs if e["type"].startswith("io.changeward.ring.") and (kind is None or e["type"].endswith(kind))
    ]


def start(batch, hv=None, breaker=None, **extra):
    breaker = ADMITTED if breaker is None else breaker
    args = {"state": "started", "change_id": "CHG-1", "plan": PLAN, "breaker": breaker, **extra}
    return run(args, {"hostvars": hv or hostvars(), "ansible_play_batch": batch})


def step(state, previous, hv=None, **extra):
    return run({"state": state, "change_id": "CHG-1", "previous": previous, **extra}, {"hostvars": hv or hostvars()})


# -- arguments ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"change_id": "CHG-1"}, "missing required arguments: state"),
        ({"state": "started", "change_id": "CHG-1"}, "state is started but all of the following are missing"),
        ({"state": "decided", "change_id": "CHG-1"}, "state is decided but all of the following are missing"),
        ({"state": "judged", "change_id": "CHG-1"}, "value of state must be one of"),
        ({"state": "applied", "change_id": "CHG-1", "previous": {}, "on_inconclusive": "ignore"}, "on_inconclusive"),
    ],
)
def test_arguments_are_checked(args, message):
    with pytest.raises(AnsibleActionFail, match=message):
        run(args)


def test_a_bad_change_id_and_a_previous_of_the_wrong_state_or_change_are_refused(ledger):
    with pytest.raises(AnsibleActionFail, match="change_id must match"):
        run({"state": "applied", "change_id": "no spaces allowed", "previous": {}})
    started = start(["a1"])
    with pytest.raises(AnsibleActionFail, match="state=decided needs previous: the registered result of state=applied"):
        step("decided", started)
    with pytest.raises(AnsibleActionFail, match="got something else"):
        step("applied", {"changed": False})
    with pytest.raises(AnsibleActionFail, match="previous belongs to change 'CHG-1', not 'CHG-2'"):
        run({"state": "applied", "change_id": "CHG-2", "previous": started}, {"hostvars": hostvars()})


# -- started --------------------------------------------------------------------------------------------------------
def test_started_finds_the_batchs_ring_and_records_it_with_the_unreachable_hosts(ledger):
    hv = hostvars(b2={"ring_rollout_reach": {"unreachable": True, "msg": "timed out"}}, b1={"ring_rollout_reach": {}})
    out = start(["b2", "b1"], hv)
    assert out["phase"] == "started" and out["started"] is True and out["recorded"] is True
    assert out["ring"]["name"] == "ring-1" and out["unreachable_hosts"] == ["b2"]
    (event,) = ring_events(ledger, "started")
    assert event["data"] == {
        "ring": "ring-1",
        "hosts": ["b1", "b2"],
        "since": out["since"],
        "bake_time": "10s",
        "breaker": "closed",
        "unreachable": ["b2"],
    }


def test_started_refuses_a_batch_that_is_not_exactly_the_ring(ledger):
    with pytest.raises(AnsibleActionFail, match=r"batch \['b1'\] is not ring ring-1"):
        start(["b1"])
    with pytest.raises(AnsibleActionFail, match="host zz is in no ring of the plan"):
        start(["zz"])
    with pytest.raises(AnsibleActionFail, match=r"plan must be a registered changeward\.hybrid\.rings result"):
        start(["a1"], plan={"rings": []})
    assert ring_events(ledger) == []


def test_an_open_breaker_starts_nothing_and_the_ring_is_decided_halted(ledger):
    refused = {"allowed": False, "state": "open", "reason": "the circuit breaker of demo is open"}
    started = start(["a1"], breaker=refused)
    assert started["started"] is False and started["recorded"] is False and ring_events(ledger) == []
    applied = step("applied", started)
    assert applied["bake"] is False and applied["failed_hosts"] == []
    decided = step("decided", applied, watch=SKIPPED, judge=SKIPPED, budget=SKIPPED)
    assert (decided["case"], decided["status"]) == ("breaker_open", "halted")
    assert decided["reason"] == "not started: the circuit breaker of demo is open"
    with pytest.raises(AnsibleActionFail, match="breaker must be the registered result"):
        start(["a1"], breaker={"changed": False})


def test_a_change_that_is_not_in_the_ledger_is_not_recorded_into(ledger):
    with pytest.raises(AnsibleActionFail, match="change CHG-9 is not in the ledger"):
        run(
            {"state": "started", "change_id": "CHG-9", "plan": PLAN, "breaker": ADMITTED},
            {"hostvars": hostvars(), "ansible_play_batch": ["a1"]},
        )


# -- applied --------------------------------------------------------------------------------------------------------
def test_applied_reads_where_the_change_applied_and_what_to_check(ledger):
    started = start(["a1"])
    ok = step("applied", started, hostvars(a1={"ring_rollout_applied": True}))
    assert (ok["bake"], ok["judge"], ok["budget"], ok["failed_hosts"]) == (True, True, True, [])
    assert step("applied", started, hostvars(a1={"ring_rollout_applied": True}), judge_rings=[])["judge"] is False
    assert step("applied", started, hostvars(a1={"ring_rollout_applied": True}), error_budget=False)["budget"] is False
    failed = step("applied", started, hostvars(a1={"ring_rollout_applied": False, "ring_rollout_apply_error": "boom"}))
    assert failed["bake"] is False and failed["failed_hosts"] == ["a1"] and failed["apply_errors"] == {"a1": "boom"}
    gone = step("applied", started)  # no fact at all: the host left the play
    assert gone["apply_errors"] == {"a1": "left the play (failed or unreachable)"}


def test_a_ring_without_a_baseline_is_not_judged(ledger):
    hv = hostvars(b1={"ring_rollout_applied": True}, b2={"ring_rollout_applied": True})
    applied = step("applied", start(["b1", "b2"], hv), hv)
    assert applied["bake"] is True and applied["judge"] is False


# -- decided and recorded --------------------------------------------------------------------------------------------
def test_a_breach_is_rolled_back_and_recorded_with_the_rollback_events(ledger):
    hv = hostvars(b1={"ring_rollout_applied": True}, b2={"ring_rollout_applied": True})
    applied = step("applied", start(["b1", "b2"], hv), hv)
    earlier = [{"name": "canary", "status": "passed", "hosts": ["a1"]}]
    decided = step(
        "decided",
        applied,
        hv,
        watch=WATCH_BREACH,
        judge=SKIPPED,
        budget={"burning": False},
        rollback_earlier=True,
        ring_results=earlier,
    )
    assert (decided["action"], decided["status"], decided["trip"]) == ("rollback", "rolled_back", True)
    assert decided["evidence"]["breach"] == BREACH
    # b2 is labelled rollback_capability none: left as it is; a1 passed earlier and is rolled back too
    assert decided["rollback"] == {
        "hosts": ["b1"],
        "not_restorable": ["b2"],
        "earlier": ["a1"],
        "earlier_not_restorable": [],
    }
    assert ring_events(ledger, "rolled_back") == []  # deciding writes nothing

    rollback_event = model.new_event("io.changeward.rollback.completed", "CHG-1", {"host": "b1"})
    hv["b1"]["ring_rollout_rollback"] = {
        "changed": True,
        "verified": True,
        "duration_seconds": 0.01,
        "restored": ["/etc/x"],
        "ledger_event": rollback_event,
    }
    loop = [{"item": "a1", "verified": True, "ledger_event": None}]
    recorded = step(
        "recorded",
        decided,
        hv,
        breaker_updates=[{"state": "open", "changed": True}, SKIPPED],
        earlier=loop,
        ring_results=earlier,
    )
    assert (
        recorded["halted"] is True and recorded["halt_reason"] == "ring-1: bake watch breach: error_ratio of b1 is 0.3"
    )
    assert [r["name"] for r in recorded["ring_results"]] == ["canary", "ring-1"]
    (event,) = ring_events(ledger, "rolled_back")
    data = event["data"]
    assert data == recorded["result"]
    assert data["breaker"] == "open" and data["watch"]["breach"] == BREACH
    assert data["rollback"]["hosts"]["b1"] == {
        "rolled_back": True,
        "verified": True,
        "seconds": 0.01,
        "restored": 1,
        "error": "",
        "note": "",
    }
    assert data["rollback"]["hosts"]["b2"]["note"].startswith("rollback_capability none")
    assert data["rollback"]["earlier"] == [["a1", True]]
    assert data["timings"]["detected_ts"] == 4.0 and data["timings"]["rolled_back_ts"] >= data["since"]
    with open_ledger(ledger, create=False, readonly=True) as led:
        types = [e.event["type"] for e in led.entries() if e.event["subject"] == "CHG-1"]
    assert types[-2:] == ["io.changeward.rollback.completed", "io.changeward.ring.rolled_back"]


def test_a_passed_ring_is_recorded_and_keeps_the_rollout_going(ledger):
    hv = hostvars(a1={"ring_rollout_applied": True})
    applied = step("applied", start(["a1"], hv), hv)
    judge = {"verdict": "pass", "score": 100.0, "reasons": ["ok"], "metrics": [{"name": "m", "classification": "pass"}]}
    decided = step("decided", applied, hv, watch=WATCH_PASS, judge=judge, budget={"burning": False})
    assert decided["action"] == "promote" and decided["rollback"]["hosts"] == []
    recorded = step("recorded", decided, hv)
    assert recorded["halted"] is False and recorded["halt_reason"] == ""
    (event,) = ring_events(ledger, "passed")
    assert event["data"]["judge"]["metrics"] == [{"name": "m", "classification": "pass"}]
    assert event["data"]["rollback"] is None and event["data"]["breaker"] == "closed"


def test_an_anomaly_the_policy_declared_as_failing_rolls_the_ring_back_and_is_recorded(ledger):
    hv = hostvars(a1={"ring_rollout_applied": True})
    applied = step("applied", start(["a1"], hv), hv)
    spike = {"series": '{host="a1"}', "time": 5.0, "value": 0.3, "score": 1.0}
    found = {
        "metric": "error_ratio",
        "verdict": "anomalous",
        "fails_ring": True,
        "reason": "1 point",
        "anomalies": [spike],
    }
    scan = {"changed": False, "verdict": "anomalous", "reason": "anomalous: error_ratio", "checks": [found]}
    judge = {"verdict": "pass", "score": 100.0, "reasons": ["ok"]}
    decided = step("decided", applied, hv, watch=WATCH_PASS, judge=judge, anomaly=scan, anomaly_required=True)
    assert (decided["case"], decided["action"], decided["trip"]) == ("anomaly", "rollback", True)
    assert decided["rollback"]["hosts"] == ["a1"]
    recorded = step("recorded", decided, hv)
    assert recorded["halted"] is True
    (event,) = ring_events(ledger, "rolled_back")
    assert event["data"]["anomaly"]["checks"][0]["anomalies"] == [spike]
    missing = step("decided", applied, hv, watch=WATCH_PASS, judge=judge, anomaly=SKIPPED, anomaly_required=True)
    assert (missing["case"], missing["action"]) == ("anomaly_inconclusive", "rollback")


def test_a_watch_that_never_ran_is_not_a_pass(ledger):
    hv = hostvars(a1={"ring_rollout_applied": True})
    applied = step("applied", start(["a1"], hv), hv)
    decided = step("decided", applied, hv, watch=SKIPPED, on_inconclusive="hold")
    assert (decided["case"], decided["status"], decided["failure"], decided["count"]) == (
        "watch_inconclusive",
        "held",
        "ring",
        1,
    )


def test_check_mode_decides_the_same_and_records_nothing(ledger):
    hv = hostvars(a1={"ring_rollout_applied": True})
    task_vars = {"hostvars": hv, "ansible_play_batch": ["a1"]}
    started = run(
        {"state": "started", "change_id": "CHG-1", "plan": PLAN, "breaker": ADMITTED}, task_vars, check_mode=True
    )
    assert started["recorded"] is False and started["would_record"] == ["io.changeward.ring.started"]
    applied = step("applied", started, hv, judge_rings=[])
    decided = step("decided", applied, hv, watch=WATCH_PASS, budget={"burning": False})
    recorded = run({"state": "recorded", "change_id": "CHG-1", "previous": decided}, {"hostvars": hv}, check_mode=True)
    assert recorded["would_record"] == ["io.changeward.ring.passed"] and ring_events(ledger) == []


def test_no_state_returns_a_key_ansible_keeps_for_itself(ledger):
    """ansible-core 2.21 converts (or drops) task result keys it owns: a list under "unreachable" became a bool."""
    owned = {"unreachable", "skipped", "results", "rc", "finished", "ansible_facts", "diff", "exception", "attempts"}
    hv = hostvars(a1={"ring_rollout_applied": True})
    started = start(["a1"], hv)
    applied = step("applied", started, hv)
    decided = step("decided", applied, hv, watch=WATCH_PASS, judge=SKIPPED, budget={"burning": False})
    recorded = step("recorded", decided, hv)
    for out in (started, applied, decided, recorded):
        assert not owned & out.keys(), owned & out.keys()
