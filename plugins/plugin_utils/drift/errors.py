# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of the controller-side drift code."""

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError


class DriftInputError(ChangewardError, ValueError):
    """Input the report cannot be built from (bad targets, malformed evidence, unknown options)."""


class AcceptanceError(DriftInputError):
    """An accepted-drift entry is malformed (missing approver, expiry without a zone, too far away...)."""


class DriftPolicyError(DriftInputError):
    """The drift section of the policy is malformed."""
