# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One-file archives of a snapshot, so a play can ansible.builtin.fetch it to the controller.

``create`` tars ``<store>/<id>/`` into ``<store>/<id>.tar``. ``extract`` is the way back for a host
whose store was lost: copy the tar to ``<store>/<id>.tar`` and rollback unpacks it (regular files and
directories under ``<id>/`` only; anything else in the tar is refused) before using it.
"""

import os
import shutil
import tarfile

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import manifest as mf
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.errors import ManifestError
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.fsutil import fsync_dir, sync_filesystem


def create(store, snapshot_id):
    snap_dir = mf.snapshot_dir(store, snapshot_id)
    final = snap_dir + mf.ARCHIVE
    tmp = final + mf.PARTIAL
    if os.path.lexists(tmp):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        with tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.add(snap_dir, arcname=snapshot_id, recursive=False)
            for name in (mf.MANIFEST,):
                tar.add(os.path.join(snap_dir, name), arcname="%s/%s" % (snapshot_id, name))
            blobs = os.path.join(snap_dir, mf.BLOBS)
            tar.add(blobs, arcname="%s/%s" % (snapshot_id, mf.BLOBS), recursive=False)
            for name in sorted(os.listdir(blobs)):
                tar.add(os.path.join(blobs, name), arcname="%s/%s/%s" % (snapshot_id, mf.BLOBS, name))
        fh.flush()
        os.fsync(fh.fileno())
    os.rename(tmp, final)
    fsync_dir(store)
    return final


def extract(store, snapshot_id):
    """Unpack <store>/<id>.tar into <store>/<id>/ (via .partial); returns True when it did."""
    snap_dir = mf.snapshot_dir(store, snapshot_id)
    tar_path = snap_dir + mf.ARCHIVE
    if os.path.isdir(snap_dir) or not os.path.isfile(tar_path):
        return False
    partial = snap_dir + mf.PARTIAL
    if os.path.lexists(partial):
        shutil.rmtree(partial)
    os.makedirs(partial, 0o700)
    try:
        with tarfile.open(tar_path, mode="r:") as tar:
            for member in tar:
                parts = member.name.split("/")
                if (
                    parts[0] != snapshot_id
                    or any(p in ("", ".", "..") for p in parts)
                    or len(parts) > 3
                    or not (member.isfile() or member.isdir())
                ):
                    raise ManifestError("%s: unexpected member %r; refusing to unpack it" % (tar_path, member.name))
                dest = os.path.join(partial, *parts[1:]) if len(parts) > 1 else partial
                if member.isdir():
                    if not os.path.isdir(dest):
                        os.mkdir(dest, 0o700)
                    continue
                src = tar.extractfile(member)
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(src, out, 1024 * 1024)
        sync_filesystem(partial)
        os.rename(partial, snap_dir)
        fsync_dir(store)
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise ManifestError("%s: cannot unpack: %s" % (tar_path, exc)) from None
    except ManifestError:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return True
