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
  - The file is written atomically with mode 0600; its SHA-256 is returned so it can be recorded elsewhere.
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
      - Checkpoint signing key, needed with O(checkpoint=true). Defaults to E(CHANGEWARD_LEDGER_KEY). Never shown
        or recorded.
    type: str
  after_seq:
    description:
      - Export only events after this seq (the header records where the export starts, so a partial export
        still verifies from that point).
    type: int
    default: 0
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
checkpoint:
  description: The checkpoint taken at the head when O(checkpoint=true).
  returned: when O(checkpoint=true) and not check mode
  type: dict
  sample: {"seq": 1523, "hash": "ab12...", "alg": "HMAC-SHA256"}
"""
