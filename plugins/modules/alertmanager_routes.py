# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the module; the action plugin plugins/action/alertmanager_routes.py does the work.

DOCUMENTATION = r"""
---
module: alertmanager_routes
short_description: Generate Alertmanager's routes from the alert policy and the hosts' owner_team labels
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Writes an C(alertmanager.yml) whose C(route) and C(receivers) come from the alert policy and the inventory's
    labels. Every alert goes to the policy's ops receiver; an alert that carries a change id (the policy's change
    label, which alerts get by joining with C(changeward_change_info), docs/monitoring.md) also goes to the
    receiver of the team that owns its host (the policy's team label, by default C(owner_team)).
  - Every team that owns one of O(hosts) must have a receiver in the policy's C(routing.teams); otherwise the task
    fails naming the teams, so a change's alert never goes to a team nobody listens for.
  - The operator's own settings (C(global), C(inhibit_rules), C(templates), ...) come from O(base_config); the
    generated C(route) and C(receivers) replace those keys.
  - The configuration is checked with C(amtool check-config) before it is written; a configuration amtool refuses
    is never written. O(dest) is replaced atomically, only when its content changes; O(reload) then asks
    Alertmanager to read it again. Supports check mode and diff mode.
  - With O(change_id), the new configuration's digest is recorded in the change (C(io.changeward.alerts.routed)).
options:
  dest:
    description: Where to write the configuration (Alertmanager's C(--config.file)).
    type: path
    required: true
  hosts:
    description: The inventory hosts whose owner teams get routes. Defaults to every host of the inventory.
    type: list
    elements: str
  base_config:
    description: The rest of C(alertmanager.yml), a mapping or a YAML file found like a task file.
    type: raw
  amtool:
    description: The amtool binary that checks the configuration.
    type: str
    default: amtool
  reload:
    description: After writing a changed configuration, POST C(/-/reload) to Alertmanager.
    type: bool
    default: false
  change_id:
    description: The change to record the new configuration in.
    type: str
extends_documentation_fragment:
  - changeward.hybrid.monitoring.alertmanager
  - changeward.hybrid.monitoring
  - changeward.hybrid.ledger
"""

EXAMPLES = r"""
- name: Route change alerts to ops and to the team that owns the host
  changeward.hybrid.alertmanager_routes:
    dest: /etc/prometheus/alertmanager.yml
    base_config: alertmanager-base.yml
    reload: true
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
config:
  description: The configuration written (or that would be written).
  returned: always
  type: dict
  sample:
    route:
      receiver: ops
      group_by:
      - alertname
      - instance
      - change_id
      group_wait: 10s
      group_interval: 1m
      repeat_interval: 4h
      routes:
      - receiver: ops
        continue: true
      - receiver: team-web
        matchers:
        - owner_team="web"
        - change_id=~".+"
    receivers:
    - name: ops
      webhook_configs:
      - url: https://hooks.example.com/ops
        send_resolved: true
    - name: team-web
      webhook_configs:
      - url: https://hooks.example.com/web
        send_resolved: true
teams:
  description: The owner teams of the hosts.
  returned: always
  type: list
  sample:
    - web
  elements: str
receivers:
  description: The receivers' names (V(ops), V(team-<name>)).
  returned: always
  type: list
  sample:
    - ops
    - team-web
  elements: str
hosts_without_team:
  description: Hosts with no owner team label; their change alerts go to ops only.
  returned: always
  type: list
  sample:
    - onprem-dc1-legacy
  elements: str
digest:
  description: SHA-256 of the configuration text.
  returned: always
  type: str
  sample: 3f1d2a9c0b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817065f4e
reloaded:
  description: Whether Alertmanager was asked to reload.
  returned: always
  type: bool
  sample: true
recorded:
  description: Whether the configuration was recorded in the change.
  returned: always
  type: bool
  sample: true
ledger_seq:
  description: Sequence number of the event recorded.
  returned: always
  type: int
  sample: 8
"""
