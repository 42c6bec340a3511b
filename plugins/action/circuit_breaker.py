# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of changeward.hybrid.circuit_breaker (documented in plugins/modules/circuit_breaker.py)."""

from ansible_collections.changeward.hybrid.plugins.plugin_utils import breaker, context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.identity import IdentityError, resolve_identity
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import (
    PolicyError as GatePolicyError,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.tolerance import PolicyError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import PrometheusError, parse_duration
from ansible_collections.changeward.hybrid.plugins.plugin_utils.risk import RiskInputError

ARGUMENT_SPEC = {
    "state": {
        "type": "str",
        "default": "checked",
        "choices": ["checked", "open", "failure", "half_open", "closed", "read"],
    },
    "service": {"type": "str"},
    "tolerance_policy": {
        "type": "raw",
        "aliases": ["policy"],
        "deprecated_aliases": [{"name": "policy", "version": "2.0.0", "collection_name": "changeward.hybrid"}],
    },
    "change_id": {"type": "str"},
    "reason": {"type": "str", "default": ""},
    "evidence": {"type": "dict", "default": {}},
    "error_budget": {"type": "dict"},
    "kind": {"type": "str", "default": "ring", "choices": ["ring", "host"]},
    "count": {"type": "int", "default": 1},
    "max_failed_rings": {"type": "int", "default": 2},
    "max_failed_hosts": {"type": "int", "default": 3},
    "failure_window": {"type": "str", "default": "24h"},
    "gate_policy": {"type": "raw"},
    "authorised_roles": {"type": "list", "elements": "str", "default": list(breaker.DEFAULT_AUTHORISED_ROLES)},
    "report_only": {"type": "bool", "default": False},
}
ERRORS = (
    breaker.BreakerError,
    LedgerError,
    PolicyError,
    GatePolicyError,
    IdentityError,
    PrometheusError,
    RiskInputError,
)


class ActionModule(ControllerAction):
    NAME = "circuit_breaker"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ARGUMENT_RULES = {
        "required_one_of": [["service", "tolerance_policy"]],
        "required_if": [["state", "checked", ["change_id"]], ["state", "failure", ["change_id"]]],
    }
    ERRORS = ERRORS
    RAISE_ERRORS = True

    def ensure(self, args, task_vars):
        return self.ensure_state(args, task_vars)

    def failure(self, exc, args):
        if isinstance(exc, breaker.NotAuthorised):  # a refusal is a result to show, not an error
            return {"failed": True, "changed": False, "msg": f"{self.NAME}: {exc}", "refused": True}
        return super().failure(exc, args)

    def _service(self, args) -> tuple:
        if args["service"]:
            return args["service"], None
        policy = self.tolerance_policy(args["tolerance_policy"], args if args["state"] == "checked" else None)
        return policy.service, policy.digest

    def ensure_state(self, args, task_vars) -> dict:
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

        service, digest = self._service(args)
        check = bool(self._task.check_mode)
        state = args["state"]
        target = self.ledger_target(args)
        # A check or a read never creates a ledger: where the breaker's history should be and is not, it cannot
        # decide (a fresh, empty ledger would answer "closed").
        if state in ("read", "checked") and not context.ledger_exists(target):
            raise breaker.BreakerError(
                f"the ledger {target} does not exist, so the breaker of service {service} has no history to "
                "decide on; give the ledger the service's changes are recorded in"
            )
        with open_ledger(
            target, key=args["key"], create=state not in ("read", "checked"), source=breaker.SOURCE
        ) as ledger:
            # a run in check mode opened no change: the breaker is still read and decides as it would
            if state == "checked" and ledger.get_change(args["change_id"]) is None and not check:
                raise breaker.BreakerError(
                    f"change {args['change_id']} is not in the ledger {ledger.target}: a breaker is checked for a "
                    "change opened in the ledger that holds its service's history (this one is empty or another's)"
                )
            if state == "read":
                out = {"changed": False, "state": breaker.status(ledger, service).state}
                out["breaker"] = breaker.status(ledger, service).as_dict()
            elif state == "checked":
                out = breaker.admit(ledger, service, args["change_id"], check_mode=check)
                if not check:
                    # The decision goes into the change too (the breaker's own events are under its subject).
                    entry = context.gate_decision(
                        "circuit_breaker", "pass" if out["allowed"] else "fail", out["reason"]
                    )
                    out["ledger_seq"] = ledger.update_change(
                        args["change_id"],
                        add={"gate_decisions": [entry]},
                        event_type=context.GATE_DECIDED,
                        data={"decision": entry, "service": service},
                    ).seq
                    out["recorded"] = True
                else:
                    out.update(recorded=False, ledger_seq=None)
                if not out["allowed"] and not args["report_only"]:
                    out.update(failed=True, msg=f"circuit_breaker: rollout of {service} refused - {out['reason']}")
            elif state == "open":
                out = self._open(ledger, service, args, check)
            elif state == "failure":
                thresholds = breaker.Thresholds(
                    rings=args["max_failed_rings"],
                    hosts=args["max_failed_hosts"],
                    window=parse_duration(args["failure_window"], "failure_window"),
                )
                out = breaker.record_failure(
                    ledger,
                    service,
                    args["change_id"],
                    args["kind"],
                    args["count"],
                    args["reason"],
                    args["evidence"],
                    thresholds=thresholds,
                    check_mode=check,
                )
            else:
                policy = self.gate_policy({"policy": args["gate_policy"]}, task_vars)
                identity = resolve_identity(self.extra_vars(), policy.identity_sources, policy.identity_env)
                if state == "half_open":
                    out = breaker.half_open(
                        ledger,
                        service,
                        identity,
                        policy,
                        reason=args["reason"],
                        roles=args["authorised_roles"],
                        check_mode=check,
                    )
                elif args["change_id"]:
                    out = breaker.close(
                        ledger, service, change_id=args["change_id"], reason=args["reason"], check_mode=check
                    )
                else:
                    out = breaker.close(
                        ledger,
                        service,
                        identity=identity,
                        policy=policy,
                        reason=args["reason"],
                        roles=args["authorised_roles"],
                        check_mode=check,
                    )
                out["identity"] = identity.as_dict()
        out["service"] = service
        if digest:
            out["policy_digest"] = digest
        return out

    def _open(self, ledger, service, args, check) -> dict:
        budget = args["error_budget"]
        reason, evidence = args["reason"], dict(args["evidence"])
        if budget is not None:
            if "burning" not in budget:
                raise breaker.BreakerInputError(
                    "error_budget must be a registered changeward.hybrid.error_budget result"
                )
            firing = [w for w in budget.get("windows") or [] if w.get("firing")]
            if not budget["burning"]:
                current = breaker.status(ledger, service)
                return {
                    "changed": False,
                    "state": current.state,
                    "previous_state": current.state,
                    "events": [],
                    "breaker": current.as_dict(),
                    "reason": "the error budget is not burning beyond the policy",
                }
            reason = reason or "error budget burning beyond policy: " + "; ".join(
                f"{w.get('long')}/{w.get('short')} over {w.get('factor')}x" for w in firing
            )
            evidence.setdefault(
                "error_budget", {k: budget.get(k) for k in ("burn_rates", "remaining_budget", "windows")}
            )
        return breaker.trip(ledger, service, args["change_id"], reason, evidence, check_mode=check)
