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
from conftest import INVENTORY_DIR, REPO, ansible_env, on_core
from specs import change_vars, demo_release

HYBRID_INV = INVENTORY_DIR / "hybrid.yml"
# The main job rolls out ring by ring (docs/rollouts.md); these runs are about SSH and the runner, so bake
# times are short and only the watch judges the rings. The ledger is a fresh one per test.
FAST_BAKE = {"canary": "20s", "default": "5s"}
LEDGER_KEY = "hmac:change-playbook-test-key-0123456789"

pytestmark = pytest.mark.reservation("whole-lab")  # every lab host; see tests/integration/reservations.py


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
    cwlab("fault", "clear", "edge")  # only what this fixture set; other hosts may carry others' faults


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
        assert marker["result"]["after"] == version, name


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


@on_core("2.19")
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
            json.dumps(change_vars(demo_release(version, bake_times=FAST_BAKE), change_id, judge=False)),
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


@on_core("2.21")
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
        yaml.safe_dump(change_vars(demo_release(version, bake_times=FAST_BAKE), change_id, judge=False))
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


# -- check mode ------------------------------------------------------------------------------------------------------
CHECK_PLAY = """
- name: Release the demo service
  hosts: localhost
  connection: local
  gather_facts: false
  {keyword}
  roles:
    - role: demo_release
      vars:
        demo_release_version: "9.9.9"
        demo_release_config_path: "{config}"
        demo_release_url: "{url}"
        demo_release_wait_seconds: 4
  post_tasks:
    - name: Show what the release went from and to
      ansible.builtin.debug:
        msg: "RESULT {{{{ demo_release_result | to_json }}}}"
"""


@pytest.fixture
def served_release():
    """A stand-in demo service on loopback that keeps serving release 1.2.3."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"version": "1.2.3"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.reservation(None)  # localhost only: no lab host
@pytest.mark.parametrize(
    ("keyword", "cli"),
    [("check_mode: true", []), ("", ["--check"]), ("", [])],
    ids=["play-check_mode", "cli-check", "no-check"],
)
def test_demo_release_check_mode_is_honest(venv, tmp_path, served_release, keyword, cli):
    """In check mode (a play's check_mode: true as well as --check) the role writes nothing, waits for nothing
    and reports the release it would replace, read from the service. Without check mode it writes the release
    and waits for the service to serve it (this one never does, so the run fails)."""
    bindir, _core = venv
    config = tmp_path / "config.json"
    playbook = tmp_path / "release.yml"
    playbook.write_text(CHECK_PLAY.format(keyword=keyword, config=config, url=served_release))
    python = f"ansible_python_interpreter={bindir / 'python'}"
    proc = subprocess.run(
        [str(bindir / "ansible-playbook"), "-i", "localhost,", str(playbook), *cli, "-e", python],
        cwd=REPO,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    print(proc.stdout[-3000:], proc.stderr[-2000:])
    if keyword or cli:
        assert proc.returncode == 0
        assert not config.exists()
        (line,) = [ln for ln in proc.stdout.splitlines() if '"msg": "RESULT ' in ln]
        result = json.loads(json.loads("{" + line.strip() + "}")["msg"][len("RESULT ") :])
        assert result == {"before": "1.2.3", "after": "9.9.9", "changed": True}
    else:
        assert proc.returncode != 0
        assert json.loads(config.read_text())["version"] == "9.9.9"
        retried = [ln for ln in proc.stdout.splitlines() if ln.startswith("FAILED - RETRYING: [localhost]")]
        assert retried and all("Wait until the demo service serves the release" in ln for ln in retried)
