# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the module; the action plugin plugins/action/error_budget.py does the work.

DOCUMENTATION = r"""
---
module: error_budget
short_description: Remaining error budget and multi-window burn rates; refuse a change when the budget is spent
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Reads a service's error ratio over its SLO period and over each burn-rate window and returns the remaining
    error budget and the burn rates, per the Google SRE workbook's multi-window, multi-burn-rate alerts
    (by default 14.4x over 1h and 5m, 6x over 6h and 30m, 1x over 3d and 6h).
  - "Burn rate = error ratio / (1 - objective). A window pair fires when both its windows burn faster than its factor.
    Remaining budget = 1 - (error ratio over the period / (1 - objective)); at or below 0 the budget is spent."
  - The decision is V(refuse) when the budget is spent (and, with O(refuse_on_burn), when a window pair fires),
    unless O(change_type) is one of the exempt change types; otherwise V(allow).
  - Ratios come from Prometheus instant queries (O(error_ratio_query) with a C(${window}) placeholder) or inline
    (O(error_ratios)). An unreachable Prometheus, an empty answer or a NaN ratio fails the task naming the window;
    no data is never read as zero errors.
  - When the decision is V(refuse) the task fails unless O(report_only=true).
  - Runs on the controller and changes nothing; it runs the same in check mode.
options:
  tolerance_policy:
    description:
      - A tolerance policy (path to its YAML file, or a dictionary) that supplies the SLO (objective, period,
        query), the burn windows, the exempt change types and O(refuse_on_burn). Task options take precedence.
      - C(policy) is the deprecated name of this option (it named the tolerance policy here and the gate policy
        elsewhere); it is accepted until 2.0.0. C(policy) now always means the gate policy.
    type: raw
    aliases: [policy]
  slo:
    description: Name of the policy's SLO to use. Defaults to the policy's C(error_budget.slo).
    type: str
  objective:
    description: The SLO objective as a ratio, e.g. V(0.999) for 99.9 %. Required without O(tolerance_policy).
    type: float
  period:
    description: The SLO period the budget is spent over, a duration. Default V(30d) (or the policy's).
    type: str
  error_ratio_query:
    description:
      - PromQL instant query returning one series, the ratio of failed to all requests over C(${window}), e.g.
        C(sum(rate(http_requests_total{code=~"5.."}[${window}])) / sum(rate(http_requests_total[${window}]))).
      - The C(${window}) form is not Jinja, so Ansible leaves it alone.
    type: str
  error_ratios:
    description:
      - Inline error ratios keyed by window (V(5m), V(1h), ..., and the period), instead of Prometheus (then
        O(prometheus_url) is not used). Mutually exclusive with O(error_ratio_query).
    type: dict
  windows:
    description:
      - Window pairs for the burn-rate check. Default the SRE workbook's three (or the policy's).
    type: list
    elements: dict
    suboptions:
      long:
        description: The long window, a duration such as V(1h).
        type: str
        required: true
      short:
        description: The short window, a duration shorter than O(windows[].long).
        type: str
        required: true
      factor:
        description: Burn-rate factor both windows must exceed.
        type: float
        required: true
  change_type:
    description: Type of the change being gated, e.g. V(standard), V(normal) or V(emergency).
    type: str
  exempt_change_types:
    description:
      - Change types that proceed even when the budget is spent. Default none (or the policy's).
      - A change type is its requester's word, so the exemption holds only for a change (O(change_id)) with an
        accepted emergency override that lists C(error_budget) in its exemptions, verified again here against the
        pinned gate policy (signature, allowed signers, override role, incident reference) and O(change_digest).
        Without one the budget decides as for any other type, and the refusal says why.
    type: list
    elements: str
  refuse_on_burn:
    description: Also refuse while a window pair fires. Default V(false) (or the policy's).
    type: bool
  at:
    description:
      - Evaluation time for the queries - ISO 8601 with a UTC offset (a time without one is refused), unix
        seconds or V(now). Default now. C(at) is the instant a decision is for in every gate.
      - C(time) is its deprecated alias, accepted until 2.0.0.
    type: raw
    aliases: [time]
  report_only:
    description: Return a V(refuse) decision without failing the task. Errors fail the task either way.
    type: bool
    default: false
  change_digest:
    description:
      - The change digest an emergency override must be signed for (see O(exempt_change_types)); the main job
        passes its change's.
    type: str
  targets:
    description:
      - The change's target hosts, whose regional policy layers join the gate policy an override is verified
        against (as M(changeward.hybrid.approval) reads them).
    type: list
    elements: raw
    default: []
  change_id:
    description:
      - The change this decision is for. When given (and not in check mode) the decision - V(pass), or V(fail)
        for V(refuse) - is recorded in the change before the task returns, as an C(io.changeward.gate.decided)
        event adding it to the record's C(gate_decisions) (subject the change id). The change must be open in
        the ledger (see O(ledger)).
    type: str
extends_documentation_fragment:
  - changeward.hybrid.ledger
  - changeward.hybrid.prometheus
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  action_group:
    description: Part of the action group, so C(module_defaults) for C(group/changeward.hybrid.hybrid) apply.
    support: full
    membership: [changeward.hybrid.hybrid]
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Reads only; it evaluates in check mode exactly as otherwise.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller; needs requests there (and jsonschema for O(tolerance_policy)).
seealso:
  - module: changeward.hybrid.canary_judge
"""

EXAMPLES = r"""
- name: Gate a change on the service's error budget
  changeward.hybrid.error_budget:
    tolerance_policy: "{{ playbook_dir }}/policies/demo.yml"
    prometheus_url: http://prometheus.example:9090
    change_type: "{{ change_type }}"
  register: budget

- name: Without a policy
  changeward.hybrid.error_budget:
    objective: 0.999
    period: 30d
    error_ratio_query: >-
      sum(rate(http_requests_total{job="demo", code=~"5.."}[${window}]))
      / sum(rate(http_requests_total{job="demo"}[${window}]))
    prometheus_url: http://prometheus.example:9090
    change_type: normal
    exempt_change_types: [emergency]
    report_only: true
  register: budget

- name: Show the burn rates
  ansible.builtin.debug:
    msg: "{{ budget.decision }}: {{ budget.remaining_budget | round(3) }} of the budget left, {{ budget.burn_rates }}"
"""

RETURN = r"""
recorded:
  description: Whether the decision was recorded in the change (O(change_id) given, not in check mode).
  returned: success
  type: bool
  sample: true
ledger_seq:
  description: Sequence number of the recorded C(io.changeward.gate.decided) event, or V(null).
  returned: success
  type: int
  sample: 17
ledger:
  description: The ledger the decision was recorded in (a DSN without its password).
  returned: when RV(recorded)
  type: str
  sample: /var/lib/changeward/ledger.db
decision:
  description: V(allow) or V(refuse).
  returned: always
  type: str
  sample: allow
remaining_budget:
  description: Share of the period's error budget left; 1 is untouched, 0 or less is spent.
  returned: always
  type: float
  sample: 0.42
budget_spent:
  description: Whether the budget is spent (remaining at or below 0).
  returned: always
  type: bool
  sample: false
burn_rates:
  description: Burn rate per window (error ratio divided by 1 - objective), the period included.
  returned: always
  type: dict
  sample: {"30d": 0.58, "1h": 0.2, "5m": 0.1}
error_ratios:
  description: Error ratio per window as read.
  returned: always
  type: dict
  sample:
    30d: 0.00058
    1h: 0.0002
    5m: 0.0001
windows:
  description: Each window pair with its burn rates and whether it fires.
  returned: always
  type: list
  elements: dict
  contains:
    long:
      description: Long window.
      type: str
    short:
      description: Short window.
      type: str
    factor:
      description: Burn-rate factor.
      type: float
    long_burn_rate:
      description: Burn rate over the long window.
      type: float
    short_burn_rate:
      description: Burn rate over the short window.
      type: float
    firing:
      description: Both burn rates exceed the factor.
      type: bool
  sample:
    - long: 1h
      short: 5m
      factor: 14.4
      long_burn_rate: 0.2
      short_burn_rate: 0.1
      firing: false
burning:
  description: Whether any window pair fires.
  returned: always
  type: bool
  sample: false
exempt:
  description: Whether O(change_type) is exempt from the budget (an exempt type with a verified override).
  returned: always
  type: bool
  sample: false
exemption:
  description: The verified override that exempts the change (see O(exempt_change_types)).
  returned: when an exempt change type has one
  type: dict
  contains:
    reference:
      description: The incident reference of the override.
      type: str
    approver:
      description: Who signed the override.
      type: str
    justification:
      description: Why, as the approver signed it.
      type: str
    seq:
      description: Ledger sequence number of the accepted override.
      type: int
  sample: {"reference": "INC-4711", "approver": "bob", "justification": "payments down", "seq": 12}
objective:
  description: The SLO objective applied.
  returned: always
  type: float
  sample: 0.999
period:
  description: The SLO period applied.
  returned: always
  type: str
  sample: 30d
reasons:
  description: Human-readable lines explaining the decision.
  returned: always
  type: list
  elements: str
  sample:
    - 'remaining error budget over 30d: 42.0% (objective 0.999)'
policy_digest:
  description: SHA-256 of the policy used (canonical JSON).
  returned: when O(tolerance_policy) is given
  type: str
  sample: 9f2c4e1a7b3d5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6
"""
