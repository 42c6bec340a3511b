"""The blackout action plugin: argument spec, enforce, check mode, path lookup and a real playbook run."""

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleActionFail
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task

from ansible_collections.changeward.hybrid.plugins.action.blackout import ActionModule

REPO = Path(__file__).resolve().parents[4]
FIXTURES = REPO / "tests" / "fixtures" / "calendars"
EDGES = str(FIXTURES / "edges.ics")
BLOCKED_AT = "2025-01-13T22:00:00Z"  # nightly window of edges.ics, 21:00Z-01:00Z
FREE_AT = "2025-01-13T12:00:00Z"


def run_action(args, check_mode=False, basedir=None):
    task = Task()
    task.action = "changeward.hybrid.blackout"
    task.args = args
    task.check_mode = check_mode
    loader = DataLoader()
    if basedir:
        loader.set_basedir(str(basedir))
    action = ActionModule(
        task=task,
        connection=MagicMock(),
        play_context=PlayContext(),
        loader=loader,
        templar=None,
        shared_loader_obj=None,
    )
    return action.run(task_vars={})


def test_blocked_fails_with_windows_and_next_time():
    result = run_action({"calendars": [EDGES], "at": BLOCKED_AT})
    assert result["failed"] is True
    assert result["blocked"] is True
    assert result["changed"] is False
    assert result["next_allowed_at"] == "2025-01-14T01:00:00Z"
    assert "Nightly batch" in result["msg"]
    assert "2025-01-14T01:00:00Z" in result["msg"]


def test_allowed_does_not_fail():
    result = run_action({"calendars": [EDGES], "at": FREE_AT})
    assert result.get("failed", False) is False
    assert result["blocked"] is False


def test_enforce_false_reports_without_failing():
    result = run_action({"calendars": [EDGES], "at": BLOCKED_AT, "enforce": False})
    assert result.get("failed", False) is False
    assert result["blocked"] is True


def test_check_mode_gives_the_same_decision():
    assert run_action({"calendars": [EDGES], "at": BLOCKED_AT}, check_mode=True)["failed"] is True
    assert run_action({"calendars": [EDGES], "at": FREE_AT}, check_mode=True)["blocked"] is False


def test_bad_request_fails_even_without_enforce():
    result = run_action({"calendars": [EDGES], "at": "2025-01-13T22:00:00", "enforce": False})
    assert result["failed"] is True
    assert "no UTC offset" in result["msg"]


@pytest.mark.parametrize(
    "args",
    [
        {"calendars": [EDGES], "change_type": "urgent"},
        {"calendars": [EDGES], "override": {"reference": "INC-1"}},
        {"calendars": [EDGES], "colour": "red"},
    ],
)
def test_argument_spec_is_enforced(args):
    with pytest.raises(AnsibleActionFail):
        run_action(args)


def test_emergency_override_through_the_action():
    result = run_action(
        {
            "calendars": [EDGES],
            "at": BLOCKED_AT,
            "change_type": "emergency",
            "override": {"reference": "INC-9", "approver": "bob", "role": "cab-chair"},
            "policy": {"blackout": {"override_roles": ["cab-chair"]}},
        }
    )
    assert result.get("failed", False) is False
    assert result["overridden"] is True
    assert result["ledger_event"]["type"] == "io.changeward.gate.override"


def test_relative_calendar_found_in_playbook_files_dir(tmp_path):
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "local.ics").write_bytes(Path(EDGES).read_bytes())
    result = run_action({"calendars": ["local.ics"], "at": BLOCKED_AT}, basedir=tmp_path)
    assert result["calendars"] == [{"name": "local.ics", "events": 5}]
    assert result["blocked"] is True


def test_real_playbook_run(tmp_path):
    """The module as users call it: FQCN, run_once, registered result, failing task when blocked."""
    playbook = tmp_path / "gate.yml"
    playbook.write_text(
        f"""
- name: Gate
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Check a free time
      changeward.hybrid.blackout:
        calendars: ["{EDGES}"]
        at: "{FREE_AT}"
      register: free
      run_once: true
    - name: Write the result
      ansible.builtin.copy:
        content: "{{{{ free | to_json }}}}"
        dest: "{tmp_path}/free.json"
        mode: "0600"
    - name: Check a blocked time
      changeward.hybrid.blackout:
        calendars: ["{EDGES}"]
        at: "{BLOCKED_AT}"
      run_once: true
    - name: Never reached
      ansible.builtin.file:
        path: "{tmp_path}/reached"
        state: touch
        mode: "0600"
"""
    )
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = dict(
        os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"), ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg")
    )
    env["ANSIBLE_PYTHON_INTERPRETER"] = sys.executable
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert json.loads((tmp_path / "free.json").read_text())["blocked"] is False
    assert not (tmp_path / "reached").exists()
    assert "changes are allowed again at 2025-01-14T01:00:00Z" in proc.stdout
