# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: risk_score
short_description: Score the risk of a change from its complexity and the failure history of similar changes
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Computes a risk score from 0 to 100 and a class (V(low), V(medium), V(high), V(critical)) for a change,
    on the controller.
  - "The score is the sum of weighted factors, each valued from 0 to 1 - complexity: the number of hosts, services
    and environment types, the kind of change, the weakest C(rollback_capability) of the targets, the downstream
    consumers of the changed services (O(dependency_map)), the most sensitive C(data_class) and how close the next
    blackout is (O(next_blackout_in)); history: the failure rate of similar changes."
  - The failure rate is the mean of a Beta posterior. The prior (policy C(risk.prior), default Beta(1, 9), a 10%
    failure rate worth ten changes) is updated with the closed changes in the ledger that touched the same
    service (weight 1) or the same system class (weight 0.5). Without a ledger the prior alone is used and
    RV(history.source) says so; a new system is never scored as risk-free.
  - Every result lists its factors with value, weight and points. The same inputs give the same score.
  - The class comes from the policy thresholds (C(risk.thresholds), per service and team); when several services
    or teams are involved the strictest thresholds apply.
  - With O(ledger) and O(change_id) the score is written to the change record (C(risk)), so later changes can find
    this one as similar history.
  - This module runs on the controller (it is an action plugin); the target host is not contacted.
options:
  targets:
    description:
      - The hosts the change touches. Either a list of inventory host names (their C(changeward_labels), or label
        variables, are read from hostvars, and their C(changeward_policy_local) joins the policy), a list of label
        dicts (each may carry C(name)), or a mapping of host name to label dict or host vars.
      - Labels used are C(env_type), C(rollback_capability), C(data_class), C(services), C(owner_team), and
        C(tags). A missing C(rollback_capability) counts as V(none).
      - An empty list is an error, never a low risk.
    type: raw
    required: true
  change_kind:
    description: What is changed.
    type: str
    required: true
    choices: [config, package, binary, schema]
  services:
    description:
      - Services the change touches. When empty, every service in the targets' C(services) labels counts.
    type: list
    elements: str
    default: []
  teams:
    description:
      - Teams whose thresholds apply, in addition to the targets' C(owner_team) and the policy teams of the services.
    type: list
    elements: str
    default: []
  system_class:
    description:
      - The class of system, for similar history (for example V(postgres-cluster)).
      - Defaults to the change kind and the environment types, for example V(package/cloud+edge).
    type: str
  dependency_map:
    description:
      - "Who consumes which service: a mapping of service to the list of services that consume it, a dependency
        graph as M(changeward.hybrid.dependency_map) stores it (documented and observed edges, each service's
        criticality), or a path to a YAML or JSON file with either. Consumers are followed transitively."
      - Each consumer counts with the weight of its criticality (policy C(risk.blast_radius.criticality_weights),
        default low 0.5, medium 1, high 2, critical 3, unknown 1); the downstream factor is the weighted sum / 10.
        When the weighted sum reaches the policy's C(risk.blast_radius.weighted_consumers), the change is at
        least of class C(risk.blast_radius.class) (default high) whatever its score.
      - Default - the inventory's C(changeward_dependency_map) (refused when given by extra vars, play vars or
        facts, as the pinned policies are), so the main job scores every change with the operator's map.
      - Without either the downstream factor is not assessed and counts as moderate (0.5).
    type: raw
  imported_patterns:
    description:
      - Failure pattern exports of other teams (M(changeward.hybrid.learning_report) with
        O(changeward.hybrid.learning_report#module:report=failure_patterns)), as paths to their JSON files.
        Patterns of the same system class join the history of similar changes at half the weight of this
        ledger's own changes (like a same-class change); a file that is not a k-anonymous pattern export is
        refused.
      - Default - the inventory's C(changeward_failure_patterns) (refused when given by extra vars, play vars or
        facts, as the pinned policies are - imported successes lower a score).
    type: list
    elements: path
  next_blackout_in:
    description:
      - Seconds until the next blackout window starts, or its start as ISO 8601 with a UTC offset (for example
        the C(next_allowed_at) of a blocked changeward.hybrid.blackout check elsewhere, or your own lookup).
      - A window within 24 hours raises the score linearly. Not given, the factor is not assessed and adds nothing.
    type: raw
  at:
    description:
      - When the change starts, ISO 8601 with a UTC offset; only used when O(next_blackout_in) is a time.
      - Defaults to now.
    type: str
  change_id:
    description:
      - The change being scored. It is left out of its own history and, with O(record), gets the score.
    type: str
  record:
    description:
      - Write the score to the change record in the ledger (an C(io.changeward.risk.scored) event) when
        O(ledger) and O(change_id) are given. Never in check mode.
      - Needs C(CHANGEWARD_LEDGER_KEY) when the ledger takes signed checkpoints.
    type: bool
    default: true
  policy:
    description:
      - The central gate policy, a mapping or a path to its YAML file (see docs/risk-and-approvals.md). Its
        C(risk) section gives thresholds, prior and weights; C(services) and C(teams) give per service/team
        thresholds.
      - Defaults to the C(changeward_policy) variable; without either, the built-in defaults are used.
    type: raw
  policy_local:
    description:
      - Local policies (a mapping, a path, or a list of them) merged into O(policy); they may only tighten it.
      - Defaults to the C(changeward_policy_local) variable of this host and of each target host.
    type: raw
extends_documentation_fragment:
  - changeward.hybrid.ledger
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The score is computed the same way; nothing is written to the ledger.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller only.
notes:
  - Run it once per change (C(run_once) or a play on localhost), not once per host.
seealso:
  - module: changeward.hybrid.approval
  - module: changeward.hybrid.blackout
  - name: Risk score and approvals
    description: Factors, weights, the prior, the policy schema and its local merge rules.
    link: https://github.com/changeward/hybrid/blob/main/docs/risk-and-approvals.md
"""

EXAMPLES = r"""
- name: Score the change against the play's hosts
  changeward.hybrid.risk_score:
    targets: "{{ ansible_play_hosts_all }}"
    change_kind: package
    services: [billing]
    dependency_map:
      billing: [invoicing, reporting]
      invoicing: [customer-portal]
    next_blackout_in: 7200
    ledger: /var/lib/changeward/ledger.db
    change_id: "{{ changeward_change.id }}"
    policy: policies/gates.yml
  register: risk
  run_once: true

- name: Score from label dicts, without a ledger (prior only)
  changeward.hybrid.risk_score:
    targets:
      - {name: db1, env_type: onprem, site: dc1, data_class: pii, rollback_capability: partial}
      - {name: db2, env_type: cloud, az: eu-west-1a, data_class: pii, rollback_capability: full}
    change_kind: schema
  register: risk
  delegate_to: localhost
  run_once: true

- name: Stop when the risk is critical
  ansible.builtin.assert:
    that: risk['class'] != 'critical'
    fail_msg: "Risk {{ risk.score }} is critical: {{ risk.factors | map(attribute='detail') | join('; ') }}"
"""

RETURN = r"""
score:
  description: Risk score from 0 to 100, the rounded sum of the factors' points.
  returned: success
  type: int
  sample: 47
class:
  description: Risk class from the thresholds (use C(result['class']) in Jinja).
  returned: success
  type: str
  sample: medium
blast_radius:
  description:
    - The transitive downstream consumers of the changed services, weighted by criticality; null without
      O(dependency_map).
  returned: success
  type: dict
  sample:
    services: [auth]
    consumers: [{service: billing, distance: 1, criticality: critical, weight: 3.0}]
    weighted: 3.0
    teams: [payments]
    floor: high
    rule: {weighted_consumers: 3, class: high}
thresholds:
  description: The thresholds used (a score at or above one is in that class; below medium is low).
  returned: success
  type: dict
  sample: {"medium": 25, "high": 50, "critical": 75}
factors:
  description: Every factor of the score.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Factor name.
      type: str
      sample: rollback
    value:
      description: Value from 0 to 1.
      type: float
      sample: 0.5
    weight:
      description: Points the factor gives at value 1 (all weights make 100).
      type: int
      sample: 10
    points:
      description: value times weight.
      type: float
      sample: 5.0
    assessed:
      description:
        - Whether the factor was measured; false when its input was not given and a documented value is assumed.
      type: bool
      sample: true
    detail:
      description: What was measured.
      type: str
      sample: "weakest rollback_capability: partial (2 of 5 target(s))"
complexity:
  description: The complexity factors' points over their weights, from 0 to 1.
  returned: success
  type: float
  sample: 0.41
history:
  description: The failure-rate estimate of similar changes.
  returned: success
  type: dict
  contains:
    source:
      description: Where the history came from, or C(prior only) when no ledger was given.
      type: str
      sample: "prior only: no ledger given"
    prior:
      description: Beta prior parameters.
      type: dict
      sample: {"alpha": 1.0, "beta": 9.0}
    posterior:
      description: Beta posterior parameters.
      type: dict
      sample: {"alpha": 3.0, "beta": 17.0}
    similar_changes:
      description: Weighted number of similar closed changes.
      type: float
      sample: 10.0
    failures:
      description: Weighted failures among them.
      type: float
      sample: 2.0
    failure_rate:
      description: Posterior mean failure rate.
      type: float
      sample: 0.15
    matches:
      description: Up to 20 similar changes with outcome and why they are similar.
      type: list
      elements: dict
      sample: [{"change": "CHG-1", "outcome": "rolled_back", "similarity": "service"}]
    matches_total:
      description: How many similar changes there were.
      type: int
      sample: 12
    unclassified_changes:
      description: Closed changes that were never scored, so could not be compared.
      type: int
      sample: 0
change_kind:
  description: The kind of change scored.
  returned: success
  type: str
  sample: package
system_class:
  description: The system class used for similar history.
  returned: success
  type: str
  sample: package/cloud+onprem
services:
  description: The services of the change.
  returned: success
  type: list
  elements: str
  sample: [billing]
teams:
  description: Teams whose thresholds were considered.
  returned: success
  type: list
  elements: str
  sample: [payments]
hosts:
  description: Number of target hosts.
  returned: success
  type: int
  sample: 5
policy:
  description: Digest and sources of the effective policy.
  returned: success
  type: dict
  sample: {"digest": "sha256:...", "sources": ["policies/gates.yml", "changeward_policy_local of host eu-web-1"]}
recorded:
  description: Whether the score was written to the change record.
  returned: success
  type: bool
  sample: true
ledger_seq:
  description: Ledger sequence number of the C(io.changeward.risk.scored) event, or null.
  returned: success
  type: int
  sample: 42
"""
