# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for changeward.hybrid.ledger_export (documented in plugins/modules/ledger_export.py)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import env_fallback

from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError

ARGUMENT_SPEC = {
    "ledger": {"type": "str", "aliases": ["src"], "fallback": (env_fallback, ["CHANGEWARD_LEDGER"])},
    "dest": {"type": "path", "required": True},
    "after_seq": {"type": "int", "default": 0},
    "checkpoint": {"type": "bool", "default": False},
    "key": {"type": "str", "no_log": True, "fallback": (env_fallback, ["CHANGEWARD_LEDGER_KEY"])},
    "timeout": {"type": "float", "default": 10.0},
    "pg_schema": {"type": "str"},
}


class ActionModule(ControllerAction):
    NAME = "ledger_export"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (LedgerError,)
    ERROR_KIND = True

    def ensure(self, args, task_vars):
        return self.ensure_exported(args, check_mode=bool(self._task.check_mode))

    @staticmethod
    def ensure_exported(args: dict, check_mode: bool) -> dict:
        if args["after_seq"] < 0 or args["timeout"] <= 0:
            raise AnsibleActionFail("after_seq must be >= 0 and timeout > 0")
        if args["checkpoint"] and not args["key"]:
            raise AnsibleActionFail("checkpoint=true needs the signing key (key or CHANGEWARD_LEDGER_KEY)")
        writable = args["checkpoint"] and not check_mode
        with open_ledger(
            context.ledger_target(args["ledger"]),
            key=args["key"] if writable else None,
            create=False,
            readonly=not writable,
            timeout=args["timeout"],
            schema=args["pg_schema"],
        ) as ledger:
            if check_mode:
                last = ledger.head()[0]
                return {
                    "changed": True,
                    "dest": args["dest"],
                    "events": max(0, last - args["after_seq"]),
                    "last_seq": last,
                    "msg": f"would export {max(0, last - args['after_seq'])} events to {args['dest']}",
                }
            out = {}
            if args["checkpoint"]:
                out["checkpoint"] = ledger.checkpoint()
            summary = ledger.export_jsonl(args["dest"], after_seq=args["after_seq"])
        out.update(
            changed=True,
            dest=summary["path"],
            events=summary["events"],
            checkpoints=summary["checkpoints"],
            last_seq=summary["last_seq"],
            sha256=summary["sha256"],
            msg=f"exported {summary['events']} events to {summary['path']}",
        )
        return out
