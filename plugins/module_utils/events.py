# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one builder of a ledger event's envelope (CloudEvents 1.0, JSON), standard library only.

Controller actions record their decisions through ledger.model.new_event, which builds with this function and
validates; target modules (snapshot, rollback, snapshot_prune, ...) return a ``ledger_event`` built here, which
changeward.hybrid.ledger_record records on the controller. The subject is always the change id, so the ledger
files every event under its change.
"""

from __future__ import absolute_import, division, print_function

import copy
import uuid
from datetime import datetime, timezone

__metaclass__ = type

SPECVERSION = "1.0"
DATACONTENTTYPE = "application/json"


def utc_now():
    """Current time as RFC 3339 UTC with microseconds, e.g. 2026-01-31T12:00:00.123456Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def envelope(event_type, subject, data=None, source=None, time=None, event_id=None):
    """A CloudEvents 1.0 event: a fresh uuid4 id, the time now (UTC), ``subject`` the change id."""
    return {
        "specversion": SPECVERSION,
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": event_type,
        "time": time or utc_now(),
        "subject": subject,
        "datacontenttype": DATACONTENTTYPE,
        "data": copy.deepcopy(dict(data or {})),
    }
