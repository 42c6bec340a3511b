"""Retention: by age and count, never an open change's snapshot, never a damaged one."""

import fcntl
import os
import time
from pathlib import Path

import pytest
from snaphelpers import write

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import capture, retention
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import manifest as mf
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.errors import ScopeError

DAY = 86400


@pytest.fixture
def store(tmp_path):
    tree = tmp_path / "tree"
    write(str(tree / "f"), "x")
    s = str(tmp_path / "store")
    return s, str(tree)


def take(store, tree, change_id):
    return capture.take(change_id, {"paths": [tree]}, store=store, min_free=0)["snapshot_id"]


def ids(store):
    return sorted(s["snapshot_id"] for s in mf.list_snapshots(store) if s["status"] == "complete")


def test_max_count_keeps_the_newest(store):
    s, tree = store
    taken = [take(s, tree, f"CHG-{i}") for i in range(5)]
    result = retention.prune(s, protected_change_ids=[], max_count=2)
    assert ids(s) == sorted(taken[-2:])
    assert sorted(p["snapshot_id"] for p in result["pruned"]) == sorted(taken[:3])
    assert all("max_count" in p["reason"] for p in result["pruned"])
    assert result["freed_bytes"] > 0 and result["changed"] is True


def test_max_age_uses_the_creation_time(store):
    s, tree = store
    old = take(s, tree, "CHG-old")
    new = take(s, tree, "CHG-new")
    created_new = mf.load(s, new)["created_epoch"]
    created_old = mf.load(s, old)["created_epoch"]
    assert created_old < created_new
    # At this moment the newer one is exactly max_age old (kept), the older one just past it.
    result = retention.prune(s, protected_change_ids=[], max_age_seconds=DAY, now=created_new + DAY)
    assert [p["snapshot_id"] for p in result["pruned"]] == [old]
    assert "older than max_age" in result["pruned"][0]["reason"]
    assert ids(s) == [new]


def test_open_changes_are_never_pruned(store):
    s, tree = store
    open_one = take(s, tree, "CHG-open")
    for i in range(3):
        take(s, tree, f"CHG-{i}")
    result = retention.prune(
        s, protected_change_ids=["CHG-open"], max_count=0, max_age_seconds=0, now=time.time() + 365 * DAY
    )
    assert ids(s) == [open_one]
    assert result["protected"] == [open_one]
    assert len(result["pruned"]) == 3


def test_check_mode_removes_nothing(store):
    s, tree = store
    for i in range(3):
        take(s, tree, f"CHG-{i}")
    before = sorted(os.listdir(s))
    result = retention.prune(s, protected_change_ids=[], max_count=1, check_mode=True)
    assert len(result["pruned"]) == 2
    assert sorted(os.listdir(s)) == before
    assert result["ledger_events"] == []


def test_damaged_snapshots_are_reported_and_kept(store):
    s, tree = store
    sid = take(s, tree, "CHG-1")
    manifest = Path(s, sid, mf.MANIFEST)
    manifest.write_text(manifest.read_text().replace('"complete": true', '"complete": false'))
    result = retention.prune(s, protected_change_ids=[], max_count=0)
    assert [d["snapshot_id"] for d in result["damaged"]] == [sid]
    assert os.path.isdir(os.path.join(s, sid))
    assert result["pruned"] == []


def test_abandoned_capture_is_removed_but_a_running_one_is_kept(store):
    s, tree = store
    take(s, tree, "CHG-1")
    running = Path(s, "CHG-2.20250101T000000000000Z.aaaaaa" + mf.PARTIAL)
    dead = Path(s, "CHG-3.20250101T000000000000Z.bbbbbb" + mf.PARTIAL)
    for p in (running, dead):
        (p / "blobs").mkdir(parents=True)
        (p / ".capture.lock").touch()
    fd = os.open(running / ".capture.lock", os.O_WRONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        later = time.time() + retention.PARTIAL_GRACE + 60
        result = retention.prune(s, protected_change_ids=[], max_count=10, now=later)
    finally:
        os.close(fd)
    assert result["abandoned"] == [dead.name[: -len(mf.PARTIAL)]]
    assert running.exists() and not dead.exists()
    # A fresh partial (inside the grace time) is kept even without a lock holder.
    dead.mkdir()
    retention.prune(s, protected_change_ids=[], max_count=10)
    assert dead.exists()


def test_archive_goes_with_its_snapshot(store):
    s, tree = store
    taken = capture.take("CHG-1", {"paths": [tree]}, store=s, min_free=0, archive=True)
    assert os.path.isfile(taken["archive"])
    retention.prune(s, protected_change_ids=[], max_count=0)
    assert os.listdir(s) == []


def test_pruned_changes_get_ledger_events(store):
    s, tree = store
    take(s, tree, "CHG-a")
    take(s, tree, "CHG-a")  # reused, still one snapshot
    take(s, tree, "CHG-b")
    result = retention.prune(s, protected_change_ids=[], max_count=0)
    assert sorted(e["subject"] for e in result["ledger_events"]) == ["CHG-a", "CHG-b"]
    assert {e["type"] for e in result["ledger_events"]} == {"io.changeward.snapshot.pruned"}


def test_a_rule_and_the_open_changes_are_required(store):
    s, _unused = store
    with pytest.raises(ScopeError, match="max_age or max_count"):
        retention.prune(s, protected_change_ids=[])
    with pytest.raises(ScopeError, match="protected_change_ids"):
        retention.prune(s, protected_change_ids=None, max_count=1)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3600", 3600), ("90m", 5400), ("12h", 43200), ("14d", 14 * DAY), ("2w", 14 * DAY), ("1.5h", 5400)],
)
def test_parse_duration(text, seconds):
    assert retention.parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "-1d", "d", ""])
def test_parse_duration_refuses_nonsense(bad):
    with pytest.raises(ScopeError):
        retention.parse_duration(bad)
