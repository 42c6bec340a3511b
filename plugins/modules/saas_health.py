# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the module; the action plugin plugins/action/saas_health.py does the work.

DOCUMENTATION = r"""
---
module: saas_health
short_description: Gate a change on the health of the SaaS services it depends on
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Checks the SaaS dependencies of a change - those O(dependencies) names (the change spec's
    C(saas_dependencies)), those the gate policy lists for O(service), and those the dependency map says O(service)
    consumes - as the policy's C(conflicts.saas_dependencies) describes each one.
  - "A Statuspage v2 C(summary.json): a used component (C(components), default all) that is not operational, an
    unresolved incident touching it, a component under maintenance or a scheduled maintenance overlapping the
    change's window (O(start) plus O(duration)) is a finding. A generic C(health) URL: any answer status other than
    C(expect_status) (default 200) is a finding."
  - Findings refuse the change or only warn, as the policy's C(conflicts.decisions.saas) says (default refuse).
  - "Fails closed: an unreachable status page or health URL, an answer that is not a summary, a component the page
    does not list, or a dependency the policy does not describe is \"cannot decide\", which always refuses."
  - With O(change_id) the decision is recorded in the change (gate C(saas_health)) before the task returns.
    A refused change fails the task unless O(report_only=true).
options:
  change_id:
    description: The change; its decision is recorded in it. Without it nothing is recorded.
    type: str
  service:
    description: The change's service; the policy's dependencies listing it in their C(services) are checked.
    type: str
  dependencies:
    description: SaaS dependencies the change names (keys of the policy's C(conflicts.saas_dependencies)).
    type: list
    elements: str
    default: []
  dependency_map:
    description:
      - Service dependencies (provider service -> consuming services, or the dependency graph's store; a mapping or
        a YAML file). A dependency of the policy's C(conflicts.saas_dependencies) that O(service) consumes by it is
        checked.
      - Defaults to the inventory's C(changeward_dependency_map) (pinned, as M(changeward.hybrid.risk_score) reads
        it).
    type: raw
  targets:
    description:
      - The change's hosts; their C(changeward_policy_local) layers (a regional team's SaaS dependencies) apply.
    type: list
    elements: str
    default: []
  start:
    description: When the change starts (ISO 8601 with a UTC offset, unix seconds, or V(now), the default).
    type: raw
  duration:
    description: How long it runs (V(90m), V(2h), seconds). Default the policy's C(conflicts.change_duration).
    type: raw
  report_only:
    description: Only report; a refused change does not fail the task.
    type: bool
    default: false
  policy:
    description:
      - The central gate policy, a mapping or a path to its YAML file; its C(conflicts) section describes the
        dependencies. Defaults to the C(changeward_policy) variable of the inventory (pinned).
    type: raw
  policy_local:
    description:
      - Local policies merged into O(policy); they may add dependencies and turn a warning into a refusal.
      - Defaults to the C(changeward_policy_local) variable of this host and of each of O(targets).
    type: raw
extends_documentation_fragment:
  - changeward.hybrid.ledger
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The check is the same; nothing is written to the ledger.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller only.
seealso:
  - module: changeward.hybrid.conflicts
  - name: Calendars across providers
    description: SaaS dependencies, Statuspage summaries and the policy section.
    link: https://github.com/changeward/hybrid/blob/main/docs/calendars-across-providers.md
"""

EXAMPLES = r"""
# gate policy:
#   conflicts:
#     saas_dependencies:
#       payfast:
#         statuspage: https://status.payfast.example/api/v2/summary.json
#         components: [API]
#         services: [billing]
#       search: {health: "https://search.example/healthz"}
- name: Gate - the SaaS dependencies are healthy and not in maintenance while the change runs
  changeward.hybrid.saas_health:
    change_id: "{{ changeward_change.id }}"
    service: billing
    dependencies: [search]
  run_once: true
"""

RETURN = r"""
blocked:
  description: Whether the change is refused.
  returned: always
  type: bool
  sample: true
dependencies:
  description:
    - Per dependency, C(dependency), the sources C(checked), its C(findings) and C(cannot_decide) (a reason or null).
  returned: always
  type: list
  sample:
    - dependency: payments-api
      checked:
      - https://status.payments.example.com/api/v2/summary.json
      findings:
      - dependency: payments-api
        kind: maintenance
        what: scheduled maintenance Scheduled database upgrade
        start: '2026-01-05T11:00:00Z'
        end: '2026-01-05T11:30:00Z'
        id: p0q1r2s3t4
      cannot_decide: null
  elements: dict
findings:
  description:
    - Every finding, with C(dependency), C(kind) (degraded or maintenance), C(what), and for a scheduled maintenance
      its C(start), C(end) and C(id).
  returned: always
  type: list
  sample:
    - dependency: payments-api
      kind: maintenance
      what: scheduled maintenance Scheduled database upgrade
      start: '2026-01-05T11:00:00Z'
      end: '2026-01-05T11:30:00Z'
      id: p0q1r2s3t4
  elements: dict
cannot_decide:
  description: The dependencies whose health cannot be read, with why.
  returned: always
  type: list
  sample: []
  elements: str
window:
  description: The change's window checked, C(start) and C(end).
  returned: always
  type: dict
  sample:
    start: '2026-01-05T10:00:00Z'
    end: '2026-01-05T12:00:00Z'
policy:
  description: The effective gate policy's C(digest) and C(sources).
  returned: always
  type: dict
  sample:
    digest: sha256:9f2c6b1e8a7d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b
    sources:
    - built-in defaults
    - policy
    - changeward_policy_local of host onprem-dc1-01
recorded:
  description: Whether the decision was recorded in the change.
  returned: always
  type: bool
  sample: true
ledger_seq:
  description: Sequence number of the recorded decision.
  returned: always
  type: int
  sample: 8
ledger:
  description: The ledger the decision was recorded in.
  returned: when recorded
  type: str
  sample: /var/lib/changeward/ledger.db
msg:
  description: The decision, naming every finding and what could not be decided.
  returned: always
  type: str
  sample: 'change CHG-42 refused: payments-api: scheduled maintenance Scheduled database upgrade'
"""
