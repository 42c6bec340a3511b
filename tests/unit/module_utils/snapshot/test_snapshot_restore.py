"""Rollback of files: identical tree afterwards (by a fingerprint this test computes), idempotence,
half-failed changes, SIGKILL during rollback, deadline, damaged snapshots, archives."""

import fcntl
import hashlib
import json
import os
import shutil
import tarfile
import time
from pathlib import Path

import pytest
from snaphelpers import fingerprint, kill_part_way, write

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import archive, capture, restore
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import manifest as mf
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.errors import (
    ConflictError,
    DeadlineExceeded,
    ManifestError,
    NotFoundError,
)

COLLECTIONS = str(Path(__file__).resolve().parents[4] / "collections")
ROOT = os.geteuid() == 0


def build_tree(base):
    """A small service tree: config files, a nested dir, a symlink, a private key, an executable."""
    tree = os.path.join(base, "srv")
    write(os.path.join(tree, "app.conf"), "port = 8080\n", 0o644)
    write(os.path.join(tree, "conf.d/10-log.conf"), "level = info\n", 0o640)
    write(os.path.join(tree, "conf.d/20-tls.conf"), "tls = on\n", 0o640)
    write(os.path.join(tree, "keys/server.key"), os.urandom(256), 0o600)
    write(os.path.join(tree, "bin/run"), "#!/bin/sh\nexit 0\n", 0o755)
    write(os.path.join(tree, "data/blob.bin"), os.urandom(300_000), 0o644)
    os.symlink("conf.d/10-log.conf", os.path.join(tree, "current.conf"))
    os.chmod(os.path.join(tree, "keys"), 0o700)
    return tree


def apply_change(tree, base):
    """Modify, create and delete files and dirs, change modes, owners and a symlink."""
    write(os.path.join(tree, "app.conf"), "port = 9090\n")
    os.unlink(os.path.join(tree, "conf.d/20-tls.conf"))
    write(os.path.join(tree, "conf.d/30-new.conf"), "new = yes\n")
    os.makedirs(os.path.join(tree, "plugins/extra"))
    write(os.path.join(tree, "plugins/extra/p.so"), b"\x7fELF")
    for name in os.listdir(os.path.join(tree, "keys")):
        os.unlink(os.path.join(tree, "keys", name))
    os.rmdir(os.path.join(tree, "keys"))
    os.chmod(os.path.join(tree, "bin/run"), 0o777)  # noqa: S103 - the change under test loosens modes
    os.chmod(os.path.join(tree, "conf.d"), 0o755)  # noqa: S103
    os.unlink(os.path.join(tree, "current.conf"))
    os.symlink("/etc/hostname", os.path.join(tree, "current.conf"))
    # A file replaced by a directory, and a directory replaced by a file.
    os.unlink(os.path.join(tree, "data/blob.bin"))
    os.makedirs(os.path.join(tree, "data/blob.bin"))
    os.rename(os.path.join(tree, "bin"), os.path.join(base, "bin.moved"))
    write(os.path.join(tree, "bin"), "not a dir\n")
    if ROOT:
        os.chown(os.path.join(tree, "app.conf"), 1234, 1234)
    # And a path that did not exist before, with parents.
    write(os.path.join(base, "opt/newapp/etc/newapp.conf"), "x\n")


def snap(base, tree, **kw):
    return capture.take(
        "CHG-100",
        {"paths": [tree, os.path.join(base, "opt/newapp/etc/newapp.conf")]},
        store=os.path.join(base, "store"),
        min_free=0,
        **kw,
    )


def test_change_is_rolled_back_to_an_identical_tree(tmp_path):
    base = str(tmp_path)
    tree = build_tree(base)
    roots = (tree, os.path.join(base, "opt"))
    before = fingerprint(*roots)
    taken = snap(base, tree)
    assert taken["changed"] and taken["coverage"] == "full"
    apply_change(tree, base)
    assert fingerprint(*roots) != before

    result = restore.rollback(store=os.path.join(base, "store"), change_id="CHG-100")

    assert fingerprint(*roots) == before
    assert result["verified"] is True
    assert result["changed"] is True
    assert result["failed"] == [] and result["cannot_restore"] == []
    restored = "\n".join(result["restored"])
    assert "conf.d/30-new.conf (removed" in restored
    assert "opt (removed" in restored
    assert result["ledger_event"]["type"] == "io.changeward.rollback.completed"
    assert result["ledger_event"]["subject"] == "CHG-100"


def test_second_rollback_is_a_no_op(tmp_path):
    base = str(tmp_path)
    tree = build_tree(base)
    before = fingerprint(tree)
    snap(base, tree)
    apply_change(tree, base)
    restore.rollback(store=os.path.join(base, "store"), change_id="CHG-100")
    mtimes = {p: os.lstat(p).st_mtime_ns for p in fingerprint(tree)}

    again = restore.rollback(store=os.path.join(base, "store"), change_id="CHG-100")

    assert again["changed"] is False
    assert again["restored"] == []
    assert again["verified"] is True
    assert fingerprint(tree) == before
    assert {p: os.lstat(p).st_mtime_ns for p in fingerprint(tree)} == mtimes


def test_rollback_with_nothing_changed_changes_nothing(tmp_path):
    base = str(tmp_path)
    tree = build_tree(base)
    snap(base, tree)
    result = restore.rollback(store=os.path.join(base, "store"), change_id="CHG-100")
    assert result["changed"] is False and result["verified"] is True
    assert len(result["unchanged"]) == len(mf.resolve(os.path.join(base, "store"), "CHG-100")["items"]) - 1


def test_rollback_after_a_half_failed_change(tmp_path):
    """The change died half-way: a truncated file, its own temp file left behind, one file done."""
    base = str(tmp_path)
    tree = build_tree(base)
    before = fingerprint(tree)
    snap(base, tree)
    with open(os.path.join(tree, "data/blob.bin"), "r+b") as fh:
        fh.truncate(1000)
    write(os.path.join(tree, "conf.d/.10-log.conf.tmp-ansible"), "half")
    write(os.path.join(tree, "app.conf"), "port = 9090\n")

    result = restore.rollback(store=os.path.join(base, "store"), change_id="CHG-100")

    assert result["verified"] is True
    assert fingerprint(tree) == before


@pytest.mark.skipif(not ROOT, reason="needs root to chown")
def test_owner_changes_are_restored(tmp_path):
    base = str(tmp_path)
    tree = build_tree(base)
    os.chown(os.path.join(tree, "conf.d/10-log.conf"), 0, 4321)
    before = fingerprint(tree)
    snap(base, tree)
    os.chown(os.path.join(tree, "conf.d/10-log.conf"), 999, 999)
    os.lchown(os.path.join(tree, "current.conf"), 888, 888)
    result = restore.rollback(store=os.path.join(base, "store"), change_id="CHG-100")
    assert fingerprint(tree) == before
    assert any("10-log.conf (owner" in r for r in result["restored"])


def test_xattrs_are_restored(tmp_path):
    base = str(tmp_path)
    tree = build_tree(base)
    target = os.path.join(tree, "app.conf")
    try:
        os.setxattr(target, "user.changeward", b"before")
    except OSError:
        pytest.skip("file system without user xattrs")
    snap(base, tree)
    os.setxattr(target, "user.changeward", b"after")
    os.setxattr(target, "user.added", b"x")
    result = restore.rollback(store=os.path.join(base, "store"), change_id="CHG-100")
    assert os.getxattr(target, "user.changeward") == b"before"
    assert "user.added" not in os.listxattr(target)
    assert result["verified"] is True


RUNNER = """
import sys, time
sys.path.insert(0, {collections!r})
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import restore
# Slow each restored item down so the test can kill the run in the middle.
restore.rollback(store={store!r}, change_id="CHG-KILL", progress=lambda what: time.sleep({delay}))
print("finished")
"""


def _many_files(tree, n, tag):
    for i in range(n):
        write(os.path.join(tree, f"d{i % 10:02d}", f"f{i:04d}.txt"), f"{tag} {i}\n" * 50)


def test_sigkill_during_rollback_then_rerun_restores(tmp_path):
    base = str(tmp_path)
    tree = os.path.join(base, "many")
    store = os.path.join(base, "store")
    n = 400
    _many_files(tree, n, "original")
    before = fingerprint(tree)
    capture.take("CHG-KILL", {"paths": [tree]}, store=store, min_free=0)
    _many_files(tree, n, "changed")
    write(os.path.join(tree, "d00/added.txt"), "added by the change")
    changed = fingerprint(tree)

    script = RUNNER.format(collections=COLLECTIONS, store=store, delay=0.01)
    killed_at = kill_part_way(script, tree, before, changed, n // 4)
    # The kill really landed half-way: some files restored, some not.
    assert killed_at != before
    assert any(before.get(p) == v and changed.get(p) != v for p, v in killed_at.items())
    assert any(changed.get(p) == v and before.get(p) != v for p, v in killed_at.items())
    journal = json.loads(Path(store, os.listdir(store)[0], mf.JOURNAL).read_text())
    assert journal["state"] == "running"

    result = restore.rollback(store=store, change_id="CHG-KILL")

    assert fingerprint(tree) == before
    assert result["verified"] is True and result["resumed"] is True
    leftovers = [p for p in fingerprint(tree) if ".cw-rollback-" in p]
    assert leftovers == []


def test_deadline_exceeded_fails_and_a_rerun_completes(tmp_path):
    base = str(tmp_path)
    tree = os.path.join(base, "many")
    store = os.path.join(base, "store")
    _many_files(tree, 60, "original")
    before = fingerprint(tree)
    capture.take("CHG-DL", {"paths": [tree]}, store=store, min_free=0)
    _many_files(tree, 60, "changed")

    with pytest.raises(DeadlineExceeded) as info:
        restore.rollback(store=store, change_id="CHG-DL", deadline_seconds=0.05, progress=lambda w: time.sleep(0.01))
    assert info.value.elapsed > 0.05
    assert info.value.result["verified"] is False
    assert info.value.result["ledger_event"]["type"] == "io.changeward.rollback.failed"
    assert fingerprint(tree) != before

    result = restore.rollback(store=store, change_id="CHG-DL", deadline_seconds=120)
    assert result["verified"] is True
    assert fingerprint(tree) == before


def test_check_mode_reports_and_changes_nothing(tmp_path):
    base = str(tmp_path)
    tree = build_tree(base)
    snap_dir = os.path.dirname(snap(base, tree)["manifest"])
    apply_change(tree, base)
    changed = fingerprint(tree, os.path.join(base, "opt"))

    result = restore.rollback(store=os.path.join(base, "store"), change_id="CHG-100", check_mode=True)

    assert result["changed"] is True
    assert any("app.conf (content" in r for r in result["restored"])
    assert fingerprint(tree, os.path.join(base, "opt")) == changed
    assert not os.path.exists(os.path.join(snap_dir, mf.JOURNAL))


def test_damaged_snapshot_copy_is_not_written_over_the_file(tmp_path):
    base = str(tmp_path)
    tree = build_tree(base)
    taken = snap(base, tree)
    write(os.path.join(tree, "app.conf"), "port = 9090\n")
    manifest = mf.resolve(os.path.join(base, "store"), "CHG-100")
    item = next(i for i in manifest["items"] if i["path"].endswith("app.conf"))
    blob = mf.blob_path(os.path.dirname(taken["manifest"]), item["sha256"])
    os.chmod(blob, 0o600)
    write(blob, "tampered\n")

    result = restore.rollback(store=os.path.join(base, "store"), change_id="CHG-100")

    assert result["verified"] is False
    assert any("app.conf" in f["item"] and "damaged" in f["error"] for f in result["failed"])
    assert Path(tree, "app.conf").read_text() == "port = 9090\n"


def test_tampered_manifest_is_refused(tmp_path):
    base = str(tmp_path)
    tree = build_tree(base)
    taken = snap(base, tree)
    data = json.loads(Path(taken["manifest"]).read_text())
    data["items"][0]["mode"] = 0o777
    Path(taken["manifest"]).write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="digest"):
        restore.rollback(store=os.path.join(base, "store"), change_id="CHG-100")


def test_restore_from_archive_when_the_store_copy_is_lost(tmp_path):
    base = str(tmp_path)
    tree = build_tree(base)
    before = fingerprint(tree)
    taken = snap(base, tree, archive=True)
    assert taken["archive"] and os.path.isfile(taken["archive"])
    saved = os.path.join(base, "controller-copy.tar")
    os.rename(taken["archive"], saved)
    shutil.rmtree(os.path.dirname(taken["manifest"]))
    apply_change(tree, base)
    with pytest.raises(NotFoundError):
        restore.rollback(store=os.path.join(base, "store"), snapshot_id=taken["snapshot_id"])
    os.rename(saved, taken["archive"])

    result = restore.rollback(store=os.path.join(base, "store"), snapshot_id=taken["snapshot_id"])

    assert result["verified"] is True
    assert fingerprint(tree) == before


def test_archive_with_a_link_member_is_refused(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    bad = store / "CHG-1.20250101T000000000000Z.abcdef.tar"
    with tarfile.open(bad, "w") as tar:
        info = tarfile.TarInfo("CHG-1.20250101T000000000000Z.abcdef/blobs/x")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/shadow"
        tar.addfile(info)
    with pytest.raises(ManifestError, match="refusing"):
        archive.extract(str(store), "CHG-1.20250101T000000000000Z.abcdef")
    assert sorted(os.listdir(store)) == [bad.name]


def test_concurrent_rollback_of_the_same_snapshot_is_refused(tmp_path):
    base = str(tmp_path)
    tree = build_tree(base)
    taken = snap(base, tree)
    fd = os.open(os.path.join(os.path.dirname(taken["manifest"]), mf.LOCK), os.O_WRONLY | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(ConflictError):
            restore.rollback(store=os.path.join(base, "store"), change_id="CHG-100")
    finally:
        os.close(fd)


def test_content_cache_rehashes_a_file_rewritten_with_the_same_size_and_mtime(tmp_path):
    """Verification trusts a hash only while ctime is unchanged; a sneaky rewrite is still caught."""
    path = str(tmp_path / "f")
    write(path, "aaaa")
    cache = restore.ContentCache()
    st = os.lstat(path)
    assert cache.sha256(path, st) == hashlib.sha256(b"aaaa").hexdigest()
    time.sleep(0.01)
    write(path, "bbbb")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = os.lstat(path)
    assert (again.st_size, again.st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert cache.sha256(path, again) == hashlib.sha256(b"bbbb").hexdigest()
