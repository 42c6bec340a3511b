# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for changeward.hybrid.ledger_export (documented in plugins/modules/ledger_export.py)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import env_fallback

from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError, LedgerInvalidInput
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.export import read_header
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.timerange import window

ARGUMENT_SPEC = {
    "ledger": {"type": "str", "aliases": ["src"], "fallback": (env_fallback, ["CHANGEWARD_LEDGER"])},
    "dest": {"type": "path", "required": True},
    "after_seq": {"type": "int"},
    "start_time": {"type": "raw"},
    "end_time": {"type": "raw"},
    "previous": {"type": "path"},
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
    def time_range(ledger, span, after, args) -> tuple:
        """(after_seq, through_seq) of the contiguous chain covering the events in the window."""
        if args["start_time"] is not None and (args["after_seq"] is not None or args["previous"] is not None):
            raise LedgerInvalidInput("start_time cannot be combined with after_seq or previous (each sets the start)")
        found = ledger.seq_span(span.start_time, span.end_time)
        if found is None:
            raise LedgerInvalidInput(
                f"no events recorded in [{span.start_time or 'the beginning'}, {span.end_time or 'now'}): "
                "nothing to export"
            )
        first, last = found
        if args["start_time"] is None:  # only an end: continue from after_seq / previous, or the beginning
            first = (after or 0) + 1
        if last < first:
            raise LedgerInvalidInput(
                f"no events after seq {first - 1} were recorded before {span.end_time}: nothing to export"
            )
        return first - 1, last

    @staticmethod
    def ensure_exported(args: dict, check_mode: bool) -> dict:
        if (args["after_seq"] is not None and args["after_seq"] < 0) or args["timeout"] <= 0:
            raise AnsibleActionFail("after_seq must be >= 0 and timeout > 0")
        if args["checkpoint"] and not args["key"]:
            raise AnsibleActionFail("checkpoint=true needs the signing key (key or CHANGEWARD_LEDGER_KEY)")
        writable = args["checkpoint"] and not check_mode
        with open_ledger(
            context.ledger_target(args["ledger"]),
            key=args["key"] or None,
            create=False,
            readonly=not writable,
            timeout=args["timeout"],
            schema=args["pg_schema"],
        ) as ledger:
            after = args["after_seq"]
            if args["previous"] is not None and after is None:
                after = read_header(args["previous"])["last"]["seq"]
            span = window(args["start_time"], args["end_time"])
            through = None
            if span.bounded:
                after, through = ActionModule.time_range(ledger, span, after, args)
            if check_mode:
                last = through if through is not None else ledger.head()[0]
                count = max(0, last - (after or 0))
                return {
                    "changed": True,
                    "dest": args["dest"],
                    "events": count,
                    "last_seq": last,
                    "msg": f"would export {count} events to {args['dest']}",
                }
            out = {}
            if args["checkpoint"]:
                out["checkpoint"] = ledger.checkpoint()
            summary = ledger.export_jsonl(
                args["dest"],
                after_seq=after if span.bounded and args["previous"] is None else args["after_seq"],
                previous=args["previous"],
                through_seq=through,
                window=span.as_dict() if span.bounded else None,
            )
        out.update(
            changed=True,
            dest=summary["path"],
            events=summary["events"],
            checkpoints=summary["checkpoints"],
            last_seq=summary["last_seq"],
            sha256=summary["sha256"],
            sequence=summary["sequence"],
            signed_by=summary["signed_by"],
            header_digest=summary["header_digest"],
            msg=f"exported {summary['events']} events to {summary['path']}"
            + ("" if summary["signed_by"] else " (header unsigned: no signing key)"),
        )
        return out
