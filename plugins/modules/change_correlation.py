# -*- coding: utf-8 -*-
# Copyright: (c) 2026, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the module; the action plugin plugins/action/change_correlation.py does the work.

DOCUMENTATION = r"""
---
module: change_correlation
short_description: Rank the ledger's changes by how likely each caused an alert or anomaly
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Given an incident - an alert or anomaly on a host, for a service, at a time - reads every change of the
    ledger within O(lookback) and ranks them by time (since the change reached that host, from the ledger's
    ring events), topology (same host, same service, a service the incident's service depends on by
    O(dependency_map)) and rollout progression (other hosts' O(anomalies) that followed the change ring by
    ring; the change's own bake watch breach or failed judgement on that host), each with an explanation.
  - Names a culprit only when the best candidate scores at least O(min_score) and leads the next by O(margin);
    otherwise it answers that there is no confident culprit and still lists the candidates.
  - The scoring and its measured precision and recall are described in the collection's
    docs/anomaly-and-correlation.md.
  - Runs on the controller, reads the ledger only, and runs the same in check mode. A ledger that does not
    exist fails the task (no ledger is no answer, not "no change did it").
options:
  host:
    description: The host the alert or anomaly is on (its inventory name, as the ledger's rings name it).
    type: str
    required: true
  service:
    description:
      - The service alerting.
      - Without it, a change that reached the host counts as one of the incident's service, and a change elsewhere
        does when the host runs its service (the host's C(services) label in the inventory).
    type: str
  at:
    description: When the incident began - ISO 8601 with an offset, unix seconds or V(now).
    type: raw
    default: now
  alert:
    description: The alert's or anomaly's name, carried into the result.
    type: str
    default: ""
  anomalies:
    description:
      - Other alerts or anomalies known around the incident, each a dictionary with C(host), C(time) (an instant)
        and optionally C(service). They are the rollout-progression evidence; giving the list also says that
        hosts not in it showed nothing, which counts against a change that reached many quiet hosts.
    type: list
    elements: dict
  dependency_map:
    description:
      - "Who consumes which service, as M(changeward.hybrid.risk_score) reads it: a mapping of service to the list
        of services that consume it (C(db: [api]) - api depends on db), a dependency graph as
        M(changeward.hybrid.dependency_map) stores it, or a path to a YAML or JSON file with either."
      - Default - the inventory's C(changeward_dependency_map) (refused when given by extra vars, play vars or
        facts, as the pinned policies are). Without either no dependency is known.
      - The incident's service's dependencies are followed up to three hops.
    type: raw
  lookback:
    description: How far before the incident changes are considered, a duration.
    type: str
    default: 1d
  half_life:
    description: Time after which a change explains an incident half as well, a duration.
    type: str
    default: 30m
  min_score:
    description: Score the best candidate needs to be named the culprit.
    type: float
    default: 0.5
  margin:
    description: Lead over the second candidate the best one needs to be named the culprit.
    type: float
    default: 0.15
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
    details: Reads only; it answers in check mode exactly as otherwise.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller.
seealso:
  - module: changeward.hybrid.anomaly_scan
  - module: changeward.hybrid.change_record
"""

EXAMPLES = r"""
- name: Which change made the canary alert?
  changeward.hybrid.change_correlation:
    host: cloud-euw1b-02
    service: demo
    at: "2026-12-07T18:32:40Z"
    alert: DemoHighErrorRate
    dependency_map: {demo: [web], postgres: [demo]}   # web consumes demo, demo consumes postgres
  register: suspect

- name: Say it
  ansible.builtin.debug:
    msg: "{{ suspect.reason }}"
"""

RETURN = r"""
culprit:
  description: The change id named as the cause, or V(null) when there is no confident culprit.
  returned: success
  type: str
  sample: CHG-4711
confident:
  description: Whether a culprit is named.
  returned: success
  type: bool
  sample: true
confidence:
  description: The culprit's score in [0, 1]; 0 without one.
  returned: success
  type: float
  sample: 0.89
reason:
  description: The answer in a sentence, with the culprit's explanation.
  returned: success
  type: str
  sample: 'CHG-4711 (0.89): changed demo on cloud-use1a-01 itself; reached it 5m before the incident (ring canary)'
incident:
  description: The incident as read (host, service, time in unix seconds, what).
  returned: success
  type: dict
  sample:
    host: cloud-use1a-01
    service: demo
    time: 1767607500.0
    what: HighErrorRate
candidates:
  description: Every related change, best first.
  returned: success
  type: list
  sample:
    - change_id: CHG-4711
      rank: 1
      score: 0.89
      share: 0.85
      relation: same_host_same_service
      factors:
        topology: 1.0
        time: 0.89
        evidence: 0.0
      seconds_before_incident: 300.0
      explanation: changed demo on cloud-use1a-01 itself; reached it 5m before the incident (ring canary)
      summary: Release demo 1.0.2
      service: demo
      outcome: null
  elements: dict
  contains:
    change_id:
      description: The change.
      type: str
    rank:
      description: 1 for the best.
      type: int
    score:
      description: How well it explains the incident, in [0, 1].
      type: float
    share:
      description: Its score as a share of all candidates' scores.
      type: float
    relation:
      description: V(same_host_same_service), V(same_host_dependency), V(same_host), V(same_service) or V(dependency).
      type: str
    factors:
      description: The topology, time and evidence factors of the score.
      type: dict
    seconds_before_incident:
      description: Seconds from the change reaching the host (or the service) to the incident.
      type: float
    explanation:
      description: Why, in words.
      type: str
    summary:
      description: The change's summary.
      type: str
    service:
      description: The change's service.
      type: str
    outcome:
      description: The change's outcome, when closed.
      type: str
report:
  description: The answer and the best five candidates as lines for a person (what the playbook prints).
  returned: success
  type: list
  sample:
    - 'CHG-4711 (0.89): changed demo on cloud-use1a-01 itself; reached it 5m before the incident (ring canary)'
    - '1. CHG-4711 score 0.89 (Release demo 1.0.2): changed demo on cloud-use1a-01 itself; reached it 5m before
      the incident (ring canary)'
  elements: str
annotations:
  description:
    - Annotations for the alert (suspected change, confidence, reason, top candidates), for Alertmanager or a
      notification.
  returned: success
  type: dict
  sample:
    changeward_suspect: CHG-4711
    changeward_suspect_confidence: '0.89'
    changeward_suspect_reason: 'CHG-4711 (0.89): changed demo on cloud-use1a-01 itself; reached it 5m before
      the incident (ring canary)'
    changeward_candidates: CHG-4711 (0.89)
"""
