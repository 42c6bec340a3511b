"""The change_closer callback, run by ansible-playbook with the project's ansible.cfg."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api

REPO = Path(__file__).resolve().parents[4]
BIN = Path(sys.executable).parent
KEY = "closer-test-key-0123456789abcdef"

PLAYBOOK = """
- name: Open two changes
  hosts: localhost
  gather_facts: false
  tasks:
    - name: A change this run owns
      changeward.hybrid.change_record:
        change_id: CHG-OWNED
        type: standard
        summary: owned by the run
        requester: alice
        targets: [gone]
        close_on_abort: true
    - name: A change that spans runs
      changeward.hybrid.change_record:
        change_id: CHG-SPAN
        type: normal
        summary: implemented by a later job
        requester: bob
        targets: [gone]

- name: Change the hosts, one per batch
  hosts: targets
  gather_facts: false
  serial: 1
  tasks:
    - name: Reach the host
      ansible.builtin.ping:

- name: Close the change
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Close it
      changeward.hybrid.change_record:
        state: closed
        change_id: CHG-OWNED
        outcome: successful
        observations: [done]
"""


@pytest.fixture
def run(tmp_path):
    def _run(target_line, *extra):
        inventory = tmp_path / "inventory.ini"
        inventory.write_text(
            f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
            f"[targets]\n{target_line}\n"
        )
        playbook = tmp_path / "play.yml"
        playbook.write_text(PLAYBOOK)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CHANGEWARD_", "ANSIBLE_"))}
        env.update(
            ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
            ANSIBLE_NOCOLOR="1",
            PATH=f"{BIN}:{env.get('PATH', '')}",
            CHANGEWARD_LEDGER=str(tmp_path / "ledger.db"),
            CHANGEWARD_LEDGER_KEY=KEY,
        )
        cmd = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook), *extra]
        return subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)

    return _run


def records(tmp_path, verify=False):
    with api.open_ledger(str(tmp_path / "ledger.db"), create=False, readonly=True) as ledger:
        recs = {cid: ledger.get_change(cid) for cid in ("CHG-OWNED", "CHG-SPAN")}
        return recs, (ledger.verify(key=KEY) if verify else None)


# Nothing listens on port 1: the only host of the batch is unreachable, which ends the whole playbook.
GONE = "gone ansible_host=127.0.0.1 ansible_port=1 ansible_ssh_retries=0 ansible_python_interpreter=/usr/bin/python3"


def test_a_run_that_breaks_off_closes_the_change_it_owns_and_only_that(run, tmp_path):
    res = run(GONE)
    assert res.returncode != 0
    assert "Close it" not in res.stdout, "the closing play must not have run for this test to mean anything"
    recs, verdict = records(tmp_path, verify=True)
    owned, span = recs["CHG-OWNED"], recs["CHG-SPAN"]
    assert owned["status"] == "closed" and owned["outcome"] == "failed"
    assert any("unreachable: gone" in str(o) for o in owned["observations"])
    assert span["status"] == "open", "a change opened without close_on_abort is not the run's to close"
    assert "change CHG-OWNED was left open by the run; closed as failed" in res.stdout + res.stderr
    assert verdict["valid"] is True, verdict["problems"][:3]
    assert KEY not in res.stdout + res.stderr


def test_a_run_that_closes_its_change_is_left_as_it_closed_it(run, tmp_path):
    res = run(f"gone ansible_connection=local ansible_python_interpreter={sys.executable}")
    assert res.returncode == 0, res.stdout[-2000:]
    owned = records(tmp_path)[0]["CHG-OWNED"]
    assert owned["status"] == "closed" and owned["outcome"] == "successful"
    assert [str(o.get("text", o)) if isinstance(o, dict) else o for o in owned["observations"]] == ["done"]
    assert "left open by the run" not in res.stdout + res.stderr


def test_check_mode_writes_nothing(run, tmp_path):
    run(GONE, "--check")
    path = tmp_path / "ledger.db"
    if path.exists():
        recs = records(tmp_path)[0]
        assert recs == {"CHG-OWNED": None, "CHG-SPAN": None}


SIGNAL_PLAYBOOK = """
- name: Open the changes
  hosts: localhost
  gather_facts: false
  tasks:
    - name: A change this run owns
      changeward.hybrid.change_record:
        change_id: CHG-OWNED
        type: standard
        summary: owned by the run
        requester: alice
        targets: [slow, untouched]
        close_on_abort: true
    - name: A change that spans runs
      changeward.hybrid.change_record:
        change_id: CHG-SPAN
        type: normal
        summary: implemented by a later job
        requester: bob
        targets: [slow]

- name: The rollout, one host per batch
  hosts: targets
  gather_facts: false
  serial: 1
  tasks:
    - name: Change the host and bake
      ansible.builtin.shell: "touch {{ marker }} && sleep 120"
      changed_when: true

- name: Close the change
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Close it
      changeward.hybrid.change_record:
        state: closed
        change_id: CHG-OWNED
        outcome: successful
        observations: [done]
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_change_closes_the_owned_change_as_aborted_once(tmp_path, signum):
    marker = tmp_path / "baking"
    local = f"ansible_connection=local ansible_python_interpreter={sys.executable}"
    (tmp_path / "inventory.ini").write_text(f"localhost {local}\n[targets]\nslow {local}\nuntouched {local}\n")
    (tmp_path / "play.yml").write_text(SIGNAL_PLAYBOOK)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHANGEWARD_", "ANSIBLE_"))}
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        PATH=f"{BIN}:{env.get('PATH', '')}",
        CHANGEWARD_LEDGER=str(tmp_path / "ledger.db"),
        CHANGEWARD_LEDGER_KEY=KEY,
    )
    cmd = [str(BIN / "ansible-playbook"), "-i", "inventory.ini", "play.yml", "-e", f"marker={marker}"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "the rollout never started"
            time.sleep(0.2)
        proc.send_signal(signum)
        proc.send_signal(signum)  # a second one (Ctrl-C twice) closes nothing twice
        out, _unused = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert "Close it" not in out, "the closing play must not have run for this test to mean anything"
    name = signal.Signals(signum).name
    with api.open_ledger(str(tmp_path / "ledger.db"), create=False, readonly=True) as ledger:
        owned, span = ledger.get_change("CHG-OWNED"), ledger.get_change("CHG-SPAN")
        closes = [entry.event for entry in ledger.events("CHG-OWNED", "io.changeward.change.closed")]
        verdict = ledger.verify(key=KEY)
    assert owned["status"] == "closed" and owned["outcome"] == "aborted", out[-3000:]
    observation = str(owned["observations"][0])
    assert f"stopped by {name}" in observation and "hosts reached: slow" in observation
    assert "untouched" not in observation
    assert len(closes) == 1
    assert closes[0]["data"]["reached"] == ["slow"] and closes[0]["data"]["signal"] == name
    assert span["status"] == "open", "a change opened without close_on_abort is not the run's to close"
    assert verdict["valid"] is True, verdict["problems"][:3]
    assert KEY not in out
