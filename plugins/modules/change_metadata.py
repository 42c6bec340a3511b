# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the module; the action plugin plugins/action/change_metadata.py does the work.

DOCUMENTATION = r"""
---
module: change_metadata
short_description: Publish a change's id, service, rings and version as Prometheus metrics while it runs
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - O(state=present) publishes the change's metrics to a Prometheus pushgateway (grouping key
    C(job="changeward", change_id="<id>"), replaced as a whole) and/or a node-exporter textfile (O(textfile)).
  - C(changeward_change_info{change_id, service, ring, version, host, owner_team} 1) for each host of O(rings), so
    PromQL, alert rules and dashboards can join on C(host) and name the change on a host; C(owner_team) is the host's
    label. C(changeward_change_rings_total) and C(changeward_change_rings_completed) (rings with a verdict in
    O(ring_results)) show progress; C(changeward_change_ring_status{ring, status} 1) each ring's state.
  - The version is O(version), else the one variable of O(apply)'s C(vars) named C(version) or C(<...>_version),
    else V(unknown).
  - O(state=absent) deletes the group (and the textfile) - the info metric exists only during the change's window,
    which is what alert rules and dashboard annotations rely on (docs/monitoring.md).
  - The first publication and the withdrawal are recorded in the change (C(io.changeward.metadata.published),
    C(io.changeward.metadata.withdrawn)).
options:
  state:
    description: V(present) publishes (or updates) the metrics, V(absent) withdraws them.
    type: str
    choices: [present, absent]
    default: present
  change_id:
    description: The change.
    type: str
    required: true
  service:
    description: The change's service. Required with O(state=present).
    type: str
  version:
    description: The version the change puts on its hosts.
    type: str
  apply:
    description: The change's C(apply) mapping, to find the version in its vars when O(version) is not given.
    type: dict
  rings:
    description:
      - The planned rings (C(rings) of a registered M(changeward.hybrid.rings) result).
      - Required with O(state=present).
    type: list
    elements: dict
    default: []
  ring_results:
    description: The ring results so far (as M(changeward.hybrid.ring_verdict) returns them).
    type: list
    elements: dict
    default: []
  pushgateway_url:
    description: Base URL of the pushgateway. Defaults to E(CHANGEWARD_PUSHGATEWAY_URL).
    type: str
  pushgateway_token:
    description: Bearer token for the pushgateway. Defaults to E(CHANGEWARD_PUSHGATEWAY_TOKEN). Never logged.
    type: str
  textfile:
    description: A C(.prom) file in a node-exporter textfile directory to write the same metrics to.
    type: path
extends_documentation_fragment:
  - changeward.hybrid.monitoring
  - changeward.hybrid.ledger
"""

EXAMPLES = r"""
- name: Tell Prometheus which change is on which host
  changeward.hybrid.change_metadata:
    change_id: CHG-1001
    service: web
    version: "2.4.1"
    rings: "{{ plan.rings }}"
    pushgateway_url: http://pushgateway:9091
  delegate_to: localhost
"""

RETURN = r"""
version:
  description: The version published.
  returned: state is present
  type: str
  sample: '1.2'
metrics:
  description: The metrics in the text exposition format.
  returned: state is present
  type: str
  sample: |
    # HELP changeward_change_info A change in progress on a host: its id, service, ring and version.
    # TYPE changeward_change_info gauge
    changeward_change_info{change_id="CHG-42",service="web",ring="canary",version="1.2",host="web1",owner_team="web"} 1
    # HELP changeward_change_rings_total Rings the change is planned in.
    # TYPE changeward_change_rings_total gauge
    changeward_change_rings_total{change_id="CHG-42",service="web"} 1
recorded:
  description: Whether an event was recorded in the change.
  returned: always
  type: bool
  sample: true
ledger_seq:
  description: Sequence number of the event recorded.
  returned: always
  type: int
  sample: 9
"""
