# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: change_rows
author: changeward maintainers
version_added: "0.1.0"
short_description: What a change did on each target host, as rows for changeward.hybrid.change_report
description:
  - One row per target host - C(host), C(env_type), C(where) (the AZ or site, and the ring), C(before), C(after) and
    C(outcome) - from the rollout's ring results and the hosts' variables.
  - The outcome is V(changed) or V(unchanged) (a host of a ring that passed, as its apply result says; V(applied)
    when it says neither), V(rolled back), V(held), V(failed) (its ring was rolled back but it was not) or
    V(not reached).
  - C(before), C(after) and C(changed) come from the host's O(result_var) fact, which the change's tasks set;
    a rolled-back host shows C(before) as its C(after).
options:
  _input:
    description: The target hosts.
    type: list
    elements: str
    required: true
  hostvars:
    description: The play's C(hostvars).
    type: dict
    required: true
  rings:
    description: The planned rings (the C(rings) of a M(changeward.hybrid.rings) result).
    type: list
    elements: dict
    default: []
  results:
    description: The ring results of the rollout (C(ring_rollout_results)).
    type: list
    elements: dict
    default: []
  result_var:
    description:
      - The per-host fact with what the change did there (a dictionary with optional C(before), C(after) and
        C(changed)).
    type: str
    default: changeward_apply_result
"""

EXAMPLES = r"""
- name: Print what ran where
  ansible.builtin.debug:
    msg: >-
      {{ targets | changeward.hybrid.change_rows(hostvars, rings=plan.rings, results=ring_rollout_results)
         | changeward.hybrid.change_report(title='Change CHG-1: what ran where') }}
"""

RETURN = r"""
_value:
  description: One row per target, in the order of the targets.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.changeward.hybrid.plugins.plugin_utils.report import (
    APPLY_RESULT_VAR,
    ReportError,
    change_rows,
)


def _change_rows(targets, hostvars, rings=None, results=None, result_var=APPLY_RESULT_VAR):
    try:
        return change_rows(targets, hostvars, rings or [], results or [], result_var=result_var)
    except ReportError as exc:
        raise AnsibleFilterError(f"change_rows: {exc}") from exc


class FilterModule:
    """changeward per-host report rows filter."""

    def filters(self):
        return {"change_rows": _change_rows}
