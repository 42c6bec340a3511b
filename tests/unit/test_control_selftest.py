"""The control self-test an auditor runs (playbooks/control_selftest.yml) passes - every bypass it tries is refused
and recorded -, fails when the policy under test is weakened, and the bypass it cannot try from inside a playbook,
a policy given on the command line, is refused by the main job before any gate."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def play(*args):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    for name in ("CHANGEWARD_LEDGER", "CHANGEWARD_LEDGER_KEY"):
        env.pop(name, None)
    cmd = [str(PLAYBOOK), "-i", "localhost,", "-c", "local", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_the_control_selftest_refuses_and_records_every_attempt():
    proc = play(str(REPO / "playbooks" / "control_selftest.yml"))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "16 attempts, 16 stopped" in proc.stdout
    # 5 control refusals (the forged key rotation the fifth); the approval gate's: the foreign key (2), alice's own
    # approval (2), no peer review (1). The error budget's refusal is its recorded gate decision.
    assert "10 refusals recorded in CHG-SELFTEST-" in proc.stdout


WEAK_POLICY = """\
selftest_policy:
  api_version: changeward.hybrid/v1
  approval:
    allowed_signers: "{{ selftest_dir.path }}/allowed_signers"
    approvers: [{name: bob, roles: [peer, ops]}, {name: alice, roles: [peer]}]
    required_approvals: {low: 1, medium: 1, high: 2, critical: 2}
    peer_review: {data_classes: [pii], roles: [peer, ops]}
"""


def test_a_deliberately_weakened_policy_makes_the_selftest_fail(tmp_path):
    """The one change from the self-test's policy: ops counts as a peer review of a PII change. The self-test must
    notice - it is evidence that the controls operate only if it can fail."""
    weak = tmp_path / "weak.yml"
    weak.write_text(WEAK_POLICY)
    proc = play("-e", f"@{weak}", str(REPO / "playbooks" / "control_selftest.yml"))
    assert proc.returncode != 0
    assert "A control let an attempt through" in proc.stdout
    assert "selftest_no_peer is failed" in proc.stdout  # the condition that failed names the attempt
    assert "16 attempts, 16 stopped" not in proc.stdout


def test_a_gate_policy_given_on_the_command_line_stops_the_main_job_before_any_gate(tmp_path):
    permissive = tmp_path / "permissive.yml"
    permissive.write_text("api_version: changeward.hybrid/v1\n")
    proc = play(
        "-e",
        f"@{REPO / 'examples' / 'changes' / 'sysctl-somaxconn.yml'}",
        "-e",
        f"changeward_policy={permissive}",
        "-e",
        f"CHANGEWARD_LEDGER={tmp_path / 'ledger.db'}",
        str(REPO / "playbooks" / "change.yml"),
    )
    assert proc.returncode != 0
    assert "changeward_policy of host localhost was given as an extra var (-e)" in proc.stdout
    assert "Open the change record" not in proc.stdout  # nothing was opened, no gate ran
    assert not (tmp_path / "ledger.db").exists()
