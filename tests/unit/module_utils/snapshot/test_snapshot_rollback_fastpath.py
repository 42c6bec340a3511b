"""The fast path of rollback: files the change did not touch are not read, changed files are told apart
by their first bytes, temps are durable before their renames and directories after them - and none
of it may cost correctness (same-size in-place rewrites, damaged snapshot copies, a garbage cache)."""

import json
import os
import time

import pytest
from snaphelpers import fingerprint, write

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import capture, fsutil, restore
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import manifest as mf

SIZE = 100 * 1024


def _tree(base, n=20):
    tree = os.path.join(base, "tree")
    for i in range(n):
        write(os.path.join(tree, f"d{i % 4}", f"f{i:02d}.dat"), os.urandom(SIZE), 0o644)
    return tree


def _snap(base, tree, stable=True):
    if stable:
        # Identities are only trusted once older than the coarse-tick margin (RACY_NS).
        time.sleep(fsutil.RACY_NS / 1e9 + 0.1)
    return capture.take("CHG-FAST", {"paths": [tree]}, store=os.path.join(base, "store"), min_free=0)


def _rollback(base):
    return restore.rollback(store=os.path.join(base, "store"), change_id="CHG-FAST")


@pytest.fixture
def hashed(monkeypatch):
    """Paths whose whole content the rollback hashed."""
    seen = []
    real = restore.sha256_file

    def counting(path):
        seen.append(path)
        return real(path)

    monkeypatch.setattr(restore, "sha256_file", counting)
    return seen


def test_untouched_files_are_not_read_and_changed_ones_are_compared_by_their_first_bytes(tmp_path, hashed):
    base = str(tmp_path)
    tree = _tree(base)
    before = fingerprint(tree)
    _snap(base, tree)
    replaced = os.path.join(tree, "d0", "f00.dat")
    tail_only = os.path.join(tree, "d1", "f01.dat")
    write(replaced, os.urandom(SIZE))
    with open(tail_only, "r+b") as fh:  # same size, same first 64 KiB: only a full hash can tell
        fh.seek(SIZE - 10)
        fh.write(b"0123456789")

    result = _rollback(base)

    assert result["verified"] is True
    assert fingerprint(tree) == before
    assert any(r.startswith(f"file:{replaced} (content") for r in result["restored"])
    assert any(r.startswith(f"file:{tail_only} (content") for r in result["restored"])
    # Only the file whose first bytes matched was hashed; the 18 untouched files were not read.
    assert hashed == [tail_only]


def test_files_of_a_fresh_capture_are_hashed_not_trusted(tmp_path, hashed):
    """A file written in the same timestamp tick as the capture could change unseen: no shortcut."""
    base = str(tmp_path)
    tree = _tree(base, n=4)
    taken = _snap(base, tree, stable=False)
    cache = json.loads(open(os.path.join(os.path.dirname(taken["manifest"]), mf.STAT_CACHE)).read())
    assert cache["files"] == {}
    result = _rollback(base)
    assert result["changed"] is False and result["verified"] is True
    assert sorted(hashed) == sorted(p for p in fingerprint(tree) if p.endswith(".dat"))


def test_in_place_rewrite_with_same_size_and_mtime_is_still_restored(tmp_path):
    base = str(tmp_path)
    tree = _tree(base, n=4)
    before = fingerprint(tree)
    _snap(base, tree)
    path = os.path.join(tree, "d2", "f02.dat")
    st = os.lstat(path)
    with open(path, "r+b") as fh:  # same inode, same size
        fh.write(os.urandom(SIZE))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (os.lstat(path).st_ino, os.lstat(path).st_size, os.lstat(path).st_mtime_ns) == (
        st.st_ino,
        st.st_size,
        st.st_mtime_ns,
    )

    result = _rollback(base)

    assert result["verified"] is True
    assert fingerprint(tree) == before


def test_second_rollback_changes_nothing_and_reads_only_what_the_first_wrote(tmp_path, hashed):
    base = str(tmp_path)
    tree = _tree(base, n=8)
    before = fingerprint(tree)
    _snap(base, tree)
    changed = os.path.join(tree, "d3", "f03.dat")
    write(changed, os.urandom(SIZE))
    _rollback(base)
    del hashed[:]

    again = _rollback(base)

    assert again["changed"] is False and again["verified"] is True
    assert fingerprint(tree) == before
    # The file the first run wrote is too fresh to be trusted by identity; the others are not read.
    assert hashed == [changed]


@pytest.mark.parametrize("each", [True, False], ids=["fsync-each", "syncfs"])
def test_temps_are_durable_before_their_rename_and_directories_after(tmp_path, monkeypatch, each):
    base = str(tmp_path)
    tree = _tree(base, n=12)
    before = fingerprint(tree)
    _snap(base, tree, stable=False)
    for name in ("d0/f00.dat", "d1/f05.dat", "d2/f10.dat"):
        write(os.path.join(tree, name), os.urandom(SIZE))
    os.unlink(os.path.join(tree, "d3/f03.dat"))
    monkeypatch.setattr(restore, "SYNC_EACH_MAX", 100 if each else 0)
    events = []

    def record(name, real):
        def wrapper(*args, **kw):
            events.append((name, *args))
            return real(*args, **kw)

        return wrapper

    monkeypatch.setattr(restore, "clone_or_copy", record("copy", restore.clone_or_copy))
    monkeypatch.setattr(restore, "fdatasync_path", record("sync", restore.fdatasync_path))
    monkeypatch.setattr(restore, "fsync_dir", record("dirsync", restore.fsync_dir))
    monkeypatch.setattr(restore, "sync_filesystem", record("syncfs", restore.sync_filesystem))
    monkeypatch.setattr(os, "replace", record("rename", os.replace))

    result = _rollback(base)

    assert result["verified"] is True and fingerprint(tree) == before
    renames = [(i, e) for i, e in enumerate(events) if e[0] == "rename" and ".cw-rollback-" in e[1]]
    assert len(renames) == 4
    for i, (_kind, tmp, target) in renames:
        copied = max(n for n, e in enumerate(events[:i]) if e[0] == "copy" and e[2] == tmp)
        between, later = events[copied + 1 : i], events[i + 1 :]
        if each:
            assert ("sync", tmp) in between, f"temp of {target} renamed before it was durable"
            assert ("dirsync", os.path.dirname(target)) in later, f"{target}: directory not synced after"
        else:
            assert any(e[0] == "syncfs" for e in between), f"temp of {target} renamed before it was durable"
            assert any(e[0] == "syncfs" for e in later), f"{target}: rename not synced after"
    assert any(e[0] == "syncfs" for e in events) is not each


def test_damaged_copy_of_a_file_whose_content_is_intact_is_no_failure(tmp_path):
    """The file was replaced by one with the same content (new inode, first bytes differ from the damaged
    copy): the rollback must see the file is right rather than report the damaged copy."""
    base = str(tmp_path)
    tree = _tree(base, n=4)
    taken = _snap(base, tree, stable=False)
    path = os.path.join(tree, "d1", "f01.dat")
    content = open(path, "rb").read()
    write(path + ".new", content, 0o644)
    os.replace(path + ".new", path)
    item = next(i for i in mf.resolve(os.path.join(base, "store"), "CHG-FAST")["items"] if i["path"] == path)
    blob = mf.blob_path(os.path.dirname(taken["manifest"]), item["sha256"])
    os.chmod(blob, 0o600)
    write(blob, b"tampered" + content[8:])

    result = _rollback(base)

    assert result["failed"] == []
    assert result["verified"] is True
    assert open(path, "rb").read() == content
    assert os.lstat(path).st_mtime_ns == item["mtime_ns"]


def test_a_garbage_stat_cache_costs_only_hashing(tmp_path):
    base = str(tmp_path)
    tree = _tree(base, n=6)
    before = fingerprint(tree)
    taken = _snap(base, tree, stable=False)
    cache_path = os.path.join(os.path.dirname(taken["manifest"]), mf.STAT_CACHE)
    for garbage in (b"not json", b'{"files": [1, 2]}', b'{"files": {"x": 5}}'):
        write(os.path.join(tree, "d0", "f00.dat"), os.urandom(SIZE))
        write(cache_path, garbage)
        result = _rollback(base)
        assert result["verified"] is True
        assert fingerprint(tree) == before


def test_a_stat_cache_entry_for_another_identity_is_ignored(tmp_path):
    """An entry claiming the snapshot's hash is used only for exactly the identity it names."""
    base = str(tmp_path)
    tree = _tree(base, n=4)
    before = fingerprint(tree)
    taken = _snap(base, tree)
    cache_path = os.path.join(os.path.dirname(taken["manifest"]), mf.STAT_CACHE)
    path = os.path.join(tree, "d0", "f00.dat")
    write(path, os.urandom(SIZE))
    cache = json.loads(open(cache_path).read())
    assert path in cache["files"]

    result = _rollback(base)

    assert any(r.startswith(f"file:{path} (content") for r in result["restored"])
    assert fingerprint(tree) == before


def test_a_stat_cache_that_cannot_be_written_does_not_fail_the_rollback(tmp_path):
    base = str(tmp_path)
    tree = _tree(base, n=4)
    before = fingerprint(tree)
    taken = _snap(base, tree, stable=False)
    cache_path = os.path.join(os.path.dirname(taken["manifest"]), mf.STAT_CACHE)
    os.unlink(cache_path)
    os.mkdir(cache_path)  # neither readable as a cache nor replaceable by a file
    write(os.path.join(tree, "d0", "f00.dat"), os.urandom(SIZE))

    result = _rollback(base)

    assert result["verified"] is True and result["changed"] is True
    assert fingerprint(tree) == before
    assert os.path.isdir(cache_path)
