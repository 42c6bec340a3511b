# -*- coding: utf-8 -*-
# Copyright: (c) 2026, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of changeward.hybrid.change_correlation (documented in plugins/modules/change_correlation.py)."""

import time

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import parse_duration, parse_instant
from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.correlation import (
    CorrelationError,
    Incident,
    Settings,
    annotation,
    correlate,
    depends_on,
    ledger_histories,
    report,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.dependencies.graph import graph_from_value
from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import host_label

DEPENDENCY_MAP_VAR = "changeward_dependency_map"  # the operator's map, as risk_score reads it
ARGUMENT_SPEC = {
    "host": {"type": "str", "required": True},
    "service": {"type": "str"},
    "at": {"type": "raw", "default": "now"},
    "alert": {"type": "str", "default": ""},
    "anomalies": {"type": "list", "elements": "dict"},
    "dependency_map": {"type": "raw"},
    "lookback": {"type": "str", "default": "1d"},
    "half_life": {"type": "str", "default": "30m"},
    "min_score": {"type": "float", "default": 0.5},
    "margin": {"type": "float", "default": 0.15},
}


class ActionModule(ControllerAction):
    NAME = "change_correlation"
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def dependencies(self, args, task_vars):
        """{service: [services it depends on]} from dependency_map, else the inventory's changeward_dependency_map
        (the map risk_score uses: service -> consumers, or the dependency graph's store), else None."""
        raw = args["dependency_map"]
        if raw is None:
            raw = self.pinned_var(DEPENDENCY_MAP_VAR, task_vars)
        if raw is None:
            return None
        if isinstance(raw, str):
            raw = self.load_yaml(raw, "dependency_map", CorrelationError)
        return depends_on(graph_from_value(raw))

    @staticmethod
    def host_services(task_vars) -> dict:
        """{host: [services]} from the inventory's services label: a change of a service the alerting host runs
        is of the same service, whatever service the alert names."""
        out = {}
        hostvars = task_vars.get("hostvars") or {}
        for name in list(hostvars.keys()) if hasattr(hostvars, "keys") else []:
            found = hostvars.raw_get(name) if hasattr(hostvars, "raw_get") else hostvars[name]
            services = host_label(found, "services")
            if isinstance(services, str):
                services = [services]
            if isinstance(services, list):
                out[name] = [s for s in services if isinstance(s, str)]
        return out

    def ensure(self, args, task_vars):
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

        now = time.time()
        incident = Incident(args["host"], args["service"], parse_instant(args["at"], "at", now), args["alert"])
        settings = Settings(
            half_life=parse_duration(args["half_life"], "half_life"),
            lookback=parse_duration(args["lookback"], "lookback"),
            min_score=args["min_score"],
            margin=args["margin"],
        )
        dependencies = self.dependencies(args, task_vars)
        target = self.ledger_target(args)
        # fail closed: no ledger is not "no change did it"
        if not context.ledger_exists(target):
            raise CorrelationError(f"no ledger at {target}: cannot tell which change did it")
        with open_ledger(target, key=args.get("key"), create=False, readonly=True) as ledger:
            changes = ledger_histories(ledger, since=incident.time - settings.lookback)
        result = correlate(incident, changes, dependencies, args["anomalies"], settings, self.host_services(task_vars))
        return {
            "changed": False,
            **result,
            "annotations": annotation(result),
            "report": report(result),
            "msg": result["reason"],
        }
