# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.snapshot (documented in plugins/modules/snapshot.py).

Runs the module on the host without the action group's controller-only options (ledger, key), with
rollback_capability from the host's label when the task does not give it; with --diff, adds the store's
before and after (plugin_utils.diff)."""

from __future__ import annotations

from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import TargetAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.diff import snapshot_diff


class ActionModule(TargetAction):
    # Unless the task gives it, rollback_capability is the host's label (changeward_labels, else the variable).
    LABEL_OPTIONS = ("rollback_capability",)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if self._task.diff and not result.get("failed"):
            diff = snapshot_diff(result)
            if diff:
                result["diff"] = diff
        return result
