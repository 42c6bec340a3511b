# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name, on the controller; this file documents it.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ledger_export
short_description: Export the change ledger as JSONL for auditors
version_added: 0.1.0
description:
  - Writes the events of a change ledger (SQLite or PostgreSQL), with their seq, prev_hash and hash, and its
    signed checkpoints to a JSONL file that M(changeward.hybrid.ledger_verify) verifies without the database.
  - The file is written atomically with mode 0600 (a directory it creates is 0700); its SHA-256 is returned so
    it can be recorded elsewhere.
  - With the signing O(key), the export's header is signed - the seq and time range it covers, the hash
    before its first event and of its last, and (with O(previous)) the digest of the previous export's header -
    so successive exports form a chain that M(changeward.hybrid.ledger_verify) validates over a time range
    (O(changeward.hybrid.ledger_verify#module:exports)), naming a dropped, reordered or altered export.
  - The export reproduces the store as it is - a damaged ledger exports its damage, and verifying the export
    reports it.
  - Runs on the controller (an action plugin).
author:
  - changeward maintainers (!UNKNOWN)
options:
  ledger:
    description:
      - The ledger - a SQLite path or a C(postgresql://) DSN.
      - "Which ledger, as for every plugin of the collection: this option, else E(CHANGEWARD_LEDGER), else
        C(changeward/ledger.db) under E(XDG_STATE_HOME) (C(~/.local/state) when that is not set)."
      - C(src) is the name this option had before; it stays as an alias.
    type: str
    aliases: [src]
  dest:
    description:
      - Path of the JSONL file to write (replaced if it exists).
    type: path
    required: true
  key:
    description:
      - Checkpoint signing key. Defaults to E(CHANGEWARD_LEDGER_KEY). Never shown or recorded.
      - Signs the export's header when given (a verify-only public key leaves it unsigned); needed with
        O(checkpoint=true). A key the ledger has rotated out is refused.
    type: str
  after_seq:
    description:
      - Export only events after this seq (the header records where the export starts, so a partial export
        still verifies from that point).
      - Defaults to where the O(previous) export ended, else V(0) (the whole ledger).
    type: int
  start_time:
    description:
      - Export the events recorded from this instant on - an ISO 8601 date-time with a UTC offset, unix
        seconds or V(now). Selected on each event's hashed time (indexed on both backends).
      - The export is the contiguous stretch of the chain from the first event in the time range to the last,
        so it verifies on its own; an event recorded in between with a clock outside the range is in it too
        (the header's C(range) shows the first and last times, C(window) the range asked for).
      - Cannot be combined with O(after_seq) or O(previous), which also set where the export starts.
      - Fails when no event was recorded in the range.
    type: raw
  end_time:
    description:
      - Export the events recorded before this instant (exclusive), in the forms O(start_time) takes.
      - With O(previous) or O(after_seq) and no O(start_time), the export continues from there up to the last
        event before O(end_time) - for example a monthly export chained to the month before.
    type: raw
  previous:
    description:
      - The previous export of this ledger, which this one continues - its events start right after it and its
        header links to the previous header's digest.
      - The previous export must end on this ledger's chain (its last hash is this ledger's hash at that seq).
    type: path
  checkpoint:
    description:
      - Take an on-demand signed checkpoint at the head first, so the export ends with a checkpoint.
      - Needs the signing O(key), which is used for nothing else.
    type: bool
    default: false
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
    description: Reports what would be exported without writing the file or taking a checkpoint.
  diff_mode:
    support: none
    description: No diff is produced.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller.
seealso:
  - module: changeward.hybrid.ledger_verify
"""

EXAMPLES = r"""
- name: Export the whole ledger, ending with a fresh signed checkpoint
  changeward.hybrid.ledger_export:
    src: /var/lib/changeward/ledger.db
    dest: /srv/audit/ledger-{{ now(utc=true, fmt='%Y%m%d') }}.jsonl
    checkpoint: true
    key: "{{ vault_ledger_key }}"
  register: export

- name: This month's export, continuing last month's (a chain an auditor validates over a time range)
  changeward.hybrid.ledger_export:
    src: /var/lib/changeward/ledger.db
    dest: /srv/audit/ledger-2026-02.jsonl
    previous: /srv/audit/ledger-2026-01.jsonl
    key: "{{ vault_ledger_key }}"

- name: The first quarter of fiscal 2027 (its header records the window asked for)
  changeward.hybrid.ledger_export:
    src: /var/lib/changeward/ledger.db
    dest: /srv/audit/ledger-FY27Q1.jsonl
    start_time: "2026-07-01T00:00:00Z"
    end_time: "2026-10-01T00:00:00Z"
    key: "{{ vault_ledger_key }}"

- name: Verify the export without the database
  changeward.hybrid.ledger_verify:
    src: "{{ export.dest }}"
    key: "{{ vault_ledger_key }}"
"""

RETURN = r"""
dest:
  description: Absolute path of the export.
  returned: success
  type: str
  sample: /srv/audit/ledger-20260131.jsonl
events:
  description: Number of events exported (in check mode, that would be exported).
  returned: success
  type: int
  sample: 1523
checkpoints:
  description: Number of checkpoint lines written.
  returned: success and not check mode
  type: int
  sample: 16
last_seq:
  description: Seq of the last event in the export.
  returned: success
  type: int
  sample: 1523
sha256:
  description: SHA-256 of the written file.
  returned: success and not check mode
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
sequence:
  description: The export's number in its series (the previous export's plus one; 1 without O(previous)).
  returned: success and not check mode
  type: int
  sample: 2
signed_by:
  description: Key id that signed the header; null when it is unsigned (no signing key).
  returned: success and not check mode
  type: str
  sample: ed25519-0f3c5a1b2d4e6f70
header_digest:
  description: Digest of the header (what the next export's header links to).
  returned: success and not check mode
  type: str
  sample: sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
checkpoint:
  description: The checkpoint taken at the head when O(checkpoint=true).
  returned: when O(checkpoint=true) and not check mode
  type: dict
  sample: {"seq": 1523, "hash": "ab12...", "alg": "HMAC-SHA256"}
"""
