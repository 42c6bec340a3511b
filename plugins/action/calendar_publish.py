# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of changeward.hybrid.calendar_publish (documented in plugins/modules/calendar_publish.py)."""

from __future__ import annotations

import os
import tempfile
import time

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import TimeFormatError, parse_duration
from ansible_collections.changeward.hybrid.plugins.plugin_utils import conflicts as core
from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar import publish
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.errors import CalendarError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.model import change_scope
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError, InputError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import host_labels
from ansible_collections.changeward.hybrid.plugins.plugin_utils.providers import feeds

ARGUMENT_SPEC = {
    "dest": {"type": "path", "required": True},
    "team": {"type": "str"},
    "service": {"type": "str"},
    "hosts": {"type": "list", "elements": "str"},
    "recent": {"type": "raw", "default": "7d"},
    "horizon": {"type": "raw", "default": "30d"},
    "name": {"type": "str"},
    "mode": {"type": "raw", "default": "0644"},
    **context.GATE_POLICY_SPEC,
}


class PublishError(ChangewardError):
    """The calendar cannot be published whole (a feed, calendar or the ledger that cannot be read)."""


class ActionModule(ControllerAction):
    NAME = "calendar_publish"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ARGUMENT_RULES = {"mutually_exclusive": [["team", "service"]]}
    ERRORS = (TimeFormatError, CalendarError)

    def ensure(self, args, task_vars):
        now = time.time()
        hostvars = task_vars.get("hostvars") or {}
        names = args["hosts"] if args["hosts"] is not None else list((task_vars.get("groups") or {}).get("all") or [])
        policy = self.gate_policy(args, task_vars, names)
        section = policy.conflicts
        recent = parse_duration(args["recent"], "recent", allow_zero=True)
        horizon = parse_duration(args["horizon"], "horizon")
        duration = parse_duration(section.get("change_duration") or "2h", "conflicts.change_duration")
        services = self._services(args, policy)
        hosts = {}
        for name in names:
            if name not in hostvars:
                raise InputError(f"host {name} is not a host of the inventory")
            labels = host_labels(hostvars[name])
            if services is None or set(labels.get("services") or ()) & services:
                hosts[name] = labels
        start, end = now - recent, now + horizon

        problems = []
        items = publish.change_items(self._changes(args), now, duration, recent, services)
        items += self._windows(policy, services, start, end, problems)
        maintenances, _read, errors = feeds.read_feeds(
            section.get("feeds") or [],
            now,
            unknown_duration=parse_duration(section.get("unknown_duration") or "1h", "conflicts.unknown_duration"),
            timeout=float(section.get("http_timeout") or 10),
            resolve_path=self.find_file,
        )
        problems += errors
        in_range = [m for m in maintenances if m.overlap(start, end)]
        items += publish.maintenance_items(in_range, lambda m: feeds.affected_hosts(m, hosts)[0])
        if problems:
            # a calendar without a maintenance nobody could read would tell its subscribers there is none
            raise PublishError("cannot publish the whole calendar: " + "; ".join(problems))

        label = args["name"] or (
            f"changeward - team {args['team']}"
            if args["team"]
            else f"changeward - service {args['service']}"
            if args["service"]
            else "changeward changes"
        )
        data = publish.render(items, label, now)
        dest = args["dest"]
        changed = True
        if os.path.exists(dest):
            with open(dest, "rb") as handle:
                changed = publish.without_stamps(handle.read()) != publish.without_stamps(data)
        if changed and not self._task.check_mode:
            self._write(dest, data, args["mode"])
        counts = {"changes": 0, "blackout": 0, "maintenance": 0, "provider_maintenance": 0}
        for item in items:
            kind = item["kind"] or ("changes" if "change" in item["categories"] else "provider_maintenance")
            counts[kind] += 1
        return {
            "changed": changed,
            "dest": dest,
            "events": len(items),
            "counts": counts,
            "services": sorted(services) if services is not None else None,
            "range": core.span(start, end),
            "policy": policy.summary(),
            "msg": f"{label}: {len(items)} events in {dest}",
        }

    @staticmethod
    def _services(args, policy):
        if args["service"]:
            return {args["service"]}
        if args["team"]:
            owned = {
                name for name, entry in policy.data["services"].items() if (entry or {}).get("team") == args["team"]
            }
            if not owned:
                raise InputError(f"team {args['team']} owns no service in the gate policy (services.<name>.team)")
            return owned
        return None

    def _changes(self, args) -> list:
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

        target = self.ledger_target(args)
        if not context.ledger_exists(target):
            raise PublishError(f"no ledger at {target}: the changes are not known")
        with open_ledger(target, key=args.get("key"), create=False, readonly=True) as ledger:
            return core.ledger_changes(ledger)

    def _windows(self, policy, services, start, end, problems) -> list:
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.gate import load
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.policy import blackout_policy

        pol = blackout_policy({"blackout": policy.data.get("blackout") or {}})
        if not pol.calendars:
            return []
        loaded = load(list(pol.calendars), pol, None, self.find_file)
        problems += [f"calendar {e}" for e in loaded.errors]
        scope = change_scope({"service": sorted(services)} if services is not None else {}, None)
        return publish.window_items(publish.windows_between(loaded.calendars, scope, start, end))

    @staticmethod
    def _write(dest: str, data: bytes, mode) -> None:
        directory = os.path.dirname(os.path.abspath(dest)) or "."
        if not os.path.isdir(directory):
            raise InputError(f"dest {dest}: directory {directory} does not exist")
        perms = int(str(mode), 8) if not isinstance(mode, int) else mode
        fd, partial = tempfile.mkstemp(prefix=".calendar-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(partial, perms)
            os.replace(partial, dest)  # subscribers read the old feed or the new one, never half of one
        except BaseException:
            if os.path.exists(partial):
                os.unlink(partial)
            raise
