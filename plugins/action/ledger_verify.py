# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for changeward.hybrid.ledger_verify (documented in plugins/modules/ledger_verify.py)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import env_fallback

from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.postgres_backend import is_dsn, redact_dsn
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.verify import summary, verify

ARGUMENT_SPEC = {
    "ledger": {"type": "str", "aliases": ["src"], "fallback": (env_fallback, ["CHANGEWARD_LEDGER"])},
    "key": {"type": "str", "no_log": True, "fallback": (env_fallback, ["CHANGEWARD_LEDGER_KEY"])},
    "anchor": {"type": "raw"},
    "report_only": {"type": "bool", "default": False},
    "checkpoint_interval": {"type": "int"},
    "allow_empty": {"type": "bool", "default": False},
    "timeout": {"type": "float", "default": 10.0},
    "pg_schema": {"type": "str"},
    "max_problems": {"type": "int", "default": 1000},
}


class ActionModule(ControllerAction):
    NAME = "ledger_verify"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (LedgerError,)
    ERROR_KIND = True

    def ensure(self, args, task_vars):
        return {"changed": False, **self.shown_src(args), **self.ensure_verified(args)}

    def failure(self, exc, args):
        return {**self.shown_src(args), **super().failure(exc, args)}

    @staticmethod
    def shown_src(args: dict) -> dict:
        target = context.ledger_target(args.get("ledger"))
        # shown without a DSN's password
        return {"src": redact_dsn(target) if is_dsn(target) else target}

    @staticmethod
    def ensure_verified(args: dict) -> dict:
        """Verify and shape the task result; raises LedgerError when verification is impossible."""
        if args["checkpoint_interval"] is not None and args["checkpoint_interval"] < 0:
            raise AnsibleActionFail("checkpoint_interval must be >= 0")
        if args["timeout"] <= 0 or args["max_problems"] < 1:
            raise AnsibleActionFail("timeout must be > 0 and max_problems >= 1")
        report = verify(
            context.ledger_target(args["ledger"]),
            key=args["key"] or None,
            anchor=args["anchor"] or None,
            checkpoint_interval=args["checkpoint_interval"],
            allow_empty=args["allow_empty"],
            timeout=args["timeout"],
            schema=args["pg_schema"],
            max_problems=args["max_problems"],
        )
        out = {k: v for k, v in report.items() if k != "source"}
        out["msg"] = summary(report)
        if not report["valid"] and not args["report_only"]:
            out["failed"] = True
        return out
