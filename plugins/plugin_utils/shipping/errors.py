# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of audit shipping."""

from __future__ import annotations

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError


class ShippingError(ChangewardError):
    """Base of every shipping error; the message names the sink and what is wrong."""


class SinkConfigError(ShippingError, ValueError):
    """A sink configuration is invalid; names the sink and the field."""

    def __init__(self, sink, field, problem):
        self.sink = sink
        self.field = field
        where = f"sink {sink!r}" if sink else "sink configuration"
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")


class DeliveryError(ShippingError):
    """A delivery attempt failed; nothing of the batch counts as delivered.

    retryable: False when trying again unchanged cannot help (4xx, a message too large); the items still
    stay pending - nothing is ever dropped - but the outbox stops retrying that sink for this pass.
    """

    def __init__(self, message, retryable=True):
        super().__init__(message)
        self.retryable = retryable
