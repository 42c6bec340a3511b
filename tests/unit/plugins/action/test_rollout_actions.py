"""The rings, circuit_breaker and change_record actions on a real SQLite ledger: the glue between task
arguments, inventory variables, the run's identity and the plain-Python cores."""

from pathlib import Path

import pytest
from action_runner import run_action
from ansible.errors import AnsibleActionFail

from ansible_collections.changeward.hybrid.plugins.action import change_record, circuit_breaker, rings
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

REPO = Path(__file__).resolve().parents[4]
KEY = "hmac:unit-test-rollout-key-0123456789"
POLICY = str(REPO / "docs/examples/policies/demo.yml")
GATES = str(REPO / "examples/policies/lab-gates.yml")
HOSTVARS = {
    "a1": {"env_type": "cloud", "region": "eu-west-1", "az": "eu-west-1a", "rollback_capability": "full"},
    "a2": {"env_type": "cloud", "region": "eu-west-1", "az": "eu-west-1a", "rollback_capability": "full"},
    "b1": {"env_type": "cloud", "region": "eu-west-1", "az": "eu-west-1b", "rollback_capability": "full"},
    "d1": {"env_type": "onprem", "region": "onprem-eu", "site": "dc1", "rollback_capability": "none"},
    "e1": {"env_type": "edge", "region": "edge-eu", "site": "s1", "rollback_capability": "partial"},
}


def run(module, name, args, task_vars=None, check_mode=False):
    return run_action(module.ActionModule, name, args, task_vars or {}, check_mode=check_mode)


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    path = str(tmp_path / "ledger.db")
    monkeypatch.setenv("CHANGEWARD_LEDGER", path)
    monkeypatch.setenv("CHANGEWARD_LEDGER_KEY", KEY)
    monkeypatch.delenv("CHANGEWARD_IDENTITY", raising=False)
    return path


def opened(change_id="CHG-1", **extra):
    args = {"change_id": change_id, "type": "standard", "summary": "release 2", "requester": "alice"}
    return run(change_record, "change_record", {**args, "targets": ["a1", "b1"], **extra})


def test_change_record_lifecycle(ledger):
    first = opened()
    assert first["changed"] and first["record"]["status"] == "open"
    assert not opened()["changed"]  # the same change again: a rerun, nothing written
    with pytest.raises(AnsibleActionFail, match="already in the ledger"):
        opened(summary="something else")
    decision = {"gate": "blackout", "decision": "pass"}
    updated = run(
        change_record,
        "change_record",
        {"state": "updated", "change_id": "CHG-1", "add": {"gate_decisions": [decision]}},
    )
    assert updated["changed"] and updated["record"]["gate_decisions"] == [decision]
    dry = run(
        change_record,
        "change_record",
        {"state": "closed", "change_id": "CHG-1", "outcome": "successful", "observations": ["x"]},
        check_mode=True,
    )
    assert dry["record"]["status"] == "closed"
    assert run(change_record, "change_record", {"state": "read", "change_id": "CHG-1"})["record"]["status"] == "open"
    closed = run(
        change_record,
        "change_record",
        {"state": "closed", "change_id": "CHG-1", "outcome": "rolled_back", "observations": ["canary breached"]},
    )
    assert closed["record"]["outcome"] == "rolled_back"
    with pytest.raises(AnsibleActionFail, match="already closed as rolled_back"):
        run(
            change_record,
            "change_record",
            {"state": "closed", "change_id": "CHG-1", "outcome": "successful", "observations": ["x"]},
        )
    with pytest.raises(AnsibleActionFail, match="not in the ledger"):
        run(change_record, "change_record", {"state": "updated", "change_id": "CHG-2", "set": {"implementer": "bob"}})


def test_rings_action_plans_from_hostvars_and_records_the_plan_once(ledger):
    opened(targets=list(HOSTVARS))
    args = {"hosts": list(HOSTVARS), "policy": POLICY, "bake_times": {"canary": "90s"}, "change_id": "CHG-1"}
    result = run(rings, "rings", args, {"hostvars": HOSTVARS})
    names = [r["name"] for r in result["rings"]]
    assert names[0] == "canary" and result["rings"][0]["hosts"] == ["a1"]
    assert result["rings"][-1]["hosts"] == ["e1"]  # edge last
    assert result["rings"][0]["bake_time"] == "90s" and result["rings"][1]["bake_time"] == "2m"  # policy default
    assert result["rings"][0]["baseline"] == result["order"][1:]
    assert result["add_hosts"][0] == {"host": "a1", "groups": ["ring_0", "changeward_rollout"], "ring": 0}
    assert sum(result["sizes"]) == len(HOSTVARS)
    assert result["recorded"] is True
    with open_ledger(ledger, create=False) as led:
        assert [r["hosts"] for r in led.get_change("CHG-1")["rings"]] == [r["hosts"] for r in result["rings"]]
    assert run(rings, "rings", args, {"hostvars": HOSTVARS})["recorded"] is False
    with pytest.raises(AnsibleActionFail, match="different ring plan"):
        run(rings, "rings", {**args, "hosts": ["a1", "a2"]}, {"hostvars": HOSTVARS})


def test_rings_action_fails_closed_on_unknown_or_unlabelled_hosts(ledger):
    with pytest.raises(AnsibleActionFail, match="not in the inventory: zz"):
        run(rings, "rings", {"hosts": ["a1", "zz"]}, {"hostvars": HOSTVARS})
    with pytest.raises(AnsibleActionFail, match="lacks the label"):
        run(rings, "rings", {"hosts": ["x"]}, {"hostvars": {"x": {"env_type": "cloud", "region": "r"}}})


def breaker(args, **kw):
    return run(circuit_breaker, "circuit_breaker", {"policy": POLICY, "gate_policy": GATES, **args}, **kw)


def test_circuit_breaker_action_through_a_whole_cycle(ledger, monkeypatch):
    opened()  # creates the ledger; a check is for a change opened in it
    for change in ("CHG-2", "CHG-3", "CHG-4"):
        opened(change)
    assert breaker({"change_id": "CHG-1"})["allowed"] is True
    tripped = breaker({"state": "open", "change_id": "CHG-1", "reason": "canary breached", "evidence": {"v": 0.3}})
    assert tripped["state"] == "open" and tripped["service"] == "demo"
    refused = breaker({"change_id": "CHG-2"})
    assert refused["failed"] and not refused["allowed"] and "open since" in refused["msg"]
    assert not breaker({"change_id": "CHG-2", "report_only": True}).get("failed")

    monkeypatch.setenv("CHANGEWARD_IDENTITY", "bob")  # a peer, not a change manager
    denied = breaker({"state": "half_open", "reason": "fixed"})
    assert denied["failed"] and denied["refused"] and "none of the roles" in denied["msg"]
    monkeypatch.setenv("CHANGEWARD_IDENTITY", "carol")
    half = breaker({"state": "half_open", "reason": "fixed"})
    assert half["state"] == "half_open" and half["identity"]["name"] == "carol"
    assert half["identity"]["source"] == "env:CHANGEWARD_IDENTITY"

    assert breaker({"change_id": "CHG-3"})["allowed"]  # the trial
    assert not breaker({"change_id": "CHG-4", "report_only": True})["allowed"]
    closed = breaker({"state": "closed", "change_id": "CHG-3", "reason": "trial reached every ring"})
    assert closed["state"] == "closed"
    assert breaker({"state": "read"})["breaker"]["state"] == "closed"


def test_a_breaker_check_never_creates_a_ledger_and_needs_the_change_in_it(ledger):
    with pytest.raises(AnsibleActionFail, match="does not exist, so the breaker of service demo has no history"):
        breaker({"change_id": "CHG-1"})
    with pytest.raises(AnsibleActionFail, match="does not exist"):
        breaker({"state": "read"})
    assert not Path(ledger).exists()
    opened("CHG-OTHER")
    with pytest.raises(AnsibleActionFail, match="change CHG-1 is not in the ledger"):
        breaker({"change_id": "CHG-1"})


def test_a_breaker_transition_the_breaker_did_not_write_is_refused(ledger):
    from ansible_collections.changeward.hybrid.plugins.plugin_utils import breaker as core
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import new_event

    opened()
    assert breaker({"state": "open", "change_id": "CHG-1", "reason": "canary breached"})["state"] == "open"
    # someone with the ledger's key appends a "closed" through the API, bypassing ledger_record's refusal
    with open_ledger(ledger, key=KEY) as led:
        led.append(
            new_event(core.CLOSED, "breaker:demo", {"service": "demo"}, source="changeward.hybrid.ledger_record")
        )
    with pytest.raises(AnsibleActionFail, match=r"that changeward\.hybrid\.circuit_breaker did not write.*stays shut"):
        breaker({"change_id": "CHG-1"})
    with open_ledger(ledger, key=KEY) as led:  # the attempt is evidence, recorded in the change
        refused = [e.event["data"] for e in led.events(subject="CHG-1", types=["io.changeward.control.refused"])]
    assert [r["control"] for r in refused] == ["circuit breaker"]


def test_circuit_breaker_action_opens_on_a_burning_error_budget_only(ledger):
    calm = {"burning": False, "windows": [{"long": "1h", "short": "5m", "factor": 14.4, "firing": False}]}
    assert breaker({"state": "open", "change_id": "CHG-1", "error_budget": calm})["state"] == "closed"
    burning = {
        "burning": True,
        "burn_rates": {"1h": 20.0, "5m": 30.0},
        "remaining_budget": 0.4,
        "windows": [{"long": "1h", "short": "5m", "factor": 14.4, "firing": True}],
    }
    out = breaker({"state": "open", "change_id": "CHG-1", "error_budget": burning})
    assert out["state"] == "open" and "1h/5m over 14.4x" in out["breaker"]["reason"]
    with pytest.raises(AnsibleActionFail, match="error_budget result"):
        breaker({"state": "open", "change_id": "CHG-1", "error_budget": {"x": 1}})


def test_circuit_breaker_failures_reach_the_threshold(ledger):
    args = {"state": "failure", "kind": "ring", "max_failed_rings": 2, "reason": "inconclusive"}
    assert breaker({**args, "change_id": "CHG-1"})["state"] == "closed"
    assert breaker({**args, "change_id": "CHG-2"})["state"] == "open"
