# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the module; the action plugin plugins/action/alert_silence.py does the work.

DOCUMENTATION = r"""
---
module: alert_silence
short_description: Silence a change's non-critical alerts in Alertmanager for its window, and remove the silences
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - O(state=present) creates one Alertmanager silence for the change's hosts (O(hosts)) and service (O(service))
    from now for O(duration). Its matchers are the policy's host and service labels plus one negative matcher per
    rule of the alert policy's C(critical) list, so no alert the policy marks critical is ever silenced - a change's
    own critical alerts reach people. The silence's C(createdBy) names the change.
  - A window longer than the policy's C(silence.max_window) is refused. The silence ends by itself at the end of
    the window even if nothing removes it.
  - The silence is recorded in the change (C(io.changeward.alerts.silenced) with its id and matchers); if it cannot
    be recorded it is expired again at once, so no silence outlives a change that does not know about it.
  - O(state=absent) expires every silence of the change - those its events recorded and any other Alertmanager
    holds that changeward created for it - and records C(io.changeward.alerts.unsilenced). The main job runs it
    before it closes the change; the P(changeward.hybrid.change_closer#callback) callback does the same for a run that
    ends before.
  - Runs on the controller. Check mode computes the matchers and sends nothing. See docs/monitoring.md.
options:
  state:
    description: V(present) silences the change's alerts, V(absent) removes its silences.
    type: str
    choices: [present, absent]
    default: present
  change_id:
    description: The change the silence belongs to (it must be in the ledger to record it).
    type: str
    required: true
  hosts:
    description: The change's hosts, as the alerts' host label names them. Required with O(state=present).
    type: list
    elements: str
    default: []
  service:
    description: The change's service, as the alerts' service label names it. Required with O(state=present).
    type: str
  duration:
    description:
      - How long the silence lasts from now (a duration, e.g. V(90m)); at most the policy's C(silence.max_window).
    type: str
    default: 2h
  comment:
    description: The silence's comment after the change id. Defaults to the service and the hosts.
    type: str
extends_documentation_fragment:
  - changeward.hybrid.monitoring.alertmanager
  - changeward.hybrid.monitoring
  - changeward.hybrid.ledger
"""

EXAMPLES = r"""
- name: Silence the change's non-critical alerts while it runs
  changeward.hybrid.alert_silence:
    change_id: CHG-1001
    hosts: [web-01, web-02]
    service: web
    duration: 90m
  delegate_to: localhost

- name: Remove them when the change closes
  changeward.hybrid.alert_silence:
    state: absent
    change_id: CHG-1001
  delegate_to: localhost
"""

RETURN = r"""
silences:
  description: The silence created (id, matchers, starts, ends).
  returned: state is present
  type: list
  sample:
    - id: 5b2c6a1e-8f0e-4c9e-9d43-2f1d6a3b5e10
      matchers:
      - name: instance
        value: (cloud-use1a-01|cloud-use1b-01)
        isRegex: true
        isEqual: true
      - name: service
        value: demo
        isRegex: false
        isEqual: true
      - name: severity
        value: critical
        isRegex: false
        isEqual: false
      starts: '2026-01-05T10:00:00.000Z'
      ends: '2026-01-05T12:00:00.000Z'
  elements: dict
matchers:
  description: The silence's matchers in Alertmanager's API form (name, value, isRegex, isEqual).
  returned: state is present
  type: list
  sample:
    - name: instance
      value: (cloud-use1a-01|cloud-use1b-01)
      isRegex: true
      isEqual: true
    - name: service
      value: demo
      isRegex: false
      isEqual: true
    - name: severity
      value: critical
      isRegex: false
      isEqual: false
  elements: dict
starts:
  description: Start of the silence (RFC 3339 UTC).
  returned: state is present
  type: str
  sample: '2026-01-05T10:00:00.000Z'
ends:
  description: End of the silence (RFC 3339 UTC).
  returned: state is present
  type: str
  sample: '2026-01-05T12:00:00.000Z'
expired:
  description: Ids of the silences expired now.
  returned: state is absent
  type: list
  sample:
    - 5b2c6a1e-8f0e-4c9e-9d43-2f1d6a3b5e10
  elements: str
already_expired:
  description: Ids of the change's silences that had already ended.
  returned: state is absent
  type: list
  sample: []
  elements: str
unknown:
  description: Ids the change recorded that Alertmanager does not know (any more).
  returned: state is absent
  type: list
  sample: []
  elements: str
recorded:
  description: Whether the action recorded its events in the change.
  returned: always
  type: bool
  sample: true
ledger_seq:
  description: Sequence number of the last event recorded.
  returned: always
  type: int
  sample: 12
"""
