# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name, on the controller; this file documents it.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ledger_hold
short_description: Place or release a legal hold on ledger events (a change, a service or a range)
version_added: 0.1.0
description:
  - A legal hold keeps the events it covers in the live ledger - M(changeward.hybrid.ledger_archive) refuses to
    prune any range holding one (checked under the ledger's write lock) and records the refusal. A hold covers
    exactly one of a change (O(change_id)), a service (O(service) - the events of its changes and its circuit
    breaker), a seq range (O(from_seq)/O(through_seq)) or a time range (O(start_time)/O(end_time)), and always its
    own placement event.
  - "With O(state=present), records C(io.changeward.retention.hold_placed) (subject C(hold:<hold_id>)) - the
    scope, the matter, who placed it and why. Placing the same hold again changes nothing."
  - With O(state=absent), records C(io.changeward.retention.hold_released) only with a release statement O(by)
    signed (C(ssh-keygen -Y sign -n changeward-hold)) - O(by) must be listed in the retention policy's
    C(legal_hold.release_by) and hold a key in its C(legal_hold.allowed_signers) file. The statement is the
    canonical JSON C({"action":"release","by":...,"hold_id":...,"ledger_id":...,"placed_event":...}) (the
    placement event's id, in the result's C(holds)); a refused release is recorded too.
  - Both are reserved control events - M(changeward.hybrid.ledger_record) and M(changeward.hybrid.change_record)
    refuse them.
  - Runs on the controller (an action plugin).
author:
  - changeward maintainers (!UNKNOWN)
options:
  ledger:
    description:
      - The ledger - a SQLite path or a C(postgresql://) DSN.
      - "Which ledger, as for every plugin of the collection: this option, else E(CHANGEWARD_LEDGER), else
        C(changeward/ledger.db) under E(XDG_STATE_HOME) (C(~/.local/state) when that is not set)."
    type: str
  key:
    description:
      - Checkpoint signing key, needed to record in a ledger that takes signed checkpoints. Defaults to
        E(CHANGEWARD_LEDGER_KEY). Never shown or recorded.
    type: str
  hold_id:
    description:
      - The hold's id (letters, digits, C(._:-)), e.g. the legal matter's reference.
    type: str
    required: true
  state:
    description:
      - V(present) places the hold, V(absent) releases it (with a signed release statement).
    type: str
    choices: [present, absent]
    default: present
  change_id:
    description:
      - Hold the events of this change.
    type: str
  service:
    description:
      - Hold the events of every change of this service and of its circuit breaker.
    type: str
  from_seq:
    description:
      - Hold events from this seq (with O(through_seq); default 1).
    type: int
  through_seq:
    description:
      - Hold events up to this seq (with O(from_seq); default no end).
    type: int
  start_time:
    description:
      - Hold events whose time is at or after this RFC 3339 instant (with O(end_time)).
    type: str
  end_time:
    description:
      - Hold events whose time is before this RFC 3339 instant (with O(start_time)).
    type: str
  matter:
    description:
      - The legal matter or inquiry the hold is for. Required with O(state=present).
    type: str
  by:
    description:
      - Who places the hold, or who releases it (the principal that signed O(signature)).
    type: str
  reason:
    description:
      - Why the hold is placed. Required with O(state=present).
    type: str
  signature:
    description:
      - The armored SSH signature of the release statement by O(by). Required with O(state=absent).
    type: str
extends_documentation_fragment:
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
    description: Reports whether the hold would be placed or released, writing nothing.
  diff_mode:
    support: none
    description: No diff is produced.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller.
seealso:
  - module: changeward.hybrid.ledger_archive
"""

EXAMPLES = r"""
- name: Hold everything of the payments service for a legal matter
  changeward.hybrid.ledger_hold:
    hold_id: LH-2027-004
    service: payments
    matter: Doe v. Acme (2027)
    by: legal@acme.example
    reason: litigation hold notice of 2027-01-12

- name: Release it with counsel's signed release statement
  changeward.hybrid.ledger_hold:
    hold_id: LH-2027-004
    state: absent
    by: counsel@acme.example
    signature: "{{ lookup('ansible.builtin.file', 'LH-2027-004-release.sig') }}"
"""

RETURN = r"""
hold:
  description: With O(state=present), the hold - hold_id, scope, matter, by, reason, seq and event_id.
  returned: a hold was placed or was already in force
  type: dict
  sample: {"hold_id": "LH-2027-004", "scope": {"kind": "service", "service": "payments"}, "seq": 1207,
           "event_id": "3b0d..."}
holds:
  description: The holds in force after the task.
  returned: success
  type: list
  elements: dict
  sample: [{"hold_id": "LH-2027-004", "scope": {"kind": "service", "service": "payments"}, "seq": 1207}]
ledger_seq:
  description: Seq of the hold_placed or hold_released event recorded.
  returned: a hold was placed or released
  type: int
  sample: 1207
"""
