# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The snapshot manifest: what a snapshot holds, how it is laid out in the store, how it is checked.

Store layout (one store per host, default /var/lib/changeward/snapshots):

    <store>/<snapshot_id>.partial/   a capture in progress (or killed); never used, pruned when abandoned
    <store>/<snapshot_id>/manifest.json
    <store>/<snapshot_id>/blobs/<sha256>   file contents and package archives, by content
    <store>/<snapshot_id>/rollback.json    the rollback journal (absent until a rollback runs)
    <store>/<snapshot_id>/stat-cache.json  sha256 of files by identity, so rollback skips untouched files
    <store>/<snapshot_id>.tar              optional archive of the snapshot, for ansible.builtin.fetch

A capture writes everything into the .partial directory and renames it to its final name only after
manifest.json is on disk, so a snapshot directory without ``.partial`` always has a complete manifest.
Every item carries a ``digest`` (sha256 of its canonical JSON) and the manifest a digest over all of it,
so a damaged manifest is refused instead of half-used.
"""

import datetime
import json
import os
import re
import uuid

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.errors import (
    ManifestError,
    NotFoundError,
    ScopeError,
)
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.fsutil import (
    atomic_write_bytes,
    sha256_bytes,
)

FORMAT = "changeward.snapshot/1"
MANIFEST = "manifest.json"
BLOBS = "blobs"
JOURNAL = "rollback.json"
STAT_CACHE = "stat-cache.json"
LOCK = "rollback.lock"
PARTIAL = ".partial"
ARCHIVE = ".tar"
DEFAULT_STORE = "/var/lib/changeward/snapshots"

# Ids become directory names and ledger subjects: no slashes, spaces or leading dots.
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SNAPSHOT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def check_change_id(change_id):
    if not isinstance(change_id, str) or not ID_RE.match(change_id):
        raise ScopeError(
            "change_id %r is not usable: letters, digits, '.', '_' or '-', starting with a letter or digit, "
            "at most 128 characters" % (change_id,)
        )
    return change_id


def check_snapshot_id(snapshot_id):
    if (
        not isinstance(snapshot_id, str)
        or not SNAPSHOT_ID_RE.match(snapshot_id)
        or snapshot_id.endswith(PARTIAL)
        or snapshot_id.endswith(ARCHIVE)
    ):
        raise ScopeError("snapshot_id %r is not a snapshot id" % (snapshot_id,))
    return snapshot_id


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def new_snapshot_id(change_id, now=None):
    now = now or utcnow()
    return "%s.%s.%s" % (change_id, now.strftime("%Y%m%dT%H%M%S%fZ"), uuid.uuid4().hex[:6])


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def item_digest(item):
    return sha256_bytes(canonical({k: v for k, v in item.items() if k != "digest"}))


def seal(manifest):
    """Add per-item digests and the manifest digest; returns the manifest."""
    for section in ("items", "packages", "services", "verify"):
        for item in manifest.get(section, []):
            item["digest"] = item_digest(item)
    manifest["complete"] = True
    manifest["digest"] = sha256_bytes(canonical({k: v for k, v in manifest.items() if k != "digest"}))
    return manifest


def check(manifest, where):
    """Raise ManifestError unless the manifest is complete and every digest matches."""
    if not isinstance(manifest, dict):
        raise ManifestError("%s: manifest is not a JSON object" % where)
    if manifest.get("format") != FORMAT:
        raise ManifestError("%s: unknown manifest format %r (expected %s)" % (where, manifest.get("format"), FORMAT))
    if manifest.get("complete") is not True:
        raise ManifestError("%s: manifest is not marked complete" % where)
    body = {k: v for k, v in manifest.items() if k != "digest"}
    if manifest.get("digest") != sha256_bytes(canonical(body)):
        raise ManifestError("%s: manifest digest does not match its content" % where)
    for section in ("items", "packages", "services", "verify"):
        entries = manifest.get(section)
        if not isinstance(entries, list):
            raise ManifestError("%s: manifest has no %s list" % (where, section))
        for i, item in enumerate(entries):
            if not isinstance(item, dict) or item.get("digest") != item_digest(item):
                raise ManifestError("%s: %s[%d] digest does not match" % (where, section, i))
    for key in ("snapshot_id", "change_id", "created"):
        if not isinstance(manifest.get(key), str):
            raise ManifestError("%s: manifest lacks %s" % (where, key))
    return manifest


def snapshot_dir(store, snapshot_id):
    return os.path.join(store, check_snapshot_id(snapshot_id))


def blob_path(snap_dir, sha):
    return os.path.join(snap_dir, BLOBS, sha)


def write_manifest(snap_dir, manifest):
    atomic_write_bytes(os.path.join(snap_dir, MANIFEST), json.dumps(manifest, indent=1, sort_keys=True).encode())


def load(store, snapshot_id):
    """Load and check the manifest of one complete snapshot."""
    snap_dir = snapshot_dir(store, snapshot_id)
    path = os.path.join(snap_dir, MANIFEST)
    if not os.path.isfile(path):
        if os.path.isdir(snap_dir + PARTIAL):
            raise NotFoundError("snapshot %s in %s is incomplete (its capture never finished)" % (snapshot_id, store))
        raise NotFoundError("no snapshot %s in %s" % (snapshot_id, store))
    try:
        with open(path, "rb") as fh:
            manifest = json.loads(fh.read().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError("%s: cannot read manifest: %s" % (path, exc)) from None
    check(manifest, path)
    if manifest["snapshot_id"] != snapshot_id:
        raise ManifestError("%s: manifest names snapshot %s" % (path, manifest["snapshot_id"]))
    return manifest


def list_snapshots(store):
    """Every entry of the store: complete snapshots, partial captures, and damaged entries.

    Returns dicts with snapshot_id, path, status (complete | partial | damaged), and for complete
    snapshots change_id, created, created_epoch and bytes; damaged entries carry an error.
    """
    out = []
    if not os.path.isdir(store):
        return out
    for name in sorted(os.listdir(store)):
        path = os.path.join(store, name)
        if name.endswith(ARCHIVE) or name.startswith(".") or not os.path.isdir(path) or os.path.islink(path):
            continue
        if name.endswith(PARTIAL):
            out.append({"snapshot_id": name[: -len(PARTIAL)], "path": path, "status": "partial"})
            continue
        entry = {"snapshot_id": name, "path": path}
        try:
            manifest = load(store, name)
        except (ManifestError, ScopeError) as exc:
            entry.update(status="damaged", error=str(exc))
        else:
            entry.update(
                status="complete",
                change_id=manifest["change_id"],
                created=manifest["created"],
                created_epoch=manifest["created_epoch"],
                bytes=manifest.get("bytes", 0),
            )
        out.append(entry)
    return out


def find_for_change(store, change_id):
    """Complete snapshots of a change, oldest first (the oldest is the state before the change)."""
    snaps = [s for s in list_snapshots(store) if s["status"] == "complete" and s["change_id"] == change_id]
    return sorted(snaps, key=lambda s: (s["created_epoch"], s["snapshot_id"]))


def resolve(store, change_id=None, snapshot_id=None):
    """The snapshot id to restore: the given one, or the oldest complete snapshot of the change."""
    if snapshot_id:
        manifest = load(store, snapshot_id)
        if change_id and manifest["change_id"] != change_id:
            raise ManifestError(
                "snapshot %s belongs to change %s, not %s" % (snapshot_id, manifest["change_id"], change_id)
            )
        return manifest
    if not change_id:
        raise ScopeError("give change_id or snapshot_id")
    check_change_id(change_id)
    snaps = find_for_change(store, change_id)
    if not snaps:
        damaged = [s for s in list_snapshots(store) if s["status"] == "damaged"]
        if damaged:
            raise ManifestError(
                "no usable snapshot of change %s in %s; damaged snapshots there (one may be it): %s"
                % (change_id, store, "; ".join(s["error"] for s in damaged))
            )
        raise NotFoundError("no complete snapshot of change %s in %s" % (change_id, store))
    return load(store, snaps[0]["snapshot_id"])
