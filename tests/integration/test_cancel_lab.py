"""A cancelled job closes what it opened: SIGTERM to ansible-playbook in the middle of a rollout on lab hosts.

playbooks/change.yml runs the demo release on two cloud hosts with a long canary bake; once the canary ring has
started (read from the ledger, not guessed from the clock) the run gets SIGTERM, as a service manager or a
container stop sends it. The change record must then be closed as aborted, naming the hosts the run reached,
and the ledger must verify. About 40 seconds.
"""

import json
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, ansible_env
from specs import change_vars, demo_release

sys.path.insert(0, str(REPO / "collections"))
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

pytestmark = pytest.mark.reservation("cloud-onprem")

LEDGER_KEY = "hmac:cancel-test-key-0123456789abcdef"
HOSTS = ["cloud-use1a-01", "cloud-use1b-01"]
CHANGE_ID = "CHG-CANCEL-1"


def ledger_events(ledger):
    if not ledger.exists():
        return []
    with open_ledger(str(ledger), create=False, readonly=True) as handle:
        return [entry.event for entry in handle.events(CHANGE_ID)]


def test_sigterm_mid_rollout_closes_the_change_as_aborted_naming_the_hosts_reached(lab, tmp_path):
    ledger = tmp_path / "ledger.db"
    spec = demo_release("1.0.7", targets=":".join(HOSTS), bake_times={"canary": "300s", "default": "300s"})
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(change_vars(spec, CHANGE_ID, judge=False)))
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "playbooks/change.yml", "-e", f"@{vars_file}"]
    env = ansible_env(CHANGEWARD_LEDGER=str(ledger), CHANGEWARD_LEDGER_KEY=LEDGER_KEY)
    out_file = tmp_path / "out.txt"
    with out_file.open("w") as out:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 300
            while not any(e["type"] == "io.changeward.ring.started" for e in ledger_events(ledger)):
                assert proc.poll() is None, out_file.read_text()[-4000:]
                assert time.monotonic() < deadline, "no ring started"
                time.sleep(1)
            time.sleep(3)  # inside the ring: its hosts are being changed or baking
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = out_file.read_text()
    print(text[-4000:])
    assert proc.returncode != 0
    evs = ledger_events(ledger)
    closes = [e for e in evs if e["type"] == "io.changeward.change.closed"]
    assert len(closes) == 1, [e["type"] for e in evs]
    record, data = closes[0]["data"]["record"], closes[0]["data"]
    assert record["status"] == "closed" and record["outcome"] == "aborted"
    assert data["signal"] == "SIGTERM" and data["closed_by"] == "changeward.hybrid.change_closer"
    # the canary ring's hosts were reached; the run never got further than that ring
    started = [e for e in evs if e["type"] == "io.changeward.ring.started"]
    assert data["reached"] and set(data["reached"]) <= set(HOSTS), data["reached"]
    assert "SIGTERM" in str(record["observations"][0]) and data["reached"][0] in str(record["observations"][0])
    assert started, "the signal came during the rollout"
    with open_ledger(str(ledger), create=False, readonly=True) as handle:
        verdict = handle.verify(key=LEDGER_KEY)
    assert verdict["valid"] is True, verdict["problems"][:3]
    assert LEDGER_KEY not in text
