"""The main job, run for real over SSH on every lab host, with the edge hosts on a flaky link.

Each run is checked independently of Ansible's own report: the demo service of every host is asked
from the controller which release it serves, and the change marker is read back over SSH.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml
from conftest import INVENTORY_DIR, REPO, ansible_env

HYBRID_INV = INVENTORY_DIR / "hybrid.yml"
# The main job rolls out ring by ring (docs/rollouts.md); these runs are about SSH and the runner, so bake
# times are short and only the watch judges the rings. The ledger is a fresh one per test.
FAST_ROLLOUT = {"changeward_bake_times": {"canary": "20s", "default": "5s"}, "ring_rollout_judge_rings": []}
LEDGER_KEY = "hmac:change-playbook-test-key-0123456789"


def ledger_env(tmp_path):
    return {"CHANGEWARD_LEDGER": str(tmp_path / "ledger.db"), "CHANGEWARD_LEDGER_KEY": LEDGER_KEY}


def cwlab(*args):
    return subprocess.run(
        [sys.executable, "-m", "cwlab", *args],
        cwd=REPO,
        env={**ansible_env(), "PYTHONPATH": str(REPO / "tests" / "lab")},
        check=True,
        capture_output=True,
        text=True,
    )


@pytest.fixture
def flaky_edge(lab):
    cwlab("fault", "set", "edge", "--profile", "flaky")
    yield
    cwlab("fault", "clear", "all")


def inventory(bindir, source):
    out = subprocess.run(
        [str(bindir / "ansible-inventory"), "-i", str(source), "--list"],
        cwd=REPO,
        env=ansible_env(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data = json.loads(out)
    return data["_meta"]["hostvars"], data


def served_version(address):
    with urllib.request.urlopen(f"http://{address}:8080/", timeout=10) as resp:
        return json.load(resp)["version"]


def ssh_cat(hostvars, path):
    cmd = ["ssh", "-i", hostvars["ansible_ssh_private_key_file"], "-o", "StrictHostKeyChecking=no"]
    cmd += ["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20"]
    cmd += [f"root@{hostvars['ansible_host']}", "cat", path]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120).stdout


def check_every_host_took_the_change(hostvars, version, change_id):
    for name, hv in hostvars.items():
        assert served_version(hv["ansible_host"]) == version, name
        marker = json.loads(ssh_cat(hv, "/etc/changeward/last_change.json"))
        assert marker["change_id"] == change_id, name
        assert marker["release"]["after"] == version, name


def test_plugin_inventory_matches_the_plain_lab_inventory(lab, venv):
    bindir = venv[0]
    plugin_hosts, plugin = inventory(bindir, HYBRID_INV)
    plain_hosts = inventory(bindir, INVENTORY_DIR / "lab_hosts.yml")[0]
    assert set(plugin_hosts) == set(plain_hosts)
    assert len(plugin_hosts) >= 12
    for name, hv in plain_hosts.items():
        for key in ("ansible_host", "env_type", "region", "site", "az", "rollback_capability", "data_class"):
            if key in hv:
                assert plugin_hosts[name].get(key) == hv[key], (name, key)
    assert {h["env_type"] for h in plugin_hosts.values()} == {"cloud", "onprem", "edge"}
    for group in ("cloud", "onprem", "edge"):
        assert plugin[group]["hosts"], group


def test_change_playbook_over_ssh_on_every_host(flaky_edge, venv, tmp_path):
    bindir, core = venv
    hostvars = inventory(bindir, HYBRID_INV)[0]
    version = f"7.{core.replace('.', '')}.{int(time.time())}"
    change_id = f"CHG-IT-{core}-{int(time.time())}"
    proc = subprocess.run(
        [
            str(bindir / "ansible-playbook"),
            "playbooks/change.yml",
            "-e",
            f"changeward_release_version={version}",
            "-e",
            f"changeward_change_id={change_id}",
            "-e",
            json.dumps(FAST_ROLLOUT),
        ],
        cwd=REPO,
        env=ansible_env(**ledger_env(tmp_path)),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert f"Change {change_id}: what ran where" in proc.stdout
    for env_type in ("cloud", "onprem", "edge"):
        assert f"[{env_type}]" in proc.stdout
    assert f"totals: changed {len(hostvars)}" in proc.stdout
    check_every_host_took_the_change(hostvars, version, change_id)


def test_change_playbook_through_ansible_runner_job_events(flaky_edge, venv, tmp_path):
    """Run as AWX does: ansible-runner with a private data dir, then read its job events."""
    bindir, core = venv
    hostvars = inventory(bindir, HYBRID_INV)[0]
    version = f"8.{core.replace('.', '')}.{int(time.time())}"
    change_id = f"CHG-RUNNER-{core}-{int(time.time())}"
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "envvars").write_text(
        yaml.safe_dump({"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), **ledger_env(tmp_path)})
    )
    (tmp_path / "env" / "extravars").write_text(
        yaml.safe_dump({"changeward_release_version": version, "changeward_change_id": change_id, **FAST_ROLLOUT})
    )
    proc = subprocess.run(
        [
            str(bindir / "ansible-runner"),
            "run",
            str(tmp_path),
            "-p",
            "playbooks/change.yml",
            "--project-dir",
            str(REPO),
            "--inventory",
            str(HYBRID_INV),
            "--ident",
            "job1",
        ],
        # as in an execution environment, the runner finds ansible-playbook on PATH
        env=ansible_env(PATH=f"{bindir}:{os.environ['PATH']}", **ledger_env(tmp_path)),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    artifacts = tmp_path / "artifacts" / "job1"
    assert (artifacts / "status").read_text() == "successful", proc.stdout[-4000:]
    events = [json.loads(p.read_text()) for p in (artifacts / "job_events").glob("*.json")]
    events.sort(key=lambda e: e["counter"])
    kinds = [e["event"] for e in events]
    assert kinds[0] == "playbook_on_start" and kinds[-1] == "playbook_on_stats"
    marker_ok = {
        e["event_data"]["host"]
        for e in events
        if e["event"] == "runner_on_ok" and e["event_data"].get("task") == "Leave the change id on the host"
    }
    assert marker_ok == set(hostvars)
    stats = events[-1]["event_data"]
    assert not stats.get("failures") and not stats.get("dark"), stats
    check_every_host_took_the_change(hostvars, version, change_id)
