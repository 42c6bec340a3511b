# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: pii_parity
short_description: Check that staging hosts holding personal data are guarded as production is
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Runs on the controller (it is an action plugin). Among O(hosts), the ones labelled C(data_class=pii) are
    compared by stage (the host variable O(stage_var), V(production) or V(staging)) - the effective sshd settings
    (C(sshd -T) registered in O(sshd_var) - root login, password, public-key and keyboard-interactive
    authentication, empty passwords, authorized-keys file, allow/deny users and groups, max auth tries) and the
    firewall's INPUT policy (C(iptables -S INPUT) registered in O(firewall_var)).
  - Production's PII hosts must agree with each other (that is the baseline); every staging PII host must match it
    control by control. A difference fails the task unless O(report_only) and is listed in RV(findings).
  - Fails closed - no production PII host, production hosts that disagree, or a PII host whose controls were not
    gathered is an error, not a pass.
options:
  hosts:
    description: The hosts to look at (production and staging).
    type: list
    elements: str
    required: true
  stage_var:
    description: The host variable that says a host's stage.
    type: str
    default: changeward_stage
  sshd_var:
    description: The registered result of C(sshd -T) on each host.
    type: str
    default: changeward_sshd
  firewall_var:
    description: The registered result of C(iptables -S INPUT) on each host.
    type: str
    default: changeward_firewall
  report_only:
    description: Return the findings without failing.
    type: bool
    default: false
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
    details: Compares as otherwise; changes nothing.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller.
seealso:
  - plugin: changeward.hybrid.pii_mask
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Read each host's access controls
  ansible.builtin.command: "{{ item.cmd }}"
  loop:
    - {cmd: sshd -T, var: changeward_sshd}
    - {cmd: iptables -S INPUT, var: changeward_firewall}
  register: access
  changed_when: false

- name: Keep them under the names pii_parity reads
  ansible.builtin.set_fact:
    changeward_sshd: "{{ access.results[0] }}"
    changeward_firewall: "{{ access.results[1] }}"

- name: Staging PII hosts are guarded as production is
  changeward.hybrid.pii_parity:
    hosts: "{{ ansible_play_hosts }}"
  run_once: true
"""

RETURN = r"""
baseline:
  description: The production PII hosts' controls.
  returned: success
  type: dict
  sample:
    sshd.permitrootlogin: 'no'
    sshd.passwordauthentication: 'no'
    sshd.maxauthtries: '3'
    firewall.input_policy: DROP
production_hosts:
  description: Production hosts holding pii.
  returned: success
  type: list
  sample:
    - cloud-euw1a-01
    - cloud-euw1b-01
  elements: str
staging_hosts:
  description: Staging hosts holding pii.
  returned: success
  type: list
  sample:
    - cloud-euw1a-02
  elements: str
findings:
  description: Each difference - C(host), C(control), C(production), C(staging).
  returned: success
  type: list
  sample:
    - host: cloud-euw1a-02
      control: sshd.passwordauthentication
      production: 'no'
      staging: 'yes'
  elements: dict
passed:
  description: No staging PII host differs from production.
  returned: success
  type: bool
  sample: false
"""
