# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.pii_parity; the documentation lives in plugins/modules/pii_parity.py."""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils import parity
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import host_label

ARGUMENT_SPEC = {
    "hosts": {"type": "list", "elements": "str", "required": True},
    "stage_var": {"type": "str", "default": "changeward_stage"},
    "sshd_var": {"type": "str", "default": "changeward_sshd"},
    "firewall_var": {"type": "str", "default": "changeward_firewall"},
    "report_only": {"type": "bool", "default": False},
}


class ActionModule(ControllerAction):
    NAME = "pii_parity"
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def ensure(self, args, task_vars):
        hostvars = task_vars.get("hostvars") or {}
        rows = []
        for name in args["hosts"]:
            if name not in hostvars:
                raise parity.ParityError(f"{name} is not in the inventory")
            hv = hostvars[name]
            if host_label(hv, "data_class") != "pii":
                continue
            controls = {}
            for var, parse in ((args["sshd_var"], parity.parse_sshd), (args["firewall_var"], parity.parse_firewall)):
                gathered = hv.get(var)
                if not isinstance(gathered, Mapping) or gathered.get("failed") or "stdout" not in gathered:
                    # a PII host whose controls are unknown cannot be said to match production
                    raise parity.ParityError(f"{name} holds pii but has no {var} (gather it first)")
                controls.update(parse(gathered["stdout"]))
            rows.append({"name": name, "stage": hv.get(args["stage_var"]), "data_class": "pii", "controls": controls})
        result = parity.check(rows)
        out = {"changed": False, **result}
        if result["findings"] and not args["report_only"]:
            listed = "; ".join(
                f"{f['host']} {f['control']}={f['staging']} (production {f['production']})" for f in result["findings"]
            )
            out.update(failed=True, msg=f"pii_parity: staging PII hosts guarded unlike production: {listed}")
        return out
