# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the module; the action plugin plugins/action/circuit_breaker.py does the work.

DOCUMENTATION = r"""
---
module: circuit_breaker
short_description: Check, trip and reset a service's rollout circuit breaker kept in the change ledger
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Each service has one circuit breaker - V(closed), V(open) or V(half_open) - whose state lives in the change
    ledger as events of the subject C(breaker:<service>), so concurrent runs, other controllers and AWX slices all
    see the same state. Every decision reads the state and writes its event in one ledger write transaction, so
    two runs deciding at once are serialised.
  - O(state=checked) admits a change (closed), refuses it (open; the refusal is recorded), or in half-open admits
    exactly one trial change and refuses the others while it runs. Call it before every ring - an open breaker
    halts every rollout of the service, including runs that started before it opened.
  - O(state=open) trips the breaker with a reason and evidence (a ring breached its tolerance); with
    O(error_budget) it trips only when the registered M(changeward.hybrid.error_budget) result burns beyond the
    policy.
  - O(state=failure) records failed rings or hosts; the breaker opens when those since it last closed, within
    O(failure_window), reach O(max_failed_rings) or O(max_failed_hosts), or at once when the failing change is
    the half-open breaker's trial.
  - O(state=half_open) and O(state=closed) by hand need an authorised person - the identity of the run (AWX job
    variables, the environment variable the gate policy names, or the OS user; see docs/risk-and-approvals.md)
    must be an approver of the gate policy holding one of O(authorised_roles), not a service account. Refusals
    are recorded. O(state=closed) with O(change_id) closes a half-open breaker when that change was its trial and
    succeeded.
  - Runs on the controller. See docs/rollouts.md.
options:
  state:
    description: What to do.
    type: str
    choices: [checked, open, failure, half_open, closed, read]
    default: checked
  service:
    description: The service. Defaults to the O(tolerance_policy)'s C(service).
    type: str
  tolerance_policy:
    description:
      - Tolerance policy (path or mapping) whose C(service) names the breaker.
      - C(policy) is the deprecated name of this option (it named the tolerance policy here and the gate policy
        elsewhere); it is accepted until 2.0.0. C(policy) now always means the gate policy.
    type: raw
    aliases: [policy]
  change_id:
    description:
      - The change asking (O(state=checked), required), failing (O(state=failure), required), tripping
        (O(state=open)) or closing as the successful trial (O(state=closed)).
      - With O(state=checked), the decision is also recorded in the change (not in check mode) when the change
        is in the ledger - an C(io.changeward.gate.decided) event adding it to the record's C(gate_decisions).
    type: str
  reason:
    description: Why - required to open, move to half-open or close by hand.
    type: str
    default: ""
  evidence:
    description: What the decision rests on (metric values, thresholds, times); recorded with the event.
    type: dict
    default: {}
  error_budget:
    description:
      - With O(state=open), a registered M(changeward.hybrid.error_budget) result. The breaker opens only when it
        is C(burning) (a window pair fires); the burn rates become the evidence.
    type: dict
  kind:
    description: With O(state=failure), what failed.
    type: str
    choices: [ring, host]
    default: ring
  count:
    description: With O(state=failure), how many rings or hosts failed.
    type: int
    default: 1
  max_failed_rings:
    description: Failed rings that open the breaker.
    type: int
    default: 2
  max_failed_hosts:
    description: Failed hosts that open the breaker.
    type: int
    default: 3
  failure_window:
    description: Only failures this recent count (a duration such as V(24h)).
    type: str
    default: 24h
  gate_policy:
    description:
      - The gate policy (path or mapping, docs/risk-and-approvals.md) that names approvers, their roles and the
        identity sources. Defaults to the C(changeward_policy) variable.
    type: raw
  authorised_roles:
    description: Roles of the gate policy that may move a breaker by hand.
    type: list
    elements: str
    default: [change-manager, incident-commander]
  report_only:
    description: With O(state=checked), return a refusal without failing the task.
    type: bool
    default: false
extends_documentation_fragment:
  - changeward.hybrid.ledger
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Decides the same and writes nothing to the ledger.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller only.
notes:
  - The signing key of the ledger comes from C(CHANGEWARD_LEDGER_KEY), as for the other ledger modules.
seealso:
  - name: Rollouts, rings and circuit breakers
    description: Breaker states, thresholds and how the main job uses them.
    link: https://github.com/changeward/hybrid/blob/main/docs/rollouts.md
  - module: changeward.hybrid.error_budget
"""

EXAMPLES = r"""
- name: Stop unless the demo service may be rolled out
  changeward.hybrid.circuit_breaker:
    tolerance_policy: docs/examples/policies/demo.yml
    change_id: "{{ changeward_change.id }}"

- name: Open it, the canary breached
  changeward.hybrid.circuit_breaker:
    state: open
    service: demo
    change_id: CHG-42
    reason: "error_ratio of cloud-euw1b-02 is 0.21, beyond 0.005"
    evidence: "{{ watch.breach }}"

- name: Open it when the error budget burns too fast
  changeward.hybrid.circuit_breaker:
    state: open
    service: demo
    change_id: CHG-42
    error_budget: "{{ budget }}"

- name: Let one trial change through (run as the incident commander)
  changeward.hybrid.circuit_breaker:
    state: half_open
    service: demo
    reason: "1.0.3 fixes the config error"
    gate_policy: policies/gates.yml
"""

RETURN = r"""
recorded:
  description: With O(state=checked), whether the decision was recorded in the change.
  returned: when O(state=checked)
  type: bool
  sample: true
ledger_seq:
  description: With O(state=checked), the sequence number of the change's C(io.changeward.gate.decided) event.
  returned: when O(state=checked)
  type: int
  sample: 18
state:
  description: The breaker's state after the task.
  returned: always
  type: str
  sample: open
previous_state:
  description: Its state before.
  returned: except with O(state=read)
  type: str
  sample: closed
allowed:
  description: With O(state=checked), whether the change may roll out.
  returned: with O(state=checked)
  type: bool
  sample: false
reason:
  description: Why it was admitted or refused.
  returned: with O(state=checked)
  type: str
  sample: "the circuit breaker of demo is open since 2025-03-01T10:00:00Z (opened by change CHG-41: ...)"
counts:
  description: With O(state=failure), failed rings and hosts counted towards the thresholds.
  returned: with O(state=failure)
  type: dict
  sample: {rings: 1, hosts: 0}
events:
  description: Ledger events written (type, seq, event id).
  returned: except with O(state=read)
  type: list
  elements: dict
  sample:
    - type: io.changeward.breaker.opened
      seq: 42
      event_id: 0b7c1f3e-5d2a-4c8b-9e61-3f4a2d1c0e9b
breaker:
  description: The state in full - since, reason, the change that opened it, who moved it, the trial, failures.
  returned: always
  type: dict
  sample:
    service: checkout
    state: open
    since: '2025-03-01T10:02:11Z'
    seq: 42
    reason: 2 failed ring(s) within 24h (threshold 2)
    change_id: CHG-2025-0301-001
    by: null
    trial: null
    failures:
    - time: '2025-03-01T10:02:10Z'
      kind: ring
      count: 1
      change_id: CHG-2025-0301-001
      reason: canary verdict fail
identity:
  description: Who ran a half-open or manual close (name, source, trust).
  returned: with O(state=half_open), and O(state=closed) without O(change_id)
  type: dict
  sample:
    name: alice
    source: awx
    trust: 'platform: set by AWX/AAP from the user who launched the job; forgeable outside AWX (-e awx_user_name)'
    job_id: '4711'
refused:
  description: The identity was not authorised (the task failed; the refusal is recorded).
  returned: when not authorised
  type: bool
  sample: true
service:
  description: The service of the breaker.
  returned: always
  type: str
  sample: checkout
policy_digest:
  description: SHA-256 of the tolerance policy that named the service.
  returned: when O(tolerance_policy) gave the service
  type: str
  sample: 9f2c4e1a7b3d5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6
"""
