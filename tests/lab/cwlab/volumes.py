"""Opt-in scratch volumes for lab hosts: a sparse image in the lab dir, formatted (btrfs, xfs, ext4),
attached to a loop device and mounted inside one host's mount namespace, below its root.

Nothing of the default lab uses them. Each volume is recorded in <labdir>/volumes/<id>.json next to its
image before the loop device exists, so `cwlab down` finds and removes every one of them from the files
alone, also after a crash that lost the state file: the loop devices backing the lab's images are
found with `losetup -j` and detached, then the images are deleted.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .sysutil import LabError, run

MKFS = {
    "btrfs": ["mkfs.btrfs", "-q", "-f"],
    "xfs": ["mkfs.xfs", "-q", "-f", "-m", "reflink=1"],
    "ext4": ["mkfs.ext4", "-q", "-F"],
}
MIN_BYTES = {"btrfs": 128 * 1024**2, "xfs": 320 * 1024**2, "ext4": 16 * 1024**2}
MAX_BYTES = 8 * 1024**3


def volumes_dir(labdir: Path) -> Path:
    return Path(labdir) / "volumes"


def volume_id(host: str, mountpoint: str) -> str:
    return host + "-" + (re.sub(r"[^A-Za-z0-9]+", "_", mountpoint.strip("/")) or "root")


def records(labdir: Path) -> list[dict]:
    out = []
    vdir = volumes_dir(labdir)
    if vdir.is_dir():
        for path in sorted(vdir.glob("*.json")):
            try:
                out.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                out.append({"id": path.stem, "image": str(path.with_suffix(".img")), "broken": True})
    return out


def loops_of(image: str | Path) -> list[str]:
    """Loop devices attached to image (there should be at most one)."""
    out = run(["losetup", "-j", str(image), "-n", "-O", "NAME"], check=False)
    return [line.strip() for line in out.splitlines() if line.strip()]


def _in_host(pid: int, *argv: str, check: bool = True, timeout: float = 60) -> str:
    """Run argv inside the host's mount and PID namespaces with the host's root as /: its /proc, which
    mount, umount and findmnt read, only shows a process that is in its PID namespace."""
    ns = ["nsenter", "--target", str(pid), "--mount", "--pid", "--root", "--wd=/", "--"]
    return run([*ns, *argv], check=check, timeout=timeout)


def _mounted_at(pid: int, mountpoint: str) -> list[str]:
    """Sources mounted at mountpoint in the host's mount namespace (mountinfo paths are host-relative)."""
    try:
        with open(f"/proc/{pid}/mountinfo") as fh:
            rows = [line.split(" - ") for line in fh]
    except OSError:
        return []
    return [tail.split()[1] for head, tail in rows if head.split()[4] == mountpoint]


def attach(labdir: Path, host: str, pid: int, fstype: str, mountpoint: str, size: int) -> dict:
    if fstype not in MKFS:
        raise LabError(f"volume file system {fstype!r} not supported (known: {', '.join(sorted(MKFS))})")
    if not mountpoint.startswith("/") or os.path.normpath(mountpoint) in ("/", "/proc", "/dev", "/sys", "/run"):
        raise LabError(f"volume mount point {mountpoint!r} must be an absolute path below the host's root")
    if not MIN_BYTES[fstype] <= size <= MAX_BYTES:
        raise LabError(f"{fstype} volume size must be {MIN_BYTES[fstype]}..{MAX_BYTES} bytes, not {size}")
    if fstype not in Path("/proc/filesystems").read_text().split():
        run(["modprobe", "-q", fstype], check=False)
        if fstype not in Path("/proc/filesystems").read_text().split():
            raise LabError(f"the kernel has no {fstype} file system")
    mountpoint = os.path.normpath(mountpoint)
    vid = volume_id(host, mountpoint)
    vdir = volumes_dir(labdir)
    vdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    image = vdir / f"{vid}.img"
    meta = vdir / f"{vid}.json"
    if meta.exists() or image.exists():
        raise LabError(f"{host} already has a volume at {mountpoint}; detach it first")
    record = {"id": vid, "host": host, "fstype": fstype, "mountpoint": mountpoint, "image": str(image), "size": size}
    # Recorded before anything exists, so a crash at any later step leaves something down() can find.
    meta.write_text(json.dumps(record, indent=2) + "\n")
    try:
        with open(image, "wb") as fh:
            fh.truncate(size)
        run([*MKFS[fstype], str(image)], timeout=120)
        loop = run(["losetup", "--find", "--show", str(image)]).strip()
        record["loop"] = loop
        meta.write_text(json.dumps(record, indent=2) + "\n")
        fresh = _in_host(pid, "sh", "-c", 'test -e "$1" || echo new', "sh", mountpoint)
        record["created_mountpoint"] = fresh.strip() == "new"
        meta.write_text(json.dumps(record, indent=2) + "\n")
        _in_host(pid, "mkdir", "-p", mountpoint)
        _in_host(pid, "mount", "-t", fstype, loop, mountpoint)
    except BaseException:
        remove(record, pid)
        raise
    return record


def remove(record: dict, pid: int | None) -> None:
    """Unmount (when the host still runs), detach the loop device, delete image and record."""
    image = Path(record["image"])
    if pid and record.get("mountpoint"):
        loops = set(loops_of(image)) | ({record["loop"]} if record.get("loop") else set())
        if any(src in loops for src in _mounted_at(pid, record["mountpoint"])):
            _in_host(pid, "umount", record["mountpoint"], check=False)
            if any(src in loops for src in _mounted_at(pid, record["mountpoint"])):
                # Busy (a shell sitting in it): detach it lazily; the loop device goes when it is released.
                _in_host(pid, "umount", "-l", record["mountpoint"], check=False)
            if any(src in loops for src in _mounted_at(pid, record["mountpoint"])):
                raise LabError(f"cannot unmount the volume at {record['mountpoint']} of {record.get('host')}")
        if record.get("created_mountpoint"):
            _in_host(pid, "rmdir", record["mountpoint"], check=False)
    for loop in loops_of(image):
        # On a device still in use this sets autoclear: the kernel detaches it once it is released.
        run(["losetup", "-d", loop], check=False)
    image.unlink(missing_ok=True)
    image.with_suffix(".json").unlink(missing_ok=True)


def remove_all(labdir: Path, pids: dict[str, int | None]) -> list[str]:
    """Every volume of the lab, from the records and from the images present; returns their ids."""
    removed = []
    vdir = volumes_dir(labdir)
    seen = set()
    for record in records(labdir):
        remove(record, pids.get(record.get("host", "")))
        seen.add(record["image"])
        removed.append(record["id"])
    if vdir.is_dir():
        for image in vdir.glob("*.img"):  # an image whose record was lost
            if str(image) not in seen:
                remove({"image": str(image)}, None)
                removed.append(image.stem)
        try:
            vdir.rmdir()
        except OSError:
            pass
    return removed
