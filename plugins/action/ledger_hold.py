# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for changeward.hybrid.ledger_hold (documented in plugins/modules/ledger_hold.py)."""

from __future__ import annotations

from ansible.module_utils.basic import env_fallback

from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.control_events import CONTROL_REFUSED
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.retention import archive, holds
from ansible_collections.changeward.hybrid.plugins.plugin_utils.retention.policy import (
    POLICY_VAR,
    RetentionPolicy,
    RetentionRefused,
)

SOURCE = "changeward.hybrid.ledger_hold"
ARGUMENT_SPEC = {
    "ledger": {"type": "str", "fallback": (env_fallback, ["CHANGEWARD_LEDGER"])},
    "key": {"type": "str", "no_log": True, "fallback": (env_fallback, ["CHANGEWARD_LEDGER_KEY"])},
    "hold_id": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "change_id": {"type": "str"},
    "service": {"type": "str"},
    "from_seq": {"type": "int"},
    "through_seq": {"type": "int"},
    "start_time": {"type": "str"},
    "end_time": {"type": "str"},
    "matter": {"type": "str"},
    "by": {"type": "str"},
    "reason": {"type": "str"},
    "signature": {"type": "str"},
    "timeout": {"type": "float", "default": 10.0},
    "pg_schema": {"type": "str"},
}


class ActionModule(ControllerAction):
    NAME = "ledger_hold"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ARGUMENT_RULES = {
        "required_if": [("state", "present", ("matter", "by", "reason")), ("state", "absent", ("by", "signature"))]
    }
    ERRORS = (LedgerError,)
    ERROR_KIND = True

    def ensure(self, args, task_vars):
        check = bool(self._task.check_mode)
        policy = None
        if args["state"] == "absent":  # releasing needs the pinned policy's signers; placing never does
            policy = RetentionPolicy(self.pinned_var(POLICY_VAR, task_vars))
        scope = None
        if args["state"] == "present":
            scope = holds.scope_of(
                change=args["change_id"],
                service=args["service"],
                from_seq=args["from_seq"],
                through_seq=args["through_seq"],
                start_time=args["start_time"],
                end_time=args["end_time"],
            )
        with open_ledger(
            self.ledger_target(args),
            key=args["key"] or None,
            create=False,
            readonly=check,
            timeout=args["timeout"],
            schema=args["pg_schema"],
            source=SOURCE,
        ) as led:
            in_force = {h["hold_id"]: h for h in holds.active(led)}
            if check:
                have = args["hold_id"] in in_force
                want = args["state"] == "present"
                return {"changed": have != want, "holds": list(in_force.values()), "msg": "check mode: nothing written"}
            if args["state"] == "present":
                out = archive.place_hold(
                    led,
                    args["hold_id"],
                    scope,
                    matter=args["matter"],
                    by=args["by"],
                    reason=args["reason"],
                    source=SOURCE,
                )
            else:
                signers = self.find_file(policy.hold_signers) if policy.hold_signers else None
                try:
                    out = archive.release_hold(
                        led, policy, signers, args["hold_id"], by=args["by"], signature=args["signature"], source=SOURCE
                    )
                except RetentionRefused as exc:  # the attempt is evidence too
                    led.record(
                        CONTROL_REFUSED,
                        holds.subject(args["hold_id"]),
                        {"control": "legal hold", "action": self.NAME, "by": args["by"], "reason": str(exc)},
                    )
                    raise
            out["holds"] = holds.active(led)
        return out
