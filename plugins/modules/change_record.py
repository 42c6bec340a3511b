# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the module; the action plugin plugins/action/change_record.py does the work.

DOCUMENTATION = r"""
---
module: change_record
short_description: Open, update, annotate and close a change record in the change ledger
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - The lifecycle of one change record (docs/ledger.md) from a playbook. Each step is a ledger event committed
    before the task returns, so what a later task does is never recorded before the decision that allowed it.
  - O(state=opened) opens the record (an C(io.changeward.change.opened) event carrying it). Running it again
    for the same open change (same type, summary and requester) changes nothing; another change with that id is
    an error.
  - O(state=updated) sets fields (O(set)) and extends list fields (O(add) - C(gate_decisions), C(snapshots),
    C(rings), C(targets), C(observations)) of the open record, as one event (type O(event_type)).
  - "O(state=updated) refuses what would bypass a control, records the refusal as an
    C(io.changeward.control.refused) event of the change and fails naming the control: a reserved control event
    type as O(event_type) (approvals, breaker transitions, overrides, policy sign-offs, key rotations - written
    only by the plugin that verifies them), C(approvers) in O(set) or O(add) (written only by
    M(changeward.hybrid.approval)), and any change of C(requester) or C(implementer), which are fixed once the
    change is opened (the approval check fills in an implementer not known yet)."
  - Events that do not change the record (a module's C(ledger_event), a ring's evidence) are appended with
    M(changeward.hybrid.ledger_record).
  - O(state=closed) closes the record with its O(outcome) and at least one observation.
  - O(state=read) returns the record.
  - The ledger's signing key comes from C(CHANGEWARD_LEDGER_KEY). Runs on the controller.
options:
  state:
    description: What to do.
    type: str
    choices: [opened, updated, closed, read]
    default: opened
  change_id:
    description: The change id (letters, digits, C(.), C(_), C(:), C(-)).
    type: str
    required: true
  type:
    description: With O(state=opened), the kind of change.
    type: str
    choices: [standard, normal, emergency]
  summary:
    description: With O(state=opened), what the change does.
    type: str
  requester:
    description: With O(state=opened), who asked for it.
    type: str
  implementer:
    description: With O(state=opened), who implements it (the approval check fills it in otherwise).
    type: str
  targets:
    description: With O(state=opened), the target hosts.
    type: list
    elements: str
    default: []
  set:
    description: With O(state=updated), record fields to replace.
    type: dict
    default: {}
  add:
    description: With O(state=updated), items to append to list fields.
    type: dict
    default: {}
  event_type:
    description:
      - With O(state=updated), the event type, C(io.changeward.<area>.<what>). Defaults to
        C(io.changeward.change.updated).
    type: str
  data:
    description: Extra event data (with O(state=opened), O(state=updated) and O(state=closed)).
    type: dict
    default: {}
  outcome:
    description: With O(state=closed), the outcome.
    type: str
    choices: [successful, successful_with_issues, rolled_back, aborted, failed]
  observations:
    description: With O(state=closed), what was observed - strings or mappings with C(text); at least one.
    type: list
    elements: raw
    default: []
  close_on_abort:
    description:
      - With O(state=opened), declare that this run owns the change. When the run ends without closing it (a
        serial batch where every host failed or went unreachable ends the whole playbook, so the closing play
        never runs), the C(changeward.hybrid.change_closer) callback, where enabled, closes it as failed with an
        observation naming the failed and unreachable hosts.
      - Leave it V(false) for a change that spans several runs (opened by one job, implemented by another).
    type: bool
    default: false
extends_documentation_fragment:
  - changeward.hybrid.ledger
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Validates the request and returns the record as it would be; nothing is written, and no ledger is created
        or migrated (an existing one is opened read-only).
      - A run in check mode opens no change, so a later O(state=updated) or O(state=closed) of the same run finds
        none; it returns an empty RV(record) with a warning instead of failing.
  diff_mode:
    support: full
    details: The record before and after the task (in check mode, as it would be after), when it changes.
  platform:
    platforms: all
    details: Runs on the controller only.
seealso:
  - module: changeward.hybrid.ledger_record
  - plugin: changeward.hybrid.change_closer
    plugin_type: callback
  - name: The change ledger
    description: Records, events, the hash chain.
    link: https://github.com/changeward/hybrid/blob/main/docs/ledger.md
"""

EXAMPLES = r"""
- name: Open the change
  changeward.hybrid.change_record:
    change_id: CHG-42
    type: standard
    summary: Release demo 1.0.2
    requester: alice
    targets: "{{ ansible_play_hosts_all }}"
    close_on_abort: true

- name: Record a gate decision
  changeward.hybrid.change_record:
    state: updated
    change_id: CHG-42
    add:
      gate_decisions: [{gate: blackout, decision: pass, reason: no window in force}]
    event_type: io.changeward.gate.decided

- name: Close it
  changeward.hybrid.change_record:
    state: closed
    change_id: CHG-42
    outcome: rolled_back
    observations: ["canary breached error_ratio; rolled back in 4.2 s"]
"""

RETURN = r"""
record:
  description:
    - The change record after the task (as it would be, in check mode); its fields are described in the ledger
      documentation (docs/ledger.md).
    - Empty in check mode for a change that is not in the ledger (see O(state)).
  returned: always
  type: dict
  sample:
    id: CHG-42
    type: standard
    summary: Release demo 1.0.2
    requester: alice
    implementer: bob
    approvers: []
    targets: [cloud-use1a-01, cloud-use1b-01]
    risk: null
    gate_decisions:
      - gate: blackout
        decision: pass
        reason: no blackout window in force
        time: "2026-01-05T10:00:01.000000Z"
    snapshots: []
    rings: []
    outcome: null
    observations: []
    status: open
    opened_at: "2026-01-05T10:00:00.000000Z"
    closed_at: null
"""
