# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""File-system helpers of the snapshot core: hashing, lstat records, xattrs, durable writes, free space.

Nothing here follows symlinks: a change may have replaced a directory by a link, and the snapshot
must neither read nor write through it.
"""

import base64
import ctypes
import errno
import fcntl
import hashlib
import os
import re
import shutil
import stat
import struct

CHUNK = 1024 * 1024
BLOCK = 4096
# A file's hash is trusted by its identity (device, inode, size, mtime, ctime) only when its ctime was
# older than this when it was looked at: timestamps advance in coarse ticks, so a write in the same
# tick as the look would leave the identity unchanged.
RACY_NS = 1000000000

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(i?[bB])?\s*$")
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    """sha256 of a regular file's content, opened without following a final symlink."""
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        while True:
            buf = os.read(fd, CHUNK)
            if not buf:
                break
            h.update(buf)
    finally:
        os.close(fd)
    return h.hexdigest()


def file_identity(st):
    """What must stay the same for a file's content to be trusted unchanged since it was hashed: any
    write moves ctime, which user space cannot set back."""
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def lstat_or_none(path):
    try:
        return os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise


def kind_of(st):
    if st is None:
        return "absent"
    if stat.S_ISLNK(st.st_mode):
        return "symlink"
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISFIFO(st.st_mode):
        return "fifo"
    if stat.S_ISSOCK(st.st_mode):
        return "socket"
    return "device"


def read_xattrs(path):
    """All extended attributes (SELinux context, ACLs, file capabilities, user.*) as name -> base64."""
    if not hasattr(os, "listxattr"):
        return {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENODATA):
            return {}
        raise
    out = {}
    for name in names:
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError as exc:
            if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
                continue
            raise
        out[name] = base64.b64encode(value).decode("ascii")
    return out


def write_xattrs(path, wanted):
    """Make the xattrs of path exactly ``wanted`` (name -> base64); returns True when something changed."""
    current = read_xattrs(path)
    if current == wanted:
        return False
    for name in sorted(set(current) - set(wanted)):
        os.removexattr(path, name, follow_symlinks=False)
    for name in sorted(wanted):
        if current.get(name) != wanted[name]:
            os.setxattr(path, name, base64.b64decode(wanted[name]), follow_symlinks=False)
    return True


def remove_any(path):
    """Remove a file, link or whole directory tree at path without following links."""
    st = lstat_or_none(path)
    if st is None:
        return False
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)
    return True


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_libc = None


def has_syncfs():
    return _libc_fn("syncfs") is not None


def sync_filesystem(path):
    """Flush the file system holding path: one syncfs(2) instead of an fsync per file.

    Capture and rollback write many files and must have them on disk before the manifest names them
    or they are renamed into place; a single syncfs keeps that guarantee at a fraction of the cost of
    an fsync per file. Falls back to sync(2).
    """
    syncfs = _libc_fn("syncfs")
    if syncfs is not None:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            fd = None
        if fd is not None:
            try:
                if syncfs(fd) == 0:
                    return
            finally:
                os.close(fd)
    os.sync()


def _libc_fn(name):
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        return getattr(_libc, name)
    except (OSError, AttributeError):
        return None


_SYNC_FILE_RANGE_WAIT_BEFORE = 1
_SYNC_FILE_RANGE_WRITE = 2
_SYNC_FILE_RANGE_WAIT_AFTER = 4
_sync_file_range = []


def _sfr(fd, flags):
    """sync_file_range(2) over the whole file where Linux has it; False where it does not."""
    if not _sync_file_range:
        fn = _libc_fn("sync_file_range")
        if fn is not None:
            fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
            fn.restype = ctypes.c_int
        _sync_file_range.append(fn)
    fn = _sync_file_range[0]
    return fn is not None and fn(fd, 0, 0, flags) == 0


def start_writeback(fd):
    """Let the kernel start writing fd's dirty pages now, without waiting, so the disk works while the
    caller prepares the next file. Only a head start: durability still comes from fdatasync_path."""
    return _sfr(fd, _SYNC_FILE_RANGE_WRITE)


def fdatasync_path(path):
    """Make the content of the file at path durable (fdatasync; fsync where there is none)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        # Waiting for the data first (no journal work) lets the first fdatasync commit the allocations
        # of the whole batch at once; the others then find their transaction committed.
        _sfr(fd, _SYNC_FILE_RANGE_WAIT_BEFORE | _SYNC_FILE_RANGE_WRITE | _SYNC_FILE_RANGE_WAIT_AFTER)
        getattr(os, "fdatasync", os.fsync)(fd)
    finally:
        os.close(fd)


def _copy_fds(fd_in, fd_out, writeback=False):
    h = hashlib.sha256()
    size = 0
    while True:
        buf = os.read(fd_in, CHUNK)
        if not buf:
            break
        h.update(buf)
        size += len(buf)
        view = memoryview(buf)
        while view:
            view = view[os.write(fd_out, view) :]
    if writeback:
        start_writeback(fd_out)
    return h.hexdigest(), size


# ioctl FICLONE (_IOW(0x94, 9, int)): make dst share src's extents (btrfs, XFS with reflink=1, and
# overlayfs when both files are in an upper layer on such a file system).
FICLONE = 0x40049409
REFLINK = "reflink"
COPY = "copy"


def method_of(counts):
    """One word for the module result: reflink, copy, mixed (some of each) or none (nothing written)."""
    used = [m for m in (REFLINK, COPY) if counts.get(m)]
    if not used:
        return "none"
    return used[0] if len(used) == 1 else "mixed"


def _clone(fd_in, fd_out):
    """True when dst now shares src's extents; False when this pair cannot (EXDEV, EOPNOTSUPP, EINVAL,
    ENOTTY, ...): any refusal only means a byte copy, whose own errors are the ones that count."""
    try:
        fcntl.ioctl(fd_out, FICLONE, fd_in)
        return True
    except OSError:
        return False


def clone_or_copy(src, dst, mode=0o600, writeback=False, read_back=True):
    """Put src's content into a new file dst (must not exist): cloned where the file system can, else
    copied; returns (sha256, size, method) with method REFLINK or COPY. Falls back to the byte copy per
    file. writeback=True starts writing a copy to disk before returning (see start_writeback).

    A clone writes no data, only metadata. The sha256 is still taken from what dst holds after the
    clone (read back through dst), so a damaged src is caught exactly as by the copy: the check is
    of the bytes that will be published. read_back=False skips that read for a clone and returns
    None for its sha256: only for a src the caller knows intact (see data_checksummed).
    """
    fd_in = os.open(src, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        fd_out = os.open(dst, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
        try:
            if _clone(fd_in, fd_out):
                if not read_back:
                    return None, os.fstat(fd_out).st_size, REFLINK
                h = hashlib.sha256()
                size = 0
                while True:
                    buf = os.pread(fd_out, CHUNK, size)
                    if not buf:
                        break
                    h.update(buf)
                    size += len(buf)
                return h.hexdigest(), size, REFLINK
            # Into the same new file: where there are no reflinks the attempt costs one failed ioctl.
            return (*_copy_fds(fd_in, fd_out, writeback), COPY)
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)


FS_IOC_GETFLAGS = 0x80086601
FS_NOCOW_FL = 0x00800000
_checksummed_devs = {}


def _unescape_mount_path(text):
    # mountinfo escapes space, tab, newline and backslash as \ooo octal
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def _mount_of(path):
    """(fstype, options) of the mount holding path, from /proc/self/mountinfo; None when unknown.

    Matched by mount point, not by device: btrfs gives its files an anonymous st_dev per subvolume,
    which is not the device mountinfo lists.
    """
    real = os.path.realpath(path)
    best = None
    try:
        with open("/proc/self/mountinfo", "rb") as fh:
            lines = fh.read().decode("utf-8", "surrogateescape").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 7 or "-" not in fields[6:]:
            continue
        point = _unescape_mount_path(fields[4])
        if not is_within(real, point):
            continue
        tail = fields[fields.index("-", 6) + 1 :]
        if len(tail) < 3:
            continue
        options = set(fields[5].split(",")) | set(tail[2].split(","))
        # The longest mount point wins; of equal ones the last listed is the one on top.
        if best is None or len(point) >= len(best[0]):
            best = (point, tail[0], options)
    return (best[1], best[2]) if best else None


def data_checksummed(path):
    """True only when the file system checks path's data against a checksum on every read: btrfs,
    not mounted nodatasum/nodatacow, and the file not NOCOW. Anything unsure is False.

    On such a file, bytes damaged at rest fail the read (EIO) instead of being returned, and any write
    through the file system changes the file's ctime - so a file whose identity is unchanged since it
    was hashed still holds what was hashed, and a clone of it shares those same checked extents.
    """
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            return False
        fs_ok = _checksummed_devs.get(st.st_dev)
        if fs_ok is None:
            mount = _mount_of(path)
            fs_ok = mount is not None and mount[0] == "btrfs" and not mount[1] & {"nodatasum", "nodatacow"}
            _checksummed_devs[st.st_dev] = fs_ok
        if not fs_ok:
            return False
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        try:
            flags = struct.unpack("l", fcntl.ioctl(fd, FS_IOC_GETFLAGS, struct.pack("l", 0)))[0]
        finally:
            os.close(fd)
        return not flags & FS_NOCOW_FL
    except OSError:
        return False


def same_prefix(path_a, path_b, length=64 * 1024):
    """False when the first length bytes of two files differ (proof their contents differ)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd_a = os.open(path_a, flags)
    try:
        fd_b = os.open(path_b, flags)
        try:
            return os.read(fd_a, length) == os.read(fd_b, length)
        finally:
            os.close(fd_b)
    finally:
        os.close(fd_a)


def atomic_write_bytes(path, data, mode=0o600, durable=True):
    """Write data to path via a temp file in the same directory, fsync, rename, fsync the directory.

    durable=False skips both fsyncs, for files whose loss or staleness after a crash costs nothing.
    """
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, "." + os.path.basename(path) + ".tmp")
    if lstat_or_none(tmp) is not None:
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if durable:
        fsync_dir(directory)


def nearest_existing(path):
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def fs_space(path):
    """(free bytes for unprivileged use, total bytes, free inodes or None) of the fs that holds path."""
    st = os.statvfs(nearest_existing(path))
    inodes = st.f_favail if st.f_files else None
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize, inodes


def on_disk(size):
    """Bytes a file of this size occupies, rounded up to whole blocks (plus one for its inode)."""
    return ((size + BLOCK - 1) // BLOCK) * BLOCK + BLOCK


def parse_size(value, total=None):
    """'512M', '2G', '1.5GiB', 1048576 or '10%' (of total) -> bytes."""
    if isinstance(value, bool):
        raise ValueError("size must be a number of bytes, a size like 512M or a percentage like 10%")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("size must not be negative: %r" % (value,))
        return int(value)
    text = str(value).strip()
    if text.endswith("%"):
        try:
            pct = float(text[:-1])
        except ValueError:
            raise ValueError("not a percentage: %r" % (value,)) from None
        if not 0 <= pct <= 100:
            raise ValueError("percentage out of range 0..100: %r" % (value,))
        if total is None:
            raise ValueError("a percentage needs the file system size")
        return int(total * pct / 100.0)
    m = _SIZE_RE.match(text)
    if not m:
        raise ValueError("not a size (expected bytes, 512M, 2G or 10%%): %r" % (value,))
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def is_within(path, parent):
    """True when path is parent or lies below it (both absolute and normalised)."""
    if path == parent:
        return True
    if parent == "/":
        return True
    return path.startswith(parent.rstrip("/") + "/")
