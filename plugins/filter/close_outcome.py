# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: close_outcome
author: changeward maintainers
version_added: "0.1.0"
short_description: A change's outcome once people's observations at close are heard
description:
  - V(successful_with_issues) for a V(successful) change whose close observations from people report trouble - an
    observation with C(issue=true), or one given by a person (with C(by)) whose text names trouble (issue,
    problem, degraded, incident, error, failed, outage, slow, trouble). Any other outcome is returned as it is.
  - The job's own observations (plain strings) never change the outcome; the gates already judged them.
options:
  _input:
    description: The outcome the rollout gave (see P(changeward.hybrid.change_outcome#filter)).
    type: str
    required: true
  observations:
    description: Observations at close - strings, or dictionaries with C(text) and optionally C(by) and C(issue).
    type: list
    elements: raw
    required: true
"""

EXAMPLES = r"""
- name: Close with what people observed
  changeward.hybrid.change_record:
    state: closed
    change_id: "{{ change_id }}"
    outcome: "{{ closing.outcome | changeward.hybrid.close_outcome(people) }}"
    observations: "{{ closing.observations + people }}"
  vars:
    people: [{text: "checkout was slow for ten minutes after ring 2", by: carol}]
"""

RETURN = r"""
_value:
  description: The outcome to close the change with.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.changeward.hybrid.plugins.plugin_utils.governance.review import close_outcome


def _close_outcome(outcome, observations=None):
    if not isinstance(outcome, str) or not isinstance(observations, list):
        raise AnsibleFilterError("close_outcome: takes an outcome (a string) and a list of observations")
    return close_outcome(outcome, observations)


class FilterModule:
    """changeward close outcome filter."""

    def filters(self):
        return {"close_outcome": _close_outcome}
