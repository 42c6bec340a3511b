# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the module; the action plugin plugins/action/canary_judge.py does the work.

DOCUMENTATION = r"""
---
module: canary_judge
short_description: Judge canary hosts against baseline hosts, metric by metric
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Compares samples of each metric from canary hosts with samples from baseline hosts over the same time window,
    in the manner of Kayenta's NetflixACAJudge.
  - Per metric, a Mann-Whitney U test in the metric's bad O(metrics[].direction) and the Hodges-Lehmann estimate of
    the shift with its confidence interval. A metric is V(high) or V(low) only when the test is significant at
    O(metrics[].alpha) B(and) the shift is larger than the allowed effect O(metrics[].allowance); otherwise V(pass).
    Ranks make the test robust to outliers. NaN, null and infinite values are dropped and counted.
  - A metric without usable data is V(nodata) and handled by its O(metrics[].nodata) strategy, never as a pass.
  - The score is the weighted share of passing metrics among those counted. A critical metric that fails makes the
    verdict V(fail) whatever the score; a metric without data whose strategy is V(inconclusive) makes it
    V(inconclusive).
  - Samples come inline (O(metrics[].baseline) and O(metrics[].canary)) or from Prometheus range queries.
    If Prometheus cannot be reached the verdict is V(inconclusive) and the task fails unless O(report_only=true).
  - By default the task fails when the verdict is V(fail) or V(inconclusive) (fail closed); the result still
    carries the whole judgement, so a C(rescue) block can read it.
  - Runs on the controller and changes nothing; it runs the same in check mode.
  - See docs/canary-judge.md for the statistics and the choice of defaults.
options:
  metrics:
    description:
      - The metrics to judge. Required unless O(tolerance_policy) gives them; when both are given, these replace the
        policy's metrics and the policy still supplies the canary settings.
      - Each metric takes inline samples (O(metrics[].baseline) and O(metrics[].canary)) or queries, not both.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the metric, unique within the judgement.
        type: str
        required: true
      baseline:
        description:
          - Inline samples of the baseline hosts. Numbers; V(NaN), V(null) and infinities are dropped and counted.
        type: list
        elements: raw
      canary:
        description: Inline samples of the canary hosts, as O(metrics[].baseline).
        type: list
        elements: raw
      query:
        description:
          - PromQL range query with a C(${selector}) placeholder (label matchers of the side, from
            O(canary_selector)/O(baseline_selector) or O(canary_hosts)/O(baseline_hosts)) and/or C(${group})
            (V(canary) or V(baseline)). Write C($$) for a literal C($).
          - The C(${...}) form is not Jinja, so Ansible leaves it alone.
        type: str
      canary_query:
        description:
          - PromQL query for the canary side; give it with O(metrics[].baseline_query) instead of O(metrics[].query).
        type: str
      baseline_query:
        description: PromQL query for the baseline side.
        type: str
      direction:
        description:
          - The bad direction to watch. V(increase) for error rates and latency, V(decrease) for throughput or
            success ratio, V(either) for a two-sided test. The default is V(increase).
        type: str
        choices: [increase, decrease, either]
      critical:
        description: A failing critical metric fails the whole judgement whatever the score. The default is V(false).
        type: bool
      allowance:
        description:
          - The allowed effect in the bad direction; exactly one of O(metrics[].allowance.relative) and
            O(metrics[].allowance.absolute). Defaults to O(default_allowance).
        type: dict
        suboptions:
          relative:
            description: Allowed shift as a fraction of the baseline median, e.g. V(0.2) for +20 %.
            type: float
          absolute:
            description: Allowed shift in the metric's unit, e.g. V(0.005) for 0.5 percentage points of a ratio.
            type: float
      nodata:
        description:
          - What a metric without usable data means. V(inconclusive) makes the verdict inconclusive,
            V(fail) counts it as a failed metric, V(ignore) leaves it out of the score. Never a pass.
          - Defaults to O(default_nodata).
        type: str
        choices: [fail, inconclusive, ignore]
      weight:
        description: Weight of the metric in the score. The default is V(1).
        type: float
      alpha:
        description: Significance level of this metric's test. Defaults to O(alpha).
        type: float
      min_points:
        description: Fewest usable points per side to judge; fewer is no data. Defaults to O(min_points).
        type: int
  tolerance_policy:
    description:
      - A tolerance policy (a path to its YAML file, or the policy as a dictionary); see docs/tolerance-policy.md.
      - It supplies the metrics with their queries, the canary settings (scores, alpha, min_points,
        default allowance and no-data strategy, lookback, step) and the tightening for targets that cannot be
        rolled back fully. Options given to the task take precedence over the policy's canary settings.
      - C(policy) is the deprecated name of this option (it named the tolerance policy here and the gate policy
        elsewhere); it is accepted until 2.0.0. C(policy) now always means the gate policy.
    type: raw
    aliases: [policy]
  pass_score:
    description: Lowest score that passes. Default V(95) (or the policy's).
    type: float
  marginal_score:
    description: Lowest score that is marginal rather than a fail. Default V(75) (or the policy's).
    type: float
  alpha:
    description:
      - Significance level of each metric's Mann-Whitney test (one-sided in the bad direction, two-sided for
        V(either)). Default V(0.005) (or the policy's); docs/canary-judge.md explains the choice.
    type: float
  min_points:
    description: Fewest usable points per side for a metric to be judged. Default V(10) (or the policy's).
    type: int
  default_allowance:
    description: "Allowance of metrics that set none. Default V({relative: 0.05}) (or the policy's)."
    type: dict
    suboptions:
      relative:
        description: As a fraction of the baseline median.
        type: float
      absolute:
        description: In the metric's unit.
        type: float
  default_nodata:
    description: No-data strategy of metrics that set none. Default V(inconclusive) (or the policy's).
    type: str
    choices: [fail, inconclusive, ignore]
  rollback_capability:
    description:
      - How far the judged targets can be rolled back. V(partial) and V(none) tighten the allowances (and V(none)
        makes every metric critical and never ignores missing data); see docs/tolerance-policy.md.
      - Mutually exclusive with O(targets). Without either, no tightening applies (V(full)).
    type: str
    choices: [full, partial, none]
  targets:
    description:
      - Inventory hosts the change touches; the strictest C(rollback_capability) host variable among them decides
        the tightening. A host without the label counts as V(none).
    type: list
    elements: str
  canary_selector:
    description: Label matchers for the canary hosts, put in place of C(${selector}), e.g. V(instance=~"web-1:.*").
    type: str
  baseline_selector:
    description: Label matchers for the baseline hosts.
    type: str
  canary_hosts:
    description: Canary host names; builds the selector C(<host_label>=~"(?:h1|h2)(?::[0-9]+)?").
    type: list
    elements: str
  baseline_hosts:
    description: Baseline host names, as O(canary_hosts).
    type: list
    elements: str
  host_label:
    description: Prometheus label that holds the host name, for O(canary_hosts) and O(baseline_hosts).
    type: str
    default: instance
  start:
    description:
      - Start of the window - ISO 8601 with a UTC offset (a time without one is refused), unix seconds or V(now).
      - Mutually exclusive with O(lookback).
    type: raw
  end:
    description: End of the window - ISO 8601 with a UTC offset, unix seconds or V(now). Default V(now).
    type: raw
  lookback:
    description: Length of the window ending at O(end), a duration such as V(10m). Default V(10m) (or the policy's).
    type: str
  step:
    description:
      - Resolution of the range queries, a duration such as V(15s). Default V(15s) (or the policy's).
      - A query whose range selector is longer than the step is asked at a step equal to its range, so its
        points do not overlap (see C(step) and C(note) in RV(metrics)).
    type: str
  report_only:
    description:
      - Only report. When V(false), the task fails on a V(fail) or V(inconclusive) verdict, including Prometheus
        being unreachable. Configuration errors (a bad query, a bad policy) fail the task either way.
    type: bool
    default: false
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
    details: Reads only; it judges in check mode exactly as otherwise.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller; needs numpy, scipy, requests (and jsonschema for O(tolerance_policy)) there.
seealso:
  - module: changeward.hybrid.error_budget
notes:
  - Sources of truth for the defaults are the plugin code and docs/canary-judge.md; the operator project's
    benchmark https://github.com/changeward/hybrid/blob/main/bench/judge_power.py measures the false-fail rate
    and the power they give.
"""

EXAMPLES = r"""
- name: Judge inline samples
  changeward.hybrid.canary_judge:
    metrics:
      - name: error_rate
        baseline: "{{ baseline_error_rates }}"
        canary: "{{ canary_error_rates }}"
        direction: increase
        critical: true
        allowance: {absolute: 0.005}
        nodata: fail
      - name: p99_latency_ms
        baseline: "{{ baseline_p99 }}"
        canary: "{{ canary_p99 }}"
        allowance: {relative: 0.2}
  register: judgement

- name: Judge the canary ring from Prometheus against the rest of the fleet, with the service's policy
  changeward.hybrid.canary_judge:
    tolerance_policy: "{{ playbook_dir }}/policies/demo.yml"
    prometheus_url: http://prometheus.example:9090
    canary_hosts: "{{ groups['ring_0'] }}"
    baseline_hosts: "{{ groups['demo'] | difference(groups['ring_0']) }}"
    targets: "{{ groups['ring_0'] }}"
    lookback: 10m
  register: judgement

- name: Report only, and act on the verdict yourself
  changeward.hybrid.canary_judge:
    prometheus_url: http://prometheus.example:9090
    canary_selector: 'instance=~"web-7:.*"'
    baseline_selector: 'instance=~"web-[1-6]:.*"'
    metrics:
      - name: error_ratio
        query: >-
          sum by (instance) (rate(http_requests_total{code=~"5..", ${selector}}[1m]))
          / sum by (instance) (rate(http_requests_total{${selector}}[1m]))
        critical: true
        allowance: {absolute: 0.01}
    report_only: true
  register: judgement

- name: Stop the rollout unless the canary passed
  ansible.builtin.assert:
    that: judgement.verdict == 'pass'
    fail_msg: "canary {{ judgement.verdict }}: {{ judgement.reasons | join('; ') }}"
"""

RETURN = r"""
verdict:
  description: V(pass), V(marginal), V(fail) or V(inconclusive).
  returned: always
  type: str
  sample: fail
score:
  description: Weighted percentage of counted metrics that passed; null when no metric could be counted.
  returned: always
  type: float
  sample: 50.0
reasons:
  description: Why the verdict is what it is, first line first, then each failing or data-less metric.
  returned: always
  type: list
  elements: str
  sample: ["critical metric(s) failed: error_rate", "error_rate: high - shift +0.04 is beyond the allowed 0.005"]
pass_score:
  description: The pass threshold applied.
  returned: when judged
  type: float
  sample: 95.0
marginal_score:
  description: The marginal threshold applied.
  returned: when judged
  type: float
  sample: 75.0
rollback_capability:
  description: The rollback capability whose tightening was applied.
  returned: always
  type: str
  sample: partial
policy_digest:
  description: SHA-256 of the policy used (canonical JSON), to record with the decision.
  returned: when O(tolerance_policy) is given
  type: str
  sample: 9f2c4e1a7b3d5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6
window:
  description: The time window of the range queries, unix seconds.
  returned: when a metric uses Prometheus
  type: dict
  contains:
    start:
      description: Start of the window.
      type: float
    end:
      description: End of the window.
      type: float
    step:
      description: Step in seconds.
      type: float
  sample:
    start: 1740822600.0
    end: 1740823200.0
    step: 15.0
metrics:
  description: Each metric's classification and evidence.
  returned: when judged
  type: list
  elements: dict
  contains:
    name:
      description: Metric name.
      type: str
    classification:
      description: V(pass), V(high), V(low) or V(nodata).
      type: str
    reason:
      description: Why, in one line.
      type: str
    critical:
      description: Whether the metric was critical (after tightening).
      type: bool
    direction:
      description: The bad direction watched.
      type: str
    nodata_strategy:
      description: The no-data strategy applied.
      type: str
    weight:
      description: Weight in the score.
      type: float
    source:
      description: V(inline) or V(prometheus).
      type: str
    queries:
      description: The rendered canary and baseline queries.
      type: dict
      returned: for Prometheus metrics
    step:
      description: The step in seconds the metric was queried at, when raised to its range selector's length.
      type: float
      returned: when the query's range is longer than O(step)
    note:
      description: Why the step was raised.
      type: str
      returned: when the query's range is longer than O(step)
    evidence:
      description:
        - Counts of usable and dropped values per side (C(baseline_count), C(canary_count), C(baseline_nan),
          C(canary_nan), C(baseline_inf), C(canary_inf)); when judged also C(method) (V(mann-whitney) or
          V(constant)), C(u_statistic), C(p_value), C(alternative), C(alpha), C(shift) (Hodges-Lehmann,
          canary minus baseline), C(ci_low), C(ci_high), C(ci_level), C(relative_shift), C(baseline_median),
          C(canary_median), C(allowance), C(allowed_shift), C(autocorrelation) (lag-1, within each host's
          series), C(variance_inflation), C(effective_counts) (per side) and C(autocorrelation_adjusted).
      type: dict
  sample:
    - name: error_rate
      classification: high
      reason: shift +0.04 is beyond the allowed 0.005
      critical: true
      direction: increase
      nodata_strategy: fail
      weight: 1.0
      source: prometheus
      queries:
        canary: sum(rate(http_errors_total{instance=~"(?:web-3)(?::[0-9]+)?"}[1m]))
        baseline: sum(rate(http_errors_total{instance=~"(?:web-1|web-2)(?::[0-9]+)?"}[1m]))
      evidence:
        baseline_count: 40
        canary_count: 40
        method: mann-whitney
        p_value: 0.0001
        shift: 0.04
        allowed_shift: 0.005
error:
  description: What stopped the judgement (Prometheus unreachable), when it was cut short.
  returned: when the judgement could not be made
  type: str
  sample: >-
    Prometheus at http://prometheus:9090 is unreachable: connection refused (3 attempts);
    check prometheus_url and that Prometheus is running
"""
