# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention of one host's snapshot store: by age and by count, never a snapshot of an open change.

- A snapshot whose change id is in ``protected_change_ids`` (the ledger's open changes) is kept.
- Of the others, one older than ``max_age_seconds`` goes, and beyond the newest ``max_count`` they go.
- A damaged snapshot (manifest unreadable or failing its digests) is reported, never removed: nobody
  can tell which change it belongs to.
- A ``.partial`` capture whose capture lock is free and that is older than ``PARTIAL_GRACE`` seconds was
  abandoned (its capture was killed) and is removed.

Removal first renames the snapshot to ``<id>.partial`` so a prune killed half-way never leaves a
directory that looks like a complete snapshot with missing contents.
"""

import errno
import fcntl
import os
import shutil
import socket
import time

from ansible_collections.changeward.hybrid.plugins.module_utils import timeparse
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import manifest as mf
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.capture import normalize_path
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.errors import ScopeError
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.events import SNAPSHOT_PRUNED, ledger_event
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.fsutil import fsync_dir

PARTIAL_GRACE = 600


def _tree_bytes(path):
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def _abandoned(partial, now):
    """True when no capture holds the partial's lock and it has not been touched for PARTIAL_GRACE."""
    try:
        if now - os.lstat(partial).st_mtime < PARTIAL_GRACE:
            return False
    except OSError:
        return False
    lock = os.path.join(partial, ".capture.lock")
    try:
        fd = os.open(lock, os.O_WRONLY)
    except OSError as exc:
        return exc.errno == errno.ENOENT
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _remove_snapshot(store, snapshot_id):
    snap_dir = mf.snapshot_dir(store, snapshot_id)
    doomed = snap_dir + mf.PARTIAL
    if os.path.lexists(doomed):
        shutil.rmtree(doomed)
    os.rename(snap_dir, doomed)
    fsync_dir(store)
    shutil.rmtree(doomed)
    tar = snap_dir + mf.ARCHIVE
    if os.path.isfile(tar):
        os.unlink(tar)


def prune(store, protected_change_ids, max_age_seconds=None, max_count=None, check_mode=False, now=None, host=None):
    if max_age_seconds is None and max_count is None:
        raise ScopeError("give max_age or max_count; pruning without a rule would remove nothing or everything")
    if max_age_seconds is not None and max_age_seconds < 0:
        raise ScopeError("max_age must not be negative")
    if max_count is not None and max_count < 0:
        raise ScopeError("max_count must not be negative")
    if protected_change_ids is None:
        raise ScopeError("protected_change_ids is required (the open changes from the ledger; [] when none)")
    store = normalize_path(store)
    protected_ids = set(protected_change_ids)
    now = time.time() if now is None else now
    host = host or socket.gethostname()

    entries = mf.list_snapshots(store)
    complete = sorted(
        (e for e in entries if e["status"] == "complete"),
        key=lambda e: (e["created_epoch"], e["snapshot_id"]),
        reverse=True,
    )
    result = {
        "store": store,
        "pruned": [],
        "kept": [],
        "protected": [],
        "damaged": [],
        "abandoned": [],
        "freed_bytes": 0,
    }
    unprotected_seen = 0
    for entry in complete:
        sid = entry["snapshot_id"]
        if entry["change_id"] in protected_ids:
            result["protected"].append(sid)
            continue
        unprotected_seen += 1
        reasons = []
        age = now - entry["created_epoch"]
        if max_age_seconds is not None and age > max_age_seconds:
            reasons.append("older than max_age (%ds > %ds)" % (age, max_age_seconds))
        if max_count is not None and unprotected_seen > max_count:
            reasons.append("beyond max_count %d" % max_count)
        if not reasons:
            result["kept"].append(sid)
            continue
        size = _tree_bytes(entry["path"])
        if os.path.isfile(entry["path"] + mf.ARCHIVE):
            size += os.path.getsize(entry["path"] + mf.ARCHIVE)
        if not check_mode:
            _remove_snapshot(store, sid)
        result["freed_bytes"] += size
        result["pruned"].append(
            {
                "snapshot_id": sid,
                "change_id": entry["change_id"],
                "created": entry["created"],
                "reason": "; ".join(reasons),
            }
        )
    for entry in entries:
        if entry["status"] == "damaged":
            result["damaged"].append({"snapshot_id": entry["snapshot_id"], "error": entry["error"]})
        elif entry["status"] == "partial" and _abandoned(entry["path"], now):
            result["freed_bytes"] += _tree_bytes(entry["path"])
            if not check_mode:
                shutil.rmtree(entry["path"])
            result["abandoned"].append(entry["snapshot_id"])
    if os.path.isdir(store):
        for name in sorted(os.listdir(store)):
            path = os.path.join(store, name)
            if (
                name.endswith(mf.ARCHIVE + mf.PARTIAL)
                and os.path.isfile(path)
                and now - os.lstat(path).st_mtime > PARTIAL_GRACE
            ):
                result["freed_bytes"] += os.lstat(path).st_size
                if not check_mode:
                    os.unlink(path)
                result["abandoned"].append(name)
    result["changed"] = bool(result["pruned"] or result["abandoned"])
    by_change = {}
    for p in result["pruned"]:
        by_change.setdefault(p["change_id"], []).append(p["snapshot_id"])
    result["ledger_events"] = (
        [
            ledger_event(SNAPSHOT_PRUNED, cid, {"snapshot_ids": sids, "store": store}, host=host)
            for cid, sids in sorted(by_change.items())
        ]
        if not check_mode
        else []
    )
    return result


def parse_duration(value):
    """Whole seconds of a duration, read by the collection's one duration parser (module_utils.timeparse):
    '3600', '90m', '12h', '7d', '2w', '1d12h'; zero is allowed (prune everything not protected)."""
    try:
        return int(timeparse.parse_duration(str(value).strip().lower(), "max_age", allow_zero=True))
    except timeparse.TimeFormatError as exc:
        raise ScopeError(str(exc)) from None
