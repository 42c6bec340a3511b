"""Check mode never writes: no ledger is created, migrated or appended to by any controller action in check mode
(ControllerAction.run opens every ledger read-only then), change_record and the gates say in --diff what they
would write, and a --check run of a playbook is not recorded by the recorder callback."""

import os
import sqlite3
import stat
import subprocess
from pathlib import Path
from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleActionFail
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task

from ansible_collections.changeward.hybrid.plugins.action.change_record import ActionModule as ChangeRecord
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

KEY = "hmac:unit-test-check-mode-key-0123456789"
REPO = Path(__file__).resolve().parents[4]


def run(cls, name, args, check_mode=False, diff=False):
    task = Task()
    task.action = f"changeward.hybrid.{name}"
    task.args = args
    task.check_mode = check_mode
    task.diff = diff
    action = cls(
        task=task,
        connection=MagicMock(),
        play_context=PlayContext(),
        loader=DataLoader(),
        templar=None,
        shared_loader_obj=None,
    )
    return action.run(task_vars={})


@pytest.fixture(autouse=True)
def env(monkeypatch):
    for name in ("CHANGEWARD_LEDGER", "CHANGEWARD_LEDGER_CHECKPOINT_INTERVAL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHANGEWARD_LEDGER_KEY", KEY)


@pytest.fixture
def ledger(tmp_path):
    path = str(tmp_path / "ledger.db")
    with open_ledger(path, key=KEY) as led:
        led.open_change(model.new_record("CHG-1", "normal", "upgrade", "carol", targets=["web1"]))
    return path


def files(directory):
    """Every file of the directory with its size, mode and content: what a write would change."""
    out = {}
    for path in sorted(Path(directory).iterdir()):
        if path.name.endswith(("-wal", "-shm")):  # SQLite's reader files (a read may create them)
            continue
        info = path.stat()
        out[path.name] = (info.st_size, stat.S_IMODE(info.st_mode), path.read_bytes())
    return out


def events(path):
    with open_ledger(path, create=False, readonly=True) as led:
        return [e.event["type"] for e in led.entries()]


OPEN = {"change_id": "CHG-9", "type": "standard", "summary": "release 2", "requester": "alice", "targets": ["web1"]}


def test_opening_in_check_mode_creates_no_ledger_and_shows_the_record_it_would_open(tmp_path):
    path = tmp_path / "state" / "ledger.db"
    result = run(ChangeRecord, "change_record", {**OPEN, "ledger": str(path)}, check_mode=True, diff=True)
    assert result["changed"] is True and result["record"]["id"] == "CHG-9"
    assert result["diff"]["before"] == {} and result["diff"]["after"]["summary"] == "release 2"
    assert not path.parent.exists()
    # the same task for real creates it: the check above could have failed
    assert run(ChangeRecord, "change_record", {**OPEN, "ledger": str(path)})["changed"] is True
    assert path.exists()


def test_updating_and_closing_in_check_mode_show_before_and_after_and_write_nothing(ledger):
    before = files(os.path.dirname(ledger))
    update = {"state": "updated", "change_id": "CHG-1", "ledger": ledger, "add": {"targets": ["web2"]}}
    result = run(ChangeRecord, "change_record", update, check_mode=True, diff=True)
    assert result["diff"]["before"]["targets"] == ["web1"]
    assert result["diff"]["after"]["targets"] == ["web1", "web2"]
    close = {"state": "closed", "change_id": "CHG-1", "ledger": ledger, "outcome": "successful"}
    result = run(ChangeRecord, "change_record", {**close, "observations": ["fine"]}, check_mode=True, diff=True)
    assert (result["diff"]["before"]["status"], result["diff"]["after"]["status"]) == ("open", "closed")
    assert files(os.path.dirname(ledger)) == before
    assert events(ledger) == ["io.changeward.change.opened"]
    # without --diff there is no diff; for real the update is written
    assert "diff" not in run(ChangeRecord, "change_record", update)
    assert events(ledger)[-1] == "io.changeward.change.updated"


def test_a_change_a_check_run_did_not_open_is_a_warning_in_check_mode_and_an_error_otherwise(ledger):
    update = {"state": "updated", "change_id": "CHG-9", "ledger": ledger, "set": {"summary": "x"}}
    result = run(ChangeRecord, "change_record", update, check_mode=True)
    assert result["record"] == {} and "is not in the ledger" in result["warnings"][0]
    with pytest.raises(AnsibleActionFail, match="CHG-9 is not in the ledger"):
        run(ChangeRecord, "change_record", update)


def test_an_older_ledger_is_not_migrated_in_check_mode(ledger):
    # a ledger made before the body indexes existed, readable by others: opening it for writing adds the indexes
    # and makes it 0600 - a migration check mode must not do
    with sqlite3.connect(ledger) as conn:
        conn.execute("DROP INDEX ledger_events_body_time")
    os.chmod(ledger, 0o644)
    before = files(os.path.dirname(ledger))
    read = {"state": "updated", "change_id": "CHG-1", "ledger": ledger, "set": {"summary": "upgrade"}}
    assert run(ChangeRecord, "change_record", {**read, "set": {"summary": "other"}}, check_mode=True)["changed"]
    assert files(os.path.dirname(ledger)) == before
    run(ChangeRecord, "change_record", read)  # unchanged record, but opened for writing: migrated
    with sqlite3.connect(ledger) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "ledger_events_body_time" in names
    assert stat.S_IMODE(os.stat(ledger).st_mode) == 0o600


class Writer(ControllerAction):
    """An action that writes whatever the mode: check mode must stop it at the ledger, not trust it."""

    NAME = "writer"
    ARGUMENT_SPEC = {"change_id": {"type": "str"}}

    def ensure(self, args, task_vars):
        with open_ledger(self.ledger_target(args), key=args["key"]) as led:
            return {"changed": True, "seq": led.record("io.changeward.test.written", "CHG-1", {}).seq}


def test_no_controller_action_can_write_or_create_a_ledger_in_check_mode(ledger, tmp_path):
    result = run(Writer, "writer", {"ledger": ledger}, check_mode=True)
    assert result["failed"] and "read-only" in result["msg"]
    missing = tmp_path / "new" / "ledger.db"
    result = run(Writer, "writer", {"ledger": str(missing)}, check_mode=True)
    assert result["failed"] and "does not exist" in result["msg"] and not missing.parent.exists()
    assert events(ledger) == ["io.changeward.change.opened"]
    assert run(Writer, "writer", {"ledger": ledger})["seq"] == 2  # outside check mode it writes


class Gate(ControllerAction):
    NAME = "gate"
    ARGUMENT_SPEC = {"change_id": {"type": "str"}}

    def ensure(self, args, task_vars):
        entry = {"gate": "gate", "decision": "pass", "reason": "nothing in the way", "time": "2026-01-05T10:00:00Z"}
        return {"changed": False, **self.record_gate_decision(args, entry)}


def test_a_gate_says_what_it_would_record(ledger):
    result = run(Gate, "gate", {"ledger": ledger, "change_id": "CHG-1"}, check_mode=True, diff=True)
    assert result["recorded"] is False and result["changed"] is True  # the record would change: --diff shows it
    assert result["diff"]["after"]["gate_decisions"][0]["reason"] == "nothing in the way"
    assert "not recorded" in result["diff"]["after_header"]
    assert events(ledger) == ["io.changeward.change.opened"]
    result = run(Gate, "gate", {"ledger": ledger, "change_id": "CHG-1"}, diff=True)
    assert result["recorded"] is True and f"seq {result['ledger_seq']}" in result["diff"]["after_header"]
    assert "diff" not in run(Gate, "gate", {"ledger": ledger, "change_id": "CHG-1"})


PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: hello
"""


@pytest.mark.parametrize("cli", [["--check"], []], ids=["check", "real"])
def test_the_recorder_records_no_check_run(tmp_path, cli):
    playbook, path = tmp_path / "play.yml", tmp_path / "state" / "ledger.db"
    playbook.write_text(PLAY)
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"),
        CHANGEWARD_LEDGER=str(path),
    )
    env.pop("PYTHONPATH", None)
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", str(playbook), *cli]
    argv += ["-e", "changeward_change_id=CHG-REC-1", "-e", "ansible_connection=local"]
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    if cli:
        assert not path.parent.exists()
    else:
        assert "io.changeward.run.started" in events(str(path))


def test_the_breaker_and_the_ring_plan_decide_in_check_mode_for_a_change_the_run_did_not_open(ledger):
    from ansible_collections.changeward.hybrid.plugins.action import circuit_breaker, rings
    from ansible_collections.changeward.hybrid.plugins.plugin_utils import breaker

    with open_ledger(ledger, key=KEY) as led:
        breaker.trip(led, "demo", "CHG-1", "canary breached")
    before = files(os.path.dirname(ledger))
    check = {"ledger": ledger, "service": "demo", "change_id": "CHG-9", "report_only": True}
    out = run(circuit_breaker.ActionModule, "circuit_breaker", check, check_mode=True)
    assert out["allowed"] is False and "is open" in out["reason"] and out["recorded"] is False
    plan = {"ledger": ledger, "hosts": ["web1", "web2"], "change_id": "CHG-9"}
    labels = {"env_type": "cloud", "region": "r1", "az": "r1a", "rollback_capability": "full"}
    hostvars = {h: dict(labels) for h in ("web1", "web2")}
    task = Task()
    task.action, task.args, task.check_mode = "changeward.hybrid.rings", plan, True
    action = rings.ActionModule(task, MagicMock(), PlayContext(), DataLoader(), None, None)
    out = action.run(task_vars={"hostvars": hostvars})
    assert not out.get("failed") and out["changed"] is True, out  # would record the plan
    assert files(os.path.dirname(ledger)) == before
    # outside check mode the change must be in the ledger
    with pytest.raises(AnsibleActionFail, match="CHG-9 is not in the ledger"):
        run(circuit_breaker.ActionModule, "circuit_breaker", check)


def test_no_review_is_opened_in_check_mode_for_a_change_the_run_did_not_open(ledger):
    from ansible_collections.changeward.hybrid.plugins.action import review

    out = run(review.ActionModule, "review", {"ledger": ledger, "change_id": "CHG-9"}, check_mode=True)
    assert not out.get("failed") and out["opened"] == [], out
    out = run(review.ActionModule, "review", {"ledger": ledger, "change_id": "CHG-9"})
    assert out["failed"] and "CHG-9 is not in the ledger" in out["msg"]


def test_the_checklist_gate_judges_a_change_the_run_did_not_open_in_check_mode(ledger):
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.governance import checklist

    change = {"id": "CHG-9", "services": ["demo"], "change_kind": "config", "labels": {}}
    with open_ledger(ledger, create=False, readonly=True) as led:
        result = checklist.check(led, None, change, change_digest=None, signers=None, check_mode=True)
        assert result["decision"] == "pass" and result["events"] == []
        with pytest.raises(checklist.ChecklistError, match="CHG-9 is not in the ledger"):
            checklist.check(led, None, change, change_digest=None, signers=None)
