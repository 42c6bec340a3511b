# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Service state (running/stopped) and boot enablement.

systemd when it is the running init (``/run/systemd/system`` exists): one ``systemctl show`` for every
declared service. Otherwise the LSB fallback used by hosts without systemd (the lab): the init script
``/etc/init.d/<svc> status`` (0 = running, 1-3 = not running as LSB defines, anything else = unknown)
and "enabled" = a ``S<NN><svc>`` link in /etc/rc2.d (Debian's default runlevel).

A service that does not exist counts as stopped and disabled; declaring it running or enabled is drift.
"""

import os
import re

from ansible_collections.changeward.hybrid.plugins.module_utils.drift.errors import CommandError
from ansible_collections.changeward.hybrid.plugins.module_utils.drift.proc import which

ENABLED_STATES = ("enabled", "enabled-runtime", "static", "indirect", "generated", "alias")
DISABLED_STATES = ("disabled", "masked", "masked-runtime", "linked", "linked-runtime")
RUNNING_STATES = ("active", "reloading", "activating", "refreshing")
STOPPED_STATES = ("inactive", "failed", "deactivating", "maintenance")


def systemd_running(root="/"):
    return os.path.isdir(os.path.join(root, "run/systemd/system"))


def _compare(out, spec, running, enabled):
    """running / enabled: True, False, or None when that could not be told (reason given separately)."""
    name = spec["name"]
    if spec["state"] is not None and running is not None:
        actual = "running" if running else "stopped"
        if actual != spec["state"]:
            out.add("service", name, "state", spec["state"], actual)
    if spec["enabled"] is not None and enabled is not None and enabled != spec["enabled"]:
        out.add("service", name, "enabled", spec["enabled"], enabled)


def _absent(out, spec):
    if spec["state"] == "running" or spec["enabled"]:
        out.add("service", spec["name"], "state", spec["state"] or "installed", "absent")


def unit_name(name):
    return name if re.search(r"\.(service|socket|timer|target|path|mount|scope|slice)$", name) else name + ".service"


def check_systemd(out, services, run, timeout, systemctl):
    units = [unit_name(s["name"]) for s in services]
    props = "Id,LoadState,ActiveState,UnitFileState"
    rc, text, err = run([systemctl, "show", "--no-pager", "--property=" + props, "--", *units], timeout)
    blocks = text.strip().split("\n\n") if text.strip() else []
    if rc != 0 or len(blocks) != len(units):
        raise CommandError("systemctl show failed (rc %s, %d of %d units): %s" % (rc, len(blocks), len(units), err))
    for i, spec in enumerate(services):
        block = blocks[i]
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if fields.get("LoadState") == "not-found":
            _absent(out, spec)
            continue
        active, file_state = fields.get("ActiveState", ""), fields.get("UnitFileState", "")
        running = True if active in RUNNING_STATES else False if active in STOPPED_STATES else None
        enabled = True if file_state in ENABLED_STATES else False if file_state in DISABLED_STATES else None
        if running is None and spec["state"] is not None:
            out.cannot("service", spec["name"], "systemd reports ActiveState=%r" % active)
        if enabled is None and spec["enabled"] is not None:
            out.cannot("service", spec["name"], "systemd reports UnitFileState=%r" % file_state)
        _compare(out, spec, running, enabled)


def lsb_enabled(root, name):
    rc2 = os.path.join(root, "etc/rc2.d")
    pattern = re.compile(r"^S\d\d" + re.escape(name) + "$")
    try:
        return any(pattern.match(e) for e in os.listdir(rc2))
    except FileNotFoundError:
        return False


def check_lsb(out, services, run, timeout, root="/"):
    for spec in services:
        name = spec["name"]
        script = os.path.join(root, "etc/init.d", name)
        if not os.path.isfile(script):
            _absent(out, spec)
            continue
        running = None
        if spec["state"] is not None:
            try:
                rc, _out, _err = run([script, "status"], timeout)
            except CommandError as exc:
                out.cannot("service", name, str(exc))
                rc = None
            if rc == 0:
                running = True
            elif rc in (1, 2, 3):
                running = False
            elif rc is not None:
                out.cannot("service", name, "%s status exited %s (LSB: unknown state)" % (script, rc))
        enabled = lsb_enabled(root, name) if spec["enabled"] is not None else None
        _compare(out, spec, running, enabled)


def check_services(out, services, run, timeout=20, root="/", path=None):
    if not services:
        return
    for _spec in services:
        out.count("service")
    if systemd_running(root):
        systemctl = which("systemctl", path)
        try:
            if not systemctl:
                raise CommandError("systemd runs but systemctl was not found")
            check_systemd(out, services, run, timeout, systemctl)
        except CommandError as exc:
            for spec in services:
                out.cannot("service", spec["name"], str(exc))
        return
    check_lsb(out, services, run, timeout, root)
