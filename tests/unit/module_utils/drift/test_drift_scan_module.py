"""The drift_scan module run by ansible-playbook against localhost (-c local): the real module adapter,
check mode, a malformed baseline, and the whole result on a scratch directory."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
TARGET_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

pytestmark = pytest.mark.skipif(not PLAYBOOK.exists(), reason="ansible-playbook not in this venv")


def run_scans(tmp_path, baselines, check=False):
    tasks = [
        {
            "name": f"scan {i}",
            "changeward.hybrid.drift_scan": {"baseline": b},
            "register": f"r{i}",
            "ignore_errors": True,
        }
        for i, b in enumerate(baselines)
    ]
    out = tmp_path / "results.json"
    collect = "{{ {" + ", ".join(f"'r{i}': r{i}" for i in range(len(baselines))) + "} | to_json }}"
    tasks.append(
        {
            "name": "collect",
            "ansible.builtin.copy": {"dest": str(out), "content": collect, "mode": "0600"},
            "check_mode": False,
        }
    )
    book = tmp_path / "scan.yml"
    book.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    cmd = [
        str(PLAYBOOK),
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={TARGET_PYTHON}",
        str(book),
    ]
    proc = subprocess.run(
        cmd + (["--check"] if check else []),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_module_finds_drift_and_reports_in_sync(tmp_path):
    conf = tmp_path / "app.conf"
    conf.write_text("a=1\n")
    os.chmod(conf, 0o640)
    good = {"files": [{"path": str(conf), "sha256": hashlib.sha256(b"a=1\n").hexdigest(), "mode": "0640"}]}
    bad = {"files": [{"path": str(conf), "mode": "0600"}, {"path": str(tmp_path / "gone")}]}
    malformed = {"files": [{"path": "relative/path"}]}
    for check in (False, True):
        r = run_scans(tmp_path, [good, bad, malformed], check=check)
        assert r["r0"]["status"] == "in_sync" and r["r0"]["changed"] is False and r["r0"]["checked_total"] == 1
        assert r["r1"]["status"] == "drifted"
        assert [(f["attribute"], f["actual"]) for f in r["r1"]["findings"]] == [("mode", "0640"), ("state", "absent")]
        assert r["r2"]["failed"] is True and r["r2"]["error"] == "BaselineError" and "files[0].path" in r["r2"]["msg"]
