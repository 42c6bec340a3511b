# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for changeward.hybrid.checklist (documented in plugins/modules/checklist.py)."""

from __future__ import annotations

from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.approval import ApprovalError, statement_text
from ansible_collections.changeward.hybrid.plugins.plugin_utils.governance import checklist
from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import LABELS, host_label
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import PolicyError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.sshsig import SignatureSetupError

SOURCE = "changeward.hybrid.checklist"
ARGUMENT_SPEC = {
    "state": {"type": "str", "choices": ["checked", "statement"], "default": "checked"},
    "change_id": {"type": "str", "required": True},
    "change_digest": {"type": "str", "required": True},
    "services": {"type": "list", "elements": "str", "default": []},
    "change_kind": {"type": "str"},
    "targets": {"type": "list", "elements": "str", "default": []},
    "acknowledgements": {"type": "list", "elements": "raw", "default": []},
    "item_id": {"type": "str"},
    "approver": {"type": "str"},
    "role": {"type": "str"},
    "comment": {"type": "str", "default": ""},
    "policy": {"type": "raw"},
    "policy_local": {"type": "raw"},
    "timeout": {"type": "float", "default": 10.0},
    "pg_schema": {"type": "str"},
}


class ActionModule(ControllerAction):
    NAME = "checklist"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ARGUMENT_RULES = {"required_if": [("state", "statement", ("item_id", "approver", "role"))]}
    ERRORS = (ApprovalError, LedgerError, PolicyError, SignatureSetupError)

    def ensure(self, args, task_vars):
        if args["state"] == "statement":
            stmt = checklist.ack_statement(
                args["change_id"],
                args["change_digest"],
                args["item_id"],
                args["approver"],
                args["role"],
                args["comment"],
            )
            return {
                "changed": False,
                "statement": stmt,
                "statement_text": statement_text(stmt),
                "msg": "sign statement_text with: ssh-keygen -Y sign -f <your key> -n changeward-approval <file>",
            }
        hostvars = task_vars.get("hostvars") or {}
        labels = {}
        for name in args["targets"]:
            found = hostvars.get(name) if hasattr(hostvars, "get") else None
            for label in LABELS:
                value = host_label(found or {}, label)
                for one in value if isinstance(value, (list, tuple)) else [value]:
                    if one is not None:
                        labels.setdefault(label, set()).add(str(one))
        policy = self.gate_policy(args, task_vars, args["targets"])
        signers = self.find_file(policy.allowed_signers) if policy.allowed_signers else None
        given = [self._signed(item, f"acknowledgements[{i}]") for i, item in enumerate(args["acknowledgements"])]
        change = {
            "id": args["change_id"],
            "services": args["services"],
            "change_kind": args["change_kind"],
            "labels": {k: sorted(v) for k, v in labels.items()},
        }
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

        with open_ledger(
            self.ledger_target(args),
            key=args["key"],
            create=False,
            readonly=True,
            timeout=args["timeout"],
            schema=args["pg_schema"],
        ) as ledger:
            result = checklist.check(
                ledger,
                policy,
                change,
                change_digest=args["change_digest"],
                signers=signers,
                given=given,
                source=SOURCE,
                check_mode=bool(self._task.check_mode),
            )
        entry = context.gate_decision(
            checklist.GATE,
            result["decision"],
            result["reason"],
            items=[{k: r[k] for k in ("item_id", "from_change", "acknowledged_by")} for r in result["items"]],
        )
        out = {
            "changed": bool(result["events"]) and not self._task.check_mode,
            "decision": result["decision"],
            "checklist_items": result["items"],
            "refused": result["refused"],
            "msg": f"checklist: {result['reason']}",
        }
        # Recorded whatever the decision (a refusal too), with the verified acknowledgements, before failing on it.
        out.update(self.record_gate_decision(args, entry, events=result["events"]))
        if result["decision"] != "pass":
            out["failed"] = True
            out["msg"] = f"checklist: change refused - {result['reason']}"
        return out

    def _signed(self, item, what):
        """{statement, signature}: that mapping, or a statement file whose signature is beside it (.sig)."""
        if isinstance(item, dict):
            return item
        if not isinstance(item, str) or not item.strip():
            raise checklist.ChecklistError(f"{what} must be a statement file path or a mapping (statement, signature)")
        path = self.find_file(item.strip())
        texts = []
        for name in (path, path + ".sig"):
            try:
                with open(name, encoding="utf-8") as handle:
                    texts.append(handle.read())
            except OSError as exc:
                raise checklist.ChecklistError(f"{what}: cannot read {name}: {exc.strerror}") from None
        return {"statement": texts[0], "signature": texts[1]}
