"""Taking snapshots: what is captured, check mode, space refusal, capability labels, reuse."""

import json
import os
import subprocess
from pathlib import Path

import pytest
from snaphelpers import RUNNER, write

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import capture, restore
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import manifest as mf
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.errors import (
    ConflictError,
    ScopeError,
    SpaceError,
)
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.fsutil import parse_size

ROOT = os.geteuid() == 0


def all_files(path):
    out = []
    for dirpath, dirs, files in os.walk(path):
        out += [os.path.join(dirpath, n) for n in dirs + files]
    return sorted(out)


@pytest.fixture
def tree(tmp_path):
    t = tmp_path / "etc-app"
    write(str(t / "a.conf"), "a = 1\n", 0o640)
    write(str(t / "sub/b.conf"), "b = 2\n")
    os.symlink("a.conf", t / "link")
    return str(t)


def test_manifest_records_content_metadata_links_and_absence(tmp_path, tree):
    store = str(tmp_path / "store")
    missing = str(tmp_path / "opt/new/app/conf")
    result = capture.take("CHG-1", {"paths": [tree, missing]}, store=store, min_free=0)

    manifest = json.loads(Path(result["manifest"]).read_text())
    by_path = {i["path"]: i for i in manifest["items"]}
    a = by_path[os.path.join(tree, "a.conf")]
    assert a["kind"] == "file" and a["mode"] == 0o640 and a["size"] == 6
    blob = Path(result["manifest"]).parent / "blobs" / a["sha256"]
    assert blob.read_bytes() == b"a = 1\n"
    link = by_path[os.path.join(tree, "link")]
    assert (link["kind"], link["target"]) == ("symlink", "a.conf")
    # Absence is recorded at the highest missing ancestor, so rollback removes the whole new branch.
    assert by_path[str(tmp_path / "opt")]["kind"] == "absent"
    assert missing not in by_path
    assert result["item_count"] == len(manifest["items"]) == 6
    assert result["coverage"] == "full" and result["not_covered"] == []
    assert manifest["complete"] is True
    assert all(len(i["digest"]) == 64 for i in manifest["items"])
    assert oct(os.stat(store).st_mode & 0o777) == "0o700"


def test_check_mode_reports_size_and_writes_nothing(tmp_path, tree):
    store = str(tmp_path / "store")
    write(os.path.join(tree, "big.bin"), os.urandom(50_000))
    marker = str(tmp_path / "ran-verify")
    result = capture.take(
        "CHG-1",
        {"paths": [tree], "verify_commands": [{"name": "touch", "cmd": "touch " + marker}]},
        store=store,
        min_free=0,
        check_mode=True,
    )
    assert not os.path.exists(store)
    assert not os.path.exists(marker)
    assert result["captured"]["files"] == 3
    assert result["captured"]["bytes"] == 50_000 + 6 + 6
    assert result["snapshot_id"] is None
    assert result["space"]["needed_bytes"] >= 50_000


@pytest.mark.skipif(not ROOT, reason="mounting a tmpfs needs root")
def test_too_little_space_refuses_before_writing(tmp_path, tree):
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=True)
    try:
        write(os.path.join(tree, "big.bin"), os.urandom(2 * 1024 * 1024))
        store = str(mnt / "snapshots")
        with pytest.raises(SpaceError) as info:
            capture.take("CHG-1", {"paths": [tree]}, store=store, min_free=0)
        assert info.value.needed > info.value.free
        assert os.listdir(mnt) == []
        # A scope that fits is taken on the same small file system.
        os.unlink(os.path.join(tree, "big.bin"))
        ok = capture.take("CHG-1", {"paths": [tree]}, store=store, min_free=0)
        assert ok["changed"] and os.path.isfile(ok["manifest"])
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_headroom_threshold_refuses_before_writing(tmp_path, tree):
    store = str(tmp_path / "store")
    with pytest.raises(SpaceError, match="must leave"):
        capture.take("CHG-1", {"paths": [tree]}, store=store, min_free="100%")
    assert not os.path.exists(store)
    free = os.statvfs(str(tmp_path)).f_bavail * os.statvfs(str(tmp_path)).f_frsize
    with pytest.raises(SpaceError):
        capture.take("CHG-1", {"paths": [tree]}, store=store, min_free=str(free))
    assert not os.path.exists(store)


def test_parse_size():
    assert parse_size("512M") == 512 * 1024**2
    assert parse_size("2G") == 2 * 1024**3
    assert parse_size("1.5GiB") == int(1.5 * 1024**3)
    assert parse_size(0) == 0
    assert parse_size("10%", total=1000) == 100
    for bad in ("lots", "-1", "120%", True):
        with pytest.raises(ValueError):
            parse_size(bad, total=1000)


def test_capability_none_captures_nothing_and_is_not_restorable(tmp_path, tree):
    store = str(tmp_path / "store")
    result = capture.take("CHG-1", {"paths": [tree]}, store=store, rollback_capability="none", host="legacy-01")
    assert result["restorable"] is False
    assert result["coverage"] == "none"
    assert result["changed"] is False
    assert result["not_covered"][0]["name"] == "legacy-01"
    assert "not restorable" in result["not_covered"][0]["reason"]
    assert result["ledger_event"]["type"] == "io.changeward.snapshot.not_restorable"
    assert not os.path.exists(store)


def test_capability_partial_never_claims_full_coverage(tmp_path, tree):
    result = capture.take(
        "CHG-1", {"paths": [tree]}, store=str(tmp_path / "s"), min_free=0, rollback_capability="partial"
    )
    assert result["coverage"] == "partial"
    assert result["restorable"] is True
    assert result["not_covered"][0]["kind"] == "host"


def test_special_files_and_hard_links_are_reported_not_covered(tmp_path, tree):
    os.mkfifo(os.path.join(tree, "pipe"))
    os.link(os.path.join(tree, "a.conf"), os.path.join(tree, "a.hard"))
    result = capture.take("CHG-1", {"paths": [tree]}, store=str(tmp_path / "s"), min_free=0)
    kinds = {(n["kind"], os.path.basename(n["name"])) for n in result["not_covered"]}
    assert ("fifo", "pipe") in kinds
    assert ("hardlink", "a.conf") in kinds
    assert result["coverage"] == "partial"
    # Rollback leaves the uncaptured fifo alone instead of deleting it as something the change added.
    rb = restore.rollback(store=str(tmp_path / "s"), change_id="CHG-1")
    assert os.path.exists(os.path.join(tree, "pipe"))
    assert rb["verified"] is True


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ({"paths": ["relative/path"]}, "not absolute"),
        ({"paths": ["/"]}, "not allowed"),
        ({}, "empty"),
        ({"paths": ["/tmp"], "colour": "blue"}, "unknown scope keys"),
        ({"packages": ["bad name"]}, "package name"),
        ({"services": ["../x"]}, "service name"),
        ({"verify_commands": [{"name": "x"}]}, "needs a name and a cmd"),
    ],
)
def test_unusable_scopes_are_refused(tmp_path, scope, message):
    with pytest.raises(ScopeError, match=message):
        capture.take("CHG-1", scope, store=str(tmp_path / "s"), min_free=0)


def test_scope_overlapping_the_store_is_refused(tmp_path, tree):
    with pytest.raises(ScopeError, match="overlaps the snapshot store"):
        capture.take("CHG-1", {"paths": [str(tmp_path)]}, store=str(tmp_path / "store"), min_free=0)
    with pytest.raises(ScopeError, match="overlaps"):
        capture.take("CHG-1", {"paths": [tree]}, store=os.path.join(tree, "snaps"), min_free=0)


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".hidden", "x" * 200, "has space"])
def test_bad_change_ids_are_refused(tmp_path, bad):
    with pytest.raises(ScopeError, match="change_id"):
        capture.take(bad, {"paths": ["/tmp"]}, store=str(tmp_path / "s"), min_free=0)


def test_rerun_reuses_the_first_snapshot_of_the_change(tmp_path, tree):
    store = str(tmp_path / "store")
    first = capture.take("CHG-1", {"paths": [tree]}, store=store, min_free=0)
    write(os.path.join(tree, "a.conf"), "changed by a half-failed run\n")
    second = capture.take("CHG-1", {"paths": [tree]}, store=store, min_free=0)
    assert second["reused"] is True and second["changed"] is False
    assert second["snapshot_id"] == first["snapshot_id"]
    assert len(os.listdir(store)) == 1
    with pytest.raises(ConflictError, match="different scope"):
        capture.take("CHG-1", {"paths": [tree, "/nonexistent-x"]}, store=store, min_free=0)
    third = capture.take("CHG-1", {"paths": [tree]}, store=store, min_free=0, existing="new")
    assert third["snapshot_id"] != first["snapshot_id"]
    # Rollback by change id restores the oldest: the state before the change.
    assert mf.resolve(store, change_id="CHG-1")["snapshot_id"] == first["snapshot_id"]


def test_verify_commands_record_exit_code_and_output_hash_only(tmp_path, tree):
    store = str(tmp_path / "store")
    result = capture.take(
        "CHG-1",
        {"paths": [tree], "verify_commands": [{"name": "schema", "cmd": "echo s3cret-schema-7; exit 3"}]},
        store=store,
        min_free=0,
        runner=RUNNER,
    )
    text = Path(result["manifest"]).read_text()
    manifest = json.loads(text)
    assert manifest["verify"][0]["rc"] == 3
    assert "s3cret-schema-7" not in text.replace("echo s3cret-schema-7; exit 3", "")
    assert "s3cret" not in json.dumps({k: v for k, v in result.items() if k != "manifest"})


def test_verify_command_mismatch_fails_verification(tmp_path, tree):
    store = str(tmp_path / "store")
    state = tmp_path / "schema"
    state.write_text("7\n")
    capture.take(
        "CHG-1",
        {"paths": [tree], "verify_commands": [{"name": "schema", "cmd": f"cat {state}"}]},
        store=store,
        min_free=0,
        runner=RUNNER,
    )
    state.write_text("8\n")
    result = restore.rollback(store=store, change_id="CHG-1", runner=RUNNER)
    assert result["verified"] is False
    assert result["verification"] == [{"item": "verify:schema", "problem": "output differs from the snapshot"}]


def test_failed_capture_leaves_nothing_in_the_store(tmp_path, tree):
    store = str(tmp_path / "store")
    with pytest.raises(ScopeError, match="timed out"):
        capture.take(
            "CHG-1",
            {"paths": [tree], "verify_commands": [{"name": "slow", "cmd": "sleep 5", "timeout": 1}]},
            store=store,
            min_free=0,
            runner=RUNNER,
        )
    assert os.listdir(store) == []


def test_verify_command_that_cannot_run_is_refused(tmp_path, tree):
    store = str(tmp_path / "store")
    with pytest.raises(ScopeError, match="cannot run"):
        capture.take(
            "CHG-1",
            {"paths": [tree], "verify_commands": [{"name": "typo", "cmd": "no-such-tool-cw --version"}]},
            store=store,
            min_free=0,
            runner=RUNNER,
        )
    assert os.listdir(store) == []


def test_commands_without_a_runner_fail_closed(tmp_path, tree):
    with pytest.raises(ScopeError, match="needs a command runner"):
        capture.take(
            "CHG-1",
            {"paths": [tree], "verify_commands": [{"name": "v", "cmd": "true"}]},
            store=str(tmp_path / "store"),
            min_free=0,
        )


def test_incomplete_snapshot_is_never_used(tmp_path, tree):
    store = str(tmp_path / "store")
    taken = capture.take("CHG-1", {"paths": [tree]}, store=store, min_free=0)
    snap_dir = os.path.dirname(taken["manifest"])
    os.rename(snap_dir, snap_dir + mf.PARTIAL)
    assert [s["status"] for s in mf.list_snapshots(store)] == ["partial"]
    with pytest.raises(Exception, match="no complete snapshot"):
        restore.rollback(store=store, change_id="CHG-1")
    with pytest.raises(Exception, match="incomplete"):
        restore.rollback(store=store, snapshot_id=taken["snapshot_id"])


def test_ledger_event_is_cloudevents_shaped(tmp_path, tree):
    result = capture.take("CHG-7", {"paths": [tree]}, store=str(tmp_path / "s"), min_free=0, host="web-1")
    event = result["ledger_event"]
    assert event["specversion"] == "1.0"
    assert event["type"] == "io.changeward.snapshot.taken"
    assert event["subject"] == "CHG-7"
    assert event["source"] == "changeward.hybrid/web-1"
    assert event["data"]["snapshot_id"] == result["snapshot_id"]
    assert event["data"]["item_count"] == result["item_count"]


def test_snapshot_files_are_private_and_a_loose_store_is_tightened_with_a_warning(tmp_path, tree):
    store = tmp_path / "store"
    store.mkdir()
    store.chmod(0o755)  # pre-created by someone, readable by every user
    result = capture.take("CHG-1", {"paths": [tree]}, store=str(store), min_free=0, archive=True)
    assert oct(store.stat().st_mode & 0o777) == "0o700"
    assert result["warnings"] == [f"snapshot store {store} had mode 0755, tightened to 0700: it holds private files"]
    snap = Path(result["manifest"]).parent
    for path in [snap, *(Path(p) for p in all_files(snap)), Path(result["archive"])]:
        expected = 0o700 if path.is_dir() else 0o600
        assert path.stat().st_mode & 0o777 == expected, path
    again = capture.take("CHG-2", {"paths": [tree]}, store=str(store), min_free=0)
    assert "warnings" not in again
