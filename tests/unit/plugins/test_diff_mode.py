"""Diff mode of the modules that run on managed hosts (snapshot, rollback, drift_scan), run against the
controller itself: --check --diff says what would change and writes nothing; --diff of the real run says what
did. The pure diff builders are tested on their own too."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.changeward.hybrid.plugins.plugin_utils.diff import drift_diff, rollback_diff, snapshot_diff

REPO = Path(__file__).resolve().parents[3]


def test_snapshot_diff_is_none_when_nothing_changed():
    assert snapshot_diff({"changed": False, "store": "/s", "reused": True}) is None


def test_rollback_diff_after_a_real_run_keeps_what_still_differs():
    result = {
        "snapshot_id": "S",
        "store": "/s",
        "restored": ["file:/a (content)"],
        "failed": [{"item": "file:/b", "error": "EIO"}],
        "cannot_restore": [{"item": "package:x", "reason": "no archive"}],
        "verification": [{"item": "file:/b", "problem": "differs"}],
    }
    diff = rollback_diff(result, check_mode=False)
    assert diff["before"]["differs_from_snapshot"] == ["file:/a (content)"]
    assert diff["after"]["differs_from_snapshot"] == ["file:/b", "package:x"]
    assert rollback_diff(result, check_mode=True)["after"]["differs_from_snapshot"] == ["package:x"]
    assert rollback_diff({"restored": []}, check_mode=False) is None


def test_drift_diff_pairs_actual_and_expected():
    findings = [{"class": "file", "item": "/a", "attribute": "mode", "expected": "0644", "actual": "0600"}]
    assert drift_diff({"findings": findings}) == {
        "before": {"file:/a": {"mode": "0600"}},
        "after": {"file:/a": {"mode": "0644"}},
        "before_header": "host",
        "after_header": "baseline",
    }
    assert drift_diff({"findings": []}) is None


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("diff_mode")
    conf, store = tmp / "app.conf", tmp / "snapshots"
    conf.write_text("release 1\n")
    release1 = hashlib.sha256(b"release 1\n").hexdigest()
    results = tmp / "results.json"
    snap = {"change_id": "CHG-DIFF-1", "scope": {"paths": [str(conf)]}, "store": str(store)}
    back = {"change_id": "CHG-DIFF-1", "store": str(store)}
    scan = {"baseline": {"files": [{"path": str(conf), "sha256": release1}]}}
    tasks = [
        {"name": "Plan the snapshot", "changeward.hybrid.snapshot": snap, "check_mode": True, "register": "snap_check"},
        {"name": "Look at the store", "ansible.builtin.stat": {"path": str(store)}, "register": "store_check"},
        {"name": "Take it", "changeward.hybrid.snapshot": snap, "register": "snap"},
        {"name": "Take it without diff", "changeward.hybrid.snapshot": snap, "diff": False, "register": "snap_nodiff"},
        {"name": "Change", "ansible.builtin.copy": {"dest": str(conf), "content": "release 2\n", "mode": "0644"}},
        {"name": "Scan", "changeward.hybrid.drift_scan": scan, "register": "scan"},
        {"name": "Plan the rollback", "changeward.hybrid.rollback": back, "check_mode": True, "register": "rb_check"},
        {"name": "Read after the planned rollback", "ansible.builtin.slurp": {"src": str(conf)}, "register": "mid"},
        {"name": "Roll back", "changeward.hybrid.rollback": back, "register": "rb"},
        {"name": "Roll back again", "changeward.hybrid.rollback": back, "register": "rb_again"},
        {
            "name": "Save",
            "ansible.builtin.copy": {
                "dest": str(results),
                "mode": "0600",
                "content": "{{ {'snap_check': snap_check, 'store_check': store_check.stat.exists, 'snap': snap,"
                " 'snap_nodiff': snap_nodiff, 'scan': scan,"
                " 'rb_check': rb_check, 'mid': mid.content | b64decode, 'rb': rb, 'rb_again': rb_again} | to_json }}",
            },
            "diff": False,
        },
    ]
    play = [{"name": "Diff mode", "hosts": "localhost", "gather_facts": False, "diff": True, "tasks": tasks}]
    (tmp / "play.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    (tmp / "ansible.cfg").write_text(f"[defaults]\ncollections_path = {REPO / 'collections'}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHANGEWARD_", "ANSIBLE_"))}
    env.pop("PYTHONPATH", None)
    env.update(ANSIBLE_CONFIG=str(tmp / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0")
    proc = subprocess.run(
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
    assert proc.returncode == 0 and results.exists(), proc.stdout[-4000:] + proc.stderr[-2000:]
    return {"r": json.loads(results.read_text()), "out": proc.stdout, "conf": conf, "store": store}


def test_check_mode_snapshot_diff_says_what_would_be_captured(run):
    diff = run["r"]["snap_check"]["diff"]
    assert diff["before"] == {"change_id": "CHG-DIFF-1", "snapshot": None}
    assert diff["after"]["snapshot"]["snapshot_id"] == "(a new snapshot: check mode)"
    assert diff["after"]["snapshot"]["captured"]["files"] == 1
    assert run["r"]["store_check"] is False, "check mode created the snapshot store"


def test_snapshot_diff_names_the_snapshot_taken_and_is_printed(run):
    snap = run["r"]["snap"]
    assert snap["diff"]["after"]["snapshot"]["snapshot_id"] == snap["snapshot_id"]
    assert f"--- before: {run['store']}" in run["out"] and f"+++ after: {run['store']}" in run["out"]
    # A reused snapshot changes nothing and has no diff; without --diff there is none either.
    assert run["r"]["snap_nodiff"]["reused"] is True and "diff" not in run["r"]["snap_nodiff"]


def test_drift_scan_diff_shows_the_host_and_the_baseline(run):
    diff = run["r"]["scan"]["diff"]
    key = f"file:{run['conf']}"
    assert diff["before"][key]["sha256"] == hashlib.sha256(b"release 2\n").hexdigest()
    assert diff["after"][key]["sha256"] == hashlib.sha256(b"release 1\n").hexdigest()
    assert run["r"]["scan"]["changed"] is False


def test_check_mode_rollback_diff_writes_nothing(run):
    rb_check = run["r"]["rb_check"]
    assert rb_check["changed"] is True
    assert rb_check["diff"]["before"]["differs_from_snapshot"] == rb_check["restored"] != []
    assert rb_check["diff"]["after"]["differs_from_snapshot"] == []
    assert run["r"]["mid"] == "release 2\n"


def test_rollback_diff_then_nothing_left(run):
    rb = run["r"]["rb"]
    assert rb["verified"] is True and rb["diff"]["after"]["differs_from_snapshot"] == []
    assert run["conf"].read_text() == "release 1\n"
    assert run["r"]["rb_again"]["changed"] is False and "diff" not in run["r"]["rb_again"]
