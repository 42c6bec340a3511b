"""The blackout action plugin: argument spec, enforce, check mode, path lookup and a real playbook run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from action_runner import run_action as run_task
from ansible.errors import AnsibleActionFail
from ssh_signers import Signers

from ansible_collections.changeward.hybrid.plugins.action.blackout import ActionModule
from ansible_collections.changeward.hybrid.plugins.plugin_utils.approval import statement_text
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.override import override_statement

REPO = Path(__file__).resolve().parents[4]
FIXTURES = REPO / "tests" / "fixtures" / "calendars"
EDGES = str(FIXTURES / "edges.ics")
BLOCKED_AT = "2025-01-13T22:00:00Z"  # nightly window of edges.ics, 21:00Z-01:00Z
FREE_AT = "2025-01-13T12:00:00Z"
API = "changeward.hybrid/v1"


def run_action(args, check_mode=False, basedir=None, task_vars=None):
    return run_task(ActionModule, "blackout", args, task_vars, check_mode=check_mode, basedir=basedir)


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


@pytest.mark.parametrize("args", [{"report_only": True}, {"enforce": False}])
def test_report_only_reports_without_failing(args):
    """report_only, the collection's name; enforce: false, its deprecated older inverse, still works."""
    result = run_action({"calendars": [EDGES], "at": BLOCKED_AT, **args})
    assert result.get("failed", False) is False
    assert result["blocked"] is True


def test_report_only_and_enforce_are_mutually_exclusive():
    with pytest.raises(AnsibleActionFail, match="mutually exclusive"):
        run_action({"calendars": [EDGES], "report_only": True, "enforce": True})


def test_check_mode_gives_the_same_decision():
    assert run_action({"calendars": [EDGES], "at": BLOCKED_AT}, check_mode=True)["failed"] is True
    assert run_action({"calendars": [EDGES], "at": FREE_AT}, check_mode=True)["blocked"] is False


def test_bad_request_fails_even_without_enforce():
    result = run_action({"calendars": [EDGES], "at": "2025-01-13T22:00:00", "report_only": True})
    assert result["failed"] is True
    assert "no UTC offset" in result["msg"]


@pytest.mark.parametrize(
    "args",
    [
        {"calendars": [EDGES], "change_type": "urgent"},
        {"calendars": [EDGES], "override": "INC-1"},
        {"calendars": [EDGES], "colour": "red"},
    ],
)
def test_argument_spec_is_enforced(args):
    with pytest.raises(AnsibleActionFail):
        run_action(args)


def test_an_unsigned_override_is_refused_naming_why():
    result = run_action(
        {
            "calendars": [EDGES],
            "at": BLOCKED_AT,
            "change_type": "emergency",
            "override": {"reference": "INC-9", "approver": "bob", "role": "cab-chair"},
            "policy": {"api_version": API, "blackout": {"override_roles": ["cab-chair"]}},
        }
    )
    assert result["failed"] is True and result["overridden"] is False
    assert "a self-declared approver (bob) cannot be verified" in result["override_refused"]


FAR_FUTURE = {"name": "later", "windows": [{"name": "Far freeze", "start": "2099-01-01", "end": "2099-01-02"}]}
HOSTVARS = {
    "eu1": {"changeward_policy_local": {"blackout": {"calendars": [EDGES]}}},
    "us1": {},
}


def test_regional_calendar_of_a_target_host_blocks():
    """changeward_policy_local.blackout.calendars of a target host joins the effective policy: it blocks."""
    task_vars = {"hostvars": HOSTVARS}
    us = run_action({"calendars": [FAR_FUTURE], "at": BLOCKED_AT, "targets": ["us1"]}, task_vars=task_vars)
    assert us["blocked"] is False, us
    eu = run_action({"calendars": [FAR_FUTURE], "at": BLOCKED_AT, "targets": ["us1", "eu1"]}, task_vars=task_vars)
    assert eu["failed"] is True and eu["blocked"] is True
    assert "Nightly batch" in eu["msg"]
    assert "changeward_policy_local of host eu1" in eu["policy"]["sources"]


def test_regional_calendar_of_this_host_blocks_and_policy_local_replaces_the_hosts():
    own = {"changeward_policy_local": {"blackout": {"calendars": [EDGES]}}, "inventory_hostname": "eu1"}
    assert run_action({"at": BLOCKED_AT}, task_vars=own)["blocked"] is True
    given = run_action({"calendars": [FAR_FUTURE], "at": BLOCKED_AT, "policy_local": {}}, task_vars=own)
    assert given["blocked"] is False


def test_a_regional_layer_may_not_loosen_the_central_policy():
    bad = {"eu1": {"changeward_policy_local": {"blackout": {"override_roles": ["anyone"]}}}}
    result = run_action({"calendars": [EDGES], "at": FREE_AT, "targets": ["eu1"]}, task_vars={"hostvars": bad})
    assert result["failed"] is True and "a local policy may not set override_roles" in result["msg"]


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

    path = str(tmp_path / "ledger.db")
    monkeypatch.setenv("CHANGEWARD_LEDGER", path)
    monkeypatch.setenv("CHANGEWARD_LEDGER_KEY", "hmac:unit-test-blackout-key-0123456789")
    with open_ledger(path) as led:
        led.open_change(model.new_record("CHG-7", "emergency", "hotfix", "alice"))
    return path


DIGEST = "sha256:" + "7" * 64


@pytest.fixture
def signed_override(tmp_path):
    keys = Signers(tmp_path / "keys", ["bob"])
    stmt = override_statement(
        "CHG-7", DIGEST, "bob", "cab-chair", "INC-4711", "payments down; the fix cannot wait", ["error_budget"]
    )
    text = statement_text(stmt)
    (tmp_path / "override.json").write_text(text)
    (tmp_path / "override.json.sig").write_text(keys.sign("bob", text))
    policy = {
        "api_version": API,
        "blackout": {"override_roles": ["cab-chair"]},
        "override": {"reference_pattern": "INC-[0-9]{4}", "exemptions": ["error_budget"]},
        "approval": {"approvers": [{"name": "bob", "roles": ["cab-chair"]}], "allowed_signers": str(keys.path)},
    }
    return {"file": str(tmp_path / "override.json")}, policy


def test_emergency_override_is_recorded_under_the_change_and_opens_a_review(ledger, signed_override):
    """An accepted override is verified and recorded by the gate itself, with the change id as subject, together
    with the review it opens; a ledger_record of the returned event is refused (a reserved control event)."""
    from ansible_collections.changeward.hybrid.plugins.action import ledger_record
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

    override, policy = signed_override
    args = {
        "calendars": [EDGES],
        "at": BLOCKED_AT,
        "change_type": "emergency",
        "change_id": "CHG-7",
        "change_digest": DIGEST,
        "override": override,
        "policy": policy,
    }
    result = run_action(args)
    assert result.get("failed", False) is False and result["overridden"] is True, result
    assert result["recorded"] is True
    event = result["ledger_event"]
    assert event["subject"] == "CHG-7" and event["data"]["reference"] == "INC-4711"
    assert event["data"]["justification"] == "payments down; the fix cannot wait"
    with open_ledger(ledger, create=False) as led:
        record = led.get_change("CHG-7")
        stored = led.entry_by_event_id(event["id"])
        (review,) = [e.event for e in led.events(subject="CHG-7", types=["io.changeward.review.opened"])]
    assert stored is not None
    assert review["data"]["override_event_id"] == event["id"]
    assert review["data"]["exempted_from"] == ["blackout", "error_budget"]
    assert record["gate_decisions"][-1]["gate"] == "blackout"
    assert record["gate_decisions"][-1]["decision"] == "waived"
    forged = run_task(ledger_record.ActionModule, "ledger_record", {"change_id": "CHG-7", "event": event}, {})
    assert forged["failed"] is True and "reserved control event of the emergency override control" in forged["msg"]
    # the same statement for another digest (other targets or payload) does not count
    refused = run_action({**args, "change_digest": "sha256:" + "8" * 64})
    assert refused["failed"] is True and "other targets, another payload" in refused["override_refused"]


def test_an_exempt_change_type_passes_a_spent_error_budget_only_with_a_verified_override(ledger, signed_override):
    """The change type is the requester's word: `emergency` alone does not get a change past a spent budget; the
    override the blackout gate accepted (signed, exempting error_budget, for this digest) does."""
    from ansible_collections.changeward.hybrid.plugins.action import error_budget
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

    override, policy = signed_override
    spent = {"30d": 0.02, "1h": 0.0, "5m": 0.0, "6h": 0.0, "30m": 0.0, "3d": 0.0}
    budget = {
        "objective": 0.999,
        "error_ratios": spent,
        "change_type": "emergency",
        "exempt_change_types": ["emergency"],
        "change_id": "CHG-7",
        "change_digest": DIGEST,
    }
    # the gate policy pinned in the inventory, as the error budget reads it to verify the override
    pinned = {"hostvars": {"localhost": {"changeward_policy": policy}}, "inventory_hostname": "localhost"}
    pinned["changeward_policy"] = policy

    def check(args):
        return run_task(error_budget.ActionModule, "error_budget", args, pinned)

    # before any override: refused, saying what an exempt type needs
    refused = check(budget)
    assert refused["failed"] is True and refused["exempt"] is False
    assert "only with an accepted emergency override that exempts error_budget" in refused["msg"]
    # outside any blackout window the blackout gate (the change's first) still accepts and records the override
    # for its exemptions, so the error budget finds it
    accepted = run_action(
        {
            "calendars": [EDGES],
            "at": FREE_AT,
            "change_type": "emergency",
            "change_id": "CHG-7",
            "change_digest": DIGEST,
            "override": override,
            "policy": policy,
        }
    )
    assert accepted["blocked"] is False and accepted["overridden"] is False, accepted
    assert accepted["recorded"] is True and accepted["ledger_event"]["data"]["exemptions"] == ["error_budget"]
    assert "accepted for its exemptions (error_budget)" in accepted["msg"]
    passed = check(budget)
    assert passed.get("failed", False) is False and passed["exempt"] is True, passed.get("msg")
    assert (passed["exemption"]["reference"], passed["exemption"]["approver"]) == ("INC-4711", "bob")
    # the same override does not exempt the change under another digest (other targets or payload)
    assert check({**budget, "change_digest": "sha256:" + "8" * 64})["failed"] is True
    # nor another emergency change of the same requester
    with open_ledger(ledger) as led:
        led.open_change(model.new_record("CHG-8", "emergency", "hotfix 2", "alice"))
    other = check({**budget, "change_id": "CHG-8"})
    assert other["failed"] is True and "change CHG-8 has none" in other["msg"]


def test_a_refusal_is_recorded_before_the_task_fails(ledger):
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

    result = run_action({"calendars": [EDGES], "at": BLOCKED_AT, "change_id": "CHG-7"})
    assert result["failed"] is True and result["recorded"] is True
    with open_ledger(ledger, create=False) as led:
        assert led.get_change("CHG-7")["gate_decisions"][-1]["decision"] == "fail"
    checked = run_action({"calendars": [EDGES], "at": FREE_AT, "change_id": "CHG-7"}, check_mode=True)
    assert checked["recorded"] is False


def test_recording_into_a_change_that_is_not_open_fails_closed(ledger):
    result = run_action({"calendars": [EDGES], "at": FREE_AT, "change_id": "CHG-404"})
    assert result["failed"] is True and "CHG-404 is not in the ledger" in result["msg"]


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
