"""risk_score and approval as users run them: real ansible-playbook runs on localhost against a SQLite ledger.

Most runs approve as AWX does - the identity of each run from its extra vars (awx_user_name), which this policy
accepts unsigned (approval.unsigned_sources: [awx]). Each refusal named by the issue - self-approval, approval by
the implementer, missing PII peer review, missing billing approval - must fail the play before the implementation
task and leave a refusal event in the ledger. The signed path: an approver writes the statement with
playbooks/approve.yml's task, signs it with ssh-keygen, and the change job hands the file in.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ssh_signers import Signers

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import new_record

REPO = Path(__file__).resolve().parents[4]
REFUSED = "io.changeward.approval.refused"
CHECKED = "io.changeward.approval.checked"
CHANGES = ("CHG-SELF", "CHG-IMPL", "CHG-PII", "CHG-BILL", "CHG-OK", "CHG-SIGNED", "CHG-DIGEST")

DIGEST = "sha256:" + "5" * 64
POLICY = {
    "api_version": "changeward.hybrid/v1",
    "approval": {
        "identity": {"sources": ["awx", "os"]},
        "unsigned_sources": ["awx"],
        "approvers": [
            {"name": "alice", "roles": ["peer", "change-manager"]},
            {"name": "bob", "roles": ["peer"]},
            {"name": "carol", "roles": ["peer"]},
            {"name": "frank", "roles": ["change-manager"]},
            {"name": "svc-release", "roles": ["peer"], "kind": "service"},
        ],
        "required_approvals": {"low": 1, "medium": 1, "high": 2, "critical": 3},
    },
}


def labels(**extra):
    base = {"env_type": "cloud", "provider": "aws", "region": "eu-west-1", "az": "eu-west-1a"}
    return {**base, **extra}


INVENTORY = {
    "all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "children": {
            "eu": {
                "hosts": {
                    "web1": {"changeward_labels": labels(services=["web"], rollback_capability="full")},
                    "db1": {"changeward_labels": labels(data_class="pii", rollback_capability="partial")},
                }
            },
            "us": {"hosts": {"pay1": {"changeward_labels": labels(region="us-east-1", services=["billing"])}}},
        },
    }
}
# The EU team's own approver, added in their group_vars without touching the central policy.
EU_GROUP_VARS = {"changeward_policy_local": {"approval": {"approvers": [{"name": "erin", "roles": ["peer"]}]}}}

APPROVE = """
- name: Approve a change
  hosts: "{{ approve_on | default('localhost') }}"
  gather_facts: false
  tasks:
    - name: Record my approval
      changeward.hybrid.approval:
        change_id: "{{ change_id }}"
        change_digest: "{{ digest }}"
        role: "{{ role }}"
        comment: reviewed
        ledger: "{{ ledger }}"
        policy: "{{ policy }}"
      run_once: true
"""

IMPLEMENT = """
- name: Implement a change
  hosts: "{{ targets }}"
  gather_facts: false
  tasks:
    - name: Score the change
      changeward.hybrid.risk_score:
        targets: "{{ ansible_play_hosts_all }}"
        change_kind: config
        change_id: "{{ change_id }}"
        ledger: "{{ ledger }}"
        policy: "{{ policy }}"
      register: risk
      run_once: true

    - name: Stop unless approved
      changeward.hybrid.approval:
        state: checked
        change_id: "{{ change_id }}"
        change_digest: "{{ digest }}"
        approvals: "{{ approvals | default([]) }}"
        risk: "{{ risk_override | default(risk) }}"
        targets: "{{ ansible_play_hosts_all }}"
        ledger: "{{ ledger }}"
        policy: "{{ policy }}"
      register: gate
      run_once: true

    - name: The change itself
      ansible.builtin.copy:
        content: "{{ {'risk': risk, 'gate': gate} | to_json }}"
        dest: "{{ out }}/implemented-{{ change_id }}.json"
        mode: "0600"
      run_once: true
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("approval")
    (root / "inventory" / "group_vars").mkdir(parents=True)
    (root / "inventory" / "hosts.yml").write_text(yaml.safe_dump(INVENTORY))
    (root / "inventory" / "group_vars" / "eu.yml").write_text(yaml.safe_dump(EU_GROUP_VARS))
    keys = Signers(root / "keys", ["alice", "bob"])
    policy = {**POLICY, "approval": {**POLICY["approval"], "allowed_signers": str(keys.path)}}
    (root / "policy.yml").write_text(yaml.safe_dump(policy))
    (root / "approve.yml").write_text(APPROVE)
    (root / "implement.yml").write_text(IMPLEMENT)
    (root / "ansible.cfg").write_text("[defaults]\nstdout_callback = ansible.builtin.default\n")
    ledger = root / "ledger.db"
    with open_ledger(str(ledger), checkpoint_interval=0) as led:
        for cid in CHANGES:
            led.open_change(new_record(cid, "normal", f"test {cid}", "carol"))
    return root


def play(lab, playbook, user, **extra):
    extra = {
        "ledger": str(lab / "ledger.db"),
        "policy": str(lab / "policy.yml"),
        "out": str(lab),
        "digest": DIGEST,
        **extra,
    }
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"),
        ANSIBLE_CONFIG=str(lab / "ansible.cfg"),
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    env.pop("CHANGEWARD_LEDGER", None)
    env.pop("CHANGEWARD_IDENTITY", None)
    cmd = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        str(lab / "inventory"),
        str(lab / playbook),
        "-e",
        json.dumps({"awx_user_name": user, "awx_job_id": 100, **extra}),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)


def ledger_events(lab, change_id, event_type):
    with open_ledger(str(lab / "ledger.db"), create=False, readonly=True) as led:
        return [e.event for e in led.entries() if e.event["subject"] == change_id and e.event["type"] == event_type]


def refusal_codes(event):
    return [r["code"] for r in event["data"]["refusals"]]


def assert_refused(lab, proc, change_id, code, stage):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert not (lab / f"implemented-{change_id}.json").exists()
    events = ledger_events(lab, change_id, REFUSED)
    assert events, f"no refusal of {change_id} in the ledger"
    assert events[-1]["data"]["stage"] == stage
    assert code in refusal_codes(events[-1])


def test_self_approval_is_refused_and_recorded(lab):
    proc = play(lab, "approve.yml", "carol", change_id="CHG-SELF", role="peer")
    assert "self-approval" in proc.stdout
    assert_refused(lab, proc, "CHG-SELF", "self_approval", "record")
    assert ledger_events(lab, "CHG-SELF", REFUSED)[-1]["data"]["approval"]["identity"]["job_id"] == "100"


def test_approval_by_the_implementer_is_refused_and_recorded(lab):
    assert play(lab, "approve.yml", "bob", change_id="CHG-IMPL", role="peer").returncode == 0
    proc = play(lab, "implement.yml", "bob", change_id="CHG-IMPL", targets="web1")
    assert "bob implements change CHG-IMPL and cannot approve it" in proc.stdout
    assert_refused(lab, proc, "CHG-IMPL", "implementer_approval", "check")


def test_missing_pii_peer_review_is_refused_and_recorded(lab):
    assert play(lab, "approve.yml", "frank", change_id="CHG-PII", role="change-manager").returncode == 0
    proc = play(lab, "implement.yml", "dave", change_id="CHG-PII", targets="db1")
    assert "db1 hold pii data" in proc.stdout
    assert_refused(lab, proc, "CHG-PII", "pii_peer_review_missing", "check")


def test_missing_billing_approval_is_refused_and_recorded(lab):
    assert play(lab, "approve.yml", "svc-release", change_id="CHG-BILL", role="peer").returncode == 0
    proc = play(lab, "implement.yml", "dave", change_id="CHG-BILL", targets="pay1", risk_override="low")
    assert "billing:" in proc.stdout and "approval by a human" in proc.stdout
    assert_refused(lab, proc, "CHG-BILL", "human_approval_missing", "check")


def test_regional_approver_from_group_vars_lets_the_change_proceed(lab):
    # Without the eu group's vars erin is unknown ...
    proc = play(lab, "approve.yml", "erin", change_id="CHG-OK", role="peer")
    assert_refused(lab, proc, "CHG-OK", "unknown_approver", "record")
    # ... approving from a host of the eu group, the EU local policy knows her.
    assert play(lab, "approve.yml", "erin", change_id="CHG-OK", role="peer", approve_on="eu").returncode == 0
    proc = play(lab, "implement.yml", "dave", change_id="CHG-OK", targets="eu")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((lab / "implemented-CHG-OK.json").read_text())
    assert result["gate"]["allowed"] is True
    assert [a["approver"] for a in result["gate"]["approvals"]] == ["erin"]
    assert "changeward_policy_local of host" in " ".join(result["gate"]["policy"]["sources"])
    assert result["risk"]["hosts"] == 2
    with open_ledger(str(lab / "ledger.db"), create=False, readonly=True) as led:
        record = led.get_change("CHG-OK")
    assert record["implementer"] == "dave"
    assert record["risk"]["score"] == result["risk"]["score"]
    assert record["gate_decisions"][-1] == {**record["gate_decisions"][-1], "gate": "approval", "decision": "pass"}
    assert ledger_events(lab, "CHG-OK", CHECKED)


def hand_in(lab, change_id, name, digest=DIGEST):
    """name signs an approval statement of change_id with their ssh key; the files ssh-keygen leaves."""
    keys = Signers(lab / "keys", ["alice", "bob"])
    signed = keys.approval(change_id, digest, name, "peer")
    path = lab / f"{change_id}.{name}.json"
    path.write_text(signed["statement"])
    (lab / f"{change_id}.{name}.json.sig").write_text(signed["signature"])
    return str(path)


def test_a_signed_approval_handed_to_the_change_job_lets_it_proceed(lab):
    approval = hand_in(lab, "CHG-SIGNED", "bob")
    proc = play(lab, "implement.yml", "dave", change_id="CHG-SIGNED", targets="web1", approvals=[approval])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((lab / "implemented-CHG-SIGNED.json").read_text())
    assert [(a["approver"], a["method"]) for a in result["gate"]["approvals"]] == [("bob", "signature")]
    assert result["gate"]["change_digest"] == DIGEST
    (recorded,) = ledger_events(lab, "CHG-SIGNED", "io.changeward.approval.recorded")
    assert recorded["data"]["approval"]["submitted_by"]["name"] == "dave"


def test_a_signed_approval_for_other_targets_or_payload_is_refused(lab):
    approval = hand_in(lab, "CHG-DIGEST", "bob", digest="sha256:" + "6" * 64)
    proc = play(lab, "implement.yml", "dave", change_id="CHG-DIGEST", targets="web1", approvals=[approval])
    assert "other targets, another payload or another policy" in proc.stdout
    assert_refused(lab, proc, "CHG-DIGEST", "too_few_approvals", "check")
    assert "other_change_digest" in refusal_codes(ledger_events(lab, "CHG-DIGEST", REFUSED)[0])
