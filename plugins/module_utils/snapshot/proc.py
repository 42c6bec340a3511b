# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running external tools (package managers, init scripts, verification commands) from the core."""

import os
import subprocess
import tempfile

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.errors import CommandError

TAIL = 400


def run(argv, timeout=300, env=None, shell=False):
    """Run a command; returns (rc, stdout bytes, stderr text tail).

    Output goes to temp files, not pipes: an init script that starts a daemon leaves the daemon
    holding the script's stdout, and a pipe would then block until the daemon exits.
    """
    full_env = dict(os.environ)
    full_env.update({"LC_ALL": "C", "LANG": "C"})
    if env:
        full_env.update(env)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=full_env,
                timeout=timeout,
                shell=shell,
                close_fds=True,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise CommandError("%s timed out after %ss" % (describe(argv), timeout)) from None
        except OSError as exc:
            raise CommandError("%s cannot run: %s" % (describe(argv), exc.strerror or exc)) from None
        out.seek(0)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        return proc.returncode, out.read(), stderr[-TAIL:].strip()


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
