"""The recorder's exempt playbooks: a playbook that changes no host is not a run of the change even with its change
id, so it needs no ledger key; any other run with a change id and no key stops with exit code 74."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]
PLAY = "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n"


def run(tmp_path, name):
    config = tmp_path / "ansible.cfg"
    config.write_text(
        f"[defaults]\ncollections_path = {REPO / 'collections'}\ncallbacks_enabled = changeward.hybrid.recorder\n"
        "[changeward_recorder]\nexempt_playbooks = */playbooks/approve.yml, report.yml\n"
    )
    (tmp_path / "playbooks").mkdir(exist_ok=True)
    (tmp_path / "playbooks" / name).write_text(PLAY)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHANGEWARD_", "ANSIBLE_"))}
    env.update(ANSIBLE_CONFIG=str(config), CHANGEWARD_LEDGER=str(tmp_path / "ledger.db"))
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", f"playbooks/{name}"]
    argv += ["-e", f"ansible_python_interpreter={sys.executable}", "-e", "changeward_change_id=CHG-1"]
    return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_an_exempt_playbook_is_not_recorded_and_needs_no_key(tmp_path):
    proc = run(tmp_path, "approve.yml")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert not (tmp_path / "ledger.db").exists()


def test_a_run_with_a_change_id_and_no_key_stops_with_a_clear_message(tmp_path):
    proc = run(tmp_path, "deploy.yml")
    assert proc.returncode == 74, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "no signing key is configured (CHANGEWARD_LEDGER_KEY or ledger_key_file)" in proc.stdout + proc.stderr
