"""playbooks/audit_verify.yml and the ledger_verify / ledger_export actions, run by ansible-playbook."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from ledger_testlib import KEY, task_event

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api

REPO = Path(__file__).resolve().parents[4]
BIN = Path(sys.executable).parent


@pytest.fixture
def run(tmp_path):
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")

    def _run(playbook, *extra, key=KEY):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CHANGEWARD_", "ANSIBLE_"))}
        env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", PATH=f"{BIN}:{env.get('PATH', '')}")
        if key is not None:
            env["CHANGEWARD_LEDGER_KEY"] = key
        cmd = [str(BIN / "ansible-playbook"), "-v", "-i", str(inventory), str(playbook), *extra]
        return subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)

    return _run


@pytest.fixture
def small_ledger(tmp_path):
    path = str(tmp_path / "ledger.db")
    with api.open_ledger(path, key=KEY, checkpoint_interval=10) as ledger:
        ledger.append_many([task_event(i) for i in range(35)])
    return path


def test_audit_playbook_exit_convention(run, small_ledger, tmp_path):
    report = tmp_path / "verdict.json"
    ok = run(REPO / "playbooks/audit_verify.yml", "-e", f"ledger_src={small_ledger}", "-e", f"ledger_report={report}")
    assert ok.returncode == 0, ok.stdout[-2000:]
    assert json.loads(report.read_text())["status"] == "valid"
    assert KEY not in ok.stdout + ok.stderr

    conn = sqlite3.connect(small_ledger, isolation_level=None)
    conn.execute("DELETE FROM ledger_events WHERE seq = 17")
    conn.close()
    bad = run(REPO / "playbooks/audit_verify.yml", "-e", f"ledger_src={small_ledger}", "-e", f"ledger_report={report}")
    assert bad.returncode == 2, bad.stdout[-2000:]
    verdict = json.loads(report.read_text())
    assert verdict["status"] == "invalid" and verdict["problems"][0]["kind"] == "deleted"
    assert verdict["problems"][0]["seq"] == 17
    assert "deleted at seq 17" in bad.stdout
    assert KEY not in bad.stdout + bad.stderr


def test_audit_playbook_fails_closed_without_key(run, small_ledger, tmp_path):
    report = tmp_path / "verdict.json"
    play = REPO / "playbooks/audit_verify.yml"
    res = run(play, "-e", f"ledger_src={small_ledger}", "-e", f"ledger_report={report}", key=None)
    assert res.returncode == 2
    verdict = json.loads(report.read_text())
    assert verdict["status"] == "error" and verdict["error_kind"] == "LedgerKeyError"


def test_export_then_verify_tasks_with_anchor(run, small_ledger, tmp_path):
    with api.open_ledger(small_ledger, create=False, readonly=True) as ledger:
        anchor = ledger.latest_checkpoint()
    (tmp_path / "anchor.json").write_text(json.dumps(anchor))
    export = tmp_path / "out" / "ledger.jsonl"
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - changeward.hybrid.ledger_export:
        src: {small_ledger}
        dest: {export}
        checkpoint: true
      register: exported
    - changeward.hybrid.ledger_verify:
        src: "{{{{ exported.dest }}}}"
        anchor: {tmp_path / "anchor.json"}
      register: verified
    - ansible.builtin.assert:
        that:
          - exported.changed and exported.events == 35 and exported.checkpoint.seq == 35
          - verified.valid and verified.events == 35 and verified.signed_through == 35
    - name: the same in check mode writes nothing
      changeward.hybrid.ledger_export:
        src: {small_ledger}
        dest: {tmp_path / "never.jsonl"}
      check_mode: true
      register: dry
    - ansible.builtin.assert:
        that: dry.changed and dry.events == 35
    - name: a tampered export fails the task unless report_only
      ansible.builtin.shell: sed -i '5d' {export}
      changed_when: true
    - changeward.hybrid.ledger_verify:
        src: "{{{{ exported.dest }}}}"
      register: broken
      ignore_errors: true
    - ansible.builtin.assert:
        that: broken is failed and not broken.valid and broken.problems | length > 0
"""
    )
    res = run(playbook)
    assert res.returncode == 0, res.stdout[-3000:]
    assert not (tmp_path / "never.jsonl").exists()
    assert KEY not in res.stdout + res.stderr


def test_rotation_across_two_keys_verifies_through_the_module_and_the_playbook(run, small_ledger, tmp_path):
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import checkpoint

    priv, pub = checkpoint.generate_ed25519()
    (tmp_path / "new.key").write_text(priv)
    playbook = tmp_path / "rotate.yml"
    playbook.write_text(
        f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: rotate (the current key comes from CHANGEWARD_LEDGER_KEY)
      changeward.hybrid.ledger_rotate_key:
        ledger: {small_ledger}
        new_key: "{{{{ lookup('ansible.builtin.file', '{tmp_path / "new.key"}') }}}}"
        reason: test rotation
      register: rotated
    - name: again, with the new key current - nothing to do
      changeward.hybrid.ledger_rotate_key:
        ledger: {small_ledger}
        key: "{{{{ lookup('ansible.builtin.file', '{tmp_path / "new.key"}') }}}}"
        new_key: "{{{{ lookup('ansible.builtin.file', '{tmp_path / "new.key"}') }}}}"
      register: again
    - name: several keys given to the one-key option are refused, never taken for a secret
      changeward.hybrid.ledger_verify:
        src: {small_ledger}
        key: ["{{{{ lookup('ansible.builtin.env', 'CHANGEWARD_LEDGER_KEY') }}}}", "{pub}"]
      register: as_list
      ignore_errors: true
    - name: verify across the rotation with both keys
      changeward.hybrid.ledger_verify:
        src: {small_ledger}
        keys:
          - public_key: "{pub}"
            not_before: "{{{{ rotated.checkpoint.time }}}}"
      register: verified
    - ansible.builtin.assert:
        that:
          - rotated.changed and rotated.seq == 36 and rotated.checkpoint.seq == 36
          - rotated.key_id is match('ed25519-') and rotated.previous_key_id is match('hmac-')
          - not again.changed and again.seq == 36
          - as_list is failed and as_list.error_kind == 'LedgerConfigError' and 'as keys' in as_list.msg
          - verified.valid and verified.signed_through == 36
"""
    )
    res = run(playbook)
    assert res.returncode == 0, res.stdout[-3000:]
    assert KEY not in res.stdout + res.stderr and "ed25519:" not in res.stdout + res.stderr
    with api.open_ledger(small_ledger, key=priv) as ledger:  # the new key writes on; the next checkpoint is its
        ledger.append_many([task_event(i) for i in range(10)])
    keys_file = tmp_path / "keys.yml"
    # The old key both from the environment and in the list (with its range): one key, the list's range.
    keys_file.write_text(
        json.dumps({"ledger_keys": [{"key": KEY, "not_after": "2999-01-01T00:00:00Z"}, {"public_key": pub}]})
    )
    report = tmp_path / "verdict.json"
    play = REPO / "playbooks/audit_verify.yml"
    ok = run(play, "-e", f"ledger_src={small_ledger}", "-e", f"@{keys_file}", "-e", f"ledger_report={report}")
    assert ok.returncode == 0, ok.stdout[-2000:]
    assert KEY not in ok.stdout + ok.stderr  # keys[].key is no_log like key
    assert json.loads(report.read_text())["signed_through"] == 40  # the new key's checkpoint
    old_only = run(play, "-e", f"ledger_src={small_ledger}", "-e", f"ledger_report={report}")
    assert old_only.returncode == 2
    verdict = json.loads(report.read_text())
    assert verdict["status"] == "invalid"
    assert [(p["kind"], p["seq"]) for p in verdict["problems"]] == [("checkpoint_invalid", 40)]


def test_export_series_validation_through_the_playbook(run, small_ledger, tmp_path):
    audit = tmp_path / "audit"
    playbook = tmp_path / "export.yml"
    playbook.write_text(
        f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - changeward.hybrid.ledger_export:
        src: {small_ledger}
        dest: {audit / "ledger-01.jsonl"}
      register: first
    - ansible.builtin.assert:
        that: first.sequence == 1 and first.signed_by is match('hmac-') and first.last_seq == 35
"""
    )
    assert run(playbook).returncode == 0
    with api.open_ledger(small_ledger, key=KEY) as ledger:
        ledger.append_many([task_event(i) for i in range(9)])
    playbook.write_text(
        f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - changeward.hybrid.ledger_export:
        src: {small_ledger}
        dest: {audit / "ledger-02.jsonl"}
        previous: {audit / "ledger-01.jsonl"}
      register: second
    - ansible.builtin.assert:
        that: second.sequence == 2 and second.events == 9 and second.last_seq == 44
"""
    )
    assert run(playbook).returncode == 0
    report = tmp_path / "verdict.json"
    play = REPO / "playbooks/audit_verify.yml"

    def audit_run(exports):
        res = run(play, "-e", json.dumps({"ledger_exports": exports}), "-e", f"ledger_report={report}")
        return res, json.loads(report.read_text())

    res, verdict = audit_run([str(audit / "ledger-*.jsonl")])
    assert res.returncode == 0 and verdict["status"] == "valid", res.stdout[-2000:]
    assert [e["sequence"] for e in verdict["exports"]] == [1, 2]

    res, verdict = audit_run([str(audit / "ledger-02.jsonl"), str(audit / "ledger-01.jsonl")])
    assert res.returncode == 2 and [p["kind"] for p in verdict["problems"]] == ["reordered"]
    assert verdict["problems"][0]["export"].endswith("ledger-01.jsonl")

    res, verdict = audit_run([str(audit / "ledger-02.jsonl")])
    assert res.returncode == 2 and [p["kind"] for p in verdict["problems"]] == ["dropped"]
    assert "dropped at " + str(audit / "ledger-02.jsonl") in res.stdout

    lines = (audit / "ledger-01.jsonl").read_text().splitlines()
    event = json.loads(lines[5])
    event["event"]["data"]["rc"] = 1
    lines[5] = json.dumps(event, separators=(",", ":"), sort_keys=True)
    (audit / "ledger-01.jsonl").write_text("\n".join(lines) + "\n")
    res, verdict = audit_run([str(audit / "ledger-*.jsonl")])
    assert res.returncode == 2 and [p["kind"] for p in verdict["problems"]] == ["altered"]
    assert verdict["problems"][0]["export"].endswith("ledger-01.jsonl")
