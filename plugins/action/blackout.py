# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.blackout; the documentation lives in plugins/modules/blackout.py."""

from __future__ import annotations

from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar import gate
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.errors import GateInputError

ARGUMENT_SPEC = {
    "calendars": {"type": "list", "elements": "raw", "default": []},
    "at": {"type": "str"},
    "scope": {"type": "dict", "default": {}},
    "change_type": {"type": "str", "default": "normal", "choices": ["standard", "normal", "emergency"]},
    "enforce": {"type": "bool", "default": True},
    "override": {
        "type": "dict",
        "options": {
            "reference": {"type": "str", "required": True},
            "approver": {"type": "str", "required": True},
            "role": {"type": "str", "required": True},
        },
    },
    "policy": {"type": "dict", "default": {}},
    "timeout": {"type": "float"},
}


class ActionModule(ControllerAction):
    NAME = "blackout"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (GateInputError,)

    def ensure(self, args, task_vars):
        return self.ensure_allowed(args)

    def failure(self, exc, args):
        # A wrong request cannot be decided: fail whatever `enforce` says.
        return {**super().failure(exc, args), "blocked": True}

    def ensure_allowed(self, args):
        return gate.check(
            calendars=args["calendars"],
            at=args["at"],
            scope=args["scope"],
            change_type=args["change_type"],
            enforce=args["enforce"],
            override=args["override"],
            policy=args["policy"],
            timeout=args["timeout"],
            resolve_path=self.find_file,  # relative calendar paths are looked up like other task files
            source="changeward.hybrid.blackout",
        )
