# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of changeward.hybrid.canary_judge (documented in plugins/modules/canary_judge.py)."""

from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.classify import Allowance
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.errors import JudgeError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.runner import (
    PrometheusUnavailable,
    host_selector,
    judge,
    make_window,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.spec import Defaults
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.verdict import (
    DEFAULT_MARGINAL_SCORE,
    DEFAULT_PASS_SCORE,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.tolerance import (
    TIGHTENING,
    PolicyError,
    strictest_capability,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import PrometheusError

_ALLOWANCE = {"type": "dict", "options": {"relative": {"type": "float"}, "absolute": {"type": "float"}}}
_NODATA = ["fail", "inconclusive", "ignore"]

ARGUMENT_SPEC = {
    "metrics": {
        "type": "list",
        "elements": "dict",
        "options": {
            "name": {"type": "str", "required": True},
            "baseline": {"type": "list", "elements": "raw"},
            "canary": {"type": "list", "elements": "raw"},
            "query": {"type": "str"},
            "canary_query": {"type": "str"},
            "baseline_query": {"type": "str"},
            "direction": {"type": "str", "choices": ["increase", "decrease", "either"]},
            "critical": {"type": "bool"},
            "allowance": _ALLOWANCE,
            "nodata": {"type": "str", "choices": _NODATA},
            "weight": {"type": "float"},
            "alpha": {"type": "float"},
            "min_points": {"type": "int"},
        },
    },
    "tolerance_policy": {
        "type": "raw",
        "aliases": ["policy"],
        "deprecated_aliases": [{"name": "policy", "version": "2.0.0", "collection_name": "changeward.hybrid"}],
    },
    "pass_score": {"type": "float"},
    "marginal_score": {"type": "float"},
    "alpha": {"type": "float"},
    "min_points": {"type": "int"},
    "default_allowance": _ALLOWANCE,
    "default_nodata": {"type": "str", "choices": _NODATA},
    "rollback_capability": {"type": "str", "choices": ["full", "partial", "none"]},
    "targets": {"type": "list", "elements": "str"},
    **context.PROMETHEUS_SPEC,
    "canary_selector": {"type": "str"},
    "baseline_selector": {"type": "str"},
    "canary_hosts": {"type": "list", "elements": "str"},
    "baseline_hosts": {"type": "list", "elements": "str"},
    "host_label": {"type": "str", "default": "instance"},
    "start": {"type": "raw"},
    "end": {"type": "raw"},
    "lookback": {"type": "str"},
    "step": {"type": "str"},
    "report_only": {"type": "bool", "default": False},
}
MUTUALLY_EXCLUSIVE = [
    ["canary_selector", "canary_hosts"],
    ["baseline_selector", "baseline_hosts"],
    ["rollback_capability", "targets"],
    ["start", "lookback"],
]


def _first(*values):
    return next((v for v in values if v is not None), None)


class ActionModule(ControllerAction):
    NAME = "canary_judge"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ARGUMENT_RULES = {"mutually_exclusive": MUTUALLY_EXCLUSIVE, "required_one_of": [["metrics", "tolerance_policy"]]}
    ERRORS = (JudgeError, PolicyError, PrometheusError)
    RAISE_ERRORS = True

    def ensure(self, args, task_vars) -> dict:
        return self.ensure_judged(args, task_vars)

    def _policy(self, raw):
        return None if raw is None else self.tolerance_policy(raw)

    def _capability(self, args, task_vars) -> str:
        if args["rollback_capability"]:
            return args["rollback_capability"]
        if not args["targets"]:
            return "full"
        hostvars = task_vars.get("hostvars", {})
        unknown = [h for h in args["targets"] if h not in hostvars]
        if unknown:
            raise JudgeError(f"targets not in the inventory: {', '.join(unknown)}")
        return strictest_capability(hostvars[h].get("rollback_capability") for h in args["targets"])

    def ensure_judged(self, args, task_vars) -> dict:
        policy = self._policy(args["tolerance_policy"])
        settings = policy.canary if policy else {}
        capability = self._capability(args, task_vars)
        tightening = policy.tightening(capability) if policy else dict(TIGHTENING[capability])
        base = policy.judge_defaults() if policy else Defaults()
        allowance = Allowance.from_mapping(args["default_allowance"], "default_allowance")
        defaults = Defaults(
            alpha=_first(args["alpha"], base.alpha),
            min_points=_first(args["min_points"], base.min_points),
            allowance=allowance or base.allowance,
            nodata=_first(args["default_nodata"], base.nodata),
        )
        metrics = args["metrics"] if args["metrics"] is not None else policy.data["metrics"]
        out = {"changed": False, "rollback_capability": capability}
        if policy:
            out["policy_digest"] = policy.digest

        wants_prometheus = any(m.get("query") or m.get("canary_query") or m.get("baseline_query") for m in metrics)
        client = window = None
        selectors = {}
        if wants_prometheus:
            if not args["prometheus_url"]:
                raise JudgeError("metrics with queries need prometheus_url")
            client = self.prometheus_client(args)
            window = make_window(
                start=args["start"],
                end=args["end"],
                lookback=_first(args["lookback"], None if args["start"] is not None else settings.get("lookback")),
                step=_first(args["step"], settings.get("step")),
            )
            out["window"] = window.as_dict()
            for side in ("canary", "baseline"):
                if args[f"{side}_hosts"]:
                    selectors[side] = host_selector(args[f"{side}_hosts"], args["host_label"])
                elif args[f"{side}_selector"]:
                    selectors[side] = args[f"{side}_selector"]

        pass_score = _first(args["pass_score"], settings.get("pass_score"), DEFAULT_PASS_SCORE)
        marginal_score = _first(args["marginal_score"], settings.get("marginal_score"), DEFAULT_MARGINAL_SCORE)
        try:
            judgement, sources = judge(
                metrics,
                pass_score=pass_score,
                marginal_score=marginal_score,
                defaults=defaults,
                tightening=tightening,
                client=client,
                window=window,
                selectors=selectors,
            )
        except PrometheusUnavailable as exc:
            # Fail closed: no data from Prometheus is never a pass.
            out.update(
                verdict="inconclusive",
                score=None,
                reasons=[f"Prometheus unavailable, cannot judge: {exc}"],
                error=str(exc),
            )
            if not args["report_only"]:
                out.update(failed=True, msg=f"canary_judge: inconclusive - {exc}")
            return out

        out.update(judgement.as_dict())
        for metric, source in zip(out["metrics"], sources, strict=True):
            metric.update(source)
        if out["verdict"] in ("fail", "inconclusive") and not args["report_only"]:
            out.update(failed=True, msg=f"canary_judge: {out['verdict']} - {out['reasons'][0]}")
        return out
