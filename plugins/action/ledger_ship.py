# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.ledger_ship; the documentation lives in plugins/modules/ledger_ship.py."""

from __future__ import annotations

import time

from ansible.module_utils.basic import env_fallback

from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping import config as sink_config
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.errors import ShippingError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.outbox import (
    CHECKPOINT_CURSOR_SUFFIX,
    ship_concurrently,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.runner import open_reader

ARGUMENT_SPEC = {
    "key": {
        "type": "str",
        "no_log": True,
        "aliases": ["ledger_key"],
        "fallback": (env_fallback, [context.ENV_KEY]),
    },
    "ledger_timeout": {"type": "float"},
    "sinks": {"type": "list", "elements": "dict"},
    "sinks_file": {"type": "path"},
    "only": {"type": "list", "elements": "str"},
    # timeout means "seconds to wait for the ledger" in the collection; the delivery budget is delivery_timeout.
    "delivery_timeout": {
        "type": "float",
        "default": 60.0,
        "aliases": ["timeout"],
        "deprecated_aliases": [{"name": "timeout", "version": "2.0.0", "collection_name": "changeward.hybrid"}],
    },
    "max_attempts": {"type": "int"},
    "checkpoint": {"type": "bool", "default": False},
    "fail_on_pending": {"type": "bool", "default": True},
}


class ShipInputError(ChangewardError):
    """The request cannot be carried out as given (bad sink configuration, unknown sink names)."""


class ActionModule(ControllerAction):
    NAME = "ledger_ship"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (ShipInputError, ShippingError, LedgerError)

    def ensure(self, args, task_vars):
        return self.ensure_shipped(args, check_mode=self._task.check_mode)

    def failure(self, exc, args):
        out = super().failure(exc, args)
        if isinstance(exc, LedgerError):
            out["msg"] = f"{self.NAME}: ledger error: {exc}"
        return out

    # -- inputs -------------------------------------------------------------------------------------
    @staticmethod
    def _target(args):
        return context.ledger_target(args["ledger"])

    @staticmethod
    def _sinks(args):
        if args["sinks"] is None and args["sinks_file"] is None:
            raw = sink_config.from_env()
        else:
            raw = sink_config.collect(args["sinks"], args["sinks_file"])
        if not raw:
            raise ShipInputError("no sinks configured (give sinks or sinks_file, or set CHANGEWARD_SINKS)")
        sinks = sink_config.build_sinks(raw)
        if args["only"]:
            unknown = sorted(set(args["only"]) - {s.name for s in sinks})
            if unknown:
                raise ShipInputError(f"only names sink(s) not configured or disabled: {', '.join(unknown)}")
            sinks = [s for s in sinks if s.name in args["only"]]
        return sinks

    # -- ensure ----------------------------------------------------------------------------------------
    def ensure_shipped(self, args, check_mode):
        target = self._target(args)
        sinks = self._sinks(args)
        timeout = args["ledger_timeout"]
        if args["checkpoint"] and not check_mode:
            key = args["key"]
            with open_ledger(target, key=key, create=False, timeout=timeout) as ledger:
                ledger.checkpoint()
        if check_mode:
            reports = self._pending_only(target, sinks, timeout)
        else:
            deadline = time.monotonic() + max(0.0, args["delivery_timeout"])
            reports = {
                name: rep.as_dict()
                for name, rep in ship_concurrently(
                    lambda: open_reader(target, timeout),
                    sinks,
                    deadline,
                    max_attempts=args["max_attempts"],
                    wait_lock=True,
                ).items()
            }
        delivered = sum(r["delivered"] for r in reports.values())
        shipped = delivered + sum(r["checkpoints"] for r in reports.values())
        pending = sum(max(0, r["pending"]) for r in reports.values())
        result = {
            "changed": pending > 0 if check_mode else shipped > 0,
            "sinks": reports,
            "delivered": delivered,
            "pending": pending,
        }
        stuck = {n: r for n, r in reports.items() if r["pending"]}
        if check_mode:
            result["msg"] = f"{pending} event(s) pending in all"
        elif stuck:
            detail = "; ".join(
                f"{n}: {r['pending']} pending ({r['error'] or 'not delivered'})" for n, r in stuck.items()
            )
            result["msg"] = (
                f"not everything was delivered: {detail}. It stays pending; run again once the sink is back."
            )
            result["failed"] = bool(args["fail_on_pending"])
        else:
            result["msg"] = f"delivered {delivered} event(s); nothing pending"
        return result

    @staticmethod
    def _pending_only(target, sinks, timeout):
        ledger = open_reader(target, timeout)
        try:
            head = ledger.head()[0]
            reports = {}
            for sink in sinks:
                cursor = ledger.get_cursor(sink.name)
                cp_cursor = ledger.get_cursor(sink.name + CHECKPOINT_CURSOR_SUFFIX)
                reports[sink.name] = {
                    "name": sink.name,
                    "target": sink.describe(),
                    "delivered": 0,
                    "checkpoints": 0,
                    "batches": 0,
                    "attempts": 0,
                    "pending": max(0, head - cursor),
                    "pending_checkpoints": len(ledger.checkpoints(cp_cursor)),
                    "cursor": cursor,
                    "error": None,
                    "busy": False,
                }
            return reports
        finally:
            ledger.close()
