# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of changeward.hybrid.saas_health (documented in plugins/modules/saas_health.py)."""

from __future__ import annotations

import time

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import TimeFormatError
from ansible_collections.changeward.hybrid.plugins.plugin_utils import conflicts as core
from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import InputError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.providers import saas

DEPENDENCY_MAP_VAR = "changeward_dependency_map"  # the operator's map, as risk_score reads it
ARGUMENT_SPEC = {
    "change_id": {"type": "str"},
    "service": {"type": "str"},
    "dependencies": {"type": "list", "elements": "str", "default": []},
    "targets": {"type": "list", "elements": "str", "default": []},
    "start": {"type": "raw"},
    "duration": {"type": "raw"},
    "dependency_map": {"type": "raw"},
    "report_only": {"type": "bool", "default": False},
    **context.GATE_POLICY_SPEC,
}


class ActionModule(ControllerAction):
    NAME = "saas_health"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (TimeFormatError,)

    def ensure(self, args, task_vars):
        policy = self.gate_policy(args, task_vars, args["targets"])
        section = policy.conflicts
        described = section.get("saas_dependencies") or {}
        window = core.change_window(args["start"], args["duration"], section, time.time())
        names = saas.dependencies(args["dependencies"], args["service"], described, self._consumed(args, task_vars))
        timeout = float(section.get("http_timeout") or 10)
        checks = [
            saas.check(
                name, saas.check_entry(name, described[name]), window, timeout=timeout, resolve_path=self.find_file
            )
            for name in names
        ]
        action = section["decisions"].get("saas", "refuse")
        findings = [f for c in checks for f in c["findings"]]
        cannot = [f"{c['dependency']}: {c['cannot_decide']}" for c in checks if c["cannot_decide"]]
        blocked = bool(cannot) or (action == "refuse" and bool(findings))
        parts = [f"cannot decide ({reason})" for reason in cannot] + [
            f"{f['dependency']}: {f['what']}" for f in findings
        ]
        label = args.get("change_id") or "(planned change)"
        if not names:
            msg = f"change {label}: no SaaS dependency named or listed for service {args['service']}"
        elif blocked:
            msg = f"change {label} refused: " + "; ".join(parts)
        elif findings:
            msg = f"change {label} may proceed with warnings: " + "; ".join(parts)
        else:
            msg = f"change {label}: {', '.join(names)} healthy, no maintenance in the window"
        result = {
            "changed": False,
            "blocked": blocked,
            "dependencies": checks,
            "findings": findings,
            "cannot_decide": cannot,
            "window": core.span(*window),
            "policy": policy.summary(),
            "msg": msg,
        }
        entry = context.gate_decision(
            "saas_health",
            "fail" if blocked else "pass",
            msg,
            dependencies=names,
            findings=findings or None,
            cannot_decide=cannot or None,
            policy_digest=policy.digest,
        )
        result.update(self.record_gate_decision(args, entry))
        if blocked and not args["report_only"]:
            result.update(failed=True, msg=f"saas_health: {msg}")
        return result

    def _consumed(self, args, task_vars) -> list:
        """What the service consumes by the dependency map (dependency_map, else the inventory's pinned
        changeward_dependency_map, as risk_score and conflicts read it); a SaaS among them is checked."""
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.dependencies.graph import (
            DependencyError,
            graph_from_value,
        )

        if not args["service"]:
            return []
        raw = args["dependency_map"]
        if raw is None:
            raw = self.pinned_var(DEPENDENCY_MAP_VAR, task_vars)
        if raw is None:
            return []
        if isinstance(raw, str):
            raw = self.load_yaml(raw, "dependency_map", InputError)
        try:
            graph = graph_from_value(raw)
        except DependencyError as exc:
            raise InputError(f"dependency_map: {exc}") from None
        service = args["service"].casefold()
        return sorted(provider for consumer, provider in graph.edges if consumer == service)
