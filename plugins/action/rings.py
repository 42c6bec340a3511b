# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of changeward.hybrid.rings (documented in plugins/modules/rings.py)."""

from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.tolerance import PolicyError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import PrometheusError, parse_duration
from ansible_collections.changeward.hybrid.plugins.plugin_utils.rings import (
    DEFAULT_ENV_ORDER,
    DEFAULT_STEPS,
    PlanError,
    baseline_for,
    host_from_vars,
    plan,
)

ARGUMENT_SPEC = {
    "hosts": {"type": "list", "elements": "str", "required": True},
    "steps": {"type": "list", "elements": "float", "default": list(DEFAULT_STEPS)},
    "canary_percent": {"type": "float"},
    "canary_scope": {"type": "str", "default": "domain", "choices": ["domain", "tenant"]},
    "env_order": {"type": "list", "elements": "str", "default": list(DEFAULT_ENV_ORDER)},
    "max_new_domains": {"type": "int", "default": 1},
    "max_new_regions": {"type": "int", "default": 1},
    "tolerance_policy": {
        "type": "raw",
        "aliases": ["policy"],
        "deprecated_aliases": [{"name": "policy", "version": "2.0.0", "collection_name": "changeward.hybrid"}],
    },
    "bake_times": {"type": "dict"},
    "group_prefix": {"type": "str", "default": "ring_"},
    "rollout_group": {"type": "str", "default": "changeward_rollout"},
    "change_id": {"type": "str"},
}
RINGS_PLANNED = "io.changeward.rings.planned"


class ActionModule(ControllerAction):
    NAME = "rings"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (PlanError, PolicyError, PrometheusError, LedgerError)
    RAISE_ERRORS = True

    def ensure(self, args, task_vars):
        return self.ensure_planned(args, task_vars)

    def ensure_planned(self, args, task_vars) -> dict:
        hostvars = task_vars.get("hostvars") or {}
        unknown = [h for h in args["hosts"] if h not in hostvars]
        if unknown:
            raise PlanError(f"hosts not in the inventory: {', '.join(unknown)}")
        policy = None if args["tolerance_policy"] is None else self.tolerance_policy(args["tolerance_policy"], args)
        canary_percent = args["canary_percent"]
        if canary_percent is None and policy is not None:
            canary_percent = policy.canary.get("size")
        result = plan(
            [host_from_vars(h, hostvars[h]) for h in args["hosts"]],
            steps=args["steps"] or DEFAULT_STEPS,
            canary_percent=canary_percent,
            canary_scope=args["canary_scope"],
            env_order=args["env_order"] or DEFAULT_ENV_ORDER,
            max_new_domains=args["max_new_domains"],
            max_new_regions=args["max_new_regions"],
        )
        times = dict((policy.data["bake_times"] if policy else {}) or {})
        times.update(args["bake_times"] or {})
        for ring in result["rings"]:
            ring["baseline"] = baseline_for(result, ring["index"])
            ring["group"] = f"{args['group_prefix']}{ring['index']}"
            raw = times.get(ring["name"], times.get("default"))
            ring["bake_time"] = raw
            ring["bake_seconds"] = parse_duration(raw, f"bake time of {ring['name']}") if raw is not None else None
        result["add_hosts"] = [
            {"host": h, "groups": [ring["group"], args["rollout_group"]], "ring": ring["index"]}
            for ring in result["rings"]
            for h in ring["hosts"]
        ]
        result["rollout_group"] = args["rollout_group"]
        if policy:
            result["policy_digest"] = policy.digest
        result["changed"] = False
        if args["change_id"]:
            result["recorded"] = self._record(args, result)
            result["changed"] = result["recorded"]
        return result

    def _record(self, args, result) -> bool:
        """Write the plan into the change record's rings (once: a rerun finds it there)."""
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

        rings = [
            {k: r[k] for k in ("name", "index", "hosts", "env_types", "regions", "domains", "bake_time")}
            for r in result["rings"]
        ]
        with open_ledger(self.ledger_target(args), key=args["key"], create=False) as ledger:
            record = ledger.get_change(args["change_id"])
            if record is None:
                if self._task.check_mode:  # a run in check mode opened no change: its plan would be recorded
                    return True
                raise PlanError(f"change {args['change_id']} is not in the ledger {ledger.target}; open it first")
            if record.get("rings"):
                if [r.get("hosts") for r in record["rings"]] != [r["hosts"] for r in rings]:
                    raise PlanError(
                        f"change {args['change_id']} already has a different ring plan; a change keeps its plan"
                    )
                return False
            if self._task.check_mode:
                return True
            data = {"settings": result["settings"], "warnings": result["warnings"]}
            ledger.update_change(args["change_id"], set_fields={"rings": rings}, event_type=RINGS_PLANNED, data=data)
        return True
