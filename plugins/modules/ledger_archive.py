# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name, on the controller; this file documents it.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ledger_archive
short_description: Archive the change ledger to WORM storage and prune what a verified archive holds
version_added: 0.1.0
description:
  - Applies the retention policy (the inventory variable C(changeward_retention_policy), pinned like the gate
    policy - a run cannot supply or change it) to the change ledger. Each event stays in the live ledger for the
    longest C(live) period of the rules that apply to it - the default, the data classes of its change's target
    hosts (their C(data_class) label), its event type - and its archive is kept for the longest C(archive) period.
  - "With O(state=archived), writes the next archive: a signed JSONL export (as M(changeward.hybrid.ledger_export)
    writes it) from where the previous archive ended to the end of what the policy lets go - the longest prefix of the
    live chain whose events are past their live period, of no open change or open review, delivered to every audit
    sink, covered by no legal hold, ending on a signed checkpoint. Its header links to the previous archive's, so the
    archives form a chain M(changeward.hybrid.ledger_verify) validates. It is verified, written to O(dest) or to the
    S3 bucket O(s3_bucket) with Object Lock (the policy's C(archive.lock_mode), retained until the latest event time
    plus its archive period), read back from the store and verified again, then recorded in the ledger
    (C(io.changeward.ledger.archived): location, SHA-256, header digest, range, retain-until)."
  - "With O(state=pruned), verifies the live ledger, reads back from their stores the recorded archives that hold
    the range, verifies each on its own and their chain against the live ledger, then - under the ledger's write
    lock, refused while a legal hold (M(changeward.hybrid.ledger_hold)) covers any event of the range - records
    C(io.changeward.ledger.pruned) (the range, the archives and their digests) and removes the range. The signed
    checkpoint at its end stays: the live ledger verifies from it, and M(changeward.hybrid.ledger_verify) reports
    C(prune_invalid) when the front of the chain was cut any other way. The live ledger is verified again
    afterwards; the task fails if it does not verify."
  - With O(state=planned) (and in check mode), reports how far the ledger may be pruned now and why it stops
    there, writing nothing.
  - An S3 bucket without Object Lock is refused. Credentials come from the usual AWS chain (E(AWS_ACCESS_KEY_ID),
    E(AWS_SECRET_ACCESS_KEY), E(AWS_SESSION_TOKEN), a profile or an instance role); needs boto3 on the
    controller.
  - Runs on the controller (an action plugin).
author:
  - changeward maintainers (!UNKNOWN)
requirements:
  - boto3 (for an S3 archive)
options:
  ledger:
    description:
      - The ledger - a SQLite path or a C(postgresql://) DSN.
      - "Which ledger, as for every plugin of the collection: this option, else E(CHANGEWARD_LEDGER), else
        C(changeward/ledger.db) under E(XDG_STATE_HOME) (C(~/.local/state) when that is not set)."
    type: str
  key:
    description:
      - The ledger's signing key (an archive's header must be signed; pruning appends a sealed event). Defaults to
        E(CHANGEWARD_LEDGER_KEY). Never shown or recorded.
    type: str
  keys:
    description:
      - The key ring archives and the live ledger are verified with, as M(changeward.hybrid.ledger_verify) takes
        it (key material, or C(key)/C(public_key)/C(path) with C(not_before)/C(not_after)) - needed when the
        range holds checkpoints of a key rotated out since. Defaults to O(key).
    type: list
    elements: raw
  state:
    description:
      - V(archived) writes the next archive, V(pruned) removes from the live ledger what verified archives hold,
        V(planned) only reports how far the ledger may be pruned.
    type: str
    choices: [archived, pruned, planned]
    default: archived
  dest:
    description:
      - Directory to archive to (files 0400 in 0700 directories, never replaced). WORM only when the file system
        under it is. Mutually exclusive with O(s3_bucket).
    type: path
  s3_bucket:
    description:
      - S3 bucket to archive to; it must have Object Lock enabled. Mutually exclusive with O(dest).
      - With O(state=pruned), archives are read back from where they were recorded; O(s3_endpoint_url) and
        O(s3_region) say how to reach that S3 API.
    type: str
  s3_prefix:
    description:
      - Key prefix of the archives in O(s3_bucket) (C(<prefix>/<ledger id>/<sequence>-<first seq>-<last seq>.jsonl)).
    type: str
    default: ""
  s3_endpoint_url:
    description:
      - Endpoint of another S3 API (MinIO, Ceph, a test server); default AWS.
    type: str
  s3_region:
    description:
      - AWS region of the bucket; default the AWS configuration's.
    type: str
  through_seq:
    description:
      - Archive or prune no further than this seq (the end is still where the policy and a signed checkpoint allow).
    type: int
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
    description: Reports the plan (how far the ledger may be pruned and why it stops) without writing anything.
  diff_mode:
    support: none
    description: No diff is produced.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller.
seealso:
  - module: changeward.hybrid.ledger_hold
  - module: changeward.hybrid.ledger_export
  - module: changeward.hybrid.ledger_verify
"""

EXAMPLES = r"""
- name: Archive what the retention policy lets go to an S3 bucket with Object Lock
  changeward.hybrid.ledger_archive:
    state: archived
    s3_bucket: acme-changeward-archive
    s3_prefix: ledgers
    key: "{{ vault_ledger_key }}"
  register: archived

- name: Prune the live ledger through what the verified archives hold (refused under a legal hold)
  changeward.hybrid.ledger_archive:
    state: pruned
    key: "{{ vault_ledger_key }}"

- name: How far could the ledger be pruned today, and what stops it
  changeward.hybrid.ledger_archive:
    state: planned
  register: retention_plan
"""

RETURN = r"""
plan:
  description:
    - How far the live ledger may be pruned now - C(start) (where the live chain starts), C(head), C(through_seq)
      (null when nothing may be), C(stop) (why it ends there) and the legal holds in force.
  returned: success
  type: dict
  sample: {"start": 0, "head": 912, "through_seq": 700, "stop": "event 701 (io.changeward.run.task_result) is within
           its live retention until 2027-01-10T08:00:00Z", "holds": []}
archive:
  description:
    - With O(state=archived), the archive written - store, location, name, version_id, sha256, header_digest,
      first_seq, last_seq, last_hash, sequence, events, retain_until, lock_mode, policy_digest.
  returned: an archive was written
  type: dict
  sample: {"location": "s3://acme-changeward-archive/ledgers/5f0c.../000003-000000001401-000000002100.jsonl",
           "sha256": "9f86d0...", "first_seq": 1401, "last_seq": 2100, "retain_until": "2033-12-08T00:00:00Z",
           "lock_mode": "COMPLIANCE"}
pruned:
  description: With O(state=pruned), the range removed - from_seq, through_seq, through_hash, deleted (events).
  returned: a range was pruned
  type: dict
  sample: {"from_seq": 1, "through_seq": 700, "through_hash": "ab12...", "deleted": 700}
archives:
  description: With O(state=pruned), the archives read back and verified that hold the pruned range.
  returned: a range was pruned
  type: list
  elements: dict
  sample: [{"location": "s3://acme-changeward-archive/ledgers/5f0c.../000001-000000000001-000000000700.jsonl",
            "sha256": "9f86d0...", "sequence": 1, "lock_mode": "COMPLIANCE"}]
verified:
  description: With O(state=pruned), the live ledger's verification after pruning (valid, events, signed_through).
  returned: a range was pruned
  type: dict
  sample: {"valid": true, "events": 212, "signed_through": 912}
ledger_seq:
  description: Seq of the io.changeward.ledger.archived or io.changeward.ledger.pruned event recorded.
  returned: an archive was written or a range pruned
  type: int
  sample: 913
policy:
  description: The retention policy applied - its digest, default, data classes, record-type patterns, lock mode.
  returned: success
  type: dict
  sample: {"digest": "sha256:...", "default": {"live": "400d", "archive": "7y"}, "data_classes": ["pii"],
           "record_types": [], "lock_mode": "COMPLIANCE"}
"""
