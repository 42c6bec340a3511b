# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for changeward.hybrid.ledger_rotate_key (documented in plugins/modules/ledger_rotate_key.py)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import env_fallback

from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.checkpoint import load_key
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError, LedgerKeyError

ARGUMENT_SPEC = {
    "ledger": {"type": "str", "fallback": (env_fallback, ["CHANGEWARD_LEDGER"])},
    "key": {"type": "str", "no_log": True, "fallback": (env_fallback, ["CHANGEWARD_LEDGER_KEY"])},
    "new_key": {"type": "str", "no_log": True, "required": True},
    "reason": {"type": "str"},
    "timeout": {"type": "float", "default": 10.0},
    "pg_schema": {"type": "str"},
}


class ActionModule(ControllerAction):
    NAME = "ledger_rotate_key"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (LedgerError,)
    ERROR_KIND = True

    def ensure(self, args, task_vars):
        return self.ensure_rotated(args, check_mode=bool(self._task.check_mode))

    @staticmethod
    def ensure_rotated(args: dict, check_mode: bool) -> dict:
        """Rotate to new_key unless the ledger already signs with it (idempotent)."""
        if args["timeout"] <= 0:
            raise AnsibleActionFail("timeout must be > 0")
        new = load_key(args["new_key"])
        if not new.can_sign:
            raise LedgerKeyError(f"new_key {new.key_id} can only verify; the ledger needs a signing (private) key")
        with open_ledger(
            context.ledger_target(args["ledger"]),
            key=args["key"] or None,
            create=False,
            readonly=check_mode,
            timeout=args["timeout"],
            schema=args["pg_schema"],
        ) as ledger:
            current = ledger.current_key()
            if current is not None and current[0] == new.key_id:
                return {
                    "changed": False,
                    "key_id": new.key_id,
                    "seq": current[1],
                    "msg": f"ledger {ledger.target} already signs with key {new.key_id} (rotated at seq {current[1]})",
                }
            if ledger.signer is None:
                raise LedgerKeyError(
                    f"rotating the key of ledger {ledger.target} needs its current signing key (key or "
                    "CHANGEWARD_LEDGER_KEY)"
                )
            if current is not None and current[0] != ledger.signer.key_id:
                raise LedgerKeyError(
                    f"ledger {ledger.target} signs with key {current[0]} since seq {current[1]}; key "
                    f"{ledger.signer.key_id} was retired and cannot rotate it"
                )
            if check_mode:
                return {
                    "changed": True,
                    "previous_key_id": ledger.signer.key_id,
                    "key_id": new.key_id,
                    "msg": f"would rotate ledger {ledger.target} from key {ledger.signer.key_id} to {new.key_id}",
                }
            rotated = ledger.rotate_key(new, reason=args["reason"])
        return {
            "changed": True,
            **rotated,
            "msg": (
                f"rotated ledger {ledger.target} from key {rotated['previous_key_id']} to {rotated['key_id']} at seq "
                f"{rotated['seq']}; sign with the new key from now on"
            ),
        }
