# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.approval; the documentation lives in plugins/modules/approval.py."""

from __future__ import annotations

from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.approval import (
    NAMESPACE,
    REQUEST_NAMESPACE,
    ApprovalError,
    ApprovalInputError,
    check_approvals,
    make_request,
    make_statement,
    record_approval,
    statement_text,
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
from ansible_collections.changeward.hybrid.plugins.plugin_utils.risk_inputs import resolve_targets
from ansible_collections.changeward.hybrid.plugins.plugin_utils.sshsig import SignatureSetupError

ARGUMENT_SPEC = {
    "state": {"type": "str", "default": "present", "choices": ["present", "checked", "statement"]},
    "change_id": {"type": "str", "required": True},
    "change_digest": {"type": "str"},
    "approver": {"type": "str"},
    "approvals": {"type": "list", "elements": "raw", "default": []},
    "decision": {"type": "str", "default": "approve", "choices": ["approve", "reject"]},
    "role": {"type": "str"},
    "comment": {"type": "str", "default": ""},
    "signed": {
        "type": "dict",
        "options": {
            "statement": {"type": "raw", "required": True},
            "signature": {"type": "str", "required": True},
        },
    },
    "implementer": {"type": "list", "elements": "str", "default": []},
    "request": {"type": "raw"},
    "requester": {"type": "str"},
    "risk": {"type": "raw"},
    "targets": {"type": "raw"},
    "services": {"type": "list", "elements": "str", "default": []},
    "teams": {"type": "list", "elements": "str", "default": []},
    "verify_ledger": {"type": "bool", "default": True},
    "policy": {"type": "raw"},
    "policy_local": {"type": "raw"},
}
ERRORS = (ApprovalError, IdentityError, LedgerError, PolicyError, RiskInputError, SignatureSetupError)


class ActionModule(ControllerAction):
    NAME = "approval"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = ERRORS

    def ensure(self, args, task_vars):
        if args["state"] == "statement":
            return self.ensure_statement(args)
        if args["state"] == "present":
            outcome = self.ensure_present(args, task_vars)
            failed = outcome["refused"]
        else:
            outcome = self.ensure_checked(args, task_vars)
            failed = not outcome["allowed"]
        if failed:
            outcome = {**outcome, "failed": True}
        return outcome

    # -- state: statement -----------------------------------------------------------------------------------------
    def ensure_statement(self, args):
        """The statement an approver signs, and how: nothing is read from or written to the ledger."""
        if not args["change_digest"]:
            raise ApprovalInputError("change_digest is required: the change spec's change.digest (what is approved)")
        if args["requester"]:
            return self._request_statement(args)
        if not args["approver"] or not args["role"]:
            raise ApprovalInputError("approver (your principal in the allowed-signers file) and role are required")
        stmt = make_statement(
            args["change_id"], args["change_digest"], args["approver"], args["role"], args["decision"], args["comment"]
        )
        name = f"{args['change_id']}.{args['approver']}.json"
        return {
            "changed": False,
            "statement": stmt,
            "statement_text": statement_text(stmt),
            "sign_command": f"ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n {NAMESPACE} {name}",
            "msg": f"write statement_text to {name} (no trailing newline needed) and sign it: ssh-keygen -Y sign "
            f"-f ~/.ssh/id_ed25519 -n {NAMESPACE} {name}; hand in {name} and {name}.sig",
        }

    @staticmethod
    def _request_statement(args):
        """The request a requester signs (namespace changeward-request), when the policy asks for one."""
        stmt = make_request(args["change_id"], args["change_digest"], args["requester"])
        name = f"{args['change_id']}.request.json"
        command = f"ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n {REQUEST_NAMESPACE} {name}"
        return {
            "changed": False,
            "statement": stmt,
            "statement_text": statement_text(stmt),
            "sign_command": command,
            "msg": f"write statement_text to {name} and sign it: {command}; hand in {name} (changeward_request)",
        }

    # -- state: present -------------------------------------------------------------------------------------------
    def ensure_present(self, args, task_vars):
        policy = self._policy(args, task_vars)
        identity = self._identity(policy)
        signers = self._signers(policy)
        signed = args["signed"]
        if signed is None and args["approvals"]:
            if len(args["approvals"]) != 1:
                raise ApprovalInputError("state=present records one approval; give one item in approvals")
            signed = self._signed(args["approvals"][0], "approvals[0]")
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
                signed=signed,
                change_digest=args["change_digest"],
                signers=signers,
                check_mode=self._task.check_mode,
            )

    # -- state: checked -------------------------------------------------------------------------------------------
    def ensure_checked(self, args, task_vars):
        targets, _target_locals = resolve_targets(args["targets"], task_vars.get("hostvars"))
        policy = self._policy(args, task_vars)
        identity = self._identity(policy)
        signers = self._signers(policy)
        services, _how = change_services(args["services"], targets)
        teams = change_teams(args["teams"], targets, services, policy)
        submitted = [self._signed(item, f"approvals[{i}]") for i, item in enumerate(args["approvals"])]
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

        with open_ledger(self.ledger_target(args), key=args["key"], create=False) as ledger:
            if args["verify_ledger"]:
                verify_ledger(ledger)
            # Signed approvals handed to the change job are verified and recorded first (a refused one is
            # recorded as a refusal), then the check verifies everything recorded for the change again.
            handed_in = []
            for signed in submitted:
                outcome = record_approval(
                    ledger,
                    policy,
                    args["change_id"],
                    identity=identity,
                    implementers=args["implementer"],
                    signed=signed,
                    change_digest=args["change_digest"],
                    signers=signers,
                    check_mode=self._task.check_mode,
                )
                handed_in.append({k: outcome.get(k) for k in ("refused", "msg", "ledger_seq")})
            record = ledger.get_change(args["change_id"]) or {}
            risk_class = _risk_class(args["risk"], record.get("risk"))
            result = check_approvals(
                ledger,
                policy,
                args["change_id"],
                identity=identity,
                risk_class=risk_class,
                targets=targets,
                services=services,
                teams=teams,
                implementers=args["implementer"],
                change_digest=args["change_digest"],
                signers=signers,
                check_mode=self._task.check_mode,
                request=None if args["request"] is None else self._signed(args["request"], "request"),
            )
        refused = [item["msg"] for item in handed_in if item["refused"]]
        if refused and not result["allowed"]:
            result["msg"] += "; handed-in approval(s) refused: " + "; ".join(refused)
        return {**result, "submitted": handed_in}

    # -- helpers -------------------------------------------------------------------------------------------------
    def _policy(self, args, task_vars):
        """The pinned gate policy, with the regional layers of the target hosts named in targets."""
        names = args["targets"] if isinstance(args["targets"], list) else []
        return self.gate_policy(args, task_vars, [t for t in names if isinstance(t, str)])

    def _signers(self, policy):
        """The allowed-signers file the policy names, looked up like other task files when relative."""
        return self.find_file(policy.allowed_signers) if policy.allowed_signers else None

    def _signed(self, item, what):
        """{statement, signature} from an approvals item: that mapping, or the path of a statement file whose
        signature is the file beside it with .sig appended (what ssh-keygen -Y sign writes)."""
        if isinstance(item, dict):
            return item
        if not isinstance(item, str) or not item.strip():
            raise ApprovalInputError(f"{what} must be a statement file path or a mapping with statement and signature")
        path = self.find_file(item.strip())
        texts = []
        for name in (path, path + ".sig"):
            try:
                with open(name, encoding="utf-8") as handle:
                    texts.append(handle.read())
            except OSError as exc:
                raise ApprovalInputError(f"{what}: cannot read {name}: {exc.strerror}") from None
        return {"statement": texts[0], "signature": texts[1]}

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
