# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running external tools (package managers, init scripts, verification commands) from the core.

The core never starts processes itself: it is given a ``Runner`` built on ``AnsibleModule.run_command``
(or anything with the same signature), so commands run the way every Ansible module runs them - which
also copes with init scripts whose daemons keep the script's stdout open.
"""

import math
import os

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.errors import CommandError

TAIL = 400


class Runner:
    """Callable ``(argv, timeout, env, shell) -> (rc, stdout bytes, stderr tail text)``."""

    def __init__(self, run_command):
        self.run_command = run_command
        self.timeout_bin = which("timeout")

    def __call__(self, argv, timeout=300, env=None, shell=False):
        what = describe(argv)
        argv = ["/bin/sh", "-c", argv] if shell else list(argv)
        if self.timeout_bin:
            # run_command has no timeout of its own; coreutils/busybox timeout gives one (rc 124, or 137
            # when the command ignored TERM and was killed).
            argv = [self.timeout_bin, "-k", "10", str(math.ceil(timeout)), *argv]
        environ = {"LC_ALL": "C", "LANG": "C"}
        environ.update(env or {})
        rc, out, err = self.run_command(
            argv, check_rc=False, environ_update=environ, encoding=None, expand_user_and_vars=False
        )
        if self.timeout_bin and rc in (124, 137):
            raise CommandError("%s timed out after %ss" % (what, timeout))
        if isinstance(err, bytes):
            err = err.decode("utf-8", "replace")
        if not isinstance(out, bytes):
            out = out.encode("utf-8", "surrogateescape")
        return rc, out, err[-TAIL:].strip()


def no_runner(argv, **kwargs):
    raise CommandError("%s needs a command runner and none was given" % describe(argv))


def describe(argv):
    if isinstance(argv, str):
        return "command"
    return " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(argv[:4]))


def which(name):
    for d in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        path = os.path.join(d, name)
        if os.access(path, os.X_OK):
            return path
    return None
