# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.drift_scan (documented in plugins/modules/drift_scan.py).

Runs the module on the host without the action group's controller-only options (ledger, key); with --diff,
adds each drifted attribute as the host has it and as the baseline declares it (plugin_utils.diff)."""

from __future__ import annotations

from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import TargetAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.diff import drift_diff


class ActionModule(TargetAction):
    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if self._task.diff and not result.get("failed"):
            diff = drift_diff(result)
            if diff:
                result["diff"] = diff
        return result
