# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.change_spec; the documentation lives in plugins/modules/change_spec.py."""

from __future__ import annotations

import os

from ansible.errors import AnsibleError

from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.change_spec import normalize
from ansible_collections.changeward.hybrid.plugins.plugin_utils.redact import Redactor

ARGUMENT_SPEC = {
    "spec": {"type": "raw", "required": True},
    "pattern_hosts": {"type": "list", "elements": "str", "required": True},
    "requester": {"type": "str", "required": True},
    "base_dir": {"type": "path"},
}


class ActionModule(ControllerAction):
    NAME = "change_spec"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    RAISE_ERRORS = True

    def ensure(self, args, task_vars):
        return self.ensure_valid(args, task_vars)

    def ensure_valid(self, args, task_vars) -> dict:
        spec = args["spec"]
        base_dir = args["base_dir"] or os.getcwd()
        role = (spec.get("apply") or {}).get("role") if isinstance(spec, dict) else None
        tolerance = (spec.get("policy") or {}).get("tolerance") if isinstance(spec, dict) else None
        service = None
        if isinstance(tolerance, str) and os.path.exists(os.path.join(base_dir, tolerance)):
            service = self.tolerance_policy(os.path.join(base_dir, tolerance)).service
        change = normalize(
            spec,
            pattern_hosts=args["pattern_hosts"],
            hostvars=task_vars.get("hostvars") or {},
            base_dir=base_dir,
            role_path=self._role_path(role) if isinstance(role, str) else None,
            requester=args["requester"],
            tolerance_service=service,
        )
        # what the ledger may hold of the spec: secret-named vars and secret-looking values masked
        redactor = Redactor()
        recorded = {"spec": redactor.value(spec), "apply": redactor.value(change["apply"])}
        return {"changed": False, "change": change, "recorded": recorded}

    def _role_path(self, name: str) -> str | None:
        """Where Ansible's own role search (as include_role does it) finds the role, or None."""
        from ansible.playbook.role.definition import RoleDefinition

        definition = RoleDefinition(loader=self._loader)
        definition._ds = name  # what its not-found error names
        try:
            return definition._load_role_path(name)[1]
        except AnsibleError:
            return None
