# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.blackout; the documentation lives in plugins/modules/blackout.py."""

from __future__ import annotations

from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar import gate
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.errors import GateInputError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.override import check_override, review_event
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.policy import blackout_policy

ARGUMENT_SPEC = {
    "calendars": {"type": "list", "elements": "raw", "default": []},
    "at": {"type": "str"},
    "scope": {"type": "dict", "default": {}},
    "change_type": {"type": "str", "default": "normal", "choices": ["standard", "normal", "emergency"]},
    # report_only is the collection's name for "decide, do not fail"; enforce is its older inverse.
    "report_only": {"type": "bool"},
    "enforce": {
        "type": "bool",
        "removed_in_version": "2.0.0",
        "removed_from_collection": "changeward.hybrid",
    },
    "override": {
        "type": "dict",
        "options": {
            "statement": {"type": "raw"},
            "signature": {"type": "str"},
            "file": {"type": "str"},
            # The unsigned form of earlier releases: still parsed, so that its refusal can say why.
            "reference": {"type": "str"},
            "approver": {"type": "str"},
            "role": {"type": "str"},
        },
    },
    "change_digest": {"type": "str"},
    **context.GATE_POLICY_SPEC,
    "targets": {"type": "list", "elements": "str", "default": []},
    "change_id": {"type": "str"},
    # timeout means "seconds to wait for the ledger" in the collection; a calendar URL's wait is http_timeout.
    "http_timeout": {
        "type": "float",
        "aliases": ["timeout"],
        "deprecated_aliases": [{"name": "timeout", "version": "2.0.0", "collection_name": "changeward.hybrid"}],
    },
}


def _enforce(args) -> bool:
    """Fail a blocked change unless report_only (or the deprecated enforce: false) says only to report it."""
    if args["report_only"] is not None:
        return not args["report_only"]
    return True if args["enforce"] is None else args["enforce"]


class ActionModule(ControllerAction):
    NAME = "blackout"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ARGUMENT_RULES = {"mutually_exclusive": [["report_only", "enforce"]]}

    def ensure(self, args, task_vars):
        return self.ensure_allowed(args, task_vars)

    def failure(self, exc, args):
        # A wrong request cannot be decided: fail whatever `enforce` says.
        return {**super().failure(exc, args), "blocked": True}

    def ensure_allowed(self, args, task_vars):
        # The effective policy: central layer plus the regional layers of this host and of every target host,
        # so a regional calendar (changeward_policy_local.blackout.calendars) blocks like a central one.
        policy = self.gate_policy(args, task_vars, args["targets"])
        override = self._override(args, policy)
        result = gate.check(
            calendars=args["calendars"],
            at=args["at"],
            scope=args["scope"],
            change_type=args["change_type"],
            enforce=_enforce(args),
            override=override,
            policy=policy.data,
            timeout=args["http_timeout"],
            resolve_path=self.find_file,  # relative calendar paths are looked up like other task files
            source="changeward.hybrid.blackout",
            subject=args["change_id"],
        )
        result["policy"] = policy.summary()
        decision = "waived" if result["overridden"] else "fail" if result["blocked"] else "pass"
        entry = context.gate_decision(
            "blackout", decision, result["msg"], time=result["checked_at"], policy_digest=policy.digest
        )
        # The decision is recorded whatever it is (a refusal too), before the task fails on it.
        events = []
        if result.get("ledger_event") and args["change_id"]:
            # An accepted override always opens a review (the governance work picks io.changeward.review.opened up).
            events = [result["ledger_event"], review_event("changeward.hybrid.blackout", result["ledger_event"])]
        result.update(self.record_gate_decision(args, entry, events))
        return result

    def _override(self, args, policy):
        """The override verified against the change, the policy and its allowed-signers file (None: none given)."""
        raw = {k: v for k, v in (args["override"] or {}).items() if v is not None}
        if args["override"] is None:
            return None
        if "file" in raw:
            path = self.find_file(raw.pop("file"))
            texts = []
            for name in (path, path + ".sig"):
                try:
                    with open(name, encoding="utf-8") as handle:
                        texts.append(handle.read())
                except OSError as exc:
                    raise GateInputError(f"override.file: cannot read {name}: {exc.strerror}") from None
            raw.update(statement=texts[0], signature=texts[1])
        signers = self.find_file(policy.allowed_signers) if policy.allowed_signers else None
        return check_override(
            raw,
            policy=policy,
            change_id=args["change_id"],
            change_digest=args["change_digest"],
            signers=signers,
            override_roles=blackout_policy(policy.data).override_roles,
        )
