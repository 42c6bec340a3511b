"""The drift_collector callback and the drift_report action in real ansible-playbook runs on local
connections: a check + diff play whose hosts are in sync, drifted, or not evaluable (a module without
check-mode support, a skipped command), the one report built from it, and the terraform-like exit code."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[4]
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
TARGET_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

pytestmark = pytest.mark.skipif(not PLAYBOOK.exists(), reason="ansible-playbook not in this venv")

HOSTS = {
    "h-sync": {"env_type": "cloud", "region": "eu-west-1", "az": "eu-west-1a"},
    "h-drift": {"env_type": "onprem", "region": "onprem-eu", "site": "dc1"},
    "h-raw": {"env_type": "edge", "region": "eu-central", "site": "edge-site-1"},
    "h-cmd": {"env_type": "edge", "region": "eu-central", "site": "edge-site-1"},
}


def setup(tmp_path, hosts):
    inv = {
        "all": {
            "hosts": {
                h: dict(HOSTS[h], ansible_connection="local", ansible_python_interpreter=TARGET_PYTHON) for h in hosts
            }
        }
    }
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inv))
    for h in hosts:
        (tmp_path / f"{h}.conf").write_text(
            "declared\n" if h != "h-drift" else "edited by hand\npassword = hunter2hunter2\n"
        )
    check_play = {
        "name": "check",
        "hosts": "all",
        "gather_facts": False,
        "check_mode": True,
        "diff": True,
        "tasks": [
            {
                "name": "declared file",
                "ansible.builtin.copy": {
                    "dest": f"{tmp_path}/{{{{ inventory_hostname }}}}.conf",
                    "content": "declared\n",
                },
            },
            {
                "name": "a module without check mode",
                "ansible.builtin.raw": "true",
                "when": "inventory_hostname == 'h-raw'",
            },
            {"name": "a command", "ansible.builtin.command": "/bin/true", "when": "inventory_hostname == 'h-cmd'"},
        ],
    }
    report_play = {
        "name": "report",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [
            {
                "name": "report",
                "changeward.hybrid.drift_report": {
                    "targets": sorted(hosts),
                    "detectors": ["check"],
                    "record": False,
                    "output_dir": str(tmp_path / "reports"),
                },
                "register": "drift",
            }
        ],
    }
    (tmp_path / "play.yml").write_text(yaml.safe_dump([check_play, report_play], sort_keys=False))


def run(tmp_path, callback=True, exitcode=True):
    """ansible-playbook with the project's ansible.cfg, whose callbacks_enabled has the collector; without
    ``callback``, an ANSIBLE_CALLBACKS_ENABLED that replaces that list by one without it."""
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        CHANGEWARD_DRIFT_OUTPUT_DIR=str(tmp_path / "evidence"),
    )
    for name in ("CHANGEWARD_LEDGER", "ANSIBLE_CALLBACKS_ENABLED", "CHANGEWARD_DRIFT_DETAILED_EXITCODE"):
        env.pop(name, None)
    if not callback:
        env["ANSIBLE_CALLBACKS_ENABLED"] = "changeward.hybrid.change_window_guard,changeward.hybrid.change_closer"
    if exitcode:
        env["CHANGEWARD_DRIFT_DETAILED_EXITCODE"] = "1"
    cmd = [str(PLAYBOOK), "-i", str(tmp_path / "inventory.yml"), str(tmp_path / "play.yml")]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)


def latest(tmp_path):
    return json.loads((tmp_path / "reports" / "latest.json").read_text())


def test_one_report_from_check_evidence_and_exit_code_1_when_anything_is_unknown(tmp_path):
    setup(tmp_path, HOSTS)
    proc = run(tmp_path)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    r = latest(tmp_path)
    status = {h: r["hosts"][h]["status"] for h in HOSTS}
    assert status == {"h-sync": "in_sync", "h-drift": "drifted", "h-raw": "unknown", "h-cmd": "unknown"}
    f = r["hosts"]["h-drift"]["findings"][0]
    assert f["detector"] == "check" and f["class"] == "file" and "+declared" in f["diff"]
    assert "hunter2hunter2" not in json.dumps(r)  # masked in the diff
    assert "not evaluable in check mode" in r["hosts"]["h-raw"]["unknown"][0]["reason"]
    assert "Command would have run" in r["hosts"]["h-cmd"]["unknown"][0]["reason"]
    evidence = list((tmp_path / "evidence").glob("check-*.json"))
    assert len(evidence) == 1 and json.loads(evidence[0].read_text())["run_id"] == r["run_id"]
    assert oct(evidence[0].stat().st_mode & 0o777) == "0o600"


def test_exit_code_2_for_drift_and_0_in_sync(tmp_path):
    setup(tmp_path, ["h-sync", "h-drift"])
    assert run(tmp_path).returncode == 2
    (tmp_path / "h-drift.conf").write_text("declared\n")
    proc = run(tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert latest(tmp_path)["status"] == "in_sync"
    # without the option ansible-playbook keeps its own code
    (tmp_path / "h-drift.conf").write_text("changed\n")
    assert run(tmp_path, exitcode=False).returncode == 0


def test_check_detector_without_the_callback_fails_closed(tmp_path):
    setup(tmp_path, ["h-sync"])
    proc = run(tmp_path, callback=False, exitcode=False)
    assert proc.returncode != 0
    assert "needs the drift_collector callback" in proc.stdout
    assert not (tmp_path / "reports" / "latest.json").exists()


def test_a_run_that_is_not_about_drift_keeps_ansibles_exit_code(tmp_path):
    setup(tmp_path, ["h-sync"])
    plain = [{"name": "plain", "hosts": "all", "gather_facts": False, "tasks": [{"ansible.builtin.ping": {}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(plain))
    assert run(tmp_path).returncode == 0
    plain[0]["tasks"].append({"ansible.builtin.fail": {"msg": "broken"}})
    (tmp_path / "play.yml").write_text(yaml.safe_dump(plain))
    assert run(tmp_path).returncode == 2


def test_the_project_enables_the_collector_beside_the_window_guard_and_the_change_closer():
    import configparser

    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(REPO / "ansible.cfg")
    enabled = [n.strip() for n in cfg.get("defaults", "callbacks_enabled").split(",")]
    for name in ("change_window_guard", "change_closer", "drift_collector"):
        assert f"changeward.hybrid.{name}" in enabled


def test_docs_and_playbooks_never_tell_anyone_to_replace_the_callback_list():
    """An ANSIBLE_CALLBACKS_ENABLED in a drift command would drop the window guard and the change closer."""
    for path in [REPO / "docs" / "drift.md", *sorted((REPO / "playbooks").glob("drift_*.yml"))]:
        for line in path.read_text().splitlines():
            if "ANSIBLE_CALLBACKS_ENABLED=" in line:
                assert "change_window_guard" in line and "change_closer" in line, f"{path.name}: {line}"


def test_a_callback_list_in_the_environment_that_drops_the_guard_and_the_closer_is_named(tmp_path):
    setup(tmp_path, ["h-sync"])
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_CALLBACKS_ENABLED="changeward.hybrid.drift_collector",
        CHANGEWARD_DRIFT_OUTPUT_DIR=str(tmp_path / "evidence"),
    )
    env.pop("CHANGEWARD_LEDGER", None)
    cmd = [str(PLAYBOOK), "-i", str(tmp_path / "inventory.yml"), str(tmp_path / "play.yml")]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    out = " ".join((proc.stdout + proc.stderr).split())
    assert "ANSIBLE_CALLBACKS_ENABLED replaces the callbacks_enabled of" in out
    dropped = re.search(r"leaves out (.*?): they do not run", out)
    assert dropped, out[-2000:]
    assert "changeward.hybrid.change_window_guard" in dropped.group(1)
    assert "changeward.hybrid.change_closer" in dropped.group(1)
    assert "drift_collector" not in dropped.group(1)


def test_a_run_without_check_mode_tasks_leaves_no_evidence_behind(tmp_path):
    setup(tmp_path, ["h-sync"])
    plain = [{"name": "plain", "hosts": "all", "gather_facts": False, "tasks": [{"ansible.builtin.ping": {}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(plain))
    assert run(tmp_path, exitcode=False).returncode == 0
    assert not list((tmp_path / "evidence").glob("check-*.json"))
