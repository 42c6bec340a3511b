"""The gates as the main job calls them, in a real ansible-playbook run on localhost with a temporary SQLite
ledger: a regional calendar from group_vars blocks its hosts, and an accepted emergency override - signed by the
incident commander's ssh key - is recorded by the gate under the change with the review it opens, so the run goes
on to the end; an unsigned one is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from ssh_signers import Signers

from ansible_collections.changeward.hybrid.plugins.plugin_utils.approval import statement_text
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.override import override_statement
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

REPO = Path(__file__).resolve().parents[4]
EDGES = str(REPO / "tests" / "fixtures" / "calendars" / "edges.ics")
BLOCKED_AT = "2025-01-13T22:00:00Z"  # nightly window of edges.ics
KEY = "hmac:unit-test-gates-playbook-key-0123"
POLICY = {
    "api_version": "changeward.hybrid/v1",
    "blackout": {
        "calendars": [{"name": "later", "windows": [{"name": "Far", "start": "2099-01-01", "end": "2099-01-02"}]}],
        "override_roles": ["incident-commander"],
    },
    "override": {"reference_pattern": "INC-[0-9]+"},
    "approval": {"approvers": [{"name": "dana", "roles": ["incident-commander"]}]},
}
DIGEST = "sha256:" + "9" * 64


def play(tmp: Path, change_type: str, override: dict | str | None):
    ledger = tmp / "ledger.db"
    (tmp / "group_vars").mkdir(exist_ok=True)
    # The regional team's layer: their calendar, in their group_vars.
    (tmp / "group_vars" / "eu.yml").write_text(
        yaml.safe_dump({"changeward_policy_local": {"blackout": {"calendars": [EDGES]}}})
    )
    (tmp / "inventory.ini").write_text(
        f"[eu]\neu1 ansible_connection=local\n[us]\nus1 ansible_connection=local\n"
        f"[local]\nlocalhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    keys = Signers(tmp / "keys", ["dana"])
    policy = {**POLICY, "approval": {**POLICY["approval"], "allowed_signers": str(keys.path)}}
    if override == "signed":
        stmt = override_statement("CHG-9", DIGEST, "dana", "incident-commander", "INC-9", "auth is down, fix now")
        (tmp / "override.json").write_text(statement_text(stmt))
        (tmp / "override.json.sig").write_text(keys.sign("dana", statement_text(stmt)))
        override = {"file": str(tmp / "override.json")}
    gate = {
        "policy": policy,
        "change_digest": DIGEST,
        "targets": "{{ groups['eu'] + groups['us'] }}",
        "change_id": "CHG-9",
        "change_type": change_type,
        "at": BLOCKED_AT,
    }
    if override:
        gate["override"] = override
    tasks = [
        {
            "name": "Open the change",
            "changeward.hybrid.change_record": {
                "change_id": "CHG-9",
                "type": change_type,
                "summary": "hotfix",
                "requester": "alice",
            },
        },
        {"name": "Gate", "changeward.hybrid.blackout": gate, "register": "gate"},
        {
            "name": "Reached the end",
            "ansible.builtin.copy": {
                "content": "{{ {'gate': gate} | to_json }}",
                "dest": str(tmp / "end.json"),
                "mode": "0600",
            },
        },
    ]
    (tmp / "play.yml").write_text(
        yaml.safe_dump([{"name": "Gates", "hosts": "localhost", "gather_facts": False, "tasks": tasks}])
    )
    (tmp / "ansible.cfg").write_text(f"[defaults]\ncollections_path = {REPO / 'collections'}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHANGEWARD_", "ANSIBLE_"))}
    env.pop("PYTHONPATH", None)
    env.update(
        ANSIBLE_CONFIG=str(tmp / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        CHANGEWARD_LEDGER=str(ledger),
        CHANGEWARD_LEDGER_KEY=KEY,
    )
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(tmp / "inventory.ini"),
            str(tmp / "play.yml"),
        ],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    end = tmp / "end.json"
    return proc, (json.loads(end.read_text()) if end.exists() else None), ledger


def test_a_regional_calendar_in_group_vars_blocks_the_change(tmp_path):
    proc, end, ledger = play(tmp_path, "normal", None)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert end is None
    assert "Nightly batch" in proc.stdout
    with open_ledger(str(ledger), create=False) as led:
        decisions = led.get_change("CHG-9")["gate_decisions"]
    assert [(d["gate"], d["decision"]) for d in decisions] == [("blackout", "fail")]


def test_an_accepted_emergency_override_runs_to_the_end(tmp_path):
    proc, end, ledger = play(tmp_path, "emergency", "signed")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert end["gate"]["overridden"] is True and end["gate"]["recorded"] is True
    assert end["gate"]["ledger_event"]["subject"] == "CHG-9"
    with open_ledger(str(ledger), create=False) as led:
        record = led.get_change("CHG-9")
        stored = led.entry_by_event_id(end["gate"]["ledger_event"]["id"])
        reviews = list(led.events(subject="CHG-9", types=["io.changeward.review.opened"]))
    assert record["gate_decisions"][-1]["decision"] == "waived"
    assert stored.event["data"]["reference"] == "INC-9"
    assert stored.event["data"]["justification"] == "auth is down, fix now"
    assert [r.event["data"]["override_event_id"] for r in reviews] == [stored.event["id"]]


def test_an_unsigned_emergency_override_is_refused(tmp_path):
    override = {"reference": "INC-9", "approver": "dana", "role": "incident-commander"}
    proc, end, ledger = play(tmp_path, "emergency", override)
    assert proc.returncode == 2 and end is None
    assert "self-declared approver (dana) cannot be verified" in proc.stdout
    with open_ledger(str(ledger), create=False) as led:
        assert [d["decision"] for d in led.get_change("CHG-9")["gate_decisions"]] == ["fail"]
