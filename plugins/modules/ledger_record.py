# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name, on the controller; this file documents it.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ledger_record
short_description: Append CloudEvents to a change in the change ledger
version_added: 0.1.0
description:
  - Appends one or more events to the change ledger (SQLite or PostgreSQL) as events of the change
    O(change_id) - for example the RV(changeward.hybrid.snapshot#module:ledger_event) and
    RV(changeward.hybrid.rollback#module:ledger_event) that the snapshot and rollback modules return, the
    RV(changeward.hybrid.snapshot_prune#module:ledger_events) of a prune, or an event built here from
    O(type) and O(data).
  - Every event is validated as the ledger stores it (CloudEvents 1.0, C(io.changeward.*) type, lowercase
    uuid4 id) and must have the change id as its subject; the events are appended in one transaction and
    are durable when the task returns.
  - Idempotent - an event whose id is already in the ledger with the same content is not appended again
    (RV(already_recorded)); the same id with other content is an error.
  - Fails closed - no ledger configured, a change that is not in the ledger (unless O(change) is given
    to open it), an invalid event, a missing signing key when the ledger takes periodic checkpoints, or a
    locked or unreachable ledger all fail the task and record nothing.
  - Refuses reserved control events - approvals (C(io.changeward.approval.recorded)), circuit breaker
    transitions (C(io.changeward.breaker.*)), accepted emergency overrides (C(io.changeward.gate.override)),
    policy sign-offs and ledger key rotations. Only the plugin that verifies what such an event asserts writes it
    (M(changeward.hybrid.approval), M(changeward.hybrid.circuit_breaker), M(changeward.hybrid.blackout), ...), so
    nobody with playbook access can approve for a colleague or close a breaker by hand. Nothing of the request is
    written; the refusal is recorded as an C(io.changeward.control.refused) event of the change when the change is
    in the ledger, and the message names the control.
  - Runs on the controller (an action plugin).
author:
  - changeward maintainers (!UNKNOWN)
options:
  change_id:
    description:
      - The change the events belong to. Every event's C(subject) must be this id.
    type: str
    required: true
  event:
    description:
      - One CloudEvent to append, as returned by a module (for example C(snap.ledger_event)).
      - A module that recorded nothing returns null; skip the task then (C(when - snap.ledger_event is not none)).
      - Exactly one of O(event), O(events) and O(type) is required.
    type: raw
  events:
    description:
      - A list of CloudEvents to append in order, in one transaction (all or none).
    type: raw
  type:
    description:
      - Build the event here - its type, for example V(io.changeward.rollback.drill). The source is the
        controller, the subject O(change_id), the time now.
    type: str
  data:
    description:
      - The C(data) of the event built from O(type).
    type: dict
  change:
    description:
      - Opens the change with this record when it is not in the ledger yet (and creates a SQLite ledger
        that does not exist). Without it, an unknown change is an error.
    type: dict
    suboptions:
      type:
        description: Change type.
        type: str
        choices: [standard, normal, emergency]
        default: normal
      summary:
        description: What the change is.
        type: str
        required: true
      requester:
        description: Who asked for it.
        type: str
        required: true
      targets:
        description: Host names the change targets.
        type: list
        elements: str
        default: []
extends_documentation_fragment:
  - changeward.hybrid.ledger
  - changeward.hybrid.ledger.connection
attributes:
  action:
    support: full
    description: Runs as an action plugin on the controller.
  async:
    support: none
    description: Not supported.
  check_mode:
    support: full
    description: Validates the events, reads the ledger and reports what would be appended; writes nothing.
  diff_mode:
    support: none
    description: No diff is produced.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller.
seealso:
  - module: changeward.hybrid.snapshot
  - module: changeward.hybrid.rollback
  - module: changeward.hybrid.ledger_verify
"""

EXAMPLES = r"""
- name: Snapshot what the change touches
  changeward.hybrid.snapshot:
    change_id: "{{ change_id }}"
    scope:
      paths: [/etc/nginx]
  register: snap

- name: The snapshot is an event of the change
  changeward.hybrid.ledger_record:
    change_id: "{{ change_id }}"
    event: "{{ snap.ledger_event }}"
  when: snap.ledger_event is not none

- name: Record a measurement, opening the change if it is new
  changeward.hybrid.ledger_record:
    change_id: "{{ change_id }}"
    change:
      type: standard
      summary: Rollback drill
      requester: ops-oncall
    type: io.changeward.rollback.drill
    data:
      host: "{{ inventory_hostname }}"
      recovery_seconds: "{{ rb.duration_seconds }}"
    ledger: /var/lib/changeward/ledger.db
"""

RETURN = r"""
appended:
  description: The events appended, in order, with their place in the chain.
  returned: success
  type: list
  elements: dict
  sample: [{"seq": 42, "hash": "9f86d0...", "event_id": "6f1c...", "type": "io.changeward.snapshot.taken"}]
would_append:
  description: Number of events check mode would append.
  returned: check mode
  type: int
  sample: 1
already_recorded:
  description: Events whose id was already in the ledger with the same content (not appended again).
  returned: success
  type: list
  elements: dict
  sample: [{"seq": 40, "event_id": "6f1c...", "type": "io.changeward.snapshot.taken"}]
change_opened:
  description: True when the change was (or in check mode would be) opened by this task.
  returned: success
  type: bool
  sample: false
ledger_created:
  description: True when a new SQLite ledger was (or would be) created.
  returned: success
  type: bool
  sample: false
ledger:
  description: The ledger written (a DSN is shown without its password).
  returned: success
  type: str
  sample: /var/lib/changeward/ledger.db
error_kind:
  description: Class of the error when the task failed (for example C(LedgerKeyError), C(RecordInputError)).
  returned: failure
  type: str
  sample: LedgerKeyError
"""
