# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of changeward.hybrid.error_budget (documented in plugins/modules/error_budget.py)."""

import time

from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.error_budget import (
    DEFAULT_PERIOD,
    BudgetError,
    collect_ratios,
    evaluate,
    format_duration,
    needed_windows,
    parse_duration,
    parse_windows,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.errors import JudgeError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.runner import parse_time
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.tolerance import PolicyError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import PrometheusError

ARGUMENT_SPEC = {
    "tolerance_policy": {
        "type": "raw",
        "aliases": ["policy"],
        "deprecated_aliases": [{"name": "policy", "version": "2.0.0", "collection_name": "changeward.hybrid"}],
    },
    "slo": {"type": "str"},
    "objective": {"type": "float"},
    "period": {"type": "str"},
    "error_ratio_query": {"type": "str"},
    "error_ratios": {"type": "dict"},
    "windows": {
        "type": "list",
        "elements": "dict",
        "options": {
            "long": {"type": "str", "required": True},
            "short": {"type": "str", "required": True},
            "factor": {"type": "float", "required": True},
        },
    },
    "change_type": {"type": "str"},
    "exempt_change_types": {"type": "list", "elements": "str"},
    "refuse_on_burn": {"type": "bool"},
    "at": {
        "type": "raw",
        "aliases": ["time"],
        "deprecated_aliases": [{"name": "time", "version": "2.0.0", "collection_name": "changeward.hybrid"}],
    },
    **context.PROMETHEUS_SPEC,
    "report_only": {"type": "bool", "default": False},
    "change_id": {"type": "str"},
    "change_digest": {"type": "str"},
    "targets": {"type": "list", "elements": "raw", "default": []},
}


def _first(*values):
    return next((v for v in values if v is not None), None)


class ActionModule(ControllerAction):
    NAME = "error_budget"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ARGUMENT_RULES = {
        # prometheus_url may come from CHANGEWARD_PROMETHEUS_URL: inline error_ratios simply query nothing.
        "mutually_exclusive": [["error_ratios", "error_ratio_query"]],
    }
    # Fail closed: an error budget that cannot be read does not let a change through.
    ERRORS = (BudgetError, PolicyError, PrometheusError, JudgeError)
    RAISE_ERRORS = True

    def ensure(self, args, task_vars):
        return self.ensure_evaluated(args, task_vars)

    def _verified_exemption(self, args, task_vars) -> dict | None:
        """The change's accepted override that exempts it from the error budget, verified again now against the
        pinned gate policy, its allowed signers and the change digest; None when there is none. A change type
        is the requester's word, so an exempt type alone does not let a change past a spent budget."""
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.approval import verify_ledger
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.override import verified_exemption
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.policy import blackout_policy
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.risk_inputs import resolve_targets

        target = self.ledger_target(args)
        if not args["change_id"] or not context.ledger_exists(target):
            return None
        targets = resolve_targets(args["targets"], task_vars.get("hostvars"))[0] if args["targets"] else []
        policy = self.gate_policy({**args, "policy": None}, task_vars, targets)
        signers = self.find_file(policy.allowed_signers) if policy.allowed_signers else None
        with open_ledger(target, key=args["key"], create=False, readonly=True) as ledger:
            verify_ledger(ledger)
            return verified_exemption(
                ledger,
                args["change_id"],
                "error_budget",
                policy=policy,
                change_digest=args["change_digest"],
                signers=signers,
                override_roles=blackout_policy(policy.data).override_roles,
            )

    def ensure_evaluated(self, args, task_vars) -> dict:
        policy = None if args["tolerance_policy"] is None else self.tolerance_policy(args["tolerance_policy"], args)
        slo = policy.slo(args["slo"]) if policy else {}
        if args["slo"] and not policy:
            raise BudgetError("slo names an SLO of a policy: give policy too")
        budget = policy.error_budget if policy else {}
        objective = _first(args["objective"], slo.get("objective"))
        if objective is None:
            raise BudgetError("objective is required (or a policy with an SLO)")
        period = format_duration(parse_duration(_first(args["period"], slo.get("period"), DEFAULT_PERIOD), "period"))
        windows = parse_windows(_first(args["windows"], budget.get("windows")))

        if args["error_ratios"] is not None:
            ratios = dict(args["error_ratios"])
        else:
            query = _first(args["error_ratio_query"], slo.get("error_ratio_query"))
            if not query:
                raise BudgetError("give error_ratio_query (or a policy SLO with one), or inline error_ratios")
            if not args["prometheus_url"]:
                raise BudgetError("error_ratio_query needs prometheus_url")
            client = self.prometheus_client(args)
            at = None if args["at"] is None else parse_time(args["at"], "at", now=time.time())
            ratios = collect_ratios(client, query, needed_windows(period, windows), at=at)

        exempt_types = [str(t) for t in _first(args["exempt_change_types"], budget.get("exempt_change_types"), [])]
        exemption, unverified = None, None
        if args["change_type"] is not None and str(args["change_type"]) in exempt_types:
            exemption = self._verified_exemption(args, task_vars)
            if exemption is None:
                exempt_types.remove(str(args["change_type"]))
                unverified = (
                    f"change type {args['change_type']!r} is exempt from the error budget only with an accepted "
                    "emergency override that exempts error_budget (signed, verified against the policy); "
                    f"change {args['change_id'] or '(no change_id given)'} has none"
                )
        report = evaluate(
            objective,
            ratios,
            period=period,
            windows=windows,
            change_type=args["change_type"],
            exempt_change_types=exempt_types,
            refuse_on_burn=bool(_first(args["refuse_on_burn"], budget.get("refuse_on_burn"), False)),
        )
        if unverified and report.decision == "refuse":
            report.reasons.append(unverified)
        out = {"changed": False, **report.as_dict()}
        if exemption:
            out["exemption"] = exemption
        if policy:
            out["policy_digest"] = policy.digest
        entry = context.gate_decision(
            "error_budget",
            "fail" if report.decision == "refuse" else "pass",
            "; ".join(report.reasons) or report.decision,
            remaining_budget=report.remaining_budget,
        )
        # Recorded whatever the decision (a refusal too), before the task fails on it.
        out.update(self.record_gate_decision(args, entry))
        if report.decision == "refuse" and not args["report_only"]:
            out.update(failed=True, msg=f"error_budget: change refused - {'; '.join(report.reasons)}")
        return out
