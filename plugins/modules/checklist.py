# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name, on the controller; this file documents it.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: checklist
short_description: Gate - checklist items from reviews of similar changes, each acknowledged by an approver
version_added: 0.1.0
description:
  - "With O(state=checked) (the main job's checklist gate), finds every checklist item that reviews after failure
    recorded (M(changeward.hybrid.review) with O(changeward.hybrid.review#module:checklist)) and that applies to
    this change - the same service (O(services)), the same change kind (O(change_kind)) and, for each label the
    item names, some target of the change carrying that value - and refuses the change until each one is
    acknowledged for it."
  - "An acknowledgement is a statement (C(changeward.checklist-ack/v1): change id, change digest, item id,
    approver, role, comment, time) the approver signs with C(ssh-keygen -Y sign -n changeward-approval). It counts
    when the signature verifies against the pinned policy's allowed-signers file, the approver holds the role in
    the policy's C(approval.approvers), and the approver is neither the change's requester nor its implementer.
    Verified acknowledgements are recorded as C(io.changeward.checklist.acknowledged), a reserved control event
    only this action writes; those already recorded are verified again before they count."
  - The decision (pass or fail, the items and who acknowledged each) is recorded in the change's gate decisions
    before the task returns; a refusal too. The ledger must verify first.
  - With O(state=statement), returns the statement text an approver signs for O(item_id); nothing is recorded.
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
  state:
    description:
      - V(checked) is the gate; V(statement) gives the text an approver signs to acknowledge one item.
    type: str
    choices: [checked, statement]
    default: checked
  change_id:
    description:
      - The change checked (it must be open in the ledger for V(checked)).
    type: str
    required: true
  change_digest:
    description:
      - The change's digest (the change spec's C(change.digest)); an acknowledgement counts only for it.
    type: str
    required: true
  services:
    description:
      - The services the change touches.
    type: list
    elements: str
    default: []
  change_kind:
    description:
      - The change's kind (config, package, binary, schema).
    type: str
  targets:
    description:
      - The change's target hosts; their labels (C(changeward_labels), else host variables) are matched against
        the items' labels.
    type: list
    elements: str
    default: []
  acknowledgements:
    description:
      - Signed acknowledgements handed to this run - each the path of a statement file with its signature beside it
        (C(<path>.sig)), or a mapping with C(statement) and C(signature).
    type: list
    elements: raw
    default: []
  item_id:
    description:
      - With O(state=statement), the checklist item acknowledged.
    type: str
  approver:
    description:
      - With O(state=statement), the approver (their principal in the allowed-signers file).
    type: str
  role:
    description:
      - With O(state=statement), the approver's role in the policy.
    type: str
  comment:
    description:
      - With O(state=statement), what the approver checked.
    type: str
    default: ""
  policy:
    description:
      - The gate policy (its C(approval) section names the approvers and the allowed-signers file). Without it, the
        inventory's pinned C(changeward_policy) (and C(changeward_policy_local) of the targets).
    type: raw
  policy_local:
    description:
      - Regional policy layers, instead of the targets' pinned C(changeward_policy_local).
    type: raw
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
    description: Decides, records nothing.
  diff_mode:
    support: none
    description: No diff is produced.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller.
seealso:
  - module: changeward.hybrid.review
  - module: changeward.hybrid.approval
"""

EXAMPLES = r"""
- name: Gate - checklist items from reviews of similar changes
  changeward.hybrid.checklist:
    change_id: CHG0043
    change_digest: "{{ changeward_change.digest }}"
    services: [payments]
    change_kind: package
    targets: "{{ changeward_change.targets }}"
    acknowledgements: "{{ changeward_checklist_acks | default([]) }}"

- name: The text an approver signs to acknowledge an item
  changeward.hybrid.checklist:
    state: statement
    change_id: CHG0043
    change_digest: "{{ changeward_change.digest }}"
    item_id: CL-3f9a0c21b7d4
    approver: dana
    role: peer
    comment: self-test passed on staging-01
  register: ack
"""

RETURN = r"""
decision:
  description: V(pass) or V(fail).
  returned: state is checked
  type: str
  sample: fail
checklist_items:
  description: The items that apply - id, text, the change whose review added it, its match, who acknowledged it.
  returned: state is checked
  type: list
  elements: dict
  sample: [{"item_id": "CL-3f9a0c21b7d4", "text": "self-test on staging first", "from_change": "CHG0042",
            "match": {"service": "payments", "change_kind": "package", "labels": {}}, "acknowledged_by": null}]
refused:
  description: Acknowledgements that do not count - item, approver and why (stable codes, as approvals have).
  returned: state is checked
  type: list
  elements: dict
  sample: [{"item_id": "CL-3f9a0c21b7d4", "approver": "alice", "refusals": [{"code": "self_acknowledgement"}]}]
recorded:
  description: Whether the decision was recorded in the change.
  returned: state is checked
  type: bool
  sample: true
ledger_seq:
  description: The seq of the recorded gate decision (null when not recorded).
  returned: state is checked
  type: int
  sample: 912
statement_text:
  description: With O(state=statement), the exact text to sign.
  returned: state is statement
  type: str
  sample: '{"approver":"dana","change_digest":"sha256:...","change_id":"CHG0043",...}'
statement:
  description: With O(state=statement), the statement as a mapping.
  returned: state is statement
  type: dict
  sample: {"type": "changeward.checklist-ack/v1", "item_id": "CL-3f9a0c21b7d4"}
"""
