# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of changeward.hybrid.conflicts (documented in plugins/modules/conflicts.py)."""

from __future__ import annotations

import time

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import TimeFormatError, parse_duration
from ansible_collections.changeward.hybrid.plugins.plugin_utils import conflicts as core
from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.errors import CalendarError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.model import change_scope
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import InputError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import host_labels
from ansible_collections.changeward.hybrid.plugins.plugin_utils.providers import feeds

DEPENDENCY_MAP_VAR = "changeward_dependency_map"  # the operator's map, as risk_score reads it
ARGUMENT_SPEC = {
    "change_id": {"type": "str"},
    "targets": {"type": "list", "elements": "str", "required": True},
    "service": {"type": "str"},
    "change_type": {"type": "str", "default": "normal", "choices": ["standard", "normal", "emergency"]},
    "start": {"type": "raw"},
    "duration": {"type": "raw"},
    "scope": {"type": "dict"},
    "dependency_map": {"type": "raw"},
    "report_only": {"type": "bool", "default": False},
    **context.GATE_POLICY_SPEC,
}


class ActionModule(ControllerAction):
    NAME = "conflicts"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (TimeFormatError, CalendarError)

    def ensure(self, args, task_vars):
        targets = list(dict.fromkeys(args["targets"]))
        if not targets:
            raise InputError("targets is empty: a change without hosts cannot be checked")
        policy = self.gate_policy(args, task_vars, targets)
        section = policy.conflicts
        now = time.time()
        cannot = []
        others = self._open_changes(args, cannot)
        change_id = args.get("change_id") or ""
        mine = next((c for c in others if c["id"] == change_id), None)
        window = core.change_window(args["start"], args["duration"], section, now)
        if mine is not None and mine.get("planned_end") and args["start"] is None:
            window = core.plan_window(mine, window, now)
        hostvars = task_vars.get("hostvars") or {}
        hosts = {}
        for name in targets:
            if name not in hostvars:
                raise InputError(f"target {name} is not a host of the inventory")
            hosts[name] = host_labels(hostvars[name])
        timeout = float(section.get("http_timeout") or 10)
        unknown = parse_duration(section.get("unknown_duration") or "1h", "conflicts.unknown_duration")

        found = []
        maintenances, read, errors = feeds.read_feeds(
            section.get("feeds") or [], now, unknown_duration=unknown, timeout=timeout, resolve_path=self.find_file
        )
        cannot += errors
        provider_found, unsure = core.provider_conflicts(maintenances, hosts, window)
        found += provider_found
        cannot += unsure
        configured = {feeds.PROVIDER_OF.get((f or {}).get("format")) for f in section.get("feeds") or []}
        unchecked = core.unchecked(hosts, configured)

        found += core.change_conflicts(
            change_id,
            args["service"],
            targets,
            others,
            window,
            now,
            parse_duration(section.get("change_duration") or "2h", "conflicts.change_duration"),
            self._dependency_map(args, task_vars),
        )
        found += self._blackouts(args, policy, hosts, targets, window, timeout, cannot)

        result = core.decide(
            args.get("change_id") or "(planned change)", window, found, cannot, section["decisions"], unchecked
        )
        result.update(changed=False, feeds=read, targets=targets, policy=policy.summary())
        entry = context.gate_decision(
            "conflicts",
            "fail" if result["blocked"] else "pass",
            result["msg"],
            conflicts=[
                {k: c.get(k) for k in ("kind", "with", "name", "decision", "hosts", "overlap")}
                for c in result["conflicts"]
            ],
            cannot_decide=result["cannot_decide"] or None,
            policy_digest=policy.digest,
        )
        planned_only = mine is not None and mine["status"] == "planned"
        # a plan has no change record yet: its check is reported, the main job's gate records it at opening
        result.update(self.record_gate_decision({**args, "change_id": None} if planned_only else args, entry))
        if mine is not None and mine.get("planned_end"):
            result["plan"] = {"start": mine["planned_start"], "end": mine["planned_end"], "opened": not planned_only}
        if result["blocked"] and not args["report_only"]:
            result.update(failed=True, msg=f"conflicts: {result['msg']}")
        return result

    def _dependency_map(self, args, task_vars):
        """{provider: [consumers]} from dependency_map, else the inventory's changeward_dependency_map (pinned,
        the map risk_score reads: a plain mapping or the dependency graph's store), else None."""
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.dependencies.graph import (
            DependencyError,
            graph_from_value,
        )

        raw = args["dependency_map"]
        if raw is None:
            raw = self.pinned_var(DEPENDENCY_MAP_VAR, task_vars)
        if raw is None:
            return None
        if isinstance(raw, str):
            raw = self.load_yaml(raw, "dependency_map", InputError)
        try:
            graph = graph_from_value(raw)
        except DependencyError as exc:
            raise InputError(f"dependency_map: {exc}") from None
        consumers: dict = {}
        for consumer, provider in sorted(graph.edges):
            consumers.setdefault(provider, []).append(consumer)
        return consumers

    def _open_changes(self, args, cannot: list) -> list:
        """Every change of the ledger (the caller keeps the open ones); a ledger that is not there cannot say."""
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

        target = self.ledger_target(args)
        if not context.ledger_exists(target):
            cannot.append(f"no ledger at {target}: the other open changes are not known")
            return []
        with open_ledger(target, key=args.get("key"), create=False, readonly=True) as ledger:
            return core.ledger_changes(ledger)

    def _blackouts(self, args, policy, hosts, targets, window, timeout, cannot: list) -> list:
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.gate import load
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.policy import blackout_policy

        pol = blackout_policy({"blackout": policy.data.get("blackout") or {}})
        if not pol.calendars:
            return []
        loaded = load(list(pol.calendars), pol, timeout, self.find_file)
        cannot += [f"calendar {e}" for e in loaded.errors]
        scope = args["scope"]
        if scope is None:
            scope = {
                "env_type": sorted({h.get("env_type") for h in hosts.values() if h.get("env_type")}),
                "region": sorted({h.get("region") for h in hosts.values() if h.get("region")}),
            }
            if args["service"]:
                scope["service"] = args["service"]
        windows = core.blackout_windows(loaded.calendars, change_scope(scope, args["change_type"]), *window)
        return core.blackout_conflicts(windows, targets, window)
