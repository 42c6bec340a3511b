# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of the ledger. Callers fail closed on any LedgerError."""

from __future__ import annotations

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError


class LedgerError(ChangewardError):
    """Base of every ledger error; the message names what is wrong and where."""


class LedgerConfigError(LedgerError):
    """The ledger was configured wrongly (target, interval, key material)."""


class LedgerKeyError(LedgerConfigError):
    """A checkpoint key is needed (to sign or to verify) and none usable was given."""


class LedgerUnavailable(LedgerError):
    """The ledger cannot be reached, opened or written (I/O, permissions, server down)."""


class LedgerLocked(LedgerUnavailable):
    """Another writer held the ledger longer than the configured wait."""


class LedgerCorrupt(LedgerError):
    """The store is not a usable ledger (not a database, wrong schema, head and events disagree)."""


class LedgerEmpty(LedgerError):
    """There is nothing to verify; no data is never reported as a pass."""


class LedgerInvalidInput(LedgerError, ValueError):
    """An event, change record, cursor or anchor given to the ledger is malformed."""


class LedgerRowMismatch(LedgerCorrupt):
    """A stored row disagrees with its own hashed event (an edited column, or content that is not its hash).

    Readers refuse the row rather than answer from it; ``seq`` names it (ledger_verify reports it too).
    """

    def __init__(self, message: str, seq=None):
        super().__init__(message)
        self.seq = seq
