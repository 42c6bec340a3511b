# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.approval; the documentation lives in plugins/modules/approval.py."""

from __future__ import annotations

from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.approval import (
    ApprovalError,
    check_approvals,
    record_approval,
    verify_ledger,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.identity import IdentityError, resolve_identity
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import RISK_CLASSES, PolicyError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.risk import (
    RiskInputError,
    change_services,
    change_teams,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.risk_inputs import (
    build_policy,
    resolve_targets,
)

ARGUMENT_SPEC = {
    "state": {"type": "str", "default": "present", "choices": ["present", "checked"]},
    "change_id": {"type": "str", "required": True},
    "decision": {"type": "str", "default": "approve", "choices": ["approve", "reject"]},
    "role": {"type": "str"},
    "comment": {"type": "str", "default": ""},
    "signed": {
        "type": "dict",
        "options": {
            "statement": {"type": "dict", "required": True},
            "signature": {"type": "str", "required": True},
        },
    },
    "implementer": {"type": "list", "elements": "str", "default": []},
    "risk": {"type": "raw"},
    "targets": {"type": "raw"},
    "services": {"type": "list", "elements": "str", "default": []},
    "teams": {"type": "list", "elements": "str", "default": []},
    "verify_ledger": {"type": "bool", "default": True},
    "policy": {"type": "raw"},
    "policy_local": {"type": "raw"},
}
ERRORS = (ApprovalError, IdentityError, LedgerError, PolicyError, RiskInputError)


class ActionModule(ControllerAction):
    NAME = "approval"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = ERRORS

    def ensure(self, args, task_vars):
        if args["state"] == "present":
            outcome = self.ensure_present(args, task_vars)
            failed = outcome["refused"]
        else:
            outcome = self.ensure_checked(args, task_vars)
            failed = not outcome["allowed"]
        if failed:
            outcome = {**outcome, "failed": True}
        return outcome

    # -- state: present -------------------------------------------------------------------------------------------
    def ensure_present(self, args, task_vars):
        target_locals = []
        if args["targets"]:  # the targets' local policies may add the (regional) approver
            _targets, target_locals = resolve_targets(args["targets"], task_vars.get("hostvars"))
        policy = build_policy(args["policy"], args["policy_local"], task_vars, target_locals, self.find_file)
        identity = self._identity(policy)
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

        with open_ledger(self.ledger_target(args), key=args["key"], create=False) as ledger:
            return record_approval(
                ledger,
                policy,
                args["change_id"],
                identity=identity,
                role=args["role"],
                decision=args["decision"],
                comment=args["comment"],
                implementers=args["implementer"],
                signed=args["signed"],
                check_mode=self._task.check_mode,
            )

    # -- state: checked -------------------------------------------------------------------------------------------
    def ensure_checked(self, args, task_vars):
        targets, target_locals = resolve_targets(args["targets"], task_vars.get("hostvars"))
        policy = build_policy(args["policy"], args["policy_local"], task_vars, target_locals, self.find_file)
        identity = self._identity(policy)
        services, _how = change_services(args["services"], targets)
        teams = change_teams(args["teams"], targets, services, policy)
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

        with open_ledger(self.ledger_target(args), key=args["key"], create=False) as ledger:
            if args["verify_ledger"]:
                verify_ledger(ledger)
            record = ledger.get_change(args["change_id"]) or {}
            risk_class = _risk_class(args["risk"], record.get("risk"))
            return check_approvals(
                ledger,
                policy,
                args["change_id"],
                identity=identity,
                risk_class=risk_class,
                targets=targets,
                services=services,
                teams=teams,
                implementers=args["implementer"],
                check_mode=self._task.check_mode,
            )

    # -- helpers -------------------------------------------------------------------------------------------------
    def _identity(self, policy):
        """Identity of this run from its extra vars (never play or inventory vars), the environment or the OS."""
        return resolve_identity(self.extra_vars(cli=True), policy.identity_sources, policy.identity_env)


def _risk_class(given, recorded):
    """The risk class to check against: the parameter (a class or a risk_score result) and the change record's;
    when both exist the higher one counts. None of them is an error, never 'low'."""
    classes = []
    if isinstance(given, dict):
        given = given.get("class") or given.get("level")
    if given not in (None, ""):
        if given not in RISK_CLASSES:
            raise RiskInputError(f"risk must be one of {', '.join(RISK_CLASSES)} or a risk_score result, got {given!r}")
        classes.append(given)
    if isinstance(recorded, dict) and recorded.get("level") in RISK_CLASSES:
        classes.append(recorded["level"])
    if not classes:
        raise RiskInputError(
            "no risk class: pass risk (a class or the registered risk_score result) or score the "
            "change with changeward.hybrid.risk_score and its change_id first"
        )
    return max(classes, key=RISK_CLASSES.index)
