# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name, on the controller; this file documents it.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ledger_rotate_key
short_description: Rotate the change ledger's checkpoint signing key
version_added: "0.1.0"
description:
  - Hands checkpoint signing over from the ledger's current key (O(key)) to O(new_key), recording the change in
    the ledger itself as an C(io.changeward.ledger.key_rotated) event - the ledger, the key retired, the key
    taking over (an Ed25519 public key in full), signed by both keys - sealed by a checkpoint the retiring key
    signs, in one transaction.
  - From then on the retired key signs nothing more - an append, checkpoint or export header with it is
    refused - and M(changeward.hybrid.ledger_verify) reports any checkpoint after the rotation that the new key
    did not sign. Verify across the rotation with both public keys (O(changeward.hybrid.ledger_verify#module:keys)).
  - The key rotation event is a reserved control event - only this module writes it; C(ledger_record) and
    C(change_record) refuse it.
  - Idempotent - when the ledger already signs with O(new_key), nothing changes.
  - After the rotation, give the new key to every writer (E(CHANGEWARD_LEDGER_KEY), the AWX credential);
    writers still holding the old key stop with an error naming the rotation instead of signing with it.
  - Runs on the controller (an action plugin).
author:
  - changeward maintainers (!UNKNOWN)
options:
  ledger:
    description:
      - The ledger - a SQLite path or a C(postgresql://) DSN. It must exist.
      - "Which ledger, as for every plugin of the collection: this option, else E(CHANGEWARD_LEDGER), else
        C(changeward/ledger.db) under E(XDG_STATE_HOME) (C(~/.local/state) when that is not set)."
    type: str
  key:
    description:
      - The current signing key (the one being retired). Defaults to E(CHANGEWARD_LEDGER_KEY). Never shown or
        recorded.
    type: str
  new_key:
    description:
      - The new signing key - an Ed25519 private key (PEM or C(ed25519:<base64>), recommended - its public key is
        recorded in the rotation event) or an HMAC secret. Never shown or recorded.
    type: str
    required: true
  reason:
    description:
      - Why the key is rotated (recorded in the event), e.g. a schedule or a suspected compromise.
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
    description: Reports whether the key would be rotated, writing nothing.
  diff_mode:
    support: none
    description: No diff is produced.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller.
seealso:
  - module: changeward.hybrid.ledger_verify
  - module: changeward.hybrid.ledger_export
"""

EXAMPLES = r"""
- name: Rotate the ledger's signing key to this year's Ed25519 key
  changeward.hybrid.ledger_rotate_key:
    ledger: /var/lib/changeward/ledger.db
    key: "{{ vault_ledger_key_2025 }}"
    new_key: "{{ vault_ledger_key_2026 }}"
    reason: yearly rotation
  register: rotation

- name: Verify across the rotation with both public keys
  changeward.hybrid.ledger_verify:
    src: /var/lib/changeward/ledger.db
    keys:
      - path: /etc/changeward/ledger-2025.pub
      - path: /etc/changeward/ledger-2026.pub
"""

RETURN = r"""
seq:
  description: Seq of the rotation event (or of the earlier rotation to O(new_key) when nothing changed).
  returned: success and not check mode
  type: int
  sample: 4812
hash:
  description: Hash of the rotation event.
  returned: when the key was rotated
  type: str
  sample: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
event_id:
  description: Id of the rotation event.
  returned: when the key was rotated
  type: str
  sample: 0b7f3c1e-3a39-4f5e-9d4b-0a8f3f7d2c11
previous_key_id:
  description: Id of the key retired.
  returned: when the key was (or would be) rotated
  type: str
  sample: hmac-4c1f9d0e2b7a6c35
key_id:
  description: Id of the key that signs from now on.
  returned: success
  type: str
  sample: ed25519-0f3c5a1b2d4e6f70
checkpoint:
  description: The checkpoint the retiring key signed over the rotation event.
  returned: when the key was rotated
  type: dict
  sample: {"seq": 4812, "key_id": "hmac-4c1f9d0e2b7a6c35", "alg": "HMAC-SHA256"}
msg:
  description: What was done.
  returned: always
  type: str
  sample: >-
    rotated ledger /var/lib/changeward/ledger.db from key hmac-4c1f9d0e2b7a6c35 to ed25519-0f3c5a1b2d4e6f70 at
    seq 4812; sign with the new key from now on
"""
