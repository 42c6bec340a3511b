# -*- coding: utf-8 -*-
# Copyright: (c) 2026, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the module; the action plugin plugins/action/anomaly_scan.py does the work.

DOCUMENTATION = r"""
---
module: anomaly_scan
short_description: Find anomalies in service metrics against baselines learned from each series' own history
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Reads a PromQL range query (or inline O(samples)) and runs every series through a streaming anomaly
    detector with learned baselines - a local robust baseline and, once enough history is there, daily and
    weekly seasonal ones - and returns the points whose anomaly score reaches O(threshold), with their scores.
  - Each point is scored only against the points before it. The points before O(report_from) only teach the
    baseline; so does the first O(warmup) points of each series. To watch a bake, scan a range that starts
    hours before the ring did and set O(report_from) to the ring's start.
  - "The verdict: V(anomalous) when a point scored O(threshold) or more; V(nodata) when there was no series, a
    series had too few points to learn a baseline from, or - with O(report_from) - a point from O(report_from)
    on fell in the warm-up and was never scored; else V(clean). No data is never clean: an empty Prometheus
    answer or an unreachable Prometheus fails the task."
  - The task fails when the verdict is in O(fail_on); by default it only reports.
  - "With O(tolerance_policy), it runs the policy's declared C(anomaly_detection) checks over a ring's bake
    instead: each declared metric's query for O(ring_hosts) (its C(${selector})), read from the check's
    C(history) before O(since) to O(end), reported from O(since) on; one result per check in RV(checks), with
    whether it fails the ring (C(fails_ring)). A query that fails makes that check V(nodata). The verdict is
    V(anomalous) when a check found an anomaly, else V(nodata) when one could not say, else V(clean); V(none)
    when the policy declares no check. M(changeward.hybrid.ring_verdict) decides on it
    (O(changeward.hybrid.ring_verdict#module:anomaly))."
  - How the detector works and how it scores on the Numenta Anomaly Benchmark is in the collection's
    docs/anomaly-and-correlation.md.
  - Runs on the controller, reads only, and runs the same in check mode.
options:
  query:
    description:
      - PromQL range query; each series it returns is scanned on its own.
      - Mutually exclusive with O(samples) and O(tolerance_policy).
    type: str
  tolerance_policy:
    description:
      - The service's tolerance policy (a mapping or a file name looked up like other task files); scan its declared
        C(anomaly_detection) checks over a ring's bake. Needs O(ring_hosts) and O(since).
      - Mutually exclusive with O(query) and O(samples).
    type: raw
  ring_hosts:
    description: With O(tolerance_policy), the ring's hosts (the C(${selector}) of each check's query).
    type: list
    elements: str
  since:
    description: With O(tolerance_policy), when the ring started (an instant); anomalies are reported from it on.
    type: raw
  host_label:
    description: With O(tolerance_policy), the Prometheus label that names a host.
    type: str
    default: host
  method:
    description:
      - The detector. V(baseline) - local and seasonal robust baselines and an anomaly likelihood. V(context) -
        the novelty of the patterns each point completes on coarse-to-fine grids over the range learned in the
        warm-up (what scores best on the Numenta Anomaly Benchmark); its score is the share of novel patterns.
      - With O(tolerance_policy), each check's C(method) applies instead.
    type: str
    choices: [baseline, context]
    default: baseline
  samples:
    description:
      - Inline series instead of Prometheus, a dictionary of series name to a list of C([time, value]) pairs
        (unix seconds). For dry runs and tests.
    type: dict
  start:
    description:
      - Start of the range, an instant (ISO 8601 with an offset, unix seconds or V(now)).
      - Default O(end) - O(lookback).
    type: raw
  end:
    description: End of the range, an instant.
    type: raw
    default: now
  lookback:
    description: Length of the range when O(start) is not given, a duration.
    type: str
    default: 6h
  step:
    description: Query resolution, a duration.
    type: str
    default: 60s
  report_from:
    description: Report only anomalies at or after this instant; earlier points only teach the baseline.
    type: raw
  threshold:
    description:
      - Score from which a point is reported, in (0, 1].
      - 0.5 means the recent surprise has about a 1 in 100 000 chance under the learned baseline (V(baseline));
        with V(context), that at least half of the point's patterns (5 of 9) were never seen.
    type: float
    default: 0.5
  warmup:
    description: Points of each series used only to learn before any point is scored.
    type: int
    default: 150
  quiet:
    description: Points damped after an alarm, so one episode gives one detection.
    type: int
    default: 100
  fail_on:
    description: Verdicts that fail the task.
    type: list
    elements: str
    choices: [anomalous, nodata]
    default: []
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
    details: Reads only; it scans in check mode exactly as otherwise.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller; needs numpy and requests there.
seealso:
  - module: changeward.hybrid.bake_watch
  - module: changeward.hybrid.change_correlation
"""

EXAMPLES = r"""
- name: Drift of behaviour - anything unusual in the demo service's error ratio over the last day?
  changeward.hybrid.anomaly_scan:
    query: >-
      sum by (host) (rate(demo_http_requests_total{job="demo", code="500"}[1m]))
      / sum by (host) (rate(demo_http_requests_total{job="demo"}[1m]))
    lookback: 1d
    step: 60s
    prometheus_url: http://prometheus.example:9090
  register: drift

- name: After a ring's bake - fail when its hosts behave unlike their own history
  changeward.hybrid.anomaly_scan:
    query: sum by (host) (rate(demo_http_requests_total{job="demo", host=~"cloud-euw1b-02"}[1m]))
    lookback: 6h
    step: 30s
    report_from: "{{ ring_started_at }}"
    fail_on: [anomalous, nodata]
    prometheus_url: http://prometheus.example:9090

- name: The policy's declared anomaly checks over the ring's bake (as roles/ring_rollout runs them)
  changeward.hybrid.anomaly_scan:
    tolerance_policy: policies/demo.yml
    ring_hosts: [cloud-euw1b-02]
    since: "{{ ring_started_at }}"
    prometheus_url: http://prometheus.example:9090
  register: ring_anomaly
"""

RETURN = r"""
verdict:
  description: V(anomalous), V(clean) or V(nodata); with O(tolerance_policy) also V(none) (no check declared).
  returned: success
  type: str
  sample: anomalous
reason:
  description: Why, in a sentence.
  returned: success
  type: str
  sample: 1 anomalous point(s) in 1 series
anomalies:
  description: The reported points, oldest first.
  returned: success
  type: list
  sample:
    - series: '{instance="cloud-use1a-01", job="demo"}'
      labels:
        instance: cloud-use1a-01
        job: demo
      time: 1767607200.0
      value: 150.0
      score: 1.0
      surprise: 24.501
      expected: 101.217
      explained_by: local
  elements: dict
  contains:
    series:
      description: The series, as its labels would print in PromQL.
      type: str
    labels:
      description: The series' labels.
      type: dict
    time:
      description: Unix seconds of the point.
      type: float
    value:
      description: The point's value.
      type: float
    score:
      description: Anomaly score in [0, 1].
      type: float
    surprise:
      description: Robust z-score of the point against its best baseline.
      type: float
    expected:
      description: What the best baseline predicted.
      type: float
    explained_by:
      description: The best baseline, V(local) or V(seasonal:<period seconds>).
      type: str
series:
  description:
    - Per series - points read, points only learned from, points scanned, points scanned but not scored
      (in the warm-up), anomalies, the highest score, and whether there was enough data.
  returned: success
  type: dict
  sample:
    '{instance="cloud-use1a-01", job="demo"}':
      points: 600
      learned_from: 500
      scanned: 100
      unscored: 0
      anomalies: 1
      max_score: 1.0
      enough_data: true
checks:
  description:
    - With O(tolerance_policy), one result per declared check - its metric, method, threshold, fails_ring, history,
      step, the query run, and the scan's verdict, reason, anomalies and series as above.
  returned: with O(tolerance_policy)
  type: list
  elements: dict
  sample:
    - metric: error_ratio
      method: context
      threshold: 0.5
      fails_ring: true
      history: 1h
      step: 15s
      query: sum by (host) (...)
      verdict: anomalous
      reason: 1 anomalous point(s) in 1 series
      anomalies: []
      series: {}
window:
  description:
    - The range queried (start, end, step in seconds), or V(null) for inline samples; with O(tolerance_policy), the
      bake's start and end.
  returned: success
  type: dict
  sample:
    start: 1767571200.0
    end: 1767607200.0
    step: 60.0
threshold:
  description: The threshold used.
  returned: success
  type: float
  sample: 0.5
"""
