# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A/B slots: unpack a verified artifact into a slot, switch `current` atomically, manage service links.

Layout under an application's root:  slots/a, slots/b, current -> slots/<x>, original/ (what the
managed paths held before the first activation, restored when the very first release is rolled back).
Managed paths (for example /etc/demo-service/config.json) are symlinks to ``<root>/current/<file>``,
so one rename of `current` switches every one of them at once.
"""

import json
import os
import shutil
import stat
import tarfile

from . import fsutil
from .errors import ArtifactError, SlotError

SLOTS = ("a", "b")
MARKER = ".changeward-release"


def slot_dir(root, slot):
    if slot not in SLOTS:
        raise SlotError("unknown slot %r" % (slot,))
    return os.path.join(root, "slots", slot)


def other(slot):
    return "b" if slot == "a" else "a"


def current_slot(root):
    """The slot `current` points at, or None (no release activated yet, or the original restored)."""
    link = os.path.join(root, "current")
    try:
        target = os.readlink(link)
    except OSError:
        return None
    name = os.path.basename(target.rstrip("/"))
    if os.path.normpath(target) != os.path.join("slots", name) or name not in SLOTS:
        raise SlotError("%s points at %r, which is not a slot" % (link, target))
    return name


def read_marker(root, slot):
    path = os.path.join(slot_dir(root, slot), MARKER)
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError):
        return None


def unpack(artifact, manifest, root, slot, release):
    """Replace slot with the artifact's content (unpacked in a temporary dir, renamed into place)."""
    dest = slot_dir(root, slot)
    fsutil.makedirs(os.path.dirname(dest), 0o755)
    tmp = dest + ".new"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp, 0o755)
    try:
        art = manifest["artifact"]
        if art["type"] == "file":
            target = os.path.join(tmp, art["filename"])
            shutil.copyfile(artifact, target)
            os.chmod(target, 0o644)
        else:
            _untar(artifact, tmp)
        marker = {"release": release, "sha256": art["sha256"], "name": manifest["name"], "version": manifest["version"]}
        fsutil.write_json(os.path.join(tmp, MARKER), marker, 0o644)
        _fsync_tree(tmp)
        old = dest + ".old"
        shutil.rmtree(old, ignore_errors=True)
        if os.path.exists(dest):
            os.rename(dest, old)
        os.rename(tmp, dest)
        fsutil.fsync_dir(os.path.dirname(dest))
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _untar(artifact, dest):
    """Extract regular files and directories only; anything that could escape the slot is refused."""
    try:
        archive = tarfile.open(artifact, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise ArtifactError("the artifact is not a readable tar archive: %s" % exc) from None
    with archive:
        for member in archive.getmembers():
            name = os.path.normpath(member.name)
            if name == ".":
                continue
            if os.path.isabs(member.name) or name.startswith(".." + os.sep) or name == ".." or name == MARKER:
                raise ArtifactError("the artifact holds an unsafe path %r" % member.name)
            target = os.path.join(dest, name)
            if member.isdir():
                if not os.path.isdir(target):
                    os.makedirs(target, 0o755)
            elif member.isfile():
                parent = os.path.dirname(target)
                if not os.path.isdir(parent):
                    os.makedirs(parent, 0o755)
                source = archive.extractfile(member)
                with open(target, "wb") as out:
                    shutil.copyfileobj(source, out, 1024 * 1024)
                # No setuid/setgid/sticky bits from an artifact; owner root (whoever runs the agent).
                os.chmod(target, (member.mode & 0o777) | stat.S_IRUSR)
            else:
                raise ArtifactError("the artifact holds %r, which is not a regular file or directory" % member.name)


def _fsync_tree(top):
    for dirpath, _dirs, files in os.walk(top):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsutil.fsync_dir(dirpath)


def switch(root, slot):
    """Point current at slot (atomic), or remove current when slot is None."""
    link = os.path.join(root, "current")
    if slot is None:
        if os.path.islink(link):
            os.unlink(link)
            fsutil.fsync_dir(root)
        return
    if not os.path.isdir(slot_dir(root, slot)):
        raise SlotError("slot %s is empty; nothing to switch to" % slot)
    fsutil.switch_symlink(link, os.path.join("slots", slot))


def _backup_name(path):
    return path.strip("/").replace("/", "%2F")


def link_managed(root, links):
    """Make every managed path a symlink into current; keep what was there before in original/."""
    original = os.path.join(root, "original")
    fsutil.makedirs(original)
    for path, rel in sorted(links.items()):
        want = os.path.join(root, "current", rel)
        if os.path.islink(path) and os.readlink(path) == want:
            continue
        backup = os.path.join(original, _backup_name(path))
        if os.path.lexists(path) and not os.path.lexists(backup):
            os.rename(path, backup)
        elif os.path.lexists(path):
            if os.path.isdir(path) and not os.path.islink(path):
                raise SlotError("%s is a directory; a managed path must be a file or a link" % path)
            os.unlink(path)
        fsutil.makedirs(os.path.dirname(path), 0o755)
        fsutil.switch_symlink(path, want)


def restore_original(root, links):
    """Undo link_managed: what each path held before the first activation comes back (or the link goes)."""
    original = os.path.join(root, "original")
    for path in sorted(links):
        backup = os.path.join(original, _backup_name(path))
        if os.path.lexists(backup):
            os.replace(backup, path)
        elif os.path.islink(path):
            os.unlink(path)
        fsutil.fsync_dir(os.path.dirname(path))
