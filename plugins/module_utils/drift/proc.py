# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running the few external tools a scan needs (dpkg-query, rpm, init scripts, systemctl).

The core never starts processes itself: it is given a runner built on ``AnsibleModule.run_command`` (or
anything with the same signature), which copes with init scripts whose daemons keep stdout open.
"""

import math
import os

from ansible_collections.changeward.hybrid.plugins.module_utils.drift.errors import CommandError

SEARCH_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
TAIL = 300


def which(name, path=None):
    """Absolute path of an executable, searching PATH and then the usual system directories."""
    dirs = [d for d in (path if path is not None else os.environ.get("PATH", "")).split(os.pathsep) if d]
    for d in dirs + [d for d in SEARCH_PATH if d not in dirs]:
        candidate = os.path.join(d, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


class Runner:
    """Callable ``(argv, timeout) -> (rc, stdout text, stderr tail)`` on top of a run_command function."""

    def __init__(self, run_command):
        self.run_command = run_command
        self.timeout_bin = which("timeout")

    def __call__(self, argv, timeout=10):
        what = " ".join(argv)
        argv = list(argv)
        if self.timeout_bin:
            # run_command has no timeout of its own; coreutils timeout gives one (124, or 137 after KILL).
            argv = [self.timeout_bin, "-k", "5", str(math.ceil(timeout)), *argv]
        rc, out, err = self.run_command(
            argv,
            check_rc=False,
            environ_update={"LC_ALL": "C", "LANG": "C", "PATH": os.pathsep.join(SEARCH_PATH)},
            encoding=None,
            expand_user_and_vars=False,
        )
        if self.timeout_bin and rc in (124, 137):
            raise CommandError("%s timed out after %ss" % (what, timeout))
        out = out.decode("utf-8", "replace") if isinstance(out, bytes) else (out or "")
        err = err.decode("utf-8", "replace") if isinstance(err, bytes) else (err or "")
        return rc, out, err[-TAIL:].strip()


def no_runner(argv, timeout=10):
    raise CommandError("%s needs a command runner and none was given" % " ".join(argv))
