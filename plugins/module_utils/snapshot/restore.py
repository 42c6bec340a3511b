# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rolling back to a snapshot, then verifying every item against the manifest.

Order: stop the services that must end up stopped; put packages back; put files back (remove what the
change added, recreate what it removed, rewrite what it modified); restore service enablement; start
what must run, restarting services that were running throughout when their files or packages were
restored; verify files, packages, services and the verify commands.

Every step compares the current state with the manifest first and does nothing when they match, so a
second run changes nothing, and a run that was killed is completed by the next one. What a comparison
cannot see is kept in the journal (``rollback.json``): a run that did not finish forces the restart of
running services on the next run, because the files it restored no longer look changed.

Files are replaced atomically: contents go to a temp file beside the target (its name derived from the
target path, so a rerun finds and removes it), are made durable (fdatasync, after the kernel was asked to
start writing each temp as soon as it was complete), then the temp is renamed; at the end every directory
the rollback changed is fsynced. A file is only rewritten when its content differs: an unchanged file is
recognised by its identity (device, inode, size, mtime, ctime - see ContentCache), and a changed one
usually by its first bytes, without hashing it.
"""

import errno
import fcntl
import hashlib
import json
import os
import shutil
import socket
import stat
import time

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import archive as archive_mod
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import manifest as mf
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import packages as pk
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import services as sv
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.capture import normalize_path, run_verify
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.errors import (
    CommandError,
    ConflictError,
    DeadlineExceeded,
    NotFoundError,
    ScopeError,
)
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.events import (
    ROLLBACK_COMPLETED,
    ROLLBACK_FAILED,
    ledger_event,
)
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.fsutil import (
    COPY,
    RACY_NS,
    REFLINK,
    atomic_write_bytes,
    clone_or_copy,
    data_checksummed,
    fdatasync_path,
    file_identity,
    fsync_dir,
    has_syncfs,
    kind_of,
    lstat_or_none,
    method_of,
    read_xattrs,
    remove_any,
    same_prefix,
    sha256_file,
    sync_filesystem,
    write_xattrs,
)
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.proc import no_runner

# Temps are made durable and renamed in batches: the space for temps stays bounded, a killed run leaves
# at most one batch of temps, and the fdatasyncs of a batch share one journal commit.
BATCH_BYTES = 64 * 1024 * 1024
BATCH_FILES = 512
# Up to this many paths to make durable are fsynced one by one; more take one syncfs (see _durable).
SYNC_EACH_MAX = 16


def temp_name(path):
    """The temp path used while restoring path: beside it, and the same on every run."""
    digest = hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return os.path.join(os.path.dirname(path), ".cw-rollback-%s.tmp" % digest)


def label(item):
    return "%s:%s" % (item["kind"], item["path"])


class Run:
    """State of one rollback run: outcome lists, deadline, progress hook."""

    def __init__(self, deadline_seconds=None, progress=None):
        self.started = time.monotonic()
        self.deadline = deadline_seconds
        self.progress = progress
        self.restored = []
        self.unchanged = []
        self.cannot_restore = []
        self.failed = []
        self.mismatches = []
        self.methods = {REFLINK: 0, COPY: 0}  # how the restored file contents were written
        self.unread_clones = 0  # clones trusted without reading them back (blob_intact)

    def elapsed(self):
        return time.monotonic() - self.started

    def tick(self):
        if self.deadline is not None and self.elapsed() > self.deadline:
            raise DeadlineExceeded(
                "rollback passed its deadline of %ss after %.3fs; rerun to complete it"
                % (self.deadline, self.elapsed()),
                elapsed=self.elapsed(),
                deadline=self.deadline,
            )

    def did(self, what):
        self.restored.append(what)
        if self.progress:
            self.progress(what)

    def fail(self, name, error):
        self.failed.append({"item": name, "error": str(error)})

    def outcome(self):
        return {
            "restored": self.restored,
            "unchanged": self.unchanged,
            "cannot_restore": self.cannot_restore,
            "failed": self.failed,
            "duration_seconds": round(self.elapsed(), 3),
            "method": method_of(self.methods),
            "method_counts": dict(self.methods),
            "unread_clones": self.unread_clones,
        }


# ---------------------------------------------------------------- comparing with the manifest


class ContentCache:
    """sha256 of files, keyed by path and valid only while the file's identity (device, inode, size,
    mtime, ctime) is unchanged. Any write changes ctime, which user space cannot set back, so a file
    whose identity matches still has the content that was hashed; re-reading it would prove nothing
    more. The capture seeds the cache (mf.STAT_CACHE) and each rollback saves what it hashed or wrote,
    so the files a change did not touch are not read at all.

    With snap_dir, a file that is not known is first compared with the snapshot's copy by its first
    bytes: when they differ, the content differs and the file need not be hashed (it is rewritten).
    """

    def __init__(self, snap_dir=None, trust_blobs=True):
        self.snap_dir = snap_dir
        self.trust_blobs = trust_blobs
        self.known = {}  # path -> (identity, sha256, ns when the identity was taken)
        self.damaged = set()  # sha256 of snapshot copies found damaged: their bytes prove nothing
        self.blobs = {}  # sha256 -> identity of the snapshot copy the capture wrote with that content

    def sha256(self, path, st):
        hit = self.known.get(path)
        if hit and hit[0] == file_identity(st):
            return hit[1]
        now = time.time_ns()
        sha = sha256_file(path)
        self.known[path] = (file_identity(st), sha, now)
        return sha

    def content_matches(self, path, st, item):
        hit = self.known.get(path)
        if hit and hit[0] == file_identity(st):
            return hit[1] == item["sha256"]
        if self.snap_dir and st.st_size and item["sha256"] not in self.damaged:
            try:
                if not same_prefix(path, mf.blob_path(self.snap_dir, item["sha256"])):
                    return False
            except OSError:
                pass  # no readable snapshot copy: decide by the hash alone
        return self.sha256(path, st) == item["sha256"]

    def blob_intact(self, blob, sha):
        """True when the snapshot copy blob provably still holds sha without reading it: its identity is
        the one the capture recorded when it wrote and hashed it, and its file system checks data on read
        (fsutil.data_checksummed). Then a clone of it need not be read back to be trusted."""
        ident = self.blobs.get(sha)
        if not self.trust_blobs or not ident or sha in self.damaged:
            return False
        st = lstat_or_none(blob)
        return st is not None and file_identity(st) == ident and data_checksummed(blob)

    def wrote(self, path, sha):
        self.known[path] = (file_identity(os.lstat(path)), sha, time.time_ns())

    def load(self, path):
        """Add what a capture or an earlier run saved; an unreadable file only costs hashing."""
        try:
            with open(path, "rb") as fh:
                data = json.loads(fh.read().decode("utf-8"))
            files = data["files"]
            for name, (ident, sha) in files.items():
                if isinstance(ident, list) and len(ident) == 5 and isinstance(sha, str):
                    self.known.setdefault(name, (ident, sha, 0))
            for sha, ident in (data.get("blobs") or {}).items():
                if isinstance(ident, list) and len(ident) == 5 and isinstance(sha, str):
                    self.blobs.setdefault(sha, ident)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass

    def save(self, path, paths):
        """Keep the hashes of the given paths whose identity was stable when taken (see RACY_NS)."""
        files = {}
        for name in paths:
            hit = self.known.get(name)
            if hit and (hit[2] == 0 or hit[0][4] < hit[2] - RACY_NS):
                files[name] = [hit[0], hit[1]]
        # Not synced: every entry is checked against the file's identity before use, so a lost, old or
        # empty cache after a crash only means hashing again.
        blobs = {sha: ident for sha, ident in self.blobs.items() if sha not in self.damaged}
        atomic_write_bytes(path, json.dumps({"files": files, "blobs": blobs}).encode(), durable=False)


def diff_item(item, cache=None):
    """What differs between the file system and a manifest item: [] when it matches."""
    path = item["path"]
    kind = item["kind"]
    if kind == "uncaptured":
        return []
    st = lstat_or_none(path)
    current = kind_of(st)
    if kind == "absent":
        return ["present"] if st is not None else []
    if st is None:
        return ["missing"]
    if current != kind:
        return ["type"]
    out = []
    if kind == "file":
        if st.st_size != item["size"]:
            out.append("content")
        elif not (cache.content_matches(path, st, item) if cache else sha256_file(path) == item["sha256"]):
            out.append("content")
        if st.st_mtime_ns != item["mtime_ns"]:
            out.append("mtime")
    if kind == "symlink":
        if os.readlink(path) != item["target"]:
            out.append("target")
    elif stat.S_IMODE(st.st_mode) != item["mode"]:
        out.append("mode")
    if (st.st_uid, st.st_gid) != (item["uid"], item["gid"]):
        out.append("owner")
    if read_xattrs(path) != item.get("xattrs", {}):
        out.append("xattrs")
    return out


def extras(dir_item, known):
    """Entries inside a captured directory that the manifest does not know (the change added them)."""
    path = dir_item["path"]
    st = lstat_or_none(path)
    if st is None or not stat.S_ISDIR(st.st_mode):
        return []
    return [os.path.join(path, n) for n in sorted(os.listdir(path)) if os.path.join(path, n) not in known]


def apply_meta(path, item):
    """Owner, mode, xattrs (SELinux context, ACLs, capabilities) and, for files, mtime."""
    if item["kind"] == "symlink":
        os.lchown(path, item["uid"], item["gid"])
        write_xattrs(path, item.get("xattrs", {}))
        return
    # chown first: it clears setuid bits and file capabilities, which chmod and the xattrs then restore.
    os.chown(path, item["uid"], item["gid"], follow_symlinks=False)
    os.chmod(path, item["mode"])
    write_xattrs(path, item.get("xattrs", {}))
    if item["kind"] == "file":
        os.utime(path, ns=(item["mtime_ns"], item["mtime_ns"]), follow_symlinks=False)


# ---------------------------------------------------------------- files


class FileRestorer:
    def __init__(self, manifest, snap_dir, run_state, cache):
        self.cache = cache
        self.items = sorted(manifest["items"], key=lambda i: i["path"].split("/"))
        self.known = {i["path"] for i in self.items}
        self.captured_dirs = {i["path"] for i in self.items if i["kind"] == "dir"}
        self.snap_dir = snap_dir
        self.run = run_state
        self.batch = []
        self.batch_bytes = 0
        self.dirty_dirs = set()  # directories whose entries changed: fsynced at the end
        self.dirty_files = set()  # files whose metadata alone changed: fsynced at the end
        self.sync_all = None  # a directory of a file system to syncfs at the end (rare cases)
        self.parents = set()  # directories known to exist
        self.devices = {}  # directory -> st_dev, for syncfs

    def _touch(self, path):
        self.dirty_dirs.add(os.path.dirname(path))

    def _durable(self, files, dirs):
        """Make files (content and metadata) and dirs (entries) durable.

        Few paths: an fsync each. Many: one syncfs per file system instead, because every fsync also
        flushes the disk's write cache, and hundreds of flushes cost far more than writing the data.
        """
        if len(files) + len(dirs) <= SYNC_EACH_MAX or not has_syncfs():
            for path in files:
                try:
                    fdatasync_path(path)
                except OSError as exc:
                    if exc.errno not in (errno.ENOENT, errno.ELOOP):
                        raise
            for path in sorted(dirs, key=lambda p: -p.count("/")):
                try:
                    fsync_dir(path)
                except OSError as exc:
                    if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
                        raise
            return
        devices = {}
        for path in sorted({os.path.dirname(f) for f in files} | set(dirs)):
            dev = self.devices.get(path)
            if dev is None:
                st = lstat_or_none(path)
                if st is None or not stat.S_ISDIR(st.st_mode):
                    continue
                dev = self.devices[path] = st.st_dev
            devices.setdefault(dev, path)
        for path in devices.values():
            sync_filesystem(path)

    def _sync(self):
        """Make what this run changed durable: files whose metadata alone changed and every directory
        whose entries changed. The contents were made durable before their renames (_flush)."""
        if self.sync_all:
            # Parents were created (makedirs); their own entries are covered by syncing that file system.
            sync_filesystem(self.sync_all)
        self._durable(sorted(self.dirty_files), self.dirty_dirs)

    def restore(self):
        self._remove_added()
        for item in self.items:
            self.run.tick()
            try:
                self._restore_item(item)
            except OSError as exc:
                self.run.fail(label(item), "%s: %s" % (exc.strerror or exc, exc.filename or item["path"]))
        self._flush()
        for item in reversed(self.items):
            if item["kind"] != "dir":
                continue
            self.run.tick()
            try:
                aspects = [a for a in diff_item(item, self.cache) if a in ("mode", "owner", "xattrs")]
                if aspects:
                    apply_meta(item["path"], item)
                    self.dirty_dirs.add(item["path"])
                    self._touch(item["path"])
                    self.run.did("%s (%s)" % (label(item), ", ".join(aspects)))
            except OSError as exc:
                self.run.fail(label(item), exc.strerror or exc)
        self._sync()

    def _remove_added(self):
        for item in self.items:
            self.run.tick()
            try:
                self._remove_added_for(item)
            except OSError as exc:
                self.run.fail(label(item), "%s: %s" % (exc.strerror or exc, exc.filename or item["path"]))

    def _remove_added_for(self, item):
        if item["kind"] == "absent":
            if lstat_or_none(item["path"]) is not None:
                self._touch(item["path"])
                remove_any(item["path"])
                self.parents.clear()
                self.run.did("%s (removed: the change added it)" % label(item))
        elif item["kind"] == "dir":
            for path in extras(item, self.known):
                self._touch(path)
                remove_any(path)
                self.parents.clear()
                if not os.path.basename(path).startswith(".cw-rollback-"):
                    self.run.did("added:%s (removed: the change added it)" % path)
        elif os.path.dirname(item["path"]) not in self.captured_dirs:
            # A temp left by a killed run beside a file whose directory is not captured.
            tmp = temp_name(item["path"])
            if lstat_or_none(tmp) is not None:
                os.unlink(tmp)

    def _restore_item(self, item):
        kind = item["kind"]
        if kind in ("absent", "uncaptured"):
            return
        aspects = diff_item(item, self.cache)
        if not aspects:
            self.run.unchanged.append(label(item))
            return
        path = item["path"]
        parent = os.path.dirname(path)
        if parent not in self.parents:
            if not os.path.isdir(parent):
                # Only reachable for a top-level scope path whose parent the change removed.
                os.makedirs(parent, 0o755)
                self.sync_all = parent
            self.parents.add(parent)
        if kind == "dir":
            if "missing" in aspects or "type" in aspects:
                remove_any(path)
                self.parents.clear()
                os.mkdir(path, 0o700)
                self._touch(path)
                self.run.did("%s (%s)" % (label(item), "recreated" if "missing" in aspects else "type"))
            # Mode, owner and xattrs of directories are set after their contents (deepest first).
            return
        if kind == "symlink":
            if set(aspects) & {"missing", "type", "target"}:
                tmp = temp_name(path)
                if lstat_or_none(tmp) is not None:
                    os.unlink(tmp)
                os.symlink(item["target"], tmp)
                apply_meta(tmp, item)
                if kind_of(lstat_or_none(path)) == "dir":
                    shutil.rmtree(path)
                os.replace(tmp, path)
            else:
                apply_meta(path, item)
            self._touch(path)
            self.run.did("%s (%s)" % (label(item), ", ".join(aspects)))
            return
        # Regular file.
        if set(aspects) & {"missing", "type", "content"}:
            if self._copy(item, aspects):
                return
            aspects = [a for a in aspects if a != "content"]
            if not aspects:
                self.run.unchanged.append(label(item))
                return
        apply_meta(path, item)
        self.dirty_files.add(path)
        self._touch(path)
        self.run.did("%s (%s)" % (label(item), ", ".join(aspects)))

    def _copy(self, item, aspects):
        """Copy the snapshot's content into a temp and queue it for the rename; True when queued.

        False when the snapshot copy is damaged but the file itself is intact (its first bytes were
        only compared with the damaged copy): then just its metadata may need restoring.
        """
        path = item["path"]
        blob = mf.blob_path(self.snap_dir, item["sha256"])
        tmp = temp_name(path)
        # A clone of a copy that is provably intact is not read back (see ContentCache.blob_intact).
        read_back = not self.cache.blob_intact(blob, item["sha256"])
        try:
            sha, _size, method = clone_or_copy(blob, tmp, writeback=True, read_back=read_back)
        except FileExistsError:
            # Left by a run that was killed; its content is not trusted.
            os.unlink(tmp)
            sha, _size, method = clone_or_copy(blob, tmp, writeback=True, read_back=read_back)
        if sha is None:
            sha = item["sha256"]
            self.run.unread_clones += 1
        if sha != item["sha256"]:
            os.unlink(tmp)
            self.cache.damaged.add(item["sha256"])
            if "content" in aspects and sha256_file(path) == item["sha256"]:
                return False
            raise OSError(errno.EIO, "snapshot copy is damaged (sha256 mismatch); file left as it is", blob)
        apply_meta(tmp, item)
        self.batch.append((tmp, item, aspects, method))
        self.batch_bytes += item["size"]
        if self.batch_bytes >= BATCH_BYTES or len(self.batch) >= BATCH_FILES:
            self._flush()
        return True

    def _flush(self):
        """Make the temps' contents durable, then rename each over its target."""
        if not self.batch:
            return
        self._durable([entry[0] for entry in self.batch], ())
        batch, self.batch, self.batch_bytes = self.batch, [], 0
        for n, (tmp, item, aspects, method) in enumerate(batch):
            path = item["path"]
            try:
                self.run.tick()
            except DeadlineExceeded:
                # Drop the temps not yet renamed; the next run writes them again.
                for left in (entry[0] for entry in batch[n:]):
                    os.unlink(left)
                raise
            try:
                if "type" in aspects and kind_of(lstat_or_none(path)) == "dir":
                    shutil.rmtree(path)
                    self.parents.clear()
                os.replace(tmp, path)
                self.run.methods[method] += 1
                self.cache.wrote(path, item["sha256"])
                self._touch(path)
                self.run.did("%s (%s)" % (label(item), ", ".join(aspects)))
            except OSError as exc:
                self.run.fail(label(item), exc.strerror or exc)


# ---------------------------------------------------------------- journal


def _journal_path(snap_dir):
    return os.path.join(snap_dir, mf.JOURNAL)


def read_journal(snap_dir):
    try:
        with open(_journal_path(snap_dir), "rb") as fh:
            data = json.loads(fh.read().decode("utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_journal(snap_dir, data):
    atomic_write_bytes(_journal_path(snap_dir), json.dumps(data, sort_keys=True).encode())


class Lock:
    """Only one rollback of a snapshot at a time; the kernel drops the lock when a run is killed."""

    def __init__(self, snap_dir):
        self.path = os.path.join(snap_dir, mf.LOCK)
        self.fd = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            raise ConflictError("another rollback of this snapshot is running (%s is locked)" % self.path) from None
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


# ---------------------------------------------------------------- packages and services


def _package_backend(manager, root, runner):
    if manager == "dpkg" and pk.Dpkg.available(root):
        return pk.Dpkg(root=root, runner=runner)
    if manager == "rpm" and pk.Rpm.available(root):
        return pk.Rpm(root=root, runner=runner)
    return None


def _service_backend(name, root, runner):
    if name == "systemd" and sv.Systemd.available(root):
        return sv.Systemd(root=root, runner=runner)
    if name == "lsb" and sv.Lsb.available(root):
        return sv.Lsb(root=root, runner=runner)
    return None


def restore_packages(manifest, snap_dir, state, root, runner, check_mode=False):
    for target in manifest["packages"]:
        state.tick()
        name = "package:%s" % target["name"]
        backend = _package_backend(target["manager"], root, runner)
        if backend is None:
            state.cannot_restore.append(
                {"item": name, "reason": "%s is not available on this host" % target["manager"]}
            )
            continue
        try:
            current = backend.query(target["name"])
            if backend.matches(target, current):
                state.unchanged.append(name)
                continue
            want = target["version"] if target["state"] == pk.INSTALLED else "not installed"
            have = current["version"] if current["state"] == pk.INSTALLED else current["state"]
            if target["source"]["method"] == "none":
                state.cannot_restore.append(
                    {"item": name, "reason": "is %s, snapshot had %s: %s" % (have, want, target.get("reason", ""))}
                )
                continue
            if not check_mode:
                blob = None
                if target["source"]["method"] == "archive":
                    blob = mf.blob_path(snap_dir, target["source"]["blob"])
                backend.restore(target, archive_path=blob)
            state.did("%s (%s -> %s)" % (name, have, want))
        except CommandError as exc:
            state.fail(name, exc)


def _services(manifest, root, runner, state):
    """(target, backend, current) per captured service; failures are recorded and skipped."""
    out = []
    for target in manifest["services"]:
        name = "service:%s" % target["name"]
        backend = _service_backend(target["backend"], root, runner)
        if backend is None:
            state.cannot_restore.append(
                {"item": name, "reason": "service backend %s is not available" % target["backend"]}
            )
            continue
        try:
            out.append((target, backend, backend.query(target["name"])))
        except CommandError as exc:
            state.fail(name, exc)
    return out


def stop_services(manifest, root, runner, state, check_mode=False):
    for target, backend, current in _services(manifest, root, runner, state):
        state.tick()
        should_run = target["present"] and target["active"]
        if current["active"] and not should_run:
            try:
                if not check_mode:
                    backend.stop(target["name"])
                state.did("service:%s (stopped)" % target["name"])
            except CommandError as exc:
                state.fail("service:%s" % target["name"], exc)


def start_services(manifest, root, runner, state, restart, check_mode=False):
    for target, backend, current in _services(manifest, root, runner, state):
        state.tick()
        name = "service:%s" % target["name"]
        try:
            if not backend.enablement_matches(target, current):
                if not check_mode:
                    backend.set_enablement(target)
                state.did("%s (enablement)" % name)
            if not (target["present"] and target["active"]):
                if not current["active"] and not any(r.startswith(name + " ") for r in state.restored):
                    state.unchanged.append(name)
                continue
            if not current["present"]:
                state.cannot_restore.append({"item": name, "reason": "its init script or unit is gone"})
            elif not current["active"]:
                if not check_mode:
                    backend.start(target["name"])
                state.did("%s (started)" % name)
            elif restart:
                if not check_mode:
                    backend.stop(target["name"])
                    backend.start(target["name"])
                state.did("%s (restarted: its files or packages were restored)" % name)
            else:
                state.unchanged.append(name)
        except (CommandError, OSError) as exc:
            state.fail(name, exc)


# ---------------------------------------------------------------- verification


def verify(manifest, root="/", runner=no_runner, state=None, cache=None):
    """Every way the current state differs from the manifest: list of {'item', 'problem'}."""
    problems = []
    items = manifest["items"]
    known = {i["path"] for i in items}
    for item in items:
        if state:
            state.tick()
        try:
            aspects = diff_item(item, cache)
        except OSError as exc:
            aspects = ["unreadable: %s" % (exc.strerror or exc)]
        if aspects:
            problems.append({"item": label(item), "problem": "differs from the snapshot: %s" % ", ".join(aspects)})
        if item["kind"] == "dir":
            for path in extras(item, known):
                problems.append({"item": "added:%s" % path, "problem": "not in the snapshot"})
    for target in manifest["packages"]:
        backend = _package_backend(target["manager"], root, runner)
        name = "package:%s" % target["name"]
        if backend is None:
            problems.append({"item": name, "problem": "%s is not available" % target["manager"]})
            continue
        try:
            current = backend.query(target["name"])
        except CommandError as exc:
            problems.append({"item": name, "problem": str(exc)})
            continue
        if not backend.matches(target, current):
            problems.append(
                {
                    "item": name,
                    "problem": "is %s %s, snapshot had %s %s"
                    % (current["state"], current["version"] or "", target["state"], target["version"] or ""),
                }
            )
    for target in manifest["services"]:
        name = "service:%s" % target["name"]
        backend = _service_backend(target["backend"], root, runner)
        if backend is None:
            problems.append({"item": name, "problem": "service backend %s is not available" % target["backend"]})
            continue
        try:
            current = backend.query(target["name"])
        except CommandError as exc:
            problems.append({"item": name, "problem": str(exc)})
            continue
        want_active = target["present"] and target["active"]
        if current["active"] != want_active:
            problems.append(
                {
                    "item": name,
                    "problem": "is %s, snapshot had it %s"
                    % ("running" if current["active"] else "stopped", "running" if want_active else "stopped"),
                }
            )
        if not backend.enablement_matches(target, current):
            problems.append({"item": name, "problem": "boot enablement differs from the snapshot"})
    for command in manifest["verify"]:
        name = "verify:%s" % command["name"]
        try:
            got = run_verify(command, runner=runner)
        except CommandError as exc:
            problems.append({"item": name, "problem": str(exc)})
            continue
        if got["rc"] != command["rc"]:
            problems.append({"item": name, "problem": "exit code %s, snapshot had %s" % (got["rc"], command["rc"])})
        elif got["stdout_sha256"] != command["stdout_sha256"]:
            problems.append({"item": name, "problem": "output differs from the snapshot"})
    return problems


# ---------------------------------------------------------------- entry point


def rollback(
    store=mf.DEFAULT_STORE,
    change_id=None,
    snapshot_id=None,
    deadline_seconds=None,
    check_mode=False,
    root="/",
    runner=no_runner,
    progress=None,
    host=None,
    read_back_clones=False,
):
    """Restore a snapshot and verify it. Returns the module result; raises typed errors.

    DeadlineExceeded carries the partial result in ``.result``.
    """
    state = Run(deadline_seconds=deadline_seconds, progress=progress)
    host = host or socket.gethostname()
    store = normalize_path(store)
    if deadline_seconds is not None and deadline_seconds <= 0:
        raise ScopeError("deadline_seconds must be positive")
    if snapshot_id and not os.path.isdir(mf.snapshot_dir(store, snapshot_id)):
        if os.path.isfile(mf.snapshot_dir(store, snapshot_id) + mf.ARCHIVE):
            if check_mode:
                raise NotFoundError(
                    "snapshot %s is only an archive in %s; check mode does not unpack it" % (snapshot_id, store)
                )
            archive_mod.extract(store, snapshot_id)
    manifest = mf.resolve(store, change_id=change_id, snapshot_id=snapshot_id)
    snap_dir = mf.snapshot_dir(store, manifest["snapshot_id"])
    result = {
        "snapshot_id": manifest["snapshot_id"],
        "change_id": manifest["change_id"],
        "store": store,
        "deadline_seconds": deadline_seconds,
        "resumed": False,
    }

    if check_mode:
        return _check(manifest, snap_dir, state, root, runner, result)

    with Lock(snap_dir):
        journal = read_journal(snap_dir)
        resumed = journal.get("state") == "running"
        result["resumed"] = resumed
        journal.update(state="running", runs=journal.get("runs", 0) + 1, started=time.time())
        write_journal(snap_dir, journal)
        try:
            stop_services(manifest, root, runner, state)
            restore_packages(manifest, snap_dir, state, root, runner)
            cache = ContentCache(snap_dir, trust_blobs=not read_back_clones)
            cache.load(os.path.join(snap_dir, mf.STAT_CACHE))
            FileRestorer(manifest, snap_dir, state, cache).restore()
            changed_content = any(not r.startswith("service:") for r in state.restored)
            start_services(manifest, root, runner, state, restart=changed_content or resumed)
            problems = verify(manifest, root=root, runner=runner, state=state, cache=cache)
        except DeadlineExceeded as exc:
            result.update(state.outcome(), changed=bool(state.restored), verified=False)
            result["ledger_event"] = _event(ROLLBACK_FAILED, manifest, result, host, str(exc))
            exc.result = result
            raise
        state.mismatches = problems
        try:
            cache.save(
                os.path.join(snap_dir, mf.STAT_CACHE), [i["path"] for i in manifest["items"] if i["kind"] == "file"]
            )
        except OSError:
            pass  # only a shortcut for the next run; the rollback itself is done and verified
        result.update(state.outcome(), changed=bool(state.restored))
        result["verification"] = problems
        result["verified"] = not problems and not state.failed and not state.cannot_restore
        journal.update(
            state="done",
            finished=time.time(),
            last={
                "restored": len(state.restored),
                "failed": len(state.failed),
                "cannot_restore": len(state.cannot_restore),
                "verified": result["verified"],
                "duration_seconds": result["duration_seconds"],
            },
        )
        write_journal(snap_dir, journal)
    ok = result["verified"]
    late = deadline_seconds is not None and state.elapsed() > deadline_seconds
    reason = None
    if late:
        reason = "rollback took %.3fs, past its deadline of %ss" % (state.elapsed(), deadline_seconds)
    elif not ok:
        reason = "%d item(s) do not match the snapshot after rollback" % (
            len(problems) or len(state.failed) + len(state.cannot_restore)
        )
    result["ledger_event"] = _event(
        ROLLBACK_COMPLETED if ok and not late else ROLLBACK_FAILED, manifest, result, host, reason
    )
    if late:
        exc = DeadlineExceeded(reason, elapsed=state.elapsed(), deadline=deadline_seconds)
        exc.result = result
        raise exc
    return result


def _check(manifest, snap_dir, state, root, runner, result):
    """Check mode: what would be restored, nothing written."""
    known = {i["path"] for i in manifest["items"]}
    cache = ContentCache(snap_dir)
    cache.load(os.path.join(snap_dir, mf.STAT_CACHE))
    stop_services(manifest, root, runner, state, check_mode=True)
    restore_packages(manifest, snap_dir, state, root, runner, check_mode=True)
    for item in sorted(manifest["items"], key=lambda i: i["path"].split("/")):
        if item["kind"] == "uncaptured":
            continue
        aspects = diff_item(item, cache)
        if aspects:
            state.restored.append("%s (%s)" % (label(item), ", ".join(aspects)))
        elif item["kind"] != "absent":
            state.unchanged.append(label(item))
        if item["kind"] == "dir":
            state.restored += ["added:%s (would be removed)" % p for p in extras(item, known)]
    changed_content = any(not r.startswith("service:") for r in state.restored)
    start_services(manifest, root, runner, state, restart=changed_content, check_mode=True)
    result.update(state.outcome(), changed=bool(state.restored), verified=False, verification=[])
    result["ledger_event"] = None
    return result


def _event(event_type, manifest, result, host, reason):
    data = {
        "snapshot_id": manifest["snapshot_id"],
        "restored": len(result.get("restored", [])),
        "unchanged": len(result.get("unchanged", [])),
        "cannot_restore": len(result.get("cannot_restore", [])),
        "failed": len(result.get("failed", [])),
        "verified": result.get("verified", False),
        "duration_seconds": result.get("duration_seconds"),
        "deadline_seconds": result.get("deadline_seconds"),
        "resumed": result.get("resumed", False),
    }
    if reason:
        data["reason"] = reason
    return ledger_event(event_type, manifest["change_id"], data, host=host)
