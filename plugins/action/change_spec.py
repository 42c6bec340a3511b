# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.change_spec; the documentation lives in plugins/modules/change_spec.py."""

from __future__ import annotations

import os

from ansible.errors import AnsibleError

from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.change_spec import ChangeSpecError, normalize
from ansible_collections.changeward.hybrid.plugins.plugin_utils.control_events import change_digest, digest
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy import pinning
from ansible_collections.changeward.hybrid.plugins.plugin_utils.redact import Redactor

ARGUMENT_SPEC = {
    "spec": {"type": "raw", "required": True},
    "pattern_hosts": {"type": "list", "elements": "str", "required": True},
    "requester": {"type": "str", "required": True},
    "base_dir": {"type": "path"},
    "change_id": {"type": "str"},
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
        # the policies come from the operator's inventory, never from the spec or the run (pinning.py)
        policies = {
            "gate": self.pinned_var(pinning.POLICY_VAR, task_vars),
            "tolerance": self.pinned_var(pinning.TOLERANCE_VAR, task_vars) or {},
        }
        if not isinstance(policies["tolerance"], dict):
            raise ChangeSpecError(
                f"{pinning.TOLERANCE_VAR} (inventory) must map each service to its tolerance policy file"
            )
        change = normalize(
            spec,
            pattern_hosts=args["pattern_hosts"],
            hostvars=task_vars.get("hostvars") or {},
            base_dir=base_dir,
            role_path=self._role_path(role) if isinstance(role, str) else None,
            requester=args["requester"],
            policies=policies,
            change_id=args["change_id"],
        )
        tolerance = self.tolerance_policy(change["tolerance_policy"])
        if tolerance.service != change["service"]:
            raise ChangeSpecError(
                f"change_spec.service: {change['service']!r}, but the tolerance policy the inventory pins for it "
                f"is for service {tolerance.service!r}"
            )
        gate = self.gate_policy({"policy": change["gate_policy"]}, task_vars, change["targets"])
        # what the ledger may hold of the spec: secret-named vars and secret-looking values masked
        redactor = Redactor()
        recorded = {"spec": redactor.value(spec), "apply": redactor.value(change["apply"])}
        digests = {"gate": gate.digest, "tolerance": tolerance.digest}
        change["policy_digests"] = digests
        # what approvals are signed over: this change's id, targets, payload and policies (control_events.py)
        change["digest"] = change_digest(change["id"], change["targets"], recorded["apply"], digest(digests))
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
