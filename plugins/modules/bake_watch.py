# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the module; the action plugin plugins/action/bake_watch.py does the work.

DOCUMENTATION = r"""
---
module: bake_watch
short_description: Watch a ring's metrics in Prometheus during its bake time and stop at the first breach
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - While a ring bakes, polls the tolerance policy's critical metrics (or O(metrics)) every O(interval) for each
    ring host (instant queries, the policy's C(${selector}) filled with the ring's hosts) and compares it with a
    reference - the median of the baseline hosts (O(baseline_hosts), the hosts the change has not reached) at
    the same instant, or without baseline hosts the ring's own value at O(since), before the change.
  - A host breaches a metric when its value is beyond the reference plus the metric's allowance in its bad
    direction. The policy's allowances are tightened for the ring's strictest C(rollback_capability) as the canary
    judge does (docs/tolerance-policy.md). A critical metric breaches after O(critical_polls) poll(s) in a row,
    any other after O(polls).
  - Returns at the first breach with the evidence, including when the regression became visible in Prometheus
    (the first second since O(since) at which the metric crossed the threshold) and when it was detected.
  - V(inconclusive) when Prometheus cannot be read for O(polls) polls in a row or at the last poll, or a metric
    without data (its C(nodata) strategy V(inconclusive)) for O(polls) polls. A ring host without data for a
    metric whose strategy is V(fail) is a breach. A bake that was not watched is never a pass.
  - By default the task fails on V(breach) and V(inconclusive) (fail closed) and still returns everything, so a
    C(rescue) can roll back with the evidence; O(report_only=true) only reports.
  - Runs on the controller for the whole bake time (measured on the monotonic clock; the last poll is at its
    end) and changes nothing. See docs/rollouts.md.
  - Prints the bake's progress at the default verbosity while it runs, a few lines per ring - the time left
    and the last poll's worst reading per metric against its limit, about four times per bake and at once
    when the watch's state changes (a breach building up, missing data, Prometheus unreachable) - and the
    verdict.
options:
  tolerance_policy:
    description:
      - Tolerance policy, a path (found like a task file) or a mapping (docs/tolerance-policy.md).
      - The old name O(policy) is deprecated; in the collection O(policy) means the gate policy.
    type: raw
    required: true
    aliases: [policy]
  ring_hosts:
    description: Hosts of the ring, as Prometheus' O(host_label) names them.
    type: list
    elements: str
    required: true
  baseline_hosts:
    description: Hosts not changed yet. Empty compares the ring with itself before O(since).
    type: list
    elements: str
    default: []
  since:
    description: When the ring was changed - unix seconds or ISO 8601.
    type: raw
    required: true
  duration:
    description: How long to watch (a duration, e.g. V(2m)). Defaults to the policy's bake time for O(ring).
    type: str
  ring:
    description: The ring's name (V(canary), V(ring-1), ...) for the policy's C(bake_times).
    type: str
  interval:
    description:
      - Time from the start of one poll to the start of the next (at once when a poll took longer). The scrape
        interval is a good choice.
    type: str
    default: 5s
  polls:
    description: Polls in a row a non-critical breach, missing data or an unreachable Prometheus must last.
    type: int
    default: 3
  critical_polls:
    description: Polls in a row a breach of a critical metric must last.
    type: int
    default: 1
  metrics:
    description:
      - Names of the policy's metrics to watch. By default those the policy marks critical (all, if it marks
        none) - a single reading of a latency percentile over a few seconds is too noisy to act on; the canary
        judge weighs such metrics over the whole bake.
    type: list
    elements: str
  rollback_capability:
    description: Tighten the allowances for this capability instead of the ring hosts' strictest label.
    type: str
    choices: [full, partial, none]
  host_label:
    description: Prometheus label that carries the host name.
    type: str
    default: host
  report_only:
    description: Return a breach or inconclusive verdict without failing the task.
    type: bool
    default: false
extends_documentation_fragment:
  - changeward.hybrid.ledger
  - changeward.hybrid.prometheus
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Only reads Prometheus; it watches the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller only.
seealso:
  - module: changeward.hybrid.canary_judge
  - module: changeward.hybrid.circuit_breaker
  - name: Rollouts
    description: How the ring_rollout role uses the watch.
    link: https://github.com/changeward/hybrid/blob/main/docs/rollouts.md
"""

EXAMPLES = r"""
- name: Watch the canary while it bakes
  changeward.hybrid.bake_watch:
    tolerance_policy: docs/examples/policies/demo.yml
    ring: canary
    ring_hosts: [cloud-euw1b-02]
    baseline_hosts: "{{ plan.rings[0].baseline }}"
    since: "{{ ring_started_at }}"
    prometheus_url: "{{ changeward_prometheus_url }}"
    report_only: true
  register: watch
"""

RETURN = r"""
verdict:
  description: V(pass), V(breach) or V(inconclusive).
  returned: always
  type: str
  sample: breach
reason:
  description: Why, in one line.
  returned: always
  type: str
  sample: "error_ratio of cloud-euw1b-02 is 0.21, beyond 0.005 (reference 0, allowance {'absolute': 0.005})"
breach:
  description: The evidence of a breach, or V(null).
  returned: always
  type: dict
  contains:
    metric:
      description: Metric name.
      type: str
    host:
      description: The breaching host.
      type: str
    value:
      description: Its value (V(null) when it had no data).
      type: float
    reference:
      description: The reference it was compared with.
      type: float
    allowed_shift:
      description: The allowance in metric units.
      type: float
    upper:
      description: Highest value allowed (increase and either).
      type: float
    lower:
      description: Lowest value allowed (decrease and either).
      type: float
    visible_at:
      description:
        - When the regression first showed in Prometheus (ISO 8601 UTC), at 1 s resolution on a grid that ends at
          the poll which saw it.
        - V(null) when Prometheus could not be read back for it.
      type: str
    visible_ts:
      description: RV(breach.visible_at) in unix seconds.
      type: float
    detected_at:
      description: When the watch saw it (ISO 8601 UTC).
      type: str
    detected_ts:
      description: RV(breach.detected_at) in unix seconds.
      type: float
    detection_seconds:
      description: Detected minus visible.
      type: float
    query:
      description: The query that was read.
      type: str
  sample: {metric: error_ratio, host: cloud-euw1b-02, value: 0.21, reference: 0.0, upper: 0.005,
           visible_at: "2025-03-01T10:00:07.00Z", detected_at: "2025-03-01T10:00:10.02Z", detection_seconds: 3.02}
polls:
  description: Polls made.
  returned: always
  type: int
  sample: 14
started_at:
  description: Start of the watch (ISO 8601 UTC).
  returned: always
  type: str
  sample: '2025-03-01T09:58:00.00Z'
ended_at:
  description: End of the watch (ISO 8601 UTC).
  returned: always
  type: str
  sample: '2025-03-01T10:00:10.02Z'
since:
  description: O(since) as ISO 8601 UTC.
  returned: always
  type: str
  sample: '2025-03-01T09:58:00.00Z'
metrics:
  description: Per metric - reference, last values per host, worst value seen, polls without data.
  returned: always
  type: list
  elements: dict
  sample:
    - name: error_ratio
      critical: true
      direction: increase
      allowance:
        absolute: 0.005
      reference: 0.0
      last:
        cloud-euw1b-01: 0.0
        cloud-euw1b-02: 0.21
      worst:
        host: cloud-euw1b-02
        value: 0.21
        at: '2025-03-01T10:00:10.02Z'
        reference: 0.0
      nodata_polls: 0
errors:
  description: The last Prometheus errors met (at most 10).
  returned: always
  type: list
  elements: str
  sample:
    - 'Prometheus at http://prometheus:9090 is unreachable: no answer within 10s (3 attempts); check that Prometheus
      is up, or raise prometheus_timeout'
rollback_capability:
  description: The capability the allowances were tightened for.
  returned: always
  type: str
  sample: partial
bake_time:
  description: How long the ring was to be watched.
  returned: always
  type: str
  sample: 10m
policy_digest:
  description: SHA-256 of the policy.
  returned: always
  type: str
  sample: 9f2c4e1a7b3d5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6
"""
