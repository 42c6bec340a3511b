"""One recording rule: a gate given change_id records its own decision in the change (subject: the change id),
whatever the decision, before the task fails on it; without change_id or in check mode it records nothing."""

import pytest
from action_runner import run_action
from ansible.errors import AnsibleActionFail

from ansible_collections.changeward.hybrid.plugins.action import circuit_breaker, error_budget
from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

KEY = "hmac:unit-test-gate-recording-key-0123"
# 30-day error ratio 0.02 against a 99.9 % objective: the budget is spent twenty times over.
SPENT = {"30d": 0.02, "1h": 0.0, "5m": 0.0, "6h": 0.0, "30m": 0.0, "3d": 0.0}
FINE = {"30d": 0.0001, "1h": 0.0, "5m": 0.0, "6h": 0.0, "30m": 0.0, "3d": 0.0}


def run(module, name, args, check_mode=False):
    return run_action(module.ActionModule, name, args, {}, check_mode=check_mode)


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    path = str(tmp_path / "ledger.db")
    monkeypatch.setenv("CHANGEWARD_LEDGER", path)
    monkeypatch.setenv("CHANGEWARD_LEDGER_KEY", KEY)
    with open_ledger(path) as led:
        led.open_change(model.new_record("CHG-1", "standard", "release 2", "alice"))
    return path


def decisions(path, change_id="CHG-1"):
    with open_ledger(path, create=False) as led:
        return led.get_change(change_id)["gate_decisions"]


def test_error_budget_records_a_pass_and_a_refusal(ledger):
    ok = run(error_budget, "error_budget", {"objective": 0.999, "error_ratios": FINE, "change_id": "CHG-1"})
    assert ok["decision"] == "allow" and ok["recorded"] is True
    refused = run(error_budget, "error_budget", {"objective": 0.999, "error_ratios": SPENT, "change_id": "CHG-1"})
    assert refused["failed"] is True and refused["recorded"] is True
    gates = decisions(ledger)
    assert [(g["gate"], g["decision"]) for g in gates] == [("error_budget", "pass"), ("error_budget", "fail")]
    assert gates[1]["remaining_budget"] < 0


def test_error_budget_without_change_id_or_in_check_mode_records_nothing(ledger):
    assert run(error_budget, "error_budget", {"objective": 0.999, "error_ratios": FINE})["recorded"] is False
    checked = run(
        error_budget, "error_budget", {"objective": 0.999, "error_ratios": FINE, "change_id": "CHG-1"}, check_mode=True
    )
    assert checked["recorded"] is False
    assert decisions(ledger) == []


def test_error_budget_for_a_change_not_in_the_ledger_fails_closed(ledger):
    with pytest.raises(AnsibleActionFail, match="CHG-404 is not in the ledger"):
        run(error_budget, "error_budget", {"objective": 0.999, "error_ratios": FINE, "change_id": "CHG-404"})


def test_circuit_breaker_check_records_in_the_change(ledger):
    out = run(circuit_breaker, "circuit_breaker", {"service": "demo", "change_id": "CHG-1"})
    assert out["allowed"] is True and out["recorded"] is True
    assert decisions(ledger)[-1]["gate"] == "circuit_breaker"
    assert decisions(ledger)[-1]["decision"] == "pass"


def test_target_events_and_controller_events_share_one_envelope():
    """A snapshot's ledger_event (built on the target) and a gate's event (built on the controller) come from the
    one envelope builder: same attributes, the change id as subject, and the ledger accepts both as they are."""
    from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.events import SNAPSHOT_TAKEN, ledger_event

    target = ledger_event(SNAPSHOT_TAKEN, "CHG-1", {"snapshot_id": "s1"}, host="web-1")
    controller = model.new_event(context.GATE_DECIDED, "CHG-1", {"decision": {}}, source="changeward.hybrid.blackout")
    assert sorted(target) == sorted(controller)
    assert target["subject"] == controller["subject"] == "CHG-1"
    assert model.validate_event(target) is target
