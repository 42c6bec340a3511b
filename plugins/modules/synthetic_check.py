# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the module; the action plugin plugins/action/synthetic_check.py does the work.

DOCUMENTATION = r"""
---
module: synthetic_check
short_description: Run synthetic journeys through the blackbox exporter against a ring's hosts, as a gate
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - A journey is a list of HTTP steps a user takes, in order; each step names a path and what must come back - status
    codes (default V([200])), a text the body must contain, at most a latency. The journeys are the change spec's
    C(synthetic_checks) (docs/change-spec.md, docs/monitoring.md).
  - Each step is a module of Prometheus' blackbox exporter (the http prober - the exporter checks the status and
    the body; redirects are not followed). With O(blackbox_config), the modules are added to the exporter's config
    file (checked with the exporter's C(--config.check), under a lock, replaced atomically) and the exporter is
    reloaded; without it the exporter must already have them, or the task fails naming them.
  - Every journey runs on every host of O(hosts) (its C(ansible_host), else its name); a journey stops at its first
    failing step. The verdict is V(fail) when any journey fails on any host, with every missed expectation as
    evidence (status, body, latency, no answer). A probe that cannot be run fails the task; it is never a pass.
  - With O(change_id), records the decision in the change (C(gate_decisions), gate V(synthetic)) and the evidence
    (C(io.changeward.synthetic.checked)) before it returns.
  - Fails on V(fail) unless O(report_only=true). The M(changeward.hybrid.ring_verdict) action counts a failing
    journey like a bake watch breach (the ring is rolled back and the circuit breaker opens). Check mode validates
    the journeys and runs nothing.
options:
  journeys:
    description:
      - The journeys - each C(name), C(steps), optionally C(scheme) (V(http)), C(port) (80/443) and C(timeout)
        (V(10s)); each step C(name), C(path), optionally C(method), C(headers), C(body), C(status), C(contains) and
        C(max_latency).
    type: list
    elements: dict
    required: true
  hosts:
    description: The inventory hosts to run the journeys against (the ring's hosts).
    type: list
    elements: str
    required: true
  ring:
    description: The ring's name, for the record.
    type: str
  change_id:
    description: The change to record the decision in.
    type: str
  blackbox_url:
    description: Base URL of the blackbox exporter. Defaults to E(CHANGEWARD_BLACKBOX_URL).
    type: str
  blackbox_token:
    description: Bearer token for the exporter. Defaults to E(CHANGEWARD_BLACKBOX_TOKEN). Never logged.
    type: str
  blackbox_config:
    description: The exporter's config file, to add the journeys' modules to.
    type: path
  blackbox_binary:
    description: The exporter's binary, which checks the config file.
    type: str
    default: prometheus-blackbox-exporter
  report_only:
    description: Report a failing journey without failing the task.
    type: bool
    default: false
extends_documentation_fragment:
  - changeward.hybrid.monitoring
  - changeward.hybrid.ledger
"""

EXAMPLES = r"""
- name: A user can still log in after the ring was changed
  changeward.hybrid.synthetic_check:
    change_id: CHG-1001
    ring: canary
    hosts: [web-01]
    journeys:
      - name: login
        port: 8080
        steps:
          - {name: home, path: /, contains: Welcome, max_latency: 500ms}
          - {name: health, path: /healthz, status: [200]}
    blackbox_url: http://blackbox:9115
    blackbox_config: /etc/prometheus/blackbox.yml
  delegate_to: localhost
"""

RETURN = r"""
verdict:
  description: V(pass) or V(fail) (none in check mode).
  returned: always
  type: str
  sample: fail
reason:
  description: The failures, or how many journeys passed.
  returned: success
  type: str
  sample: 'cloud-use1a-01: journey checkout failed at step pay: status 500, expected 200'
reasons:
  description: One line per failing journey and host.
  returned: always
  type: list
  sample:
    - 'cloud-use1a-01: journey checkout failed at step pay: status 500, expected 200'
  elements: str
journeys:
  description: Per host and journey - passed, each step run (status, seconds, problems, url) and the steps not run.
  returned: always
  type: list
  sample:
    - host: cloud-use1a-01
      journey: checkout
      passed: false
      steps:
      - step: home
        passed: true
        status: 200
        seconds: 0.012
        problems: []
        url: http://198.18.21.10:8080/
      - step: pay
        passed: false
        status: 500
        seconds: 0.034
        problems:
        - status 500, expected 200
        url: http://198.18.21.10:8080/pay
      not_run:
      - receipt
      reason: 'step pay: status 500, expected 200'
  elements: dict
modules:
  description: The exporter modules of the steps.
  returned: always
  type: list
  sample:
    - changeward_0f3a9c2e1b7d4a58
    - changeward_7c1e2d3f4a5b6c7d
  elements: str
recorded:
  description: Whether the decision was recorded in the change.
  returned: success
  type: bool
  sample: true
ledger_seq:
  description: Sequence number of the decision in the ledger.
  returned: success
  type: int
  sample: 31
"""
