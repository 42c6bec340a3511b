# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of changeward.hybrid.bake_watch (documented in plugins/modules/bake_watch.py)."""

import time

from ansible.utils.display import Display

from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.errors import JudgeError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.runner import parse_time
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.tolerance import (
    PolicyError,
    strictest_capability,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import PrometheusError, parse_duration
from ansible_collections.changeward.hybrid.plugins.plugin_utils.watch import Watch, WatchError, watch_metrics

ARGUMENT_SPEC = {
    "tolerance_policy": {
        "type": "raw",
        "required": True,
        "aliases": ["policy"],
        "deprecated_aliases": [{"name": "policy", "version": "2.0.0", "collection_name": "changeward.hybrid"}],
    },
    "ring_hosts": {"type": "list", "elements": "str", "required": True},
    "baseline_hosts": {"type": "list", "elements": "str", "default": []},
    "since": {"type": "raw", "required": True},
    "duration": {"type": "str"},
    "ring": {"type": "str"},
    "interval": {"type": "str", "default": "5s"},
    "polls": {"type": "int", "default": 3},
    "critical_polls": {"type": "int", "default": 1},
    "metrics": {"type": "list", "elements": "str"},
    "rollback_capability": {"type": "str", "choices": ["full", "partial", "none"]},
    "host_label": {"type": "str", "default": "host"},
    **context.PROMETHEUS_SPEC,
    "report_only": {"type": "bool", "default": False},
}


class ActionModule(ControllerAction):
    NAME = "bake_watch"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (WatchError, PolicyError, PrometheusError, JudgeError)
    RAISE_ERRORS = True

    def ensure(self, args, task_vars):
        return self.ensure_watched(args, task_vars)

    def _capability(self, args, task_vars) -> str:
        if args["rollback_capability"]:
            return args["rollback_capability"]
        hostvars = task_vars.get("hostvars") or {}
        unknown = [h for h in args["ring_hosts"] if h not in hostvars]
        if unknown:
            raise WatchError(f"ring hosts not in the inventory: {', '.join(unknown)} (or give rollback_capability)")
        return strictest_capability(hostvars[h].get("rollback_capability") for h in args["ring_hosts"])

    def ensure_watched(self, args, task_vars) -> dict:
        policy = self.tolerance_policy(args["tolerance_policy"])
        capability = self._capability(args, task_vars)
        duration = args["duration"] or policy.bake_time(args["ring"])
        client = self.prometheus_client(args)
        watch = Watch(
            client,
            watch_metrics(policy, capability, args["metrics"]),
            args["ring_hosts"],
            args["baseline_hosts"],
            since=parse_time(args["since"], "since", time.time()),
            duration=parse_duration(duration, "duration"),
            interval=parse_duration(args["interval"], "interval"),
            polls=args["polls"],
            critical_polls=args["critical_polls"],
            host_label=args["host_label"],
            # Progress at the default verbosity, while the bake runs (a few lines per ring, not one per poll).
            report=lambda line: Display().display(f"bake_watch {args['ring'] or 'ring'}: {line}"),
        )
        out = watch.run()
        out.update(changed=False, rollback_capability=capability, policy_digest=policy.digest, bake_time=duration)
        if out["verdict"] != "pass" and not args["report_only"]:
            out.update(failed=True, msg=f"bake_watch: {out['verdict']} - {out['reason']}")
        return out
