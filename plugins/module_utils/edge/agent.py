# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The detached device agent: the transfer and the watchdog keep running when the SSH session ends.

The module copies this package (stdlib only, relative imports) to <root_dir>/.agent/cwedge/ and starts
``python3 -m cwedge.agent transfer|watchdog <root_dir> <app>`` in a new session with no terminal, so
neither the controller going away nor sshd closing the session stops it. ``boot <root_dir>`` (run by
the optional init script at start-up) resumes pending transfers and watchdogs after a power loss.
"""

import hashlib
import os
import subprocess
import sys

from . import fsutil

PACKAGE = "cwedge"
MODULES = ("__init__", "errors", "fsutil", "trust", "manifest", "transfer", "slots", "health", "device", "agent")
AGENT_DIR = ".agent"
INIT_SCRIPT = "/etc/init.d/changeward-edge"
RC_LINK = "/etc/rc2.d/S99changeward-edge"

_INIT_TEMPLATE = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          changeward-edge
# Required-Start:    $network $remote_fs
# Required-Stop:
# Default-Start:     2 3 4 5
# Default-Stop:
# Short-Description: resume changeward edge transfers and watchdogs after a restart
### END INIT INFO
# Written by changeward.hybrid.edge_update.
case "$1" in
  start) PYTHONPATH=%(agent)s %(python)s -m cwedge.agent boot %(root)s >>%(root)s/boot.log 2>&1 ;;
  stop|restart|force-reload|status) exit 0 ;;
  *) echo "Usage: $0 start" >&2; exit 3 ;;
esac
"""


def _source(name):
    """Source text of one module of this package, wherever it was imported from (a file or an AnsiballZ zip)."""
    import pkgutil

    data = pkgutil.get_data(__package__, name + ".py")
    if data is None:  # pragma: no cover - every loader Ansible uses implements get_data
        raise OSError("cannot read the source of %s.%s" % (__package__, name))
    return data


def install(root_dir):
    """Write the agent package under root_dir/.agent (only files that changed); returns its directory."""
    base = os.path.join(root_dir, AGENT_DIR)
    pkg = os.path.join(base, PACKAGE)
    fsutil.makedirs(pkg, 0o700)
    for name in MODULES:
        data = _source(name)
        target = os.path.join(pkg, name + ".py")
        try:
            with open(target, "rb") as handle:
                if hashlib.sha256(handle.read()).digest() == hashlib.sha256(data).digest():
                    continue
        except OSError:
            pass
        fsutil.write_atomic(target, data, 0o600)
    return base


def install_boot_hook(root_dir, python=None):
    """An LSB init script that runs `boot` at start-up (S99, after the services it may restart)."""
    base = os.path.join(root_dir, AGENT_DIR)
    text = _INIT_TEMPLATE % {"agent": base, "python": python or sys.executable, "root": root_dir}
    changed = False
    try:
        with open(INIT_SCRIPT) as handle:
            changed = handle.read() != text
    except OSError:
        changed = True
    if changed:
        fsutil.write_atomic(INIT_SCRIPT, text.encode("utf-8"), 0o755)
    if os.path.isdir(os.path.dirname(RC_LINK)) and not os.path.lexists(RC_LINK):
        os.symlink("../init.d/changeward-edge", RC_LINK)
        changed = True
    return changed


def spawn(root_dir, command, app, python=None):
    """Start a detached agent process; returns its pid. Output goes to <root_dir>/<app>/agent.log."""
    base = os.path.join(root_dir, AGENT_DIR)
    env = dict(os.environ)
    env["PYTHONPATH"] = base
    env.pop("ANSIBLE_MODULE_ARGS", None)
    log = os.open(os.path.join(root_dir, app, "agent.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(  # pylint: disable=ansible-bad-function
            [python or sys.executable, "-m", PACKAGE + ".agent", command, root_dir, app],
            cwd="/",
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            close_fds=True,
            start_new_session=True,
        )
    finally:
        os.close(log)
    return proc.pid


def boot(root_dir):
    """At start-up: resume every app's pending transfer and watchdog."""
    from .device import Device

    started = []
    for app in sorted(os.listdir(root_dir)) if os.path.isdir(root_dir) else []:
        if app.startswith(".") or not os.path.isfile(os.path.join(root_dir, app, "state.json")):
            continue
        try:
            state = Device(root_dir, app).read()
        except Exception as exc:
            sys.stderr.write("%s: %s\n" % (app, exc))
            continue
        if (state.get("activation") or {}).get("state") == "activated":
            started.append((app, "watchdog", spawn(root_dir, "watchdog", app)))
        if (state.get("staging") or {}).get("status") == "staging":
            started.append((app, "transfer", spawn(root_dir, "transfer", app)))
    return started


def main(argv=None):
    from .device import Device

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 2 and args[0] == "boot":
        for app, what, pid in boot(args[1]):
            sys.stdout.write("%s: %s started (pid %d)\n" % (app, what, pid))
        return 0
    if len(args) != 3 or args[0] not in ("transfer", "watchdog"):
        sys.stderr.write("usage: python -m cwedge.agent transfer|watchdog ROOT_DIR APP | boot ROOT_DIR\n")
        return 2
    device = Device(args[1], args[2])
    outcome = device.run_transfer() if args[0] == "transfer" else device.run_watchdog()
    sys.stdout.write("%s %s: %s\n" % (args[0], args[2], outcome))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
