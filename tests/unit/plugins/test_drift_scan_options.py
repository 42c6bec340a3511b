"""drift_scan's baseline has suboptions (ansible-doc shows every section and key), and they change nothing the
module judges: values reach the module's own checks unconverted, the keys Ansible fills in for what the task
left out are dropped again, and an unknown key is still refused with its name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.changeward.hybrid.plugins.module_utils.drift import spec
from ansible_collections.changeward.hybrid.plugins.modules.drift_scan import ARGUMENT_SPEC

REPO = Path(__file__).resolve().parents[3]


def test_the_suboptions_are_the_keys_the_module_accepts():
    options = ARGUMENT_SPEC["baseline"]["options"]
    assert tuple(options) == spec.SECTIONS
    for section, option in options.items():
        assert option["type"] == "list" and option["elements"] == "dict"
        assert all(sub == {"type": "raw"} for sub in option["options"].values()), section


def play(tmp: Path, tasks: list) -> subprocess.CompletedProcess:
    book = [{"name": "drift_scan", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    (tmp / "play.yml").write_text(yaml.safe_dump(book, sort_keys=False))
    (tmp / "ansible.cfg").write_text(f"[defaults]\ncollections_path = {REPO / 'collections'}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHANGEWARD_", "ANSIBLE_"))}
    env.pop("PYTHONPATH", None)
    env.update(ANSIBLE_CONFIG=str(tmp / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0")
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            *("-c", "local", "-e", f"ansible_python_interpreter={sys.executable}", str(tmp / "play.yml")),
        ],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("drift_scan_options")
    target = tmp / "motd"
    target.write_text("hello\n")
    target.chmod(0o644)
    # mode as the YAML integer 0644 (420): still the mode 0644, not the string "420"
    baseline = {"files": [{"path": str(target), "mode": 0o644}], "sysctls": []}
    results = tmp / "results.json"
    tasks = [
        {"name": "Scan", "changeward.hybrid.drift_scan": {"baseline": baseline}, "register": "scan"},
        {
            "name": "Scan with a key the baseline does not have",
            "changeward.hybrid.drift_scan": {"baseline": {"files": [{"path": str(target), "colour": "blue"}]}},
            "register": "typo",
            "ignore_errors": True,
        },
        {
            "name": "Save",
            "ansible.builtin.copy": {"dest": str(results), "mode": "0600", "content": "{{ [scan, typo] | to_json }}"},
        },
    ]
    proc = play(tmp, tasks)
    assert results.exists(), proc.stdout[-4000:]
    scan, typo = json.loads(results.read_text())
    return {"scan": scan, "typo": typo, "baseline": baseline}


def test_values_reach_the_module_unconverted(scanned):
    assert scanned["scan"]["status"] == "in_sync", scanned["scan"]
    assert scanned["scan"]["checked_total"] == 1


def test_the_judged_baseline_is_the_declared_one(scanned):
    # Had Ansible's filled-in None keys stayed, the canonical baseline and its digest would differ.
    assert scanned["scan"]["baseline_sha256"] == spec.digest(spec.normalise(scanned["baseline"]))


def test_an_unknown_key_is_refused_by_name(scanned):
    typo = scanned["typo"]
    assert typo["failed"] is True
    assert "colour" in typo["msg"] and "baseline" in typo["msg"], typo["msg"]
    assert "ansible_collections" not in typo["msg"], typo["msg"]
