# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.rollback (documented in plugins/modules/rollback.py).

Runs the module on the host without the action group's controller-only options (ledger, key); with --diff,
adds what differed from the snapshot before and what still differs after (plugin_utils.diff)."""

from __future__ import annotations

from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import TargetAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.diff import rollback_diff


class ActionModule(TargetAction):
    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        # A rollback that failed half-way still says what it restored and what is left: the diff shows both.
        if self._task.diff:
            diff = rollback_diff(result, check_mode=bool(self._task.check_mode))
            if diff:
                result["diff"] = diff
        return result
