# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: change_outcome
author: changeward maintainers
version_added: "0.1.0"
short_description: The outcome of a change from its rollout's ring results
description:
  - Turns the ring results the C(changeward.hybrid.ring_rollout) role keeps (C(ring_rollout_results)) into the
    change's outcome and the observations its closing record carries.
  - V(successful) when every planned ring passed; V(rolled_back) when a ring was rolled back; V(failed) when a ring
    could not be reached after earlier rings were changed; V(aborted) otherwise (halted by the breaker, held, the
    first ring unreachable, or no ring reached).
options:
  _input:
    description: Ring results, in rollout order (each a dictionary with at least C(name) and C(status)).
    type: list
    elements: dict
    required: true
  rings:
    description: The planned rings (the C(rings) of a M(changeward.hybrid.rings) result).
    type: list
    elements: dict
    required: true
  targets:
    description: Every target host of the change.
    type: list
    elements: str
    required: true
  label:
    description: What the summary calls the change.
    type: str
    default: the change
"""

EXAMPLES = r"""
- name: Close the change with its outcome
  changeward.hybrid.change_record:
    state: closed
    change_id: "{{ change_id }}"
    outcome: "{{ closing.outcome }}"
    observations: "{{ closing.observations }}"
  vars:
    closing: >-
      {{ ring_rollout_results | default([])
         | changeward.hybrid.change_outcome(rings=plan.rings, targets=targets, label='Release 1.2') }}
"""

RETURN = r"""
_value:
  description: The outcome and what it rests on.
  type: dict
  contains:
    outcome:
      description: V(successful), V(rolled_back), V(failed) or V(aborted).
      type: str
    reached:
      description: Hosts of the rings that passed.
      type: list
      elements: str
    rolled_back:
      description: Hosts rolled back (the failing ring's, and earlier rings' when they were rolled back too).
      type: list
      elements: str
    unreachable:
      description: Hosts a ring could not reach.
      type: list
      elements: str
    not_reached:
      description: Targets the change never reached, or reached nothing on.
      type: list
      elements: str
    rings_passed:
      description: Rings that passed.
      type: int
    rings_planned:
      description: Rings planned.
      type: int
    halt_reason:
      description: The ring that stopped the rollout and why (empty when none did).
      type: str
    summary:
      description: One line saying what the change reached.
      type: str
    observations:
      description: The summary, one line per ring (name, status, note), the unreachable and the not-reached hosts.
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.changeward.hybrid.plugins.plugin_utils.report import ReportError, change_outcome


def _change_outcome(results, rings=None, targets=None, label="the change"):
    try:
        return change_outcome(results, rings or [], targets or [], label=label)
    except ReportError as exc:
        raise AnsibleFilterError(f"change_outcome: {exc}") from exc


class FilterModule:
    """changeward change outcome filter."""

    def filters(self):
        return {"change_outcome": _change_outcome}
