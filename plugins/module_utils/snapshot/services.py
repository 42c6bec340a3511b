# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Service states: whether a service exists, runs, and starts at boot.

Two backends behind one shape:

- systemd, when PID 1 is systemd: ``systemctl is-active`` / ``is-enabled``; enablement restored
  with enable / disable / mask where the unit file state is one of those three (or the unit did not
  exist: then nothing may pull it in), and the links in /etc/systemd/system/*.wants (.requires,
  .upholds) made exactly the captured set. Enablement alone also works on another root
  (``systemctl --root``); running state needs the manager.
- LSB fallback (hosts without systemd, like the lab): ``/etc/init.d/<svc> status`` (exit 0 = running,
  1-3 = not running, anything else = unknown), ``start`` and ``stop``; "enabled" means an
  ``S<NN><svc>`` link in /etc/rc2.d. The snapshot records every ``[SK]<NN><svc>`` link of
  /etc/rc{0..6,S}.d and rollback puts back exactly that set, so the boot order is restored too.

Both take ``root`` so tests can run real init scripts and ``systemctl --root`` in a scratch directory.
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
    """systemd: running state from the manager, boot enablement from the unit file state and links.

    With a root other than / (an image, or a test's scratch root) only boot enablement can be read and
    set (``systemctl --root``); whether a unit runs needs the running manager, so ``query``, ``start``
    and ``stop`` refuse there. ``detect`` only picks systemd when it is PID 1 and root is /.
    """

    name = "systemd"
    NOT_FOUND = "not-found"
    # "not-found": the unit did not exist; restoring that means nothing pulls it in any more.
    SETTABLE = ("enabled", "disabled", "masked", NOT_FOUND)
    # Units in these states cannot be enabled or disabled at all, so there is nothing to put back.
    FIXED = ("static", "generated", "transient")
    UNIT_TYPES = ("service", "socket", "timer", "path", "target", "mount", "automount", "swap", "slice", "scope")
    LINK_DIRS = (".wants", ".requires", ".upholds")

    def __init__(self, root="/", runner=no_runner, timeout=300):
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
        argv = ["systemctl"]
        if self.root != "/":
            argv.append("--root=%s" % self.root)
        rc, out, err = self.run([*argv, *args], timeout=self.timeout)
        return rc, out.decode("utf-8", "replace").strip().splitlines(), err

    def _need_manager(self, what, svc):
        if self.root != "/":
            raise CommandError(
                "systemctl %s %s needs the running service manager; under root %s only boot enablement is known"
                % (what, svc, self.root)
            )

    def unit(self, svc):
        suffix = svc.rsplit(".", 1)[-1] if "." in svc else ""
        return svc if suffix in self.UNIT_TYPES else svc + ".service"

    def links(self, svc):
        """Sorted [path, link target] of the links in /etc/systemd/system/*.wants, *.requires and
        *.upholds that pull the unit in at boot (what enable creates and disable removes)."""
        base = os.path.join(self.root, "etc/systemd/system")
        unit = self.unit(svc)
        out = []
        if os.path.isdir(base):
            for d in sorted(os.listdir(base)):
                path = os.path.join(base, d, unit)
                if d.endswith(self.LINK_DIRS) and os.path.islink(path):
                    out.append(["/etc/systemd/system/%s/%s" % (d, unit), os.readlink(path)])
        return out

    def unit_file_state(self, svc):
        """``systemctl is-enabled``: enabled, disabled, masked, static, ... or not-found."""
        rc, lines, err = self._out("is-enabled", svc)
        if lines:
            return lines[0]
        if "No such file or directory" in err:
            return self.NOT_FOUND  # systemd before 254 prints no state for a missing unit
        raise CommandError("systemctl is-enabled %s gave no state (rc %s): %s" % (svc, rc, err))

    def enablement(self, svc):
        """Boot enablement alone; works under any root."""
        state = self.unit_file_state(svc)
        return {
            "name": svc,
            "backend": self.name,
            "present": state != self.NOT_FOUND,
            "enabled": state in ("enabled", "enabled-runtime"),
            "unit_file_state": state,
            "links": self.links(svc),
        }

    def query(self, svc):
        self._need_manager("is-active", svc)
        state = self.enablement(svc)
        load = self._out("show", "-p", "LoadState", "--value", svc)[1]
        active = self._out("is-active", svc)[1]
        state.update(
            present=bool(load) and load[0] not in ("not-found", ""),
            active=bool(active) and active[0] in ("active", "activating", "reloading"),
        )
        return state

    def start(self, svc):
        self._need_manager("start", svc)
        # Rollback may just have put back the unit file; without a reload the manager would start
        # (or restart) the unit as the change defined it.
        if self._out("show", "-p", "NeedDaemonReload", "--value", svc)[1] == ["yes"]:
            self._action("daemon-reload")
        self._action("start", svc)

    def stop(self, svc):
        self._need_manager("stop", svc)
        self._action("stop", svc)

    def _action(self, *args):
        rc, _lines, err = self._out(*args)
        if rc != 0:
            raise CommandError("systemctl %s failed (rc %s): %s" % (" ".join(args), rc, err))

    def _wanted(self, target):
        state = target.get("unit_file_state")
        # systemd before 254 gives no state for a missing unit; older snapshots recorded "unknown".
        if not target.get("present") and state in (self.NOT_FOUND, "unknown"):
            return self.NOT_FOUND
        return state

    def not_restorable(self, target):
        """Why the captured boot enablement cannot be put back (indirect, alias, linked, *-runtime, ...),
        or None. The snapshot lists it in not_covered instead of pretending: rollback leaves it alone."""
        want = self._wanted(target)
        if want in self.SETTABLE or want in self.FIXED:
            return None
        return "boot enablement %r of %s is not restored (only enabled, disabled and masked are)" % (
            want,
            target["name"],
        )

    def enablement_matches(self, target, current):
        want = self._wanted(target)
        if want not in self.SETTABLE:
            return True
        have = current.get("unit_file_state")
        if want == self.NOT_FOUND:
            # Like an LSB service the change added: it may stay installed, but nothing may pull it in.
            same_state = have in (self.NOT_FOUND, "disabled")
        else:
            same_state = have == want
        # Snapshots taken before links were recorded compare the state alone.
        return same_state and (
            "links" not in target or current.get("links", self.links(target["name"])) == target["links"]
        )

    def set_enablement(self, target):
        """The captured unit file state, then exactly the captured links (enable creates the links of the
        unit's [Install] section, which need not be the set it had)."""
        svc = target["name"]
        want = self._wanted(target)
        if want not in self.SETTABLE:
            return
        if self.unit_file_state(svc) == "masked" and want != "masked":
            self._action("unmask", svc)
        if want == "enabled":
            self._action("enable", svc)
        elif want == "masked":
            self._action("mask", svc)
        else:
            # disable also removes the links of a unit whose file is gone already
            self._action("disable", svc)
        if "links" in target and self.links(svc) != target["links"]:
            wanted = dict(target["links"])
            for path, dest in self.links(svc):
                if wanted.get(path) != dest:
                    os.unlink(os.path.join(self.root, path.lstrip("/")))
            have = {path for path, _dest in self.links(svc)}
            for path, dest in sorted(wanted.items()):
                full = os.path.join(self.root, path.lstrip("/"))
                if path not in have:
                    if not os.path.isdir(os.path.dirname(full)):
                        os.makedirs(os.path.dirname(full), 0o755)
                    os.symlink(dest, full)
            if self.root == "/":
                self._action("daemon-reload")


def detect(root="/", runner=no_runner):
    """systemd when it is PID 1 (and root is /), else the LSB fallback when /etc/init.d exists, else None."""
    if Systemd.available(root):
        return Systemd(root=root, runner=runner)
    if Lsb.available(root):
        return Lsb(root=root, runner=runner)
    return None
