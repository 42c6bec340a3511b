# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Modes of the private files changeward writes (snapshots, sink exports, drift reports).

Files are created 0600 and their directories 0700 by the code that writes them. This module decides about
what already exists: a dedicated directory another user can enter is tightened to 0700 (with a warning the
caller passes on); a file another user can read or write is refused with a message naming its mode, never
used as it is. Standard library only: it also runs on targets.
"""

import os
import stat

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def describe(mode):
    return "%04o" % stat.S_IMODE(mode)


def private_dir(path, mode=PRIVATE_DIR):
    """Create ``path`` with ``mode``, or tighten an existing directory to it. Returns a warning or None.

    Only for directories that hold nothing but changeward's own private files (a snapshot store, a report
    directory): tightening a shared directory would take access from others.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        os.makedirs(path, mode)
        os.chmod(path, mode)  # makedirs' mode is filtered by the umask; this one is exact
        return None
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError("%s is not a directory (a symlink or a file is not accepted)" % path)
    if stat.S_IMODE(st.st_mode) & ~mode:
        os.chmod(path, mode)
        return "%s had mode %s, tightened to %s: it holds private files" % (path, describe(st.st_mode), describe(mode))
    return None


def loose_file(path):
    """A message when the existing file at ``path`` can be read or written by group or others, else None."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return "%s is not a regular file" % path
    if stat.S_IMODE(st.st_mode) & 0o077:
        return "%s has mode %s; it must not be readable or writable by group or others (chmod 600 %s)" % (
            path,
            describe(st.st_mode),
            path,
        )
    if st.st_uid != os.geteuid():
        return "%s is owned by uid %d, not by this user (uid %d)" % (path, st.st_uid, os.geteuid())
    return None
