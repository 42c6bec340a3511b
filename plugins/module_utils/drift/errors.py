# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of the drift scan core."""

from ansible_collections.changeward.hybrid.plugins.module_utils.errors import ChangewardError


class DriftError(ChangewardError):
    """Base of every error the scan core raises."""


class BaselineError(DriftError):
    """The declared baseline is malformed; the message names the item and the key."""


class CommandError(DriftError):
    """An external tool (dpkg-query, rpm, an init script, systemctl) could not be run or timed out."""
