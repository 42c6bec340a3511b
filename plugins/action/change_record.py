# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of changeward.hybrid.change_record (documented in plugins/modules/change_record.py)."""

from ansible_collections.changeward.hybrid.plugins.plugin_utils import control_events
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError, LedgerInvalidInput

ARGUMENT_SPEC = {
    "state": {"type": "str", "default": "opened", "choices": ["opened", "updated", "closed", "read"]},
    "change_id": {"type": "str", "required": True},
    "type": {"type": "str", "choices": list(model.CHANGE_TYPES)},
    "summary": {"type": "str"},
    "requester": {"type": "str"},
    "implementer": {"type": "str"},
    "targets": {"type": "list", "elements": "str", "default": []},
    "set": {"type": "dict", "default": {}},
    "add": {"type": "dict", "default": {}},
    "event_type": {"type": "str"},
    "data": {"type": "dict", "default": {}},
    "outcome": {"type": "str", "choices": list(model.OUTCOMES)},
    "observations": {"type": "list", "elements": "raw", "default": []},
    "close_on_abort": {"type": "bool", "default": False},
}
REQUIRED_IF = [
    ["state", "opened", ["type", "summary", "requester"]],
    ["state", "closed", ["outcome", "observations"]],
]
SOURCE = "changeward.hybrid.change_record"
# Record fields only their verifying plugin writes: approvers (changeward.hybrid.approval, with the approval
# event). Requester and implementer are fixed once the change is open (ledger.model.FIXED_PARTIES).
RESERVED_FIELDS = ("approvers",)


class ControlRefused(LedgerInvalidInput):
    """The update would bypass a control (a reserved event type, a reserved field, another requester or
    implementer); nothing of it was written, the refusal was recorded."""


class ActionModule(ControllerAction):
    NAME = "change_record"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ARGUMENT_RULES = {"required_if": REQUIRED_IF}
    ERRORS = (LedgerError,)
    RAISE_ERRORS = True

    def ensure(self, args, task_vars):
        out = self.ensure_state(args)
        if self._task.diff and args["state"] != "read" and out.get("changed"):
            out["diff"] = self._diff(args, out.pop("before", None), out["record"])
        out.pop("before", None)
        return out

    @staticmethod
    def _diff(args, before, after) -> dict:
        """The record before and after the task, servicenow.itsm style (in check mode: as it would be)."""
        return {
            "before": before or {},
            "after": after or {},
            "before_header": f"change {args['change_id']} (ledger)",
            "after_header": f"change {args['change_id']} ({args['state']})",
        }

    def ensure_state(self, args) -> dict:
        from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

        state, change_id = args["state"], args["change_id"]
        check = bool(self._task.check_mode)
        target = self.ledger_target(args)
        if check and not context.ledger_exists(target):
            # check mode creates no ledger: the change is as absent as in an empty one
            return self._ensure_in(None, args, None, check)
        # in check mode the ledger is opened read-only (context.check_mode_ledgers): nothing is created or migrated
        with open_ledger(target, key=args["key"], create=state == "opened" and not check, source=SOURCE) as ledger:
            return self._ensure_in(ledger, args, ledger.get_change(change_id), check)

    def _ensure_in(self, ledger, args, record, check) -> dict:
        """The task on this ledger (None: none exists, check mode only) and the change's record there, if any."""
        state, change_id = args["state"], args["change_id"]
        where = ledger.target if ledger is not None else self.ledger_target(args)
        if state == "read":
            if record is None:
                raise LedgerInvalidInput(f"change {change_id} is not in the ledger {where}")
            return {"changed": False, "record": record}
        if state == "opened":
            return self._open(ledger, args, record, check)
        if record is None:
            if check:
                # A run in check mode opened nothing, so the change it would have opened is not there either.
                return {
                    "changed": True,
                    "record": {},
                    "warnings": [
                        f"check mode: change {change_id} is not in the ledger {where} - a run in check mode opens "
                        f"none, so there is nothing to {'close' if state == 'closed' else 'update'} in it yet"
                    ],
                }
            raise LedgerInvalidInput(f"change {change_id} is not in the ledger {where}; open it first")
        if state == "updated":
            why = self._control_problem(args, record)
            if why:
                if not check:
                    data = {"tool": SOURCE, "reason": why, "event_type": args["event_type"]}
                    data["fields"] = sorted(set(args["set"]) | set(args["add"]))
                    seq = ledger.record(control_events.CONTROL_REFUSED, change_id, data).seq
                    why += f" (refusal recorded at seq {seq})"
                raise ControlRefused(why)
            new = model.update_record(record, args["set"], args["add"])  # validates, also in check mode
            if new == record:
                return {"changed": False, "record": record}
            if not check:
                kind = args["event_type"] or model.CHANGE_UPDATED
                ledger.update_change(change_id, args["set"], args["add"], event_type=kind, data=args["data"])
                new = ledger.get_change(change_id)
            return {"changed": True, "record": new, "before": record}
        if record["status"] == "closed":
            if record["outcome"] == args["outcome"]:
                return {"changed": False, "record": record}
            raise LedgerInvalidInput(f"change {change_id} is already closed as {record['outcome']}")
        new = model.close_record(record, args["outcome"], args["observations"])
        if not check:
            ledger.close_change(change_id, args["outcome"], args["observations"], data=args["data"])
            new = ledger.get_change(change_id)
        return {"changed": True, "record": new, "before": record}

    @staticmethod
    def _control_problem(args, record) -> str | None:
        """Why this update may not be written by change_record, or None."""
        change_id = args["change_id"]
        if args["event_type"] and control_events.is_reserved(args["event_type"]):
            return control_events.reserved_message(args["event_type"], "change_record", change_id)
        for field in model.FIXED_PARTIES:
            if field in args["set"] and args["set"][field] != record.get(field):
                return (
                    f"change_record refused to set {field} of change {change_id}: the {field} "
                    f"({record.get(field)!r}) is fixed once the change is opened (segregation of duties rests on it)"
                )
        for field in RESERVED_FIELDS:
            if field in args["set"] or field in args["add"]:
                return (
                    f"change_record refused to write {field} of change {change_id}: only changeward.hybrid.approval "
                    "writes approvers, with the verified approval"
                )
        return None

    def _open(self, ledger, args, record, check) -> dict:
        change_id = args["change_id"]
        fields = {"targets": sorted(set(args["targets"]))}
        if args["implementer"]:
            fields["implementer"] = args["implementer"]
        if record is not None:
            same = (record["type"], record["summary"], record["requester"]) == (
                args["type"],
                args["summary"],
                args["requester"],
            )
            if record["status"] == "open" and same:
                return {"changed": False, "record": record}  # a rerun of the same change
            raise LedgerInvalidInput(
                f"change {change_id} is already in the ledger ({record['status']}) as another change"
            )
        new = model.new_record(change_id, args["type"], args["summary"], args["requester"], **fields)
        if not check:
            ledger.open_change(new, data=args["data"])
        return {"changed": True, "record": new}
