# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of changeward.hybrid.change_plan (documented in plugins/modules/change_plan.py)."""

from __future__ import annotations

import time

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import (
    TimeFormatError,
    parse_duration,
    parse_instant,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils import change_plans as core
from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import InputError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError

ARGUMENT_SPEC = {
    "state": {"type": "str", "default": "scheduled", "choices": ["scheduled", "canceled", "read"]},
    "change_id": {"type": "str", "required": True},
    "type": {"type": "str", "default": "normal", "choices": list(model.CHANGE_TYPES)},
    "summary": {"type": "str"},
    "requester": {"type": "str"},
    "service": {"type": "str"},
    "targets": {"type": "list", "elements": "str", "default": []},
    "start": {"type": "raw"},
    "end": {"type": "raw"},
    "duration": {"type": "raw"},
    "reason": {"type": "str"},
}
REQUIRED_IF = [["state", "scheduled", ["summary", "requester", "start"]]]
SOURCE = "changeward.hybrid.change_plan"


class ActionModule(ControllerAction):
    NAME = "change_plan"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ARGUMENT_RULES = {"required_if": REQUIRED_IF, "mutually_exclusive": [["end", "duration"]]}
    ERRORS = (TimeFormatError, LedgerError)

    def ensure(self, args, task_vars):
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

        state, change_id = args["state"], args["change_id"]
        check = bool(self._task.check_mode)
        target = self.ledger_target(args)
        if state != "scheduled" and not context.ledger_exists(target):
            raise core.PlanError(f"no ledger at {target}: change {change_id} has no plan")
        plan = self._plan(args, task_vars) if state == "scheduled" else None
        with open_ledger(target, key=args["key"], create=state == "scheduled", source=SOURCE) as ledger:
            current = core.read_plans(ledger).get(change_id)
            if state == "read":
                if current is None:
                    raise core.PlanError(f"change {change_id} has no plan in the ledger {ledger.target}")
                return {"changed": False, "plan": current}
            record = ledger.get_change(change_id)
            if state == "scheduled":
                kind, data = core.schedule(current, plan, record)
            else:
                kind, data = core.cancel(current, change_id, args["reason"], record)
            if kind is None:
                return {"changed": False, "plan": current}
            seq = None if check else ledger.record(kind, change_id, data).seq
            after = {**data["plan"], "state": data["state"], "reason": data.get("reason")}
        result = {"changed": True, "plan": after, "ledger_seq": seq}
        if self._task.diff:
            result["diff"] = {"before": current or {}, "after": after}
        return result

    def _plan(self, args, task_vars) -> dict:
        now = time.time()
        start = parse_instant(args["start"], "start", now=now)
        if args["end"] is not None:
            end = parse_instant(args["end"], "end", now=now)
        else:
            end = start + parse_duration(args["duration"] or "2h", "duration")
        hostvars = task_vars.get("hostvars") or {}
        missing = [t for t in args["targets"] if t not in hostvars]
        if missing:
            # a plan's hosts are what other changes are checked against: a name nobody has would match nothing
            raise InputError(f"target(s) {', '.join(missing)} are not hosts of the inventory")
        return core.new_plan(
            args["change_id"],
            args["type"],
            args["summary"],
            args["requester"],
            args["service"],
            args["targets"],
            start,
            end,
            now,
        )
