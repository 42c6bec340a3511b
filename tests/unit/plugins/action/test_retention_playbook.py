"""playbooks/retention.yml and the ledger_archive / ledger_hold actions through ansible-playbook: the retention
policy comes from the inventory (one given with -e is refused), an archive is written and read back verified,
a legal hold placed with ledger_hold stops pruning, and without it the live ledger is pruned and still verifies
while the archive verifies on its own."""

import datetime
import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api, model, verify

REPO = Path(__file__).resolve().parents[4]
KEY = "retention-playbook-key-0123456789"
POLICY = {"api_version": "changeward.hybrid/v1", "default": {"live": "1s", "archive": "1d"}}


@pytest.fixture
def ledger_path(tmp_path, monkeypatch):
    for name in ("CHANGEWARD_LEDGER", "CHANGEWARD_LEDGER_KEY"):
        monkeypatch.delenv(name, raising=False)
    path = str(tmp_path / "ledger.db")
    old = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with api.open_ledger(path, key=KEY, checkpoint_interval=5) as led:
        record = model.new_record("CHG-OLD", "normal", "an old change", "alice", targets=["localhost"])
        led.append(model.new_event(model.CHANGE_OPENED, "CHG-OLD", {"record": record, "service": "shop"}, time=old))
        for i in range(8):
            led.append(model.new_event("io.changeward.run.task_result", "CHG-OLD", {"i": i}, time=old))
        led.close_change("CHG-OLD", "successful", ["done"])
    return path


@pytest.fixture
def inventory(tmp_path):
    root = tmp_path / "inventory"
    (root / "host_vars").mkdir(parents=True)
    (root / "hosts.ini").write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    (root / "host_vars" / "localhost.yml").write_text(yaml.safe_dump({"changeward_retention_policy": POLICY}))
    return str(root / "hosts.ini")


def ansible(inventory, ledger, *argv, playbook=None):
    env = {**os.environ, "CHANGEWARD_LEDGER": ledger, "CHANGEWARD_LEDGER_KEY": KEY, "ANSIBLE_FORCE_COLOR": "0"}
    env["CHANGEWARD_SHIP"] = "false"  # the project's recorder would ship the test's ledger to the lab's audit sink
    binary = "ansible-playbook" if playbook else "ansible"
    cmd = [str(Path(sys.executable).parent / binary), "-i", inventory]
    cmd += [playbook, *argv] if playbook else ["localhost", *argv]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_the_retention_job_archives_then_prunes_and_a_hold_stops_it(ledger_path, inventory, tmp_path):
    dest = str(tmp_path / "worm")
    hold = ansible(
        inventory,
        ledger_path,
        "-m",
        "changeward.hybrid.ledger_hold",
        "-a",
        json.dumps({"hold_id": "LH-1", "change_id": "CHG-OLD", "matter": "audit", "by": "legal", "reason": "inquiry"}),
    )
    assert hold.returncode == 0, hold.stdout[-3000:]
    held = ansible(inventory, ledger_path, "-e", f"retention_dest={dest}", playbook="playbooks/retention.yml")
    assert held.returncode == 0, held.stdout[-3000:]
    assert "nothing to archive" in held.stdout and "legal hold LH-1" in held.stdout
    assert not glob.glob(f"{dest}/*/*.jsonl")
    with api.open_ledger(ledger_path, readonly=True) as led:
        assert led.start()[0] == 0

    other = tmp_path / "other.db"
    with api.open_ledger(str(other), key=KEY, checkpoint_interval=5) as led:
        for i in range(10):
            led.record(
                "io.changeward.run.task_result",
                "CHG-X",
                {"i": i},
                time=(datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
    done = ansible(inventory, str(other), "-e", f"retention_dest={dest}", playbook="playbooks/retention.yml")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "archived seqs 1..10" in done.stdout and "pruned seqs 1..10" in done.stdout
    (archived,) = glob.glob(f"{dest}/*/*.jsonl")
    assert verify.verify(archived, key=KEY)["valid"]
    assert verify.verify(str(other), key=KEY)["valid"]


def test_a_retention_policy_given_on_the_command_line_is_refused(ledger_path, inventory, tmp_path):
    lax = json.dumps({"changeward_retention_policy": {**POLICY, "default": {"live": "1s", "archive": "1s"}}})
    proc = ansible(
        inventory, ledger_path, "-e", lax, "-e", f"retention_dest={tmp_path / 'w'}", playbook="playbooks/retention.yml"
    )
    assert proc.returncode != 0
    assert "changeward_retention_policy of host localhost was given as an extra var" in proc.stdout
