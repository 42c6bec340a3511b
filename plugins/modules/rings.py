# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the module; the action plugin plugins/action/rings.py does the work.

DOCUMENTATION = r"""
---
module: rings
short_description: Plan the rings of a progressive rollout from host labels
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Orders the hosts of a change into rings - batches that are changed, watched and judged one after the other -
    from their labels (C(env_type), C(region), C(az) or C(site), C(tenant), C(rollback_capability),
    C(criticality), C(data_class), C(ring)).
  - Ring 0, the canary, is a small set of hosts inside one failure domain (one AZ for cloud hosts, one site for
    on-prem and edge hosts; with O(canary_scope=tenant) also one tenant) of the first env type. Hosts labelled
    C(rollback_capability=none) are never canaries.
  - Later rings grow to the cumulative O(steps) of all hosts. A ring never mixes env types, env types follow
    O(env_order) with edge last, and a ring brings in at most O(max_new_domains) failure domain and
    O(max_new_regions) region that no earlier ring touched - so a bad change meets one new AZ or site at a time,
    after the earlier rings were judged.
  - A C(ring) label pins a host (C(0) or C(canary), an integer, or C(last)); the plan names what a pin breaks in
    RV(warnings).
  - A host without C(env_type), C(region) and C(az)/C(site) stops the plan (fail closed).
  - "Returns the plan and, in RV(add_hosts), the groups to build with M(ansible.builtin.add_host) - one group per
    ring (C(ring_0), C(ring_1), ...) and one group with every host in ring order for one play whose C(serial) is
    the plan's RV(sizes)."
  - With O(change_id), the plan is written into the change record's C(rings) in the ledger.
  - Runs on the controller. See docs/rollouts.md.
options:
  hosts:
    description: The inventory hosts of the change. Their labels come from C(changeward_labels) or plain host vars.
    type: list
    elements: str
    required: true
  steps:
    description: Cumulative percentages of all hosts reached after each growing ring; strictly increasing, the last 100.
    type: list
    elements: float
    default: [1, 5, 25, 100]
  canary_percent:
    description:
      - Size of the canary as a percentage of all hosts (at least one host). Defaults to the O(tolerance_policy)'s
        C(canary.size), else the first of O(steps).
    type: float
  canary_scope:
    description: V(domain) keeps the canary in one AZ or site; V(tenant) in one AZ or site and one tenant.
    type: str
    choices: [domain, tenant]
    default: domain
  env_order:
    description: Order of env types. Edge, when listed, must be last.
    type: list
    elements: str
    default: [cloud, onprem, edge]
  max_new_domains:
    description: Failure domains (AZs, sites) a ring may bring in that no earlier ring touched.
    type: int
    default: 1
  max_new_regions:
    description: Regions a ring may bring in that no earlier ring touched.
    type: int
    default: 1
  tolerance_policy:
    description:
      - Tolerance policy (a path, found like a task file, or a mapping; see docs/tolerance-policy.md). Gives the
        canary size and each ring's bake time (C(bake_times), by ring name, e.g. C(canary), else C(default)).
      - C(policy) is the deprecated name of this option (it named the tolerance policy here and the gate policy
        elsewhere); it is accepted until 2.0.0. C(policy) now always means the gate policy.
    type: raw
    aliases: [policy]
  bake_times:
    description:
      - Bake times by ring name (C(canary), C(ring-1), ...) or C(default), overriding the policy's. Durations such as
        V(90s) or V(2m).
    type: dict
  group_prefix:
    description: Prefix of the per-ring groups in RV(add_hosts).
    type: str
    default: ring_
  rollout_group:
    description: Group with every host in ring order, for a play with C(serial).
    type: str
    default: changeward_rollout
  change_id:
    description:
      - Write the plan into this change's record (C(rings)) as an C(io.changeward.rings.planned) event. The change
        must be open; a rerun with the same plan writes nothing, a different plan is an error.
    type: str
extends_documentation_fragment:
  - changeward.hybrid.ledger
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Plans the same; with O(change_id) nothing is written.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller only.
seealso:
  - name: Rollouts, rings and circuit breakers
    description: The whole rollout, ring rules and examples.
    link: https://github.com/changeward/hybrid/blob/main/docs/rollouts.md
  - module: changeward.hybrid.bake_watch
  - module: changeward.hybrid.circuit_breaker
"""

EXAMPLES = r"""
- name: Plan the rings of the change
  changeward.hybrid.rings:
    hosts: "{{ query('ansible.builtin.inventory_hostnames', 'cloud:onprem') }}"
    tolerance_policy: docs/examples/policies/demo.yml
  register: plan
  delegate_to: localhost
  run_once: true

- name: Build the ring groups
  ansible.builtin.add_host:
    name: "{{ item.host }}"
    groups: "{{ item.groups }}"
  loop: "{{ plan.add_hosts }}"
  loop_control:
    label: "{{ item.host }} -> ring {{ item.ring }}"

# A play per ring ...
- name: Canary
  hosts: ring_0
  tasks: []

# ... or one play, one batch per ring
- name: Roll out ring by ring
  hosts: changeward_rollout
  order: inventory
  serial: "{{ hostvars['localhost'].plan.sizes }}"
  tasks: []
"""

RETURN = r"""
rings:
  description: The rings in order.
  returned: always
  type: list
  elements: dict
  contains:
    index:
      description: Position, 0 for the canary.
      type: int
    name:
      description: V(canary), then V(ring-1), V(ring-2), ...
      type: str
    hosts:
      description: Hosts of the ring.
      type: list
      elements: str
    size:
      description: Number of hosts.
      type: int
    cumulative:
      description: Hosts reached once this ring is done.
      type: int
    percent:
      description: RV(rings[].cumulative) as a percentage of all hosts.
      type: float
    env_types:
      description: Env type of the ring (one, unless a pin added another).
      type: list
      elements: str
    regions:
      description: Regions of the ring's hosts.
      type: list
      elements: str
    domains:
      description: AZs or sites of the ring's hosts.
      type: list
      elements: str
    tenants:
      description: Tenants of the ring's hosts.
      type: list
      elements: str
    new_domains:
      description: Failure domains no earlier ring touched.
      type: list
      elements: str
    new_regions:
      description: Regions no earlier ring touched.
      type: list
      elements: str
    rollback_capability:
      description: The strictest C(rollback_capability) in the ring.
      type: str
    pinned:
      description: Hosts placed here by their C(ring) label.
      type: list
      elements: str
    baseline:
      description: Hosts the change has not reached while this ring bakes (the baseline to compare it with).
      type: list
      elements: str
    group:
      description: The ring's group in RV(add_hosts).
      type: str
    bake_time:
      description: The ring's bake time as written in the policy or O(bake_times), or V(null) without either.
      type: str
    bake_seconds:
      description: RV(rings[].bake_time) in seconds.
      type: float
  sample:
    - {index: 0, name: canary, hosts: [cloud-euw1b-02], size: 1, cumulative: 1, percent: 8.33, env_types: [cloud],
       regions: [eu-west-1], domains: [eu-west-1b], new_domains: [eu-west-1b], new_regions: [eu-west-1],
       rollback_capability: full, bake_time: 3m, bake_seconds: 180.0}
sizes:
  description: Ring sizes in order; a C(serial) list for one play over RV(rollout_group).
  returned: always
  type: list
  elements: int
  sample: [1, 2, 2, 1, 3, 1, 1, 1]
order:
  description: Every host in ring order.
  returned: always
  type: list
  elements: str
  sample: [cloud-euw1b-02, cloud-euw1a-01, cloud-euw1a-02, onprem-dc1-01, edge-s1-01]
total:
  description: Number of hosts.
  returned: always
  type: int
  sample: 12
add_hosts:
  description: One entry per host with C(host), C(groups) and C(ring), for a loop of M(ansible.builtin.add_host).
  returned: always
  type: list
  elements: dict
  sample: [{host: cloud-euw1b-02, groups: [ring_0, changeward_rollout], ring: 0}]
rollout_group:
  description: The group with every host in ring order.
  returned: always
  type: str
  sample: changeward_rollout
settings:
  description: The steps, canary percentage and scope, and env order used.
  returned: always
  type: dict
  sample: {steps: [1.0, 5.0, 25.0, 100.0], canary_percent: 5.0, canary_scope: domain, env_order: [cloud, onprem, edge]}
warnings:
  description: What pinned hosts break of the ring rules.
  returned: always
  type: list
  elements: str
  sample: ["edge-s1-01 is pinned to ring-1, which holds cloud hosts"]
policy_digest:
  description: SHA-256 of the tolerance policy used.
  returned: when O(tolerance_policy) is given
  type: str
  sample: 818c07c6498d7d2832f4b4d44a23cf29466d1c05edb74dbc5a20fce8070c4b3d
recorded:
  description: Whether the plan was written to the change record (V(false) when it was there already).
  returned: when O(change_id) is given
  type: bool
  sample: true
"""
