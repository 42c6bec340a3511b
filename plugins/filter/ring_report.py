# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: ring_report
author: changeward maintainers
version_added: "0.1.0"
short_description: Format a rollout ring by ring
description:
  - Turns the ring results the C(changeward.hybrid.ring_rollout) role collects into printable lines - one line per
    planned ring (env type, AZs or sites, hosts, outcome, why), with the rollback of each host and, for a ring
    rolled back after a breach, the time from the regression showing in Prometheus to its detection and to the
    completed rollback.
options:
  _input:
    description: Ring results (each a dictionary with at least C(name) and C(status)).
    type: list
    elements: dict
    required: true
  rings:
    description: The planned rings (the C(rings) of a M(changeward.hybrid.rings) result); rings without a result are
      shown as not started.
    type: list
    elements: dict
    default: []
  title:
    description: First line of the report.
    type: str
    default: Rollout ring by ring
  scrape_interval:
    description: Prometheus' scrape interval in seconds; detection within two of them is the target.
    type: float
    default: 5.0
"""

EXAMPLES = r"""
- name: Print the rollout
  ansible.builtin.debug:
    msg: "{{ ring_rollout_results | changeward.hybrid.ring_report(rings=plan.rings, title='Change CHG-1') }}"
"""

RETURN = r"""
_value:
  description: The report, one string per line.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.changeward.hybrid.plugins.plugin_utils.rollout_report import RolloutReportError, ring_report


def _ring_report(results, rings=None, title="Rollout ring by ring", scrape_interval=5.0):
    try:
        return ring_report(results, rings or [], title=title, scrape_interval=float(scrape_interval))
    except RolloutReportError as exc:
        raise AnsibleFilterError(f"ring_report: {exc}") from exc


class FilterModule:
    """changeward rollout filters."""

    def filters(self):
        return {"ring_report": _ring_report}
