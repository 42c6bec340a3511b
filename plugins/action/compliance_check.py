# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.compliance_check; the documentation lives in
plugins/modules/compliance_check.py."""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils import compliance, context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction

RULES_VAR = "changeward_compliance_rules"
# the operator's switch for rendering in the main job (pinned: the change being judged cannot turn it off)
RENDER_VAR = "changeward_compliance_render"

ARGUMENT_SPEC = {
    "spec": {"type": "dict"},
    "apply": {"type": "dict"},
    "role_path": {"type": "path"},
    "tasks_file": {"type": "path"},
    "variables": {"type": "dict", "default": {}},
    "results": {"type": "list", "elements": "dict", "default": []},
    "render_on": {"type": "list", "elements": "str", "default": []},
    "render_timeout": {"type": "float", "default": 600.0},
    "render": {"type": "str", "choices": ["always", "policy"], "default": "always"},
    "rules": {"type": "raw"},
    "builtin_rules": {"type": "bool", "default": True},
    "change_id": {"type": "str"},
    "report_only": {"type": "bool", "default": False},
}


class ActionModule(ControllerAction):
    NAME = "compliance_check"
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def ensure(self, args, task_vars):
        if args["render_on"] and args["render"] == "policy" and self.pinned_var(RENDER_VAR, task_vars) is not True:
            # not every role renders faithfully in check mode (a package from a repository the same change adds
            # cannot be resolved), so the operator turns rendering on in the inventory
            return {"changed": False, "skipped": True, "msg": f"rendering in check mode is off ({RENDER_VAR})"}
        rules = args["rules"]
        source = "option rules"
        if rules is None:
            # the operator's rules, from the inventory only: the change they judge cannot replace them
            rules = self.pinned_var(RULES_VAR, task_vars)
            source = f"{RULES_VAR} (inventory)" if rules is not None else "built-in rules only"
        if isinstance(rules, str):
            rules = self.load_yaml(rules, "compliance rules", compliance.ComplianceError)
        if isinstance(rules, Mapping):
            rules = rules.get("rules")
        if rules is not None and not isinstance(rules, list):
            raise compliance.ComplianceError("rules must be a list of rules (or a file with one, or with rules:)")
        compiled = compliance.compile_rules(rules or [], builtin=args["builtin_rules"])
        if not compiled:
            raise compliance.ComplianceError("no rule to check: built-in rules are off and none were given")

        apply = args["apply"] or {}
        variables = {**(apply.get("vars") or {}), **args["variables"]}
        tasks = []
        role_path = args["role_path"] or apply.get("role_path")
        tasks_file = args["tasks_file"] or apply.get("tasks")
        if role_path:
            tasks += compliance.role_task_facts(role_path, variables)
        if tasks_file:
            tasks += compliance.task_facts(self.find_file(tasks_file), tasks_file, variables)
        results = list(args["results"])
        rendered = None
        if args["render_on"]:
            # the files as the change would write them on these hosts: a check-and-diff run of its role or tasks
            sources = task_vars.get("ansible_inventory_sources") or []
            sources = [sources] if isinstance(sources, str) else sources
            target = dict(apply)
            if tasks_file:
                target["tasks"] = self.find_file(tasks_file)
            if role_path:
                target["role"] = role_path  # a role found by path runs the same from the separate run
            rendered = compliance.render_check(target, args["render_on"], sources, args["render_timeout"])
            results += rendered
        files = compliance.file_facts(results)
        if args["spec"] is None and not tasks and not files:
            # nothing to look at is not compliant: it is unchecked
            raise compliance.ComplianceError("nothing to check: give spec, apply (role_path or tasks) or results")
        result = compliance.evaluate(compiled, {"spec": args["spec"], "tasks": tasks, "files": files})
        label = args["change_id"] or "(planned change)"
        reason = f"change {label}: " + compliance.summary(result)
        entry = context.gate_decision(
            "compliance",
            "pass" if result["passed"] else "fail",
            reason,
            rules=sorted({r["name"] for r, _p in compiled}),
            rules_source=source,
            violations=result["violations"] or None,
        )
        out = {
            "changed": False,
            "passed": result["passed"],
            "violations": result["violations"],
            "checked": result["checked"],
            "tasks": len(tasks),
            "files": len(files),
            "rendered_on": list(args["render_on"]),
            "rules_source": source,
            "msg": reason,
        }
        out.update(self.record_gate_decision(args, entry))
        if not result["passed"] and not args["report_only"]:
            out.update(failed=True, msg=f"compliance_check: {reason}")
        return out
