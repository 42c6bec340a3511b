# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Taking a snapshot: plan the scope, check the space, copy, write the manifest last.

``plan()`` only reads (it is what check mode reports); ``take()`` refuses before writing anything
when the store lacks room for the plan plus the requested headroom, then fills
``<store>/<id>.partial`` and renames it into place once the manifest is on disk.
"""

import fcntl
import json
import os
import shutil
import socket
import stat
import time

from ansible_collections.changeward.hybrid.plugins.module_utils.filemodes import private_dir
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import archive as archive_mod
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import manifest as mf
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import packages as pk
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import services as sv
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.errors import (
    CommandError,
    ConflictError,
    ScopeError,
    SpaceError,
)
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.events import (
    SNAPSHOT_NOT_RESTORABLE,
    SNAPSHOT_TAKEN,
    ledger_event,
)
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.fsutil import (
    COPY,
    RACY_NS,
    REFLINK,
    atomic_write_bytes,
    clone_or_copy,
    file_identity,
    fs_space,
    fsync_dir,
    is_within,
    kind_of,
    lstat_or_none,
    method_of,
    on_disk,
    parse_size,
    read_xattrs,
    sha256_bytes,
    sync_filesystem,
)
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.proc import no_runner

CAPABILITIES = ("full", "partial", "none")
VERIFY_TIMEOUT = 60
# What the manifest and bookkeeping take besides contents: generous, so the space check errs high.
MANIFEST_BYTES_PER_ITEM = 600
FIXED_OVERHEAD = 256 * 1024


def normalize_path(path):
    if not isinstance(path, str) or not path:
        raise ScopeError("scope path %r is not a path" % (path,))
    if "\x00" in path:
        raise ScopeError("scope path %r contains a NUL byte" % (path,))
    if not path.startswith("/"):
        raise ScopeError("scope path %r is not absolute" % (path,))
    norm = os.path.normpath(path)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    if norm == "/":
        raise ScopeError("scope path / is not allowed: name the files and directories the change touches")
    return norm


def normalize_scope(scope):
    """The scope with defaults filled, paths normalised and names checked; raises ScopeError."""
    scope = dict(scope or {})
    unknown = sorted(set(scope) - {"paths", "packages", "services", "verify_commands"})
    if unknown:
        raise ScopeError("unknown scope keys: %s" % ", ".join(unknown))
    paths = sorted({normalize_path(p) for p in (scope.get("paths") or [])})
    packages = sorted({pk.check_name(p) for p in (scope.get("packages") or [])})
    services = sorted({sv.check_name(s) for s in (scope.get("services") or [])})
    verify = []
    names = set()
    for i, cmd in enumerate(scope.get("verify_commands") or []):
        if not isinstance(cmd, dict) or not cmd.get("name") or not cmd.get("cmd"):
            raise ScopeError("verify_commands[%d] needs a name and a cmd" % i)
        if cmd["name"] in names:
            raise ScopeError("verify_commands: name %r is used twice" % cmd["name"])
        names.add(cmd["name"])
        timeout = cmd.get("timeout") or VERIFY_TIMEOUT
        if not isinstance(timeout, int) or timeout <= 0:
            raise ScopeError("verify_commands[%d].timeout must be a positive integer" % i)
        verify.append({"name": str(cmd["name"]), "cmd": str(cmd["cmd"]), "timeout": timeout})
    if not (paths or packages or services or verify):
        raise ScopeError("the scope is empty: give paths, packages, services or verify_commands")
    return {"paths": paths, "packages": packages, "services": services, "verify_commands": verify}


def _meta(path, st):
    return {
        "path": path,
        "mode": stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "xattrs": read_xattrs(path),
    }


def _walk(root_path, st, items, not_covered):
    """Append items for root_path and, for a directory, everything below it (links are not followed)."""
    stack = [(root_path, st)]
    while stack:
        path, st = stack.pop()
        kind = kind_of(st)
        if kind == "dir":
            items.append(dict(_meta(path, st), kind="dir"))
            try:
                names = sorted(os.listdir(path))
            except OSError as exc:
                raise ScopeError("cannot read directory %s: %s" % (path, exc.strerror)) from None
            for name in reversed(names):
                child = os.path.join(path, name)
                stack.append((child, os.lstat(child)))
        elif kind == "file":
            item = dict(_meta(path, st), kind="file", size=st.st_size, mtime_ns=st.st_mtime_ns)
            items.append(item)
            if st.st_nlink > 1:
                not_covered.append(
                    {
                        "kind": "hardlink",
                        "name": path,
                        "reason": "has %d hard links; content and metadata are captured, the link is not "
                        "(rollback restores it as an independent file)" % st.st_nlink,
                    }
                )
        elif kind == "symlink":
            item = {
                "kind": "symlink",
                "path": path,
                "target": os.readlink(path),
                "uid": st.st_uid,
                "gid": st.st_gid,
                "xattrs": read_xattrs(path),
            }
            items.append(item)
        else:
            # Kept in the manifest so rollback leaves it alone instead of deleting it as an extra.
            items.append({"kind": "uncaptured", "path": path, "type": kind})
            not_covered.append(
                {"kind": kind, "name": path, "reason": "%s files are not captured; rollback leaves it as it is" % kind}
            )


def plan_paths(paths, store):
    """Items for every scope path and what cannot be captured; reads only."""
    items = []
    not_covered = []
    covered_trees = []  # captured directories and absent roots: anything below is already handled
    for path in paths:
        if is_within(path, store) or is_within(store, path):
            raise ScopeError("scope path %s overlaps the snapshot store %s" % (path, store))
        if any(is_within(path, t) for t in covered_trees):
            continue
        st = lstat_or_none(path)
        if st is None:
            # Record absence at the highest missing ancestor: the change may create the whole
            # branch, and rollback must remove all of it, not just the leaf.
            top = path
            while True:
                parent = os.path.dirname(top)
                if parent == top or lstat_or_none(parent) is not None:
                    break
                top = parent
            if any(i["path"] == top for i in items):
                continue
            items.append({"kind": "absent", "path": top, "scope_path": path})
            covered_trees.append(top)
            continue
        _walk(path, st, items, not_covered)
        if kind_of(st) == "dir":
            covered_trees.append(path)
    items.sort(key=lambda i: i["path"].split("/"))
    return items, not_covered


def plan(scope, store=mf.DEFAULT_STORE, package_dirs=(), root="/", runner=no_runner):
    """What a snapshot of this scope would hold: items, packages, services, commands, sizes."""
    scope = normalize_scope(scope)
    store = normalize_path(store)
    items, not_covered = plan_paths(scope["paths"], store)

    packages = []
    if scope["packages"]:
        backend = pk.detect(root=root, package_dirs=package_dirs, runner=runner)
        for name in scope["packages"]:
            if backend is None:
                not_covered.append({"kind": "package", "name": name, "reason": "no dpkg or rpm on this host"})
                continue
            try:
                entry = backend.plan(name)
            except CommandError as exc:
                not_covered.append({"kind": "package", "name": name, "reason": str(exc)})
                continue
            if entry["source"]["method"] == "none":
                not_covered.append({"kind": "package", "name": name, "reason": entry["reason"]})
            packages.append(entry)

    services = []
    if scope["services"]:
        backend = sv.detect(root=root, runner=runner)
        for name in scope["services"]:
            if backend is None:
                not_covered.append(
                    {
                        "kind": "service",
                        "name": name,
                        "reason": "no service manager (no systemd as PID 1, no /etc/init.d)",
                    }
                )
                continue
            try:
                entry = backend.query(name)
            except CommandError as exc:
                not_covered.append({"kind": "service", "name": name, "reason": str(exc)})
                continue
            services.append(entry)  # its running state is restored either way
            reason = backend.not_restorable(entry) if hasattr(backend, "not_restorable") else None
            if reason:
                not_covered.append({"kind": "service", "name": name, "reason": reason})

    content = sum(i["size"] for i in items if i["kind"] == "file")
    archives = sum(p["source"].get("size", 0) for p in packages)
    needed = (
        sum(on_disk(i["size"]) for i in items if i["kind"] == "file")
        + sum(on_disk(p["source"].get("size", 0)) for p in packages if p["source"]["method"] == "archive")
        + MANIFEST_BYTES_PER_ITEM * (len(items) + len(packages) + len(services))
        + FIXED_OVERHEAD
    )
    return {
        "scope": scope,
        "store": store,
        "items": items,
        "packages": packages,
        "services": services,
        "verify": scope["verify_commands"],
        "not_covered": not_covered,
        "content_bytes": content + archives,
        "needed_bytes": needed,
        "inodes": sum(1 for i in items if i["kind"] == "file") + len(packages) + 16,
    }


def check_space(the_plan, min_free, archive=False):
    """Raise SpaceError unless the store has room for the plan and still keeps min_free afterwards."""
    store = the_plan["store"]
    free, total, inodes = fs_space(store)
    try:
        headroom = parse_size(min_free, total=total)
    except ValueError as exc:
        raise ScopeError("min_free: %s" % exc) from None
    needed = the_plan["needed_bytes"]
    if archive:
        # The archive holds the same contents again (tar blocks of 512 bytes plus headers).
        needed += the_plan["content_bytes"] + 1024 * (len(the_plan["items"]) + len(the_plan["packages"]) + 20)
    space = {"free_bytes": free, "needed_bytes": needed, "headroom_bytes": headroom, "total_bytes": total}
    if free - needed < headroom:
        raise SpaceError(
            "not enough free space for the snapshot in %s: needs %d bytes and must leave %d (min_free %s), "
            "but only %d are free; nothing was written" % (store, needed, headroom, min_free, free),
            needed=needed,
            free=free,
            headroom=headroom,
        )
    if inodes is not None and inodes < the_plan["inodes"] * (2 if archive else 1):
        raise SpaceError(
            "not enough free inodes for the snapshot in %s: needs %d, %d free; nothing was written"
            % (store, the_plan["inodes"], inodes),
            needed=needed,
            free=free,
            headroom=headroom,
        )
    return space


def _summary(the_plan):
    kinds = {}
    for i in the_plan["items"]:
        kinds[i["kind"]] = kinds.get(i["kind"], 0) + 1
    return {
        "files": kinds.get("file", 0),
        "dirs": kinds.get("dir", 0),
        "symlinks": kinds.get("symlink", 0),
        "absent": kinds.get("absent", 0),
        "uncaptured": kinds.get("uncaptured", 0),
        "packages": len(the_plan["packages"]),
        "services": len(the_plan["services"]),
        "verify_commands": len(the_plan["verify"]),
        "bytes": the_plan["content_bytes"],
    }


def _coverage(capability, not_covered):
    if capability == "none":
        return "none"
    if capability == "partial" or not_covered:
        return "partial"
    return "full"


def _copy_blob(path, item, blobs, seen=None, methods=None, blob_ids=None):
    """Copy (or clone) one file into the blob store, retrying when it changes under us; returns its sha256.

    seen (path -> [identity, sha256]) gets the file's identity when it was stable long enough that a
    later write cannot leave it unchanged (see restore.ContentCache).
    """
    for _attempt in range(3):
        looked = time.time_ns()
        before = os.lstat(path)
        if not stat.S_ISREG(before.st_mode):
            raise ScopeError("%s changed type while the snapshot ran" % path)
        tmp = os.path.join(blobs, ".incoming")
        if lstat_or_none(tmp) is not None:
            os.unlink(tmp)
        sha, size, method = clone_or_copy(path, tmp)
        after = os.lstat(path)
        if (before.st_size, before.st_mtime_ns, before.st_ctime_ns) == (
            after.st_size,
            after.st_mtime_ns,
            after.st_ctime_ns,
        ) and size == after.st_size:
            final = os.path.join(blobs, sha)
            if os.path.exists(final):
                os.unlink(tmp)
            else:
                os.rename(tmp, final)
            if blob_ids is not None and sha not in blob_ids:
                # Only this capture writes the blob, so its identity now vouches for the sha256 just taken.
                blob_ids[sha] = file_identity(os.lstat(final))
            item.update(_meta(path, after), size=size, mtime_ns=after.st_mtime_ns, sha256=sha)
            if methods is not None:
                methods[method] += 1
            if seen is not None and after.st_ctime_ns < looked - RACY_NS:
                seen[path] = [file_identity(after), sha]
            return sha, size
        os.unlink(tmp)
    raise ScopeError("%s keeps changing while the snapshot runs; stop what writes it and retry" % path)


def run_verify(command, runner=no_runner):
    # Operator-declared verification commands are shell lines by contract (pipes, env vars).
    rc, out, _err = runner(command["cmd"], timeout=command["timeout"], shell=True)  # noqa: S604
    return {"rc": rc, "stdout_sha256": sha256_bytes(out), "stdout_bytes": len(out)}


def _blob_bytes(blobs):
    return sum(os.path.getsize(os.path.join(blobs, f)) for f in os.listdir(blobs) if not f.startswith("."))


def take(
    change_id,
    scope,
    store=mf.DEFAULT_STORE,
    min_free="5%",
    archive=False,
    rollback_capability="full",
    package_dirs=(),
    existing="reuse",
    check_mode=False,
    root="/",
    runner=no_runner,
    host=None,
):
    """Take (or, in check mode, plan) a snapshot; returns the module result without 'changed' decided by caller."""
    started = time.monotonic()
    host = host or socket.gethostname()
    mf.check_change_id(change_id)
    if rollback_capability not in CAPABILITIES:
        raise ScopeError("rollback_capability must be one of %s" % ", ".join(CAPABILITIES))
    if existing not in ("reuse", "new"):
        raise ScopeError("existing must be reuse or new")
    norm_scope = normalize_scope(scope)
    store = normalize_path(store)
    result = {
        "change_id": change_id,
        "store": store,
        "snapshot_id": None,
        "manifest": None,
        "archive": None,
        "item_count": 0,
        "bytes": 0,
        "not_covered": [],
        "rollback_capability": rollback_capability,
        "changed": False,
        "reused": False,
        "ledger_event": None,
        "method": "none",
        "method_counts": {REFLINK: 0, COPY: 0},
    }

    if rollback_capability == "none":
        # The label says this host cannot be rolled back: do not pretend otherwise by capturing.
        result.update(
            coverage="none",
            restorable=False,
            not_covered=[
                {
                    "kind": "host",
                    "name": host,
                    "reason": "host is labelled rollback_capability=none: nothing is captured and the host "
                    "is not restorable",
                }
            ],
            duration_seconds=round(time.monotonic() - started, 3),
        )
        result["ledger_event"] = ledger_event(
            SNAPSHOT_NOT_RESTORABLE,
            change_id,
            {"coverage": "none", "reason": result["not_covered"][0]["reason"], "scope": _scope_summary(norm_scope)},
            host=host,
        )
        return result

    if existing == "reuse":
        snaps = mf.find_for_change(store, change_id)
        if snaps:
            manifest = mf.load(store, snaps[0]["snapshot_id"])
            if manifest["scope"] != norm_scope:
                raise ConflictError(
                    "change %s already has snapshot %s with a different scope; a second snapshot would capture the "
                    "changed state, so pass existing=new only if that is what you want"
                    % (change_id, manifest["snapshot_id"])
                )
            snap_dir = mf.snapshot_dir(store, manifest["snapshot_id"])
            tar = snap_dir + mf.ARCHIVE
            result.update(
                snapshot_id=manifest["snapshot_id"],
                manifest=os.path.join(snap_dir, mf.MANIFEST),
                archive=tar if os.path.isfile(tar) else None,
                item_count=len(manifest["items"]) + len(manifest["packages"]) + len(manifest["services"]),
                bytes=manifest["bytes"],
                not_covered=manifest["not_covered"],
                coverage=manifest["coverage"],
                restorable=True,
                reused=True,
                captured=manifest["summary"],
                duration_seconds=round(time.monotonic() - started, 3),
            )
            if archive and not result["archive"] and not check_mode:
                result["archive"] = archive_mod.create(store, manifest["snapshot_id"])
                result["changed"] = True
            return result

    the_plan = plan(norm_scope, store=store, package_dirs=package_dirs, root=root, runner=runner)
    the_plan["scope"] = norm_scope
    space = check_space(the_plan, min_free, archive=archive)
    not_covered = list(the_plan["not_covered"])
    if rollback_capability == "partial":
        not_covered.insert(
            0,
            {
                "kind": "host",
                "name": host,
                "reason": "host is labelled rollback_capability=partial: what is listed here and anything outside the "
                "declared scope cannot be rolled back",
            },
        )
    coverage = _coverage(rollback_capability, not_covered)
    summary = _summary(the_plan)
    result.update(
        not_covered=not_covered,
        coverage=coverage,
        restorable=True,
        captured=summary,
        space=space,
        bytes=the_plan["content_bytes"],
        item_count=len(the_plan["items"]) + len(the_plan["packages"]) + len(the_plan["services"]),
    )
    if check_mode:
        result["duration_seconds"] = round(time.monotonic() - started, 3)
        result["changed"] = True
        return result

    snapshot_id = mf.new_snapshot_id(change_id)
    final_dir = mf.snapshot_dir(store, snapshot_id)
    partial = final_dir + mf.PARTIAL
    # The store holds copies of whatever the scope covers (keys, configs): 0700, a looser one is tightened.
    warning = private_dir(store)
    if warning:
        result.setdefault("warnings", []).append("snapshot store " + warning)
    os.mkdir(partial, 0o700)
    methods = result["method_counts"]
    try:
        manifest = _fill(
            partial,
            snapshot_id,
            change_id,
            host,
            norm_scope,
            the_plan,
            rollback_capability,
            coverage,
            not_covered,
            summary,
            runner,
            methods,
        )
    except BaseException:
        # A failed capture leaves nothing behind that could be mistaken for (or crowd out) a snapshot.
        shutil.rmtree(partial, ignore_errors=True)
        raise
    os.rename(partial, final_dir)
    fsync_dir(store)
    result.update(
        snapshot_id=snapshot_id,
        manifest=os.path.join(final_dir, mf.MANIFEST),
        bytes=manifest["bytes"],
        changed=True,
        method=method_of(methods),
    )
    if archive:
        result["archive"] = archive_mod.create(store, snapshot_id)
    result["duration_seconds"] = round(time.monotonic() - started, 3)
    result["ledger_event"] = ledger_event(
        SNAPSHOT_TAKEN,
        change_id,
        {
            "snapshot_id": snapshot_id,
            "coverage": coverage,
            "item_count": result["item_count"],
            "bytes": result["bytes"],
            "not_covered": len(not_covered),
            "archive": bool(result["archive"]),
            "duration_seconds": result["duration_seconds"],
        },
        host=host,
    )
    return result


def _fill(
    partial,
    snapshot_id,
    change_id,
    host,
    norm_scope,
    the_plan,
    rollback_capability,
    coverage,
    not_covered,
    summary,
    runner,
    methods,
):
    """Copy contents and package archives, run the verify commands, then write the manifest last."""
    lock_fd = os.open(os.path.join(partial, ".capture.lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        # Held while capturing; retention treats a .partial whose lock it can take as abandoned.
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        blobs = os.path.join(partial, mf.BLOBS)
        os.mkdir(blobs, 0o700)
        seen, blob_ids = {}, {}
        for item in the_plan["items"]:
            if item["kind"] == "file":
                _copy_blob(item["path"], item, blobs, seen, methods, blob_ids)
        atomic_write_bytes(
            os.path.join(partial, mf.STAT_CACHE), json.dumps({"files": seen, "blobs": blob_ids}).encode()
        )
        for entry in the_plan["packages"]:
            src = entry["source"]
            if src["method"] == "archive":
                sha, size, method = clone_or_copy(src["path"], os.path.join(blobs, ".incoming"))
                methods[method] += 1
                os.rename(os.path.join(blobs, ".incoming"), os.path.join(blobs, sha))
                entry["source"] = {"method": "archive", "blob": sha, "origin": src["path"], "size": size}
        verify = []
        for command in the_plan["verify"]:
            try:
                got = run_verify(command, runner=runner)
            except CommandError as exc:
                raise ScopeError("verify command %s: %s" % (command["name"], exc)) from None
            if got["rc"] in (126, 127):
                # A check that cannot run would "verify" anything later; refuse it now.
                raise ScopeError(
                    "verify command %s cannot run (exit code %d: not found or not executable)"
                    % (command["name"], got["rc"])
                )
            verify.append(dict(command, **got))
        sync_filesystem(blobs)
        manifest = {
            "format": mf.FORMAT,
            "snapshot_id": snapshot_id,
            "change_id": change_id,
            "host": host,
            "created": mf.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "created_epoch": time.time(),
            "scope": norm_scope,
            "rollback_capability": rollback_capability,
            "coverage": coverage,
            "not_covered": not_covered,
            "items": the_plan["items"],
            "packages": the_plan["packages"],
            "services": the_plan["services"],
            "verify": verify,
            "summary": summary,
            "bytes": _blob_bytes(blobs),
        }
        mf.write_manifest(partial, mf.seal(manifest))
        os.unlink(os.path.join(partial, ".capture.lock"))
    finally:
        os.close(lock_fd)
    return manifest


def _scope_summary(scope):
    return {
        "paths": len(scope["paths"]),
        "packages": len(scope["packages"]),
        "services": len(scope["services"]),
        "verify_commands": len(scope["verify_commands"]),
    }
