"""learning_report and risk_score's import as tasks: calibration and patterns from a verified ledger, a pattern
export imported into another team's history from the inventory only, and the checklist gate recording its
decision with the acknowledgements it verified."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from action_runner import run_action

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugin_utils" / "governance"))
from test_compliance_report import KEY, at, closed, opened

from ansible_collections.changeward.hybrid.plugins.action.learning_report import ActionModule as ReportAction
from ansible_collections.changeward.hybrid.plugins.action.risk_score import ActionModule as RiskAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api

TARGET = {"env_type": "cloud", "provider": "aws", "region": "r", "az": "r-a", "rollback_capability": "full"}


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    monkeypatch.delenv("CHANGEWARD_LEDGER", raising=False)
    monkeypatch.setenv("CHANGEWARD_LEDGER_KEY", KEY)
    path = str(tmp_path / "ledger.db")
    with api.open_ledger(path, key=KEY, checkpoint_interval=5) as led:
        for i in range(12):
            rec = opened(led, f"CHG-{i}", "normal", "secret summary", "alice", at(3, 10))
            rec["targets"] = ["h1"]
            rec["risk"] = {"level": "low", "failure_rate": 0.1, "system_class": "config/cloud", "change_kind": "config"}
            closed(led, rec, "rolled_back" if i < 3 else "successful", at(3, 11))
    return path


def test_calibration_and_patterns_as_tasks(ledger, tmp_path):
    cal = run_action(ReportAction, "learning_report", {"ledger": ledger, "report": "calibration"})
    assert not cal.get("failed"), cal
    assert cal["report"]["changes"] == 12 and cal["report"]["by_class"]["low"]["observed_rate"] == 0.25
    dest = tmp_path / "out" / "patterns.json"
    pat = run_action(
        ReportAction,
        "learning_report",
        {"ledger": ledger, "report": "failure_patterns", "k": 5, "dest": str(dest)},
        {"hostvars": {"h1": TARGET}},
    )
    assert not pat.get("failed"), pat
    exported = json.loads(dest.read_text())
    assert exported["patterns"][0]["labels"] == {"env_type": "cloud", "provider": "aws", "rollback_capability": "full"}
    assert "h1" not in dest.read_text() and "alice" not in dest.read_text() and "secret" not in dest.read_text()
    none = run_action(
        ReportAction, "learning_report", {"ledger": ledger, "report": "calibration", "end_time": "2020-01-01T00:00:00Z"}
    )
    assert none["failed"] and "nothing to calibrate" in none["msg"]


def test_risk_score_imports_the_inventorys_patterns_and_refuses_them_as_an_extra_var(ledger, tmp_path, monkeypatch):
    dest = tmp_path / "patterns.json"
    run_action(
        ReportAction,
        "learning_report",
        {"ledger": ledger, "report": "failure_patterns", "k": 5, "dest": str(dest)},
        {"hostvars": {"h1": TARGET}},
    )
    vm = SimpleNamespace(extra_vars={}, _nonpersistent_fact_cache={}, _vars_cache={}, _fact_cache={})
    monkeypatch.setattr("ansible.playbook.task.Task.get_variable_manager", lambda self: vm)
    monkeypatch.setattr(ControllerAction, "extra_vars", lambda self, cli=False: dict(vm.extra_vars))
    args = {"targets": ["h1"], "change_kind": "config", "services": ["web"], "dependency_map": {}}
    alone = run_action(RiskAction, "risk_score", args, {"hostvars": {"h1": TARGET}, "inventory_hostname": "localhost"})
    assert not alone.get("failed"), alone
    hostvars = {"localhost": {"changeward_failure_patterns": [str(dest)]}, "h1": TARGET}
    task_vars = {"hostvars": hostvars, "inventory_hostname": "localhost", "changeward_failure_patterns": [str(dest)]}
    learned = run_action(RiskAction, "risk_score", args, task_vars)
    assert not learned.get("failed"), learned
    assert learned["history"]["similar_changes"] == 6.0 and learned["history"]["failures"] == 1.5
    assert learned["history"]["matches"][0]["similarity"] == "imported"
    assert learned["history"]["failure_rate"] > alone["history"]["failure_rate"]
    vm.extra_vars = {"changeward_failure_patterns": [str(dest)]}
    refused = run_action(RiskAction, "risk_score", args, {**task_vars, **vm.extra_vars})
    assert refused["failed"] and "changeward_failure_patterns" in refused["msg"]


def test_the_checklist_gate_records_its_refusal_then_the_verified_acknowledgement(ledger, tmp_path):
    from ssh_signers import Signers

    from ansible_collections.changeward.hybrid.plugins.action.checklist import ActionModule as ChecklistAction
    from ansible_collections.changeward.hybrid.plugins.action.review import ActionModule as ReviewAction
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.approval import statement_text
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.governance import checklist, review
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import new_record
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import API_VERSION

    keys = Signers(tmp_path / "keys", ["bob"])
    policy = {
        "api_version": API_VERSION,
        "approval": {"approvers": [{"name": "bob", "roles": ["peer"]}], "allowed_signers": str(keys.path)},
    }
    with api.open_ledger(ledger, key=KEY) as led:
        review.open_reviews(led, "CHG-0", source="test")
        led.open_change(new_record("CHG-NEXT", "normal", "next", "alice", implementer="carol"))
    held = run_action(
        ReviewAction,
        "review",
        {
            "ledger": ledger,
            "change_id": "CHG-0",
            "state": "completed",
            "kind": "rollback",
            "by": "sre",
            "summary": "one finding",
            "checklist": ["canary on a quiet host"],
        },
    )
    (item,) = held["checklist_items"]
    assert item["match"] == {"service": None, "change_kind": "config", "labels": {}}
    args = {"ledger": ledger, "change_id": "CHG-NEXT", "change_digest": "sha256:" + "1" * 64, "policy": policy}
    args["change_kind"] = "config"
    refused = run_action(ChecklistAction, "checklist", args)
    assert refused["failed"] and refused["recorded"] and item["item_id"] in refused["msg"]
    text = statement_text(checklist.ack_statement("CHG-NEXT", args["change_digest"], item["item_id"], "bob", "peer"))
    ack = tmp_path / "ack.json"
    ack.write_text(text)
    (tmp_path / "ack.json.sig").write_text(keys.sign("bob", text))
    passed = run_action(ChecklistAction, "checklist", {**args, "acknowledgements": [str(ack)]})
    assert not passed.get("failed"), passed
    with api.open_ledger(ledger, readonly=True) as led:
        types = [e.event["type"] for e in led.events(subject="CHG-NEXT")]
        record = led.get_change("CHG-NEXT")
    assert types[-2:] == [checklist.ACKNOWLEDGED, "io.changeward.gate.decided"]
    assert [g["decision"] for g in record["gate_decisions"]] == ["fail", "pass"]
