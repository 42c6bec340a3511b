# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: dependency_report
short_description: Hidden dependencies per team, the stale-record audit and the impact of a change, from the graph
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Runs on the controller (it is an action plugin) over the graph M(changeward.hybrid.dependency_map) stores.
  - V(hidden) - per owning team, the agenda of its dependency workshop - edges observed but documented by no source,
    and edges documented but never observed (or not within O(observed_within)). An edge is on the agenda of the
    consumer's team and of the provider's; an endpoint no service claims, or a service without a team, goes to
    V(unowned).
  - V(stale) - services without an owning team, documented records not confirmed for O(max_age), observations
    not seen for O(max_age). C(playbooks/dependency_audit.yml) runs it on a quarterly schedule.
  - V(impact) - what changing O(services) touches - their transitive consumers, weighted by criticality, and the
    teams that own them. C(playbooks/impact.yml) turns it into exit codes for CI.
  - V(deprecations) - per team owning a consumer, a review item for every call to a provider that is deprecated
    or whose sunset (the earliest any source announces) is within O(horizon), or past (overdue).
  - Each report is returned and, with O(output_dir), written as JSON and Markdown.
  - A missing or empty graph is an error, never an empty report.
options:
  store:
    description: The graph's JSON file.
    type: path
    required: true
  kinds:
    description: Which reports.
    type: list
    elements: str
    choices: [hidden, stale, impact, deprecations]
    default: [hidden, stale]
  teams:
    description: Only these teams' sections (hidden, stale).
    type: list
    elements: str
    default: []
  observed_within:
    description: A documented edge not observed within this duration (for example V(30d)) counts as unobserved.
    type: str
  max_age:
    description: Records older than this duration are stale.
    type: str
    default: 90d
  horizon:
    description: Sunsets within this duration are listed (V(deprecations)).
    type: str
    default: 90d
  services:
    description: The services a change touches (V(impact)); each must be in the graph.
    type: list
    elements: str
    default: []
  max_weighted:
    description:
      - Fail the task (V(impact)) when the weighted consumers of O(services) reach this - the limit a CI
        pipeline gates on; the report is still returned and written.
    type: float
  output_dir:
    description: Write C(hidden-dependencies), C(stale-records), C(impact) and C(deprecations) C(.json) and C(.md)
      here.
    type: path
  at:
    description: The report's time (ISO 8601 with a UTC offset, unix seconds or V(now)); default now.
    type: str
extends_documentation_fragment:
  - changeward.hybrid.ledger
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
    details: Builds the reports; writes no file.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller.
seealso:
  - module: changeward.hybrid.dependency_map
"""

EXAMPLES = r"""
- name: The workshop agenda and the audit, per team
  changeward.hybrid.dependency_report:
    store: /var/lib/changeward/dependencies.json
    kinds: [hidden, stale]
    observed_within: 30d
    max_age: 90d
    output_dir: reports/dependencies
  register: deps

- name: What does changing auth touch?
  changeward.hybrid.dependency_report:
    store: /var/lib/changeward/dependencies.json
    kinds: [impact]
    services: [auth]
  register: impact
"""

RETURN = r"""
hidden:
  description: Per team, C(observed_undocumented) and C(documented_unobserved) edges; C(totals).
  returned: when V(hidden) is in O(kinds)
  type: dict
  sample:
    kind: hidden_dependencies
    generated: '2026-01-05T10:00:00Z'
    observed_within_seconds: null
    teams:
      identity:
        observed_undocumented:
        - consumer: checkout
          provider: auth
          consumer_team: shop
          provider_team: identity
          documented_by: []
          observed_by:
          - connections
          last_seen: '2026-01-05T10:00:00Z'
          where:
          - checkout-01 (python3)
        documented_unobserved: []
    totals:
      observed_undocumented: 1
      documented_unobserved: 0
stale:
  description: The audit's C(findings) (record, team, source, problem - C(owner_missing), C(not_confirmed),
    C(not_seen) - detail), by team, and C(total).
  returned: when V(stale) is in O(kinds)
  type: dict
  sample:
    kind: stale_audit
    generated: '2026-01-05T10:00:00Z'
    max_age_seconds: 7776000.0
    findings:
    - record: billing -> auth
      team: payments
      source: catalogue
      problem: not_confirmed
      detail: last confirmed 2025-06-01
    teams:
      payments:
      - record: billing -> auth
        team: payments
        source: catalogue
        problem: not_confirmed
        detail: last confirmed 2025-06-01
    total: 1
impact:
  description: The services, their transitive C(consumers) (service, distance, criticality, weight), C(weighted)
    and C(teams).
  returned: when V(impact) is in O(kinds)
  type: dict
  sample:
    kind: impact
    services:
    - auth
    consumers:
    - service: billing
      distance: 1
      criticality: critical
      weight: 3.0
    weighted: 3.0
    teams:
    - payments
    max_weighted: null
    over_limit: false
deprecations:
  description: Per team, review items - C(consumer), C(provider), C(sunset), C(deprecated), C(links), C(sources),
    C(days_left), C(status) (V(review) or V(overdue)), C(observed) - and C(total).
  returned: when V(deprecations) is in O(kinds)
  type: dict
  sample:
    kind: deprecations
    generated: '2026-01-05T10:00:00Z'
    horizon_seconds: 7776000.0
    teams:
      shop:
      - consumer: checkout
        provider: legacy-auth
        sunset: '2026-02-01T00:00:00Z'
        deprecated: '2025-12-01T00:00:00Z'
        links:
        - https://auth.example.com/sunset
        sources:
        - catalogue
        days_left: 26
        status: review
        observed: true
    total: 1
files:
  description: The files written.
  returned: success
  type: list
  sample:
    - /var/lib/changeward/reports/hidden-dependencies.json
    - /var/lib/changeward/reports/hidden-dependencies.md
  elements: str
"""
