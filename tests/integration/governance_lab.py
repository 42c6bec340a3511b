"""The period compliance report over a ledger the lab's change tests wrote (no further lab hosts used): the
report lists their changes with approvers and exceptions, rechecks against the ledger, and renders in Chromium."""

import json
import shutil
import subprocess
import time

from conftest import REPO, ansible_env


def quarter_now():
    now = time.gmtime()
    return f"{now.tm_year}Q{(now.tm_mon - 1) // 3 + 1}"


def playbook(ledger, key, *extra):
    return subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "ansible-playbook"),
            "playbooks/compliance_report.yml",
            "-e",
            f"ledger_src={ledger}",
            *extra,
        ],
        cwd=REPO,
        env=ansible_env(CHANGEWARD_LEDGER_KEY=key),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def check_report(ledger, key, workdir, expect):
    """Build this quarter's report of ``ledger``; expect: change id -> {outcome, type, exceptions (kinds it
    must have)}. Returns the report (JSON)."""
    dest = workdir / "reports"
    proc = playbook(ledger, key, "-e", f"report_period={quarter_now()}", "-e", f"report_dest={dest}")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    (json_path,) = dest.glob("compliance-*.json")
    report = json.loads(json_path.read_text())
    rows = {c["change_id"]: c for c in report["changes"]}
    for cid, want in expect.items():
        assert cid in rows, (cid, sorted(rows))
        row = rows[cid]
        assert (row["outcome"], row["type"]) == (want["outcome"], want["type"]), row
        assert set(want.get("exceptions", ())) <= {x["kind"] for x in row["exceptions"]}, row["exceptions"]
        assert row["requester"] and row["evidence"], row
    listed = [c["change_id"] for c in report["changes"]]
    assert listed == sorted(listed, key=lambda c: not rows[c]["exceptions"])  # exceptions first
    assert report["ledger"]["verified"]["valid"] is True
    again = playbook(ledger, key, "-e", f"report_recheck={json_path}")
    assert again.returncode == 0, again.stdout[-3000:]
    chromium = shutil.which("chromium")
    if chromium:  # scripts/bootstrap.sh installs it; the unit tests render the report too
        html = json_path.with_suffix(".html")
        dom = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", html.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        ).stdout
        assert all(cid in dom for cid in expect), dom[:2000]
    return report


def drafted_pir(ledger, key, change_id, workdir):
    """playbooks/review.yml for a change of the lab's ledger; the drafted post-incident review (Markdown)."""
    proc = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "ansible-playbook"),
            "playbooks/review.yml",
            "-e",
            f"change_id={change_id}",
            "-e",
            f"review_dest={workdir}",
        ],
        cwd=REPO,
        env=ansible_env(CHANGEWARD_LEDGER=str(ledger), CHANGEWARD_LEDGER_KEY=key),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return (workdir / f"{change_id}-pir.md").read_text()


LEARNING_PLAY = """
- name: A held review's finding blocks a similar change until an approver acknowledges it
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: The rollback review is held; its finding becomes a checklist item
      changeward.hybrid.review:
        change_id: "{{ reviewed }}"
        state: completed
        kind: rollback
        by: demo SRE
        summary: the package's self-test now runs before the canary
        checklist: ["the package's self-test passed on a host outside the rollout"]
      register: held
    - name: A similar change (same service, same kind) is opened by another requester
      changeward.hybrid.change_record:
        change_id: "{{ similar }}"
        type: normal
        summary: demo package, the next release
        requester: erin
        targets: [localhost]
    - name: Its checklist gate refuses it
      changeward.hybrid.checklist: &gate
        change_id: "{{ similar }}"
        change_digest: "{{ digest }}"
        services: [demo]
        change_kind: package
      register: blocked
      ignore_errors: true
    - name: The statement dana signs for the item
      changeward.hybrid.checklist:
        state: statement
        change_id: "{{ similar }}"
        change_digest: "{{ digest }}"
        item_id: "{{ held.checklist_items[0].item_id }}"
        approver: dana
        role: incident-commander
      register: statement
    - name: Write it
      ansible.builtin.copy:
        content: "{{ statement.statement_text }}"
        dest: "{{ workdir }}/ack.json"
        mode: "0600"
    - name: Sign it with dana's lab key
      ansible.builtin.command: ssh-keygen -q -Y sign -f {{ dana_key }} -n changeward-approval {{ workdir }}/ack.json
      changed_when: true
    - name: Acknowledged, the gate passes
      changeward.hybrid.checklist:
        <<: *gate
        acknowledgements: ["{{ workdir }}/ack.json"]
      register: passed
    - name: Blocked first, then passed
      ansible.builtin.assert:
        that:
          - blocked is failed and 'not acknowledged' in blocked.msg
          - passed is not failed and passed.decision == 'pass' and passed.checklist_items[0].acknowledged_by == 'dana'
"""


def checklist_blocks_until_acknowledged(ledger, key, change_id, workdir):
    """On a copy of the lab's ledger (the shared one must not hold the item: later demo package changes would be
    refused): the rolled-back change's review is held with a finding, a similar change is refused by the
    checklist gate, dana (a lab approver) signs an acknowledgement and the gate passes. Returns the copy."""
    import sqlite3

    copy = workdir / "learning.db"
    copy.touch(mode=0o600)
    with sqlite3.connect(str(ledger)) as src, sqlite3.connect(str(copy)) as dst:
        src.backup(dst)
    keys = json.loads(
        subprocess.run(
            [str(REPO / ".venv/bin/python"), str(REPO / "examples/lab/prepare.py"), "--approvers"],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    )["approvers"]["keys"]
    play = workdir / "learning.yml"
    play.write_text(LEARNING_PLAY)
    extra = {
        "reviewed": change_id,
        "similar": f"{change_id}-NEXT",
        "digest": "sha256:" + "5" * 64,
        "workdir": str(workdir),
        "dana_key": keys["dana"],
    }
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(play), "-e", json.dumps(extra)],
        cwd=REPO,
        # the copy has the original's ledger id: shipping it would fork the lab sink's export of the original
        env=ansible_env(CHANGEWARD_LEDGER=str(copy), CHANGEWARD_LEDGER_KEY=key, CHANGEWARD_SHIP="false"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return copy
