# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name, on the controller; this file documents it.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ledger_verify
short_description: Verify the change ledger's hash chain and signed checkpoints
version_added: 0.1.0
description:
  - Verifies a change ledger - a SQLite file, a PostgreSQL database or a JSONL export - the way
    CloudTrail's C(validate-logs) verifies log files, and reports C(valid) or every problem found.
  - Every event's SHA-256 hash, the links between events, the seq numbering, each signed checkpoint,
    the expected checkpoint every C(checkpoint_interval) events, and optionally an I(anchor) (the latest
    checkpoint as held by an audit sink) are checked.
  - Problems are reported by kind - C(modified), C(deleted), C(inserted), C(reordered), C(truncated),
    C(checkpoint_missing), C(checkpoint_invalid), C(gap) - with the seq they concern. See docs/ledger.md
    for how each is decided.
  - Fails the task when the ledger is not valid, unless O(report_only=true). When the ledger cannot be
    verified at all (missing, corrupt, locked, unreachable, no key while checkpoints exist, no events)
    the task fails whatever O(report_only) says - no data is never reported as a pass.
  - Runs on the controller (an action plugin); nothing is written to the ledger.
author:
  - changeward maintainers (!UNKNOWN)
options:
  ledger:
    description:
      - "The ledger - a SQLite path or a C(postgresql://) DSN, or the path of a JSONL export (a file is recognised
        by its content: SQLite header or JSON lines)."
      - "Which ledger, as for every plugin of the collection: this option, else E(CHANGEWARD_LEDGER), else
        C(changeward/ledger.db) under E(XDG_STATE_HOME) (C(~/.local/state) when that is not set)."
      - C(src) is the name this option had before; it stays as an alias.
    type: str
    aliases: [src]
  key:
    description:
      - Checkpoint verification key - the HMAC-SHA256 secret, or an Ed25519 public (or private) key as PEM,
        C(ed25519-pub:<base64>) or C(ed25519:<base64>).
      - Keep it in Ansible Vault or inject it as E(CHANGEWARD_LEDGER_KEY), which is the default.
      - Required (or O(keys)) when the ledger holds checkpoints, an export has a signed header or an O(anchor) is
        given.
      - One key, as a string. A list here is an error - it is never read as a secret; give several keys as
        O(keys).
    type: raw
  keys:
    description:
      - Several verification keys with their validity ranges, for a ledger signed across key rotations (the
        rotations themselves are ledger events, see M(changeward.hybrid.ledger_rotate_key)). Used together with
        O(key) when both are given.
      - A signature (checkpoint, export header, rotation endorsement) counts only when its signed time lies in
        its key's range, and every checkpoint after a rotation must be signed by the key the rotation handed
        over to.
    type: list
    elements: dict
    suboptions:
      key:
        description:
          - The key material (as O(key)). Exactly one of O(keys[].key), O(keys[].public_key) and
            O(keys[].path).
        type: str
      public_key:
        description:
          - An Ed25519 public key (PEM or C(ed25519-pub:<base64>)); the same as O(keys[].key) for a public key.
        type: str
      path:
        description:
          - A file holding the key material.
        type: path
      not_before:
        description:
          - Start of the key's validity, RFC 3339 UTC (C(2026-01-01T00:00:00Z)); none means no lower bound.
        type: str
      not_after:
        description:
          - End of the key's validity, RFC 3339 UTC; none means no upper bound.
        type: str
  anchor:
    description:
      - The latest checkpoint as held by an audit sink - a dict, or the path of a JSON file holding one (a
        checkpoint line of a JSONL export works too).
      - With it, a truncated or rewritten ledger is detected even when its own checkpoints were removed.
    type: raw
  exports:
    description:
      - Validate a series of JSONL exports instead of a ledger - made by M(changeward.hybrid.ledger_export), each
        continuing the one before (O(changeward.hybrid.ledger_export#module:previous)) - as paths, or glob
        patterns expanded in sorted order, given in the order the exports were taken.
      - Each export is verified, its signed header checked, and each must link to the one before; problems are
        C(altered), C(dropped), C(reordered), C(unsigned), C(foreign) or C(not_covered), each naming the export.
      - The O(ledger) is not read then.
    type: list
    elements: path
  start_time:
    description:
      - With O(exports), validate only the exports holding events from this time (RFC 3339 UTC) on, and require
        that they reach back to it.
    type: str
  end_time:
    description:
      - With O(exports), validate up to this time (RFC 3339 UTC); an export taken after it must be among them.
    type: str
  report_only:
    description:
      - Only report; do not fail the task when the ledger (or the series of exports) is invalid.
    type: bool
    default: false
  checkpoint_interval:
    description:
      - Expected number of events between periodic checkpoints, overriding what the signed checkpoints and
        the ledger's metadata say. V(0) expects none.
    type: int
  allow_empty:
    description:
      - Accept a ledger with no events (and no evidence that it had any) as valid instead of failing.
    type: bool
    default: false
  max_problems:
    description:
      - At most this many problems are returned (RV(problems_total) counts them all).
    type: int
    default: 1000
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
    description: Verification only reads, so it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller.
notes:
  - HMAC checkpoints need the shared secret to verify; Ed25519 checkpoints verify with the public key alone,
    so auditors hold no secret.
seealso:
  - module: changeward.hybrid.ledger_export
  - module: changeward.hybrid.ledger_rotate_key
"""

EXAMPLES = r"""
- name: Verify the local ledger against the checkpoint held by the audit sink
  changeward.hybrid.ledger_verify:
    src: /var/lib/changeward/ledger.db
    key: "{{ vault_ledger_key }}"
    anchor: /srv/audit/latest-checkpoint.json
  register: ledger

- name: Verify an auditor's JSONL export with the Ed25519 public key, only reporting
  changeward.hybrid.ledger_verify:
    src: /srv/audit/ledger-2026-01.jsonl
    key: "{{ lookup('ansible.builtin.file', 'ledger-signing.pub') }}"
    report_only: true
  register: audit

- name: Verify a ledger signed across a key rotation (HMAC until June, then Ed25519)
  changeward.hybrid.ledger_verify:
    src: /var/lib/changeward/ledger.db
    keys:
      - key: "{{ vault_ledger_hmac_key }}"
        not_after: "2026-06-30T23:59:59Z"
      - path: /etc/changeward/ledger-2026b.pub
        not_before: "2026-06-01T00:00:00Z"

- name: Validate the monthly exports of the first quarter (dropped, reordered or altered exports are named)
  changeward.hybrid.ledger_verify:
    exports:
      - /srv/audit/ledger-2026-*.jsonl
    start_time: "2026-01-01T00:00:00Z"
    end_time: "2026-03-31T23:59:59Z"
    keys:
      - path: /etc/changeward/ledger-2026b.pub

- name: Show every problem found
  ansible.builtin.debug:
    msg: "{{ item.kind }} at seq {{ item.seq }}: {{ item.detail }}"
  loop: "{{ audit.problems }}"
"""

RETURN = r"""
valid:
  description: Whether the ledger verified with no problem.
  returned: when the ledger (or the exports) could be read
  type: bool
  sample: false
events:
  description: Number of events examined.
  returned: when the ledger (or the exports) could be read
  type: int
  sample: 100000
problems:
  description: Each problem found, ordered by seq.
  returned: when the ledger (or the exports) could be read
  type: list
  elements: dict
  contains:
    kind:
      description: >-
        For a ledger or one export, one of modified, deleted, inserted, reordered, truncated, checkpoint_missing,
        checkpoint_invalid, gap, column_modified, rotation_invalid, header_invalid, prune_invalid (a pruned
        ledger whose start no kept checkpoint and prune event vouch for); for a series of O(exports), one of
        altered, dropped, reordered, unsigned, foreign, not_covered.
      type: str
      sample: deleted
    seq:
      description: >-
        The seq (chain position) the problem concerns; null when it cannot be placed (not returned for a series
        of exports).
      type: int
      sample: 412
    export:
      description: The export the problem concerns (a series of O(exports) only).
      type: str
      sample: /srv/audit/ledger-2026-02.jsonl
    detail:
      description: What was found, in words.
      type: str
      sample: event 412 is missing
problems_total:
  description: Number of problems found (RV(problems) may be capped by O(max_problems)).
  returned: when the ledger (or the exports) could be read
  type: int
  sample: 1
checkpoints:
  description: Number of validly signed checkpoints found.
  returned: when the ledger could be read
  type: int
  sample: 1000
signed_through:
  description: Highest seq vouched for by a valid checkpoint or the anchor that matches the ledger.
  returned: when the ledger could be read
  type: int
  sample: 100000
last_seq:
  description: Highest chain position present.
  returned: when the ledger (or the exports) could be read
  type: int
  sample: 100000
ledger_id:
  description: Identifier of the ledger (from its metadata or export header).
  returned: when the ledger (or the exports) could be read
  type: str
  sample: 0b7f3c1e-3a39-4f5e-9d4b-0a8f3f7d2c11
source_kind:
  description: What was verified - SQLite, PostgreSQL or JSONL.
  returned: when the ledger could be read
  type: str
  sample: SQLite
checkpoint_interval:
  description: The checkpoint interval the verification expected.
  returned: when the ledger could be read
  type: int
  sample: 100
src:
  description: The source verified (a DSN is shown without its password).
  returned: when O(src) or E(CHANGEWARD_LEDGER) is set
  type: str
  sample: /var/lib/changeward/ledger.db
error_kind:
  description: Why the ledger could not be verified (the error class), when it could not.
  returned: on error
  type: str
  sample: LedgerKeyError
exports:
  description: Each export of a series validated with O(exports), in the order given.
  returned: when O(exports) is given and the exports could be read
  type: list
  sample:
    - path: /srv/audit/ledger-0001.jsonl
      sequence: 1
      first_seq: 1
      last_seq: 5000
      first_time: '2026-01-01T00:00:02.000000Z'
      last_time: '2026-01-31T23:59:40.000000Z'
      exported_at: '2026-02-01T00:05:00.000000Z'
      signed_by: ed25519-3f1d2a9c0b8e7d6c
      valid: true
  elements: dict
  contains:
    path:
      description: The export.
      type: str
    sequence:
      description: Its number in the series (from its signed header).
      type: int
    first_seq:
      description: Its first event's seq.
      type: int
    last_seq:
      description: Its last event's seq.
      type: int
    first_time:
      description: Its first event's time.
      type: str
    last_time:
      description: Its last event's time.
      type: str
    exported_at:
      description: When it was taken.
      type: str
    signed_by:
      description: Key id of its header's signature; null when unsigned.
      type: str
    valid:
      description: Whether the export itself verified.
      type: bool
first_seq:
  description: First event seq covered by the validated exports.
  returned: when O(exports) is given and the exports could be read
  type: int
  sample: 1
msg:
  description: One-line summary.
  returned: always
  type: str
  sample: "ledger INVALID: 1 problem(s) (deleted 1) in 99999 events"
"""
