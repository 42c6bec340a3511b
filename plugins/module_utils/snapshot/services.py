# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Service states: whether a service exists, runs, and starts at boot.

Two backends behind one shape:

- systemd, when PID 1 is systemd: ``systemctl is-active`` / ``is-enabled``; enablement restored
  with enable / disable / mask where the unit file state is one of those three.
- LSB fallback (hosts without systemd, like the lab): ``/etc/init.d/<svc> status`` (exit 0 = running,
  1-3 = not running, anything else = unknown), ``start`` and ``stop``; "enabled" means an
  ``S<NN><svc>`` link in /etc/rc2.d. The snapshot records every ``[SK]<NN><svc>`` link of
  /etc/rc{0..6,S}.d and rollback puts back exactly that set, so the boot order is restored too.

Both take ``root`` so tests can run real init scripts in a scratch directory.
"""

import os
import re

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.errors import CommandError, ScopeError
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.proc import no_runner, which

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._:-]{0,200}$")
RC_DIRS = ("rc0.d", "rc1.d", "rc2.d", "rc3.d", "rc4.d", "rc5.d", "rc6.d", "rcS.d")


def check_name(name):
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ScopeError("service name %r is not usable" % (name,))
    return name


class Lsb:
    name = "lsb"

    def __init__(self, root="/", runner=no_runner, timeout=120):
        self.root = root
        self.run = runner
        self.timeout = timeout
        self.etc = os.path.join(root, "etc")

    @classmethod
    def available(cls, root="/"):
        return os.path.isdir(os.path.join(root, "etc/init.d"))

    def script(self, svc):
        return os.path.join(self.etc, "init.d", svc)

    def links(self, svc):
        """Sorted [rc dir, link name, link target] of every start/kill link of svc."""
        pattern = re.compile(r"^[SK]\d\d" + re.escape(svc) + "$")
        out = []
        for d in RC_DIRS:
            path = os.path.join(self.etc, d)
            if not os.path.isdir(path):
                continue
            for entry in sorted(os.listdir(path)):
                full = os.path.join(path, entry)
                if pattern.match(entry) and os.path.islink(full):
                    out.append([d, entry, os.readlink(full)])
        return out

    def query(self, svc):
        script = self.script(svc)
        links = self.links(svc)
        enabled = any(d == "rc2.d" and n.startswith("S") for d, n, _target in links)
        state = {
            "name": svc,
            "backend": self.name,
            "present": False,
            "active": False,
            "enabled": enabled,
            "links": links,
        }
        if not os.path.isfile(script):
            return state
        rc, _out, err = self.run([script, "status"], timeout=self.timeout)
        if rc == 0:
            active = True
        elif rc in (1, 2, 3):
            active = False
        else:
            raise CommandError("%s status: unknown state (rc %s) %s" % (svc, rc, err))
        state.update(present=True, active=active)
        return state

    def start(self, svc):
        self._action(svc, "start")

    def stop(self, svc):
        self._action(svc, "stop")

    def _action(self, svc, action):
        rc, _out, err = self.run([self.script(svc), action], timeout=self.timeout)
        if rc != 0:
            raise CommandError("%s %s failed (rc %s): %s" % (svc, action, rc, err))

    def enablement_matches(self, target, current):
        return current["links"] == target["links"]

    def set_enablement(self, target):
        """Make the rc links of the service exactly the captured set."""
        svc = target["name"]
        wanted = {(d, n): t for d, n, t in target["links"]}
        for d, n, _target in self.links(svc):
            if (d, n) not in wanted:
                os.unlink(os.path.join(self.etc, d, n))
        current = {(d, n): t for d, n, t in self.links(svc)}
        for (d, n), t in sorted(wanted.items()):
            path = os.path.join(self.etc, d, n)
            if current.get((d, n)) == t:
                continue
            if (d, n) in current:
                os.unlink(path)
            if not os.path.isdir(os.path.join(self.etc, d)):
                os.makedirs(os.path.join(self.etc, d), 0o755)
            os.symlink(t, path)


class Systemd:
    name = "systemd"
    SETTABLE = ("enabled", "disabled", "masked")

    def __init__(self, root="/", runner=no_runner, timeout=300):
        if root != "/":
            raise ScopeError("the systemd backend only manages the running system")
        self.root = root
        self.run = runner
        self.timeout = timeout

    @classmethod
    def available(cls, root="/"):
        if root != "/" or not which("systemctl"):
            return False
        try:
            with open("/proc/1/comm") as fh:
                return fh.read().strip() == "systemd"
        except OSError:
            return False

    def _out(self, *args):
        rc, out, err = self.run(["systemctl", *args], timeout=self.timeout)
        return rc, out.decode("utf-8", "replace").strip().splitlines(), err

    def query(self, svc):
        load = self._out("show", "-p", "LoadState", "--value", svc)[1]
        present = bool(load) and load[0] not in ("not-found", "")
        active = self._out("is-active", svc)[1]
        enabled = self._out("is-enabled", svc)[1]
        state = enabled[0] if enabled else "unknown"
        return {
            "name": svc,
            "backend": self.name,
            "present": present,
            "active": bool(active) and active[0] in ("active", "activating", "reloading"),
            "enabled": state in ("enabled", "enabled-runtime"),
            "unit_file_state": state,
        }

    def start(self, svc):
        self._action("start", svc)

    def stop(self, svc):
        self._action("stop", svc)

    def _action(self, *args):
        rc, _lines, err = self._out(*args)
        if rc != 0:
            raise CommandError("systemctl %s failed (rc %s): %s" % (" ".join(args), rc, err))

    def enablement_matches(self, target, current):
        if target.get("unit_file_state") not in self.SETTABLE:
            return True
        return current.get("unit_file_state") == target["unit_file_state"]

    def set_enablement(self, target):
        svc = target["name"]
        state = target.get("unit_file_state")
        if state not in self.SETTABLE:
            return
        current = self.query(svc).get("unit_file_state")
        if current == "masked" and state != "masked":
            self._action("unmask", svc)
        if state == "enabled":
            self._action("enable", svc)
        elif state == "disabled":
            self._action("disable", svc)
        else:
            self._action("mask", svc)


def detect(root="/", runner=no_runner):
    """systemd when it is PID 1 (and root is /), else the LSB fallback when /etc/init.d exists, else None."""
    if Systemd.available(root):
        return Systemd(root=root, runner=runner)
    if Lsb.available(root):
        return Lsb(root=root, runner=runner)
    return None
