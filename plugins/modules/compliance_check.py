# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: compliance_check
short_description: Check what a change will do against CEL compliance rules before it is promoted
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Runs on the controller (it is an action plugin). Reduces what the change will do to facts - the change spec
    (C(spec)), every task of the role or tasks file it applies with its file and line (C(task)), every file a
    check-mode run reported (C(file)) - and evaluates rules written in CEL, the Common Expression Language of
    Kubernetes admission policies (cel-python).
  - A rule's expression says what must hold; false is a violation, and so is an expression that cannot be
    evaluated (fail closed). Every violation names the rule and where - the task's file and line, the host and
    path of a file, or the spec.
  - "Built-in rules (O(builtin_rules)) - C(no-world-readable-secret) (a file whose name says it holds a secret -
    key, token, password, credential, .pem, ... - must not be readable by others; a file task without a mode
    counts as readable, as the umask default 0644 is) and C(no-world-writable-file)."
  - Task facts - C(file), C(line), C(name), C(module) (short name), C(fqcn), C(args) (arguments that are one
    variable resolved from the change's vars over the role's defaults), C(path), C(mode), C(mode_bits) (-1 when
    unknown), C(mode_known) (false for no mode, a template or V(preserve) - unknown counts as readable by others,
    not as writable), C(world_readable), C(world_writable), C(secret_like), C(become), C(no_log). File facts - C(host),
    C(path), C(mode), C(mode_bits), C(world_readable), C(world_writable), C(secret_like), C(changed), C(before),
    C(after).
  - With O(change_id) the decision is recorded in the change (gate C(compliance)); a failing rule fails the task
    unless O(report_only).
  - docs/pre-implementation-validation.md has the rule format and examples.
options:
  spec:
    description: The change spec (its recorded form), seen by C(spec) rules.
    type: dict
  apply:
    description: What the change applies as M(changeward.hybrid.change_spec) returns it (C(role_path) or C(tasks),
      and C(vars)).
    type: dict
  role_path:
    description: A role whose C(tasks/*.yml) to check (instead of O(apply)).
    type: path
  tasks_file:
    description: A tasks file to check (instead of O(apply)).
    type: path
  variables:
    description: Further variables that resolve arguments written as one variable.
    type: dict
    default: {}
  results:
    description:
      - Results of file tasks run in check mode with diff (for example registered C(copy)/C(template) results,
        each with C(host) added), checked as C(file) facts.
    type: list
    elements: dict
    default: []
  render_on:
    description:
      - Hosts to render the change on - O(apply)'s role or tasks file, with its C(vars), run in check and diff mode
        in a separate C(ansible-playbook) (same inventory sources and configuration, the
        P(changeward.hybrid.check_diffs#callback) callback collecting every diff); the files it would write are
        checked as C(file) facts, besides O(results). Nothing is changed on the hosts.
      - A host that fails, cannot be reached or is not rendered is an error (fail closed). The main job passes the
        canary ring's hosts.
    type: list
    elements: str
    default: []
  render:
    description:
      - C(always) renders on O(render_on) whenever it is given. C(policy) (what the main job passes) renders only when
        the inventory sets C(changeward_compliance_render=true) - pinned like the rules, refused from extra vars, play
        vars or facts - and otherwise skips the task, because not every role can be rendered faithfully in check mode
        (a package from a repository the same change adds cannot be resolved before the repository exists).
    type: str
    choices: [always, policy]
    default: always
  render_timeout:
    description: Seconds the check-mode run of O(render_on) may take.
    type: float
    default: 600.0
  rules:
    description:
      - Rules - a list of C({name, applies_to (spec | task | file), expression, message}), or a YAML file with one
        (or with C(rules:)). Default - the inventory's C(changeward_compliance_rules), refused when given by extra
        vars, play vars or facts (the change being judged cannot choose its rules).
    type: raw
  builtin_rules:
    description: Check the built-in rules too.
    type: bool
    default: true
  change_id:
    description: Record the decision in this change (not in check mode).
    type: str
  report_only:
    description: Return violations without failing.
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
    details: Checks as otherwise; records nothing.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller; needs cel-python there.
seealso:
  - module: changeward.hybrid.change_spec
"""

EXAMPLES = r"""
- name: Gate - compliance of what the change will do
  changeward.hybrid.compliance_check:
    spec: "{{ changeward_spec.recorded.spec }}"
    apply: "{{ changeward_change.apply }}"
    change_id: "{{ changeward_change.id }}"
  run_once: true

- name: A team's own rules over a role
  changeward.hybrid.compliance_check:
    role_path: roles/myapp
    rules:
      - name: no-shell
        applies_to: task
        expression: task.module != 'shell'
        message: use command or a module
      - name: emergency-needs-ticket
        applies_to: spec
        expression: spec.type != 'emergency' || has(spec.data.ticket)
        message: an emergency change names its ticket
"""

RETURN = r"""
passed:
  description: No rule was violated.
  returned: success
  type: bool
  sample: false
violations:
  description: Each violation - C(rule), C(applies_to), C(where) (file:line, host:path - with the task and its file:line
    when rendered - or change spec), C(message),
    and C(file)/C(line)/C(task)/C(path) or C(host)/C(path).
  returned: always
  type: list
  elements: dict
  sample: [{rule: no-world-readable-secret, where: "myapp/tasks/main.yml:12 (task 'Token')", file: myapp/tasks/main.yml,
            line: 12, message: "a file that holds a secret must not be readable by others"}]
checked:
  description: Rule evaluations made.
  returned: success
  type: int
  sample: 2
tasks:
  description: Tasks looked at.
  returned: success
  type: int
  sample: 1
files:
  description: Check-mode file results looked at.
  returned: success
  type: int
  sample: 0
rendered_on:
  description: The hosts the change was rendered on in check mode (O(render_on)).
  returned: success
  type: list
  elements: str
  sample: [cloud-euw1a-01]
rules_source:
  description: Where the rules came from.
  returned: success
  type: str
  sample: built-in rules only
recorded:
  description: Whether the decision was written to the change.
  returned: success
  type: bool
  sample: true
"""
