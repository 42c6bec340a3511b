# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for changeward.hybrid.ledger_record (documented in plugins/modules/ledger_record.py)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils import context, control_events
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.canonical import canonical_text
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError

ARGUMENT_SPEC = {
    "change_id": {"type": "str", "required": True},
    "event": {"type": "raw"},
    "events": {"type": "raw"},
    "type": {"type": "str"},
    "data": {"type": "dict"},
    "change": {
        "type": "dict",
        "options": {
            "type": {"type": "str", "default": "normal", "choices": list(model.CHANGE_TYPES)},
            "summary": {"type": "str", "required": True},
            "requester": {"type": "str", "required": True},
            "targets": {"type": "list", "elements": "str", "default": []},
        },
    },
    "timeout": {"type": "float", "default": 10.0},
    "pg_schema": {"type": "str"},
}


class RecordInputError(ChangewardError):
    """The request cannot be recorded as given; nothing was written."""


class ReservedEventRefused(RecordInputError):
    """A reserved control event (control_events.RESERVED): only its verifying plugin writes it. Nothing of the
    request was written; the refusal itself is recorded in the change when it is in the ledger."""


class ActionModule(ControllerAction):
    NAME = "ledger_record"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (RecordInputError, LedgerError)
    ERROR_KIND = True

    def ensure(self, args, task_vars):
        return self.ensure_recorded(args, check_mode=bool(self._task.check_mode))

    # -- inputs -------------------------------------------------------------------------------------
    @staticmethod
    def events_from(args: Mapping) -> list:
        """The events to record, each checked and bound to the change; raises RecordInputError."""
        given = [name for name in ("event", "events", "type") if args[name] is not None]
        if len(given) != 1:
            raise RecordInputError(
                "give exactly one of event, events or type (with data); got "
                + (
                    ", ".join(given)
                    if given
                    else "none of them - a module that returned no ledger_event (null) "
                    "recorded nothing: skip the task with `when: <result>.ledger_event is not none`"
                )
            )
        if args["data"] is not None and args["type"] is None:
            raise RecordInputError("data is only used with type")
        change_id = args["change_id"]
        if args["type"] is not None:
            events = [model.new_event(args["type"], change_id, args["data"] or {})]
        elif args["event"] is not None:
            events = [args["event"]]
        else:
            events = args["events"]
            if not isinstance(events, list) or not events:
                raise RecordInputError("events must be a non-empty list of CloudEvents")
        out = []
        for i, event in enumerate(events):
            what = "event" if args["event"] is not None or args["type"] is not None else f"events[{i}]"
            if not isinstance(event, Mapping):
                raise RecordInputError(f"{what} must be a CloudEvent (a dict), got {type(event).__name__}")
            # Plain values: the event is stored exactly as validated.
            event = model.validate_event(dict(event))
            if event["subject"] != change_id:
                raise RecordInputError(
                    f"{what} {event['id']} belongs to change {event['subject']!r}, not {change_id!r}; it is not "
                    "recorded under another change"
                )
            out.append(event)
        ids = [e["id"] for e in out]
        if len(set(ids)) != len(ids):
            raise RecordInputError("events holds the same event id twice")
        return out

    @staticmethod
    def _target(args: Mapping) -> str:
        return context.ledger_target(args["ledger"])

    # -- ensure -------------------------------------------------------------------------------------
    def ensure_recorded(self, args: Mapping, check_mode: bool) -> dict:
        if not model.CHANGE_ID_RE.match(args["change_id"]):
            raise RecordInputError(f"change_id must match {model.CHANGE_ID_RE.pattern}, got {args['change_id']!r}")
        events = self.events_from(args)
        target = self._target(args)
        reserved = [e for e in events if control_events.is_reserved(e["type"])]
        if reserved:
            raise ReservedEventRefused(self._refuse_reserved(args, target, reserved, check_mode))
        if args["timeout"] <= 0:
            raise RecordInputError("timeout must be > 0")
        change = args["change"]
        if check_mode:
            return self._plan(args, target, events)
        creates = bool(change) and not _is_dsn(target) and not os.path.exists(target)
        with open_ledger(
            target, key=args["key"], create=bool(change), timeout=args["timeout"], schema=args["pg_schema"]
        ) as ledger:
            opened = self._require_change(ledger, args)
            fresh, present = self._split(ledger, events)
            appended = ledger.append_many(fresh) if fresh else []
            where = ledger.target
        rows = [
            {"seq": a.seq, "hash": a.hash, "event_id": a.event_id, "type": e["type"]}
            for a, e in zip(appended, fresh, strict=True)
        ]
        return {
            "changed": bool(rows) or opened,
            "appended": rows,
            "already_recorded": present,
            "change_opened": opened,
            "ledger_created": creates,
            "ledger": where,
            "msg": f"recorded {len(rows)} event(s) for change {args['change_id']} in {where}"
            + (f"; {len(present)} already recorded" if present else ""),
        }

    def _refuse_reserved(self, args, target, reserved, check_mode) -> str:
        """Record the refusal (never the refused events) when the change is in the ledger; the message."""
        change_id = args["change_id"]
        msg = "; ".join(control_events.reserved_message(e["type"], "ledger_record", change_id) for e in reserved)
        if check_mode or not context.ledger_exists(target):
            return msg
        with open_ledger(
            target, key=args["key"], create=False, timeout=args["timeout"], schema=args["pg_schema"]
        ) as led:
            if led.get_change(change_id) is None:
                return msg
            data = {
                "tool": "changeward.hybrid.ledger_record",
                "refused": [{"type": e["type"], "id": e["id"], "source": e["source"]} for e in reserved],
                "reason": msg,
            }
            seq = led.record(control_events.CONTROL_REFUSED, change_id, data).seq
        return f"{msg} (refusal recorded at seq {seq})"

    def _plan(self, args, target, events) -> dict:
        """Check mode: everything is checked that can be without writing."""
        if args["change"] and not _is_dsn(target) and not os.path.exists(target):
            return {
                "changed": True,
                "appended": [],
                "would_append": len(events),
                "already_recorded": [],
                "change_opened": True,
                "ledger_created": True,
                "ledger": target,
                "msg": f"would create {target}, open change {args['change_id']} and record {len(events)} event(s)",
            }
        with open_ledger(
            target, create=False, readonly=True, timeout=args["timeout"], schema=args["pg_schema"]
        ) as ledger:
            known = ledger.get_change(args["change_id"]) is not None
            if not known and not args["change"]:
                raise RecordInputError(self._unknown_change(args["change_id"], ledger.target))
            fresh, present = self._split(ledger, events)
            where = ledger.target
        return {
            "changed": bool(fresh) or not known,
            "appended": [],
            "would_append": len(fresh),
            "already_recorded": present,
            "change_opened": not known,
            "ledger_created": False,
            "ledger": where,
            "msg": f"would record {len(fresh)} event(s) for change {args['change_id']} in {where}",
        }

    @staticmethod
    def _unknown_change(change_id, where):
        return f"change {change_id} is not in the ledger {where}; pass change (type, summary, requester) to open it"

    def _require_change(self, ledger, args) -> bool:
        """True when this call opened the change."""
        change_id = args["change_id"]
        if ledger.get_change(change_id) is not None:
            return False
        change = args["change"]
        if not change:
            raise RecordInputError(self._unknown_change(change_id, ledger.target))
        record = model.new_record(
            change_id, change["type"], change["summary"], change["requester"], targets=list(change["targets"])
        )
        try:
            ledger.open_change(record)
        except LedgerError:
            # Another host of the same play may have opened it a moment ago.
            if ledger.get_change(change_id) is None:
                raise
            return False
        return True

    @staticmethod
    def _split(ledger, events):
        """(events to append, ids already in the ledger). A rerun records nothing twice; an id that is
        already recorded with other content is an error, not a silent skip."""
        fresh, present = [], []
        for event in events:
            entry = ledger.entry_by_event_id(event["id"])
            if entry is None:
                fresh.append(event)
                continue
            if canonical_text(entry.event) != canonical_text(event):
                raise RecordInputError(
                    f"event {event['id']} is already in the ledger (seq {entry.seq}) with different content"
                )
            present.append({"seq": entry.seq, "event_id": event["id"], "type": event["type"]})
        return fresh, present


def _is_dsn(target: str) -> bool:
    return "://" in target
