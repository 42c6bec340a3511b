# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durable file operations: every state change is on disk (fsynced, renamed into place) before it counts."""

import contextlib
import errno
import fcntl
import json
import os
import time

from .errors import StateError


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def makedirs(path, mode=0o700):
    if not os.path.isdir(path):
        os.makedirs(path, mode)


def write_atomic(path, data, mode=0o600):
    """Write bytes to path via a fsynced temporary file and rename; the directory is fsynced too."""
    directory = os.path.dirname(path) or "."
    tmp = "%s.tmp.%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def write_json(path, obj, mode=0o600):
    write_atomic(path, (json.dumps(obj, sort_keys=True, indent=1) + "\n").encode("utf-8"), mode)


def read_json(path, default=None):
    """Parsed JSON of path; default when it does not exist; StateError when it cannot be read or parsed."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return default
        raise StateError("cannot read %s: %s" % (path, exc.strerror)) from None
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise StateError("%s is not valid JSON (%s); refusing to guess the device state" % (path, exc)) from None


def append_line(path, text, mode=0o600):
    """Append one line and fsync it (the device event log)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, mode)
    try:
        os.write(fd, (text.rstrip("\n") + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def switch_symlink(link, target):
    """Point link at target atomically: a new symlink renamed over the old one (rename(2) is atomic)."""
    tmp = "%s.new.%d" % (link, os.getpid())
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)
    fsync_dir(os.path.dirname(link) or ".")


@contextlib.contextmanager
def locked(path, timeout=60.0, shared=False):
    """An exclusive (or shared) flock on path, waiting at most timeout seconds."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout
    flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    try:
        while True:
            try:
                fcntl.flock(fd, flags)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise StateError("%s is locked by another process for more than %ss" % (path, timeout)) from None
                time.sleep(0.05)
        yield fd
    finally:
        os.close(fd)


def try_lock(path):
    """A non-blocking exclusive flock: the open fd when taken (keep it open to hold it), None when held."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return None
        raise
    return fd


def is_locked(path):
    """True when another process holds an exclusive flock on path."""
    if not os.path.exists(path):
        return False
    fd = try_lock(path)
    if fd is None:
        return True
    os.close(fd)
    return False
