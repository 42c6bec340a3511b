# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for changeward.hybrid.ledger_verify (documented in plugins/modules/ledger_verify.py)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import env_fallback

from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import series
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.checkpoint import load_key, load_keys
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerConfigError, LedgerError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.postgres_backend import is_dsn, redact_dsn
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.verify import summary, verify

KEY_SPEC = {
    "key": {"type": "str", "no_log": True},
    "public_key": {"type": "str"},
    "path": {"type": "path"},
    "not_before": {"type": "str"},
    "not_after": {"type": "str"},
}
ARGUMENT_SPEC = {
    "ledger": {"type": "str", "aliases": ["src"], "fallback": (env_fallback, ["CHANGEWARD_LEDGER"])},
    # raw, so that a list given here is refused by name instead of being turned into text and used as a secret
    "key": {"type": "raw", "no_log": True, "fallback": (env_fallback, ["CHANGEWARD_LEDGER_KEY"])},
    "keys": {"type": "list", "elements": "dict", "options": KEY_SPEC},
    "anchor": {"type": "raw"},
    "exports": {"type": "list", "elements": "path"},
    "start_time": {"type": "str"},
    "end_time": {"type": "str"},
    "report_only": {"type": "bool", "default": False},
    "checkpoint_interval": {"type": "int"},
    "allow_empty": {"type": "bool", "default": False},
    "timeout": {"type": "float", "default": 10.0},
    "pg_schema": {"type": "str"},
    "max_problems": {"type": "int", "default": 1000},
}


def key_ring(key, keys) -> dict:
    """The verification key ring: the single ``key`` (a string, as before) plus the ``keys`` list."""
    if key is not None and not isinstance(key, str):
        raise LedgerConfigError(
            f"key takes one key as a string, got a {type(key).__name__}; give several keys (with their validity "
            "ranges) as keys"
        )
    ring = load_keys([{k: v for k, v in item.items() if v is not None} for item in keys or []])
    if key:
        single = load_key(key)
        ring.setdefault(single.key_id, single)  # also listed in keys (e.g. from the environment): keys' range wins
    return ring


class ActionModule(ControllerAction):
    NAME = "ledger_verify"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (LedgerError,)
    ERROR_KIND = True

    def ensure(self, args, task_vars):
        if args["exports"]:
            return {"changed": False, **self.ensure_exports_validated(args)}
        return {"changed": False, **self.shown_src(args), **self.ensure_verified(args)}

    def failure(self, exc, args):
        shown = {} if args.get("exports") else self.shown_src(args)
        return {**shown, **super().failure(exc, args)}

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
        if args["start_time"] or args["end_time"]:
            raise AnsibleActionFail("start_time and end_time select exports: they need exports")
        report = verify(
            context.ledger_target(args["ledger"]),
            key=key_ring(args["key"], args["keys"]),
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

    @staticmethod
    def ensure_exports_validated(args: dict) -> dict:
        """Validate a series of exports (continuity over a time range); raises LedgerError when it cannot."""
        if args["anchor"]:
            raise AnsibleActionFail("anchor applies to one ledger or export, not to a series of exports")
        report = series.validate_exports(
            args["exports"],
            key=key_ring(args["key"], args["keys"]),
            start_time=args["start_time"],
            end_time=args["end_time"],
        )
        out = dict(report)
        out["problems"] = report["problems"][: args["max_problems"]]
        out["valid"] = report["valid"]
        out["msg"] = series.summary(report)
        if not report["valid"] and not args["report_only"]:
            out["failed"] = True
        return out
