# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of the canary judge core."""

from __future__ import annotations

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError


class JudgeError(ChangewardError, ValueError):
    """The judgement cannot be made as asked (bad input or configuration); the message names what is wrong."""


class MissingLibraryError(JudgeError):
    """numpy or scipy is not installed on the controller."""
