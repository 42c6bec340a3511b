# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""CloudEvents-shaped ledger events for snapshots and rollbacks.

The modules do not write the ledger (it lives on the controller); they return one of these in their
result and the recorder appends it to the change's event chain.
"""

import socket

from ansible_collections.changeward.hybrid.plugins.module_utils.events import envelope

SNAPSHOT_TAKEN = "io.changeward.snapshot.taken"
SNAPSHOT_NOT_RESTORABLE = "io.changeward.snapshot.not_restorable"
ROLLBACK_COMPLETED = "io.changeward.rollback.completed"
ROLLBACK_FAILED = "io.changeward.rollback.failed"
SNAPSHOT_PRUNED = "io.changeward.snapshot.pruned"


def ledger_event(event_type, change_id, data, host=None):
    """The event of a snapshot or rollback, under its change, built by the collection's one envelope builder."""
    host = host or socket.gethostname()
    return envelope(event_type, change_id, data, source="changeward.hybrid/%s" % host)
