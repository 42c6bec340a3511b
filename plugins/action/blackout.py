# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.blackout; the documentation lives in plugins/modules/blackout.py."""

from __future__ import annotations

import os

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

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


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    # A pure controller-side decision: no connection to the target is needed or wanted.
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            result.update(self.ensure_allowed(args))
        except GateInputError as exc:
            # A wrong request cannot be decided: fail whatever `enforce` says.
            result.update(failed=True, blocked=True, changed=False, msg=f"blackout: {exc}")
        return result

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
            resolve_path=self._resolve_path,
            source="changeward.hybrid.blackout",
        )

    def _resolve_path(self, src):
        """Relative calendar paths are looked up like other task files (role files/, playbook dir)."""
        if os.path.isabs(src):
            return src
        try:
            return self._find_needle("files", src)
        except AnsibleError:
            return src
