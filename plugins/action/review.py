# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for changeward.hybrid.review (documented in plugins/modules/review.py)."""

from __future__ import annotations

import contextlib
import os
import tempfile

from ansible.module_utils.basic import env_fallback

from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.governance import checklist, review
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError

SOURCE = "changeward.hybrid.review"
ARGUMENT_SPEC = {
    "ledger": {"type": "str", "fallback": (env_fallback, ["CHANGEWARD_LEDGER"])},
    "key": {"type": "str", "no_log": True, "fallback": (env_fallback, ["CHANGEWARD_LEDGER_KEY"])},
    "change_id": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["opened", "drafted", "completed", "observations"], "default": "opened"},
    "dest": {"type": "path"},
    "kind": {"type": "str", "choices": list(review.KINDS)},
    "by": {"type": "str"},
    "summary": {"type": "str"},
    "checklist": {"type": "list", "elements": "raw", "default": []},
    "outcome": {"type": "str"},
    "policy": {"type": "raw"},
    "policy_local": {"type": "raw"},
    "timeout": {"type": "float", "default": 10.0},
    "pg_schema": {"type": "str"},
}


class ActionModule(ControllerAction):
    NAME = "review"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ARGUMENT_RULES = {
        "required_if": [
            ("state", "drafted", ("dest",)),
            ("state", "completed", ("kind", "by", "summary")),
            ("state", "observations", ("outcome",)),
        ]
    }
    ERRORS = (LedgerError,)
    ERROR_KIND = True

    def ensure(self, args, task_vars):
        if args["state"] == "observations":
            return self.ensure_observations(args, task_vars)
        target = self.ledger_target(args)
        check = bool(self._task.check_mode)
        writes = args["state"] != "drafted" and not check
        with open_ledger(
            target,
            key=args["key"] or None,
            create=False,
            readonly=not writes,
            timeout=args["timeout"],
            schema=args["pg_schema"],
            source=SOURCE,
        ) as led:
            if args["state"] == "opened":
                opened = review.open_reviews(led, args["change_id"], source=SOURCE, check_mode=check)
                return {
                    "changed": bool(opened),
                    "opened": opened,
                    "msg": "; ".join(f"review opened: {o['detail']}" for o in opened) or "no review needed or all open",
                }
            if args["state"] == "completed":
                seq = None
                if not check:
                    seq = review.complete_review(
                        led,
                        args["change_id"],
                        kind=args["kind"],
                        by=args["by"],
                        summary=args["summary"],
                        source=SOURCE,
                        checklist=args["checklist"],
                    )
                items = [i for i in checklist.all_items(led) if i["from_change"] == args["change_id"]]
                return {
                    "changed": True,
                    "ledger_seq": seq,
                    "checklist_items": [{k: i[k] for k in ("item_id", "text", "match")} for i in items],
                    "msg": f"{args['kind']} review of {args['change_id']} completed",
                }
            text = review.draft_pir(args["change_id"], led.events(subject=args["change_id"]))
        dest = os.path.abspath(args["dest"])
        if not check:
            directory = os.path.dirname(dest)
            os.makedirs(directory, mode=0o750, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".pir-", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(text)
                os.chmod(tmp, 0o640)
                os.replace(tmp, dest)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        return {
            "changed": not check,
            "dest": dest,
            "msg": f"post-incident review of {args['change_id']} drafted in {dest}",
        }

    def ensure_observations(self, args, task_vars):
        """Whether the pinned gate policy (review.observations_required) requires people's observations at the
        close of this change: its type, its risk class or the outcome it is closing with."""
        with open_ledger(
            self.ledger_target(args),
            key=args["key"] or None,
            create=False,
            readonly=True,
            timeout=args["timeout"],
            schema=args["pg_schema"],
            source=SOURCE,
        ) as led:
            record = led.get_change(args["change_id"])
        if record is None and self._task.check_mode:  # a check-mode run opened no record: nothing to close
            return {
                "changed": False,
                "required": False,
                "triggers": [],
                "msg": "check mode: the change is not recorded",
            }
        if record is None:
            raise review.ReviewError(f"change {args['change_id']} is not in the ledger")
        policy = self.gate_policy(args, task_vars, record.get("targets") or ())
        rule = (policy.data.get("review") or {}).get("observations_required") or []
        risk = record.get("risk") if isinstance(record.get("risk"), dict) else {}
        hits = review.observations_required(rule, record.get("type"), risk.get("level"), args["outcome"])
        return {
            "changed": False,
            "required": bool(hits),
            "triggers": hits,
            "msg": (
                f"the policy requires people's observations at the close of {args['change_id']} "
                f"({', '.join(hits)}: review.observations_required)"
                if hits
                else "the policy does not require people's observations at this close"
            ),
        }
