"""The reflink path: on a real loop-mounted btrfs (and XFS with reflink=1) capture and rollback clone
file contents instead of copying them, with the same round trips as the copy path (judged by this
test's own fingerprint), the same integrity check, and a silent per-file fall back to the byte copy
wherever cloning is refused (ext4, tmpfs, store and tree on different file systems).

Each file system is a sparse image in /var/tmp, formatted, attached with losetup and mounted by a
fixture that always unmounts and detaches it, also when a test fails.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from snaphelpers import fingerprint, kill_part_way, write
from test_snapshot_restore import apply_change, build_tree

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import capture, fsutil, restore
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import manifest as mf

COLLECTIONS = str(Path(__file__).resolve().parents[4] / "collections")
ROOT = os.geteuid() == 0
MKFS = {
    "btrfs": ["mkfs.btrfs", "-q", "-f"],
    # reflink=1 is the default of current xfsprogs; asked for explicitly so an older one fails loudly.
    "xfs": ["mkfs.xfs", "-q", "-f", "-m", "reflink=1"],
}
IMAGE_BYTES = {"btrfs": 512 * 1024 * 1024, "xfs": 512 * 1024 * 1024}
# Big enough that btrfs stores the data in extents of its own (small files are inlined in metadata).
FILE_BYTES = 64 * 1024


def _kernel_has(fstype):
    if not _listed(fstype):
        # Not loaded yet: a module the kernel can load counts as supported.
        subprocess.run(["modprobe", "-q", fstype], check=False, capture_output=True)
    return _listed(fstype)


def _listed(fstype):
    with open("/proc/filesystems") as fh:
        return any(line.split()[-1] == fstype for line in fh if line.strip())


def _run(*cmd):
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module", params=["btrfs", "xfs"])
def reflink_fs(request):
    """Mount point of a fresh loop-mounted file system that supports reflinks."""
    fstype = request.param
    if not ROOT:
        pytest.skip("needs root to attach a loop device and mount it")
    if not _kernel_has(fstype):
        pytest.skip(f"the kernel has no {fstype} file system")
    work = tempfile.mkdtemp(prefix=f"cw-reflink-{fstype}-", dir="/var/tmp")  # a disk, not a tmpfs
    image = os.path.join(work, "fs.img")
    mnt = os.path.join(work, "mnt")
    os.mkdir(mnt)
    loop = None
    mounted = False
    try:
        with open(image, "wb") as fh:
            fh.truncate(IMAGE_BYTES[fstype])
        _run(*MKFS[fstype], image)
        loop = subprocess.run(
            ["losetup", "--find", "--show", image], check=True, capture_output=True, text=True, timeout=60
        ).stdout.strip()
        _run("mount", "-t", fstype, loop, mnt)
        mounted = True
        yield mnt
    finally:
        if mounted and subprocess.run(["umount", mnt], check=False, capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", mnt], check=False, capture_output=True)
        if loop:
            subprocess.run(["losetup", "-d", loop], check=False, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def base(reflink_fs):
    """A fresh directory on the reflink file system for one test (tree and store both below it)."""
    path = tempfile.mkdtemp(dir=reflink_fs)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def tmpfs():
    if not ROOT:
        pytest.skip("needs root to mount a tmpfs")
    path = tempfile.mkdtemp(prefix="cw-reflink-tmpfs-", dir="/var/tmp")
    _run("mount", "-t", "tmpfs", "-o", "size=32m,mode=0700", "tmpfs", path)
    try:
        yield path
    finally:
        subprocess.run(["umount", path], check=False, capture_output=True)
        os.rmdir(path)


def _big_tree(base, n=40, tag=b""):
    tree = os.path.join(base, "big")
    for i in range(n):
        write(os.path.join(tree, f"d{i % 4}", f"f{i:03d}.dat"), tag + os.urandom(FILE_BYTES), 0o644)
    return tree


def _change_big(tree, n=40):
    """Rewrite 80% of the files, delete 10%, add as many: the benchmark's change, smaller."""
    for i in range(n):
        path = os.path.join(tree, f"d{i % 4}", f"f{i:03d}.dat")
        if i % 10 < 8:
            write(path + ".tmp", os.urandom(FILE_BYTES + 5))
            os.replace(path + ".tmp", path)
        elif i % 10 == 8:
            os.unlink(path)
    for i in range(n // 10):
        write(os.path.join(tree, f"d{i % 4}", f"new{i:03d}.dat"), os.urandom(FILE_BYTES))


def _physical_extents(path):
    """Physical start blocks of a file's extents, from FIEMAP as filefrag prints them (independent of the core)."""
    out = subprocess.run(["filefrag", "-v", path], check=True, capture_output=True, text=True).stdout
    starts = []
    for line in out.splitlines():
        fields = line.replace(":", " ").replace("..", " ").split()
        # " 0:  0..  15:  3360..  3375:  16:  last,shared,eof"
        if len(fields) >= 5 and fields[0].isdigit() and fields[1].isdigit():
            starts.append(int(fields[3]))
    return starts


def _sync_free(path):
    os.sync()
    subprocess.run(["sync", "-f", path], check=False)
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


# ---------------------------------------------------------------- round trips on the reflink file system


def test_change_is_rolled_back_by_cloning_to_an_identical_tree(base):
    tree = build_tree(base)
    extra = os.path.join(base, "opt/newapp/etc/newapp.conf")
    big = _big_tree(base, n=10)
    roots = (tree, os.path.join(base, "opt"), big)
    before = fingerprint(*roots)
    taken = capture.take("CHG-RL", {"paths": [tree, extra, big]}, store=os.path.join(base, "store"), min_free=0)
    assert taken["method_counts"]["reflink"] >= 10
    assert taken["method"] in ("reflink", "mixed")
    apply_change(tree, base)
    _change_big(big, n=10)
    assert fingerprint(*roots) != before

    result = restore.rollback(store=os.path.join(base, "store"), change_id="CHG-RL")

    assert fingerprint(*roots) == before
    assert result["verified"] is True and result["failed"] == []
    counts = result["method_counts"]
    written = [
        r for r in result["restored"] if r.startswith("file:") and any(a in r for a in ("content", "missing", "type"))
    ]
    # Every rewritten file was written by one of the two methods; the 64 KiB ones by cloning.
    assert counts["reflink"] + counts["copy"] == len(written)
    assert counts["reflink"] >= 9  # 8 rewritten + 1 deleted big files
    assert result["method"] in ("reflink", "mixed")


def test_second_rollback_is_a_no_op(base):
    tree = _big_tree(base, n=20)
    before = fingerprint(tree)
    capture.take("CHG-RL2", {"paths": [tree]}, store=os.path.join(base, "store"), min_free=0)
    _change_big(tree, n=20)
    first = restore.rollback(store=os.path.join(base, "store"), change_id="CHG-RL2")
    assert first["method"] == "reflink" and first["method_counts"]["copy"] == 0

    again = restore.rollback(store=os.path.join(base, "store"), change_id="CHG-RL2")

    assert again["changed"] is False and again["restored"] == [] and again["verified"] is True
    assert again["method"] == "none" and again["method_counts"] == {"reflink": 0, "copy": 0}
    assert fingerprint(tree) == before


@pytest.mark.skipif(not ROOT, reason="needs root to chown")
def test_modes_owners_and_links_come_back_with_cloned_contents(base):
    tree = _big_tree(base, n=8)
    target = os.path.join(tree, "d0", "f000.dat")
    os.chown(target, 1200, 1300)
    os.chmod(target, 0o640)
    os.symlink("d0/f000.dat", os.path.join(tree, "link"))
    before = fingerprint(tree)
    capture.take("CHG-META", {"paths": [tree]}, store=os.path.join(base, "store"), min_free=0)
    write(target + ".new", os.urandom(FILE_BYTES), 0o777)  # the change loosens the mode
    os.replace(target + ".new", target)
    os.unlink(os.path.join(tree, "link"))
    os.symlink("/etc/passwd", os.path.join(tree, "link"))

    result = restore.rollback(store=os.path.join(base, "store"), change_id="CHG-META")

    assert fingerprint(tree) == before
    assert (os.lstat(target).st_uid, os.lstat(target).st_gid) == (1200, 1300)
    assert result["method_counts"] == {"reflink": 1, "copy": 0}


def test_restored_files_share_their_extents_with_the_snapshot(base):
    """The rollback really cloned: each restored file's extents are the snapshot copy's (FIEMAP), and
    neither capture nor rollback consumed the space a copy would."""
    n = 40
    tree = _big_tree(base, n=n)
    store = os.path.join(base, "store")
    free_before = _sync_free(base)
    taken = capture.take("CHG-EXT", {"paths": [tree]}, store=store, min_free=0)
    used_by_capture = free_before - _sync_free(base)
    assert taken["method_counts"] == {"reflink": n, "copy": 0}
    # A copy would take n * 64 KiB = 2.5 MiB; the clone takes metadata only.
    assert used_by_capture < n * FILE_BYTES // 2, used_by_capture
    _change_big(tree, n=n)

    result = restore.rollback(store=store, change_id="CHG-EXT")

    assert result["verified"] is True
    snap_dir = os.path.dirname(taken["manifest"])
    items = {i["path"]: i for i in mf.load(store, taken["snapshot_id"])["items"] if i["kind"] == "file"}
    rewritten = [os.path.join(tree, f"d{i % 4}", f"f{i:03d}.dat") for i in range(n) if i % 10 != 9]
    for path in rewritten:
        restored = _physical_extents(path)
        assert restored, f"{path}: no extents reported"
        assert restored == _physical_extents(mf.blob_path(snap_dir, items[path]["sha256"])), path
    assert result["method_counts"] == {"reflink": len(rewritten), "copy": 0}


def test_sigkill_during_a_cloning_rollback_then_rerun_restores(base):
    tree = os.path.join(base, "many")
    store = os.path.join(base, "store")
    n = 300

    def fill(tag):
        for i in range(n):
            write(os.path.join(tree, f"d{i % 10:02d}", f"f{i:04d}.dat"), tag * (FILE_BYTES // len(tag)))

    fill(b"original")
    before = fingerprint(tree)
    capture.take("CHG-KILL", {"paths": [tree]}, store=store, min_free=0)
    fill(b"changed!")
    write(os.path.join(tree, "d00/added.txt"), "added by the change")
    changed = fingerprint(tree)
    script = (
        "import sys, time\n"
        f"sys.path.insert(0, {COLLECTIONS!r})\n"
        "from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import restore\n"
        f"restore.rollback(store={store!r}, change_id='CHG-KILL', progress=lambda what: time.sleep(0.01))\n"
    )
    killed_at = kill_part_way(script, tree, before, changed, n // 4)
    assert any(before.get(p) == v and changed.get(p) != v for p, v in killed_at.items())
    assert any(changed.get(p) == v and before.get(p) != v for p, v in killed_at.items())

    result = restore.rollback(store=store, change_id="CHG-KILL")

    assert fingerprint(tree) == before
    assert result["verified"] is True and result["resumed"] is True
    assert result["method_counts"]["reflink"] > 0 and result["method_counts"]["copy"] == 0
    assert [p for p in fingerprint(tree) if ".cw-rollback-" in p] == []


def test_a_damaged_snapshot_copy_is_caught_although_it_is_cloned(base):
    """The sha256 check reads what the clone holds: a damaged snapshot copy is never published."""
    tree = _big_tree(base, n=4)
    taken = capture.take("CHG-DMG", {"paths": [tree]}, store=os.path.join(base, "store"), min_free=0)
    path = os.path.join(tree, "d1", "f001.dat")
    item = next(i for i in mf.resolve(os.path.join(base, "store"), "CHG-DMG")["items"] if i["path"] == path)
    blob = mf.blob_path(os.path.dirname(taken["manifest"]), item["sha256"])
    with open(blob, "r+b") as fh:  # same size, damaged near the end: the first bytes still match
        fh.seek(FILE_BYTES - 4)
        fh.write(b"XXXX")
    changed = os.urandom(FILE_BYTES)
    write(path, changed)

    result = restore.rollback(store=os.path.join(base, "store"), change_id="CHG-DMG")

    assert result["verified"] is False
    assert any(path in f["item"] and "damaged" in f["error"] for f in result["failed"])
    assert Path(path).read_bytes() == changed
    assert result["unread_clones"] == 0  # written after the capture: its ctime moved, so it was read back


def test_clones_are_trusted_unread_only_on_checksummed_btrfs(base):
    """read_back_clones=auto skips reading a clone back only on btrfs (data checksums) and only for
    snapshot copies whose identity is the capture's; XFS has no data checksums, so every clone is read."""
    fstype = fsutil._mount_of(base)[0]
    tree = _big_tree(base, n=20)
    before = fingerprint(tree)
    store = os.path.join(base, "store")
    capture.take("CHG-TRUST", {"paths": [tree]}, store=store, min_free=0)
    _change_big(tree, n=20)

    result = restore.rollback(store=store, change_id="CHG-TRUST")

    assert fingerprint(tree) == before and result["verified"] is True
    cloned = result["method_counts"]["reflink"]
    assert cloned > 0
    assert result["unread_clones"] == (cloned if fstype == "btrfs" else 0), fstype

    _change_big(tree, n=20)
    strict = restore.rollback(store=store, change_id="CHG-TRUST", read_back_clones=True)
    assert fingerprint(tree) == before and strict["verified"] is True
    assert strict["method_counts"]["reflink"] > 0 and strict["unread_clones"] == 0


def test_only_checksummed_btrfs_data_counts_as_self_checking(base, tmp_path):
    fstype = fsutil._mount_of(base)[0]
    plain = os.path.join(base, "plain.dat")
    write(plain, os.urandom(FILE_BYTES))
    assert fsutil.data_checksummed(plain) is (fstype == "btrfs")
    write(str(tmp_path / "ext.dat"), b"x")
    assert fsutil.data_checksummed(str(tmp_path / "ext.dat")) is False  # the test's tmp dir: not btrfs
    if fstype == "btrfs":
        nocow = os.path.join(base, "nocow.dat")
        Path(nocow).touch()
        subprocess.run(["chattr", "+C", nocow], check=True, capture_output=True)  # NOCOW: no data checksums
        assert fsutil.data_checksummed(nocow) is False


# ---------------------------------------------------------------- falling back to the byte copy


def test_store_on_another_file_system_falls_back_to_copy(base, tmp_path):
    """Tree on the reflink file system, store on the test's tmp dir: every clone is refused (EXDEV)."""
    tree = _big_tree(base, n=10)
    before = fingerprint(tree)
    store = str(tmp_path / "store")
    taken = capture.take("CHG-XDEV", {"paths": [tree]}, store=store, min_free=0)
    assert taken["method"] == "copy" and taken["method_counts"] == {"reflink": 0, "copy": 10}
    _change_big(tree, n=10)

    result = restore.rollback(store=store, change_id="CHG-XDEV")

    assert fingerprint(tree) == before and result["verified"] is True
    assert result["method"] == "copy" and result["method_counts"] == {"reflink": 0, "copy": 9}


def _roundtrip_by_copy(base):
    tree = _big_tree(base, n=10)
    before = fingerprint(tree)
    store = os.path.join(base, "store")
    taken = capture.take("CHG-COPY", {"paths": [tree]}, store=store, min_free=0)
    _change_big(tree, n=10)
    result = restore.rollback(store=store, change_id="CHG-COPY")
    assert fingerprint(tree) == before and result["verified"] is True
    return taken, result


def test_a_file_system_without_reflinks_copies(tmp_path):
    if _fs_of(str(tmp_path)) in ("btrfs", "xfs"):
        pytest.skip("the test's tmp dir is itself on a reflink file system")
    taken, result = _roundtrip_by_copy(str(tmp_path))
    assert taken["method_counts"] == {"reflink": 0, "copy": 10}
    assert result["method"] == "copy" and result["method_counts"] == {"reflink": 0, "copy": 9}


def test_tmpfs_copies(tmpfs):
    taken, result = _roundtrip_by_copy(tmpfs)
    assert taken["method"] == "copy"
    assert result["method_counts"] == {"reflink": 0, "copy": 9}


def test_clone_or_copy_falls_back_per_file_when_the_clone_is_refused(base, monkeypatch):
    """A refused clone (here: EOPNOTSUPP from the ioctl) costs nothing but the copy, file by file."""
    src = os.path.join(base, "src")
    write(src, os.urandom(FILE_BYTES))
    real = fsutil.fcntl.ioctl
    calls = []

    def refusing(fd, request, arg=0):
        calls.append(request)
        if request == fsutil.FICLONE and len(calls) == 1:
            raise OSError(95, "Operation not supported")
        return real(fd, request, arg)

    monkeypatch.setattr(fsutil.fcntl, "ioctl", refusing)
    first = fsutil.clone_or_copy(src, os.path.join(base, "a"))
    second = fsutil.clone_or_copy(src, os.path.join(base, "b"))

    want = fsutil.sha256_file(src)
    assert first == (want, FILE_BYTES, "copy")
    assert second == (want, FILE_BYTES, "reflink")
    assert Path(base, "a").read_bytes() == Path(base, "b").read_bytes() == Path(src).read_bytes()


def _fs_of(path):
    best = ("", "")
    with open("/proc/self/mounts") as fh:
        for line in fh:
            mnt, fstype = line.split()[1:3]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best[0]):
                best = (mnt, fstype)
    return best[1]
