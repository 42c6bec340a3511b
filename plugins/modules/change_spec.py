# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file only documents the module; the action plugin plugins/action/change_spec.py does the work.

DOCUMENTATION = r"""
---
module: change_spec
short_description: Validate a change spec and resolve it into the change the main job runs
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - "Checks a change spec - one YAML document that says what a change is - against its JSON schema and its meaning,
    before any gate runs, and fails with a message that names every wrong field (for example
    C(change_spec.apply: give exactly one of role, tasks or edge))."
  - Resolves it into the change C(playbooks/change.yml) runs - the id (generated when the spec has none), the
    target hosts (the pattern's hosts whose labels match C(targets.labels)), where the role or tasks file is, the
    snapshot scope (the spec's, else what the role declares in C(meta/changeward.yml); an edge release adds the
    paths its links switch), normalised health checks, and the policies it runs under.
  - "The policies are pinned by the operator, never chosen by the spec: the gate policy is the inventory's
    C(changeward_policy), the tolerance policy the inventory's C(changeward_tolerance_policies[service]). Either
    given by C(-e), play/role/task vars or C(set_fact) is refused, and so is a spec with C(policy)."
  - Returns the policies' digests (C(policy_digests)) and the change's digest (C(digest) - id, targets, payload
    and policies), what approvals of the change are signed over.
  - A change with nothing to snapshot, no matching host, an edge release aimed at hosts that are not edge hosts, a
    role Ansible cannot find, a service with no pinned tolerance policy, or a pinned policy file that does not
    exist is refused.
  - Writes nothing. See docs/change-spec.md for every field.
options:
  spec:
    description:
      - The change spec (the C(change_spec) variable of C(ansible-playbook playbooks/change.yml -e @my-change.yml)).
    type: raw
    required: true
  pattern_hosts:
    description:
      - The inventory's hosts for the spec's C(targets.pattern) (C(all) when it has none), as
        C(query('ansible.builtin.inventory_hostnames', pattern)) gives them.
    type: list
    elements: str
    required: true
  requester:
    description: Who asks for the change when the spec names nobody.
    type: str
    required: true
  base_dir:
    description:
      - Directory relative paths (a tasks file, pinned policy files) are read from. Defaults to the directory the
        playbook runs in - the project checkout, where AWX runs its jobs too.
    type: path
  change_id:
    description:
      - The change's id as the launcher names it (the main job passes C(changeward_change_id)); it wins over the
        spec's C(id). The change digest is computed over it.
    type: str
extends_documentation_fragment:
  - changeward.hybrid.ledger
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Validation writes nothing, so check mode does the same.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller only.
seealso:
  - name: The change spec
    description: Every field, with the shipped examples.
    link: https://github.com/changeward/hybrid/blob/main/docs/change-spec.md
"""

EXAMPLES = r"""
- name: Validate the change before any gate
  changeward.hybrid.change_spec:
    spec: "{{ change_spec }}"
    pattern_hosts: "{{ query('ansible.builtin.inventory_hostnames', change_spec.targets.pattern | default('all')) }}"
    requester: "{{ awx_user_name | default(lookup('ansible.builtin.env', 'USER')) }}"
  register: changeward_spec
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
recorded:
  description:
    - What the ledger may hold of the change - the spec and its C(apply) - with secret-named keys (password,
      token, key, ...) and secret-looking values masked. The main job records this, never the raw spec.
  returned: success
  type: dict
  sample: {spec: {summary: Rotate the app config, apply: {role: app_config, vars: {app_db_password: "********"}}},
           apply: {kind: role, role: app_config, vars: {app_db_password: "********"}}}
change:
  description: The change as the main job runs it.
  returned: success
  type: dict
  contains:
    id:
      description: The change id (the spec's, or C(CHG-<UTC time>-<6 digits>)).
      type: str
      sample: CHG-20261207120000-042317
    type:
      description: standard, normal or emergency.
      type: str
      sample: standard
    summary:
      description: The spec's summary.
      type: str
      sample: Raise net.core.somaxconn on the cloud web tier
    requester:
      description: Who asks for the change.
      type: str
      sample: alice
    service:
      description: The service whose tolerance policy and circuit breaker apply.
      type: str
      sample: demo
    change_kind:
      description: What is changed (config, package, binary, schema), for the risk score.
      type: str
      sample: config
    pattern:
      description: The target pattern.
      type: str
      sample: cloud
    labels:
      description: The labels every target must carry.
      type: dict
      sample: {region: eu-west-1}
    targets:
      description: The target hosts, in inventory order.
      type: list
      elements: str
      sample: [cloud-euw1a-01, cloud-euw1b-01]
    apply:
      description: What the change does - C(kind) role, tasks or edge, with C(role) and C(role_path), C(tasks) or
        C(edge), and C(vars).
      type: dict
      sample: {kind: role, role: sysctl_setting, role_path: /srv/project/examples/roles/sysctl_setting, vars: {}}
    snapshot:
      description: The snapshot scope (paths, packages, services, verify_commands) and its C(source),
        spec or role.
      type: dict
      sample: {paths: [/etc/sysctl.d/60-changeward.conf], packages: [], services: [], verify_commands: [], source: role}
    health_checks:
      description: Health checks run on every host after the change, each with C(kind) url or command.
      type: list
      elements: dict
      sample: [{kind: url, name: demo, url: "http://127.0.0.1:8080/healthz", status: [200], contains: "",
                retries: 10, delay: 2, index: 0}]
    gate_policy:
      description: The gate policy the inventory pins (C(changeward_policy)) - an absolute path, or a mapping.
      type: raw
      sample: /srv/project/policies/gates.yml
    tolerance_policy:
      description: The tolerance policy the inventory pins for the service - an absolute path, or a mapping.
      type: raw
      sample: /srv/project/policies/demo.yml
    policy_digests:
      description: Digests of the effective gate policy (for the targets, regional layers merged) and of the
        tolerance policy; recorded when the change opens, checked by every gate of the change.
      type: dict
      sample: {gate: "sha256:4f1c...", tolerance: "9ab0..."}
    digest:
      description: The change's digest (RFC 8785 JSON of id, sorted targets, recorded payload and policy digests,
        SHA-256) - what approvals and overrides of the change are signed over.
      type: str
      sample: "sha256:0d3e..."
    bake_times:
      description: Bake times by ring name (override of the tolerance policy's).
      type: dict
      sample: {canary: 60s, default: 15s}
    ring_steps:
      description: Cumulative ring sizes as fractions of the targets (empty for the planner's default).
      type: list
      elements: float
      sample: [0.25, 1.0]
    ring_percents:
      description: The same ring sizes as percentages of the targets, as M(changeward.hybrid.rings) takes its
        O(changeward.hybrid.rings#module:steps).
      type: list
      elements: float
      sample: [25.0, 100.0]
    data:
      description: Free-form data recorded with the change.
      type: dict
      sample: {ticket: OPS-1234}
"""
