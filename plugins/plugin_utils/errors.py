# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The error root of the controller side: the same class as the target side's (module_utils.errors), so one
``except ChangewardError`` catches every domain error. ControllerAction turns any of them into a failed task
whose message names the action."""

from __future__ import annotations

from ansible_collections.changeward.hybrid.plugins.module_utils.errors import ChangewardError


class InputError(ChangewardError, ValueError):
    """A task's arguments cannot be used as given (fixed by the caller)."""


__all__ = ["ChangewardError", "InputError"]
