# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.fault_inject (documented in plugins/modules/fault_inject.py): runs the
module on the host without the action group's controller-only options (ledger, key)."""

from __future__ import annotations

from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import TargetAction


class ActionModule(TargetAction):
    """The module as it is, minus ledger and key."""
