# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: change_report
author: changeward maintainers
version_added: "0.1.0"
short_description: Format what a change did on each host as a table grouped by environment type
description:
  - Turns a list of per-host outcome rows into printable lines, one table per C(env_type) (cloud, on-prem,
    edge, then any other), followed by totals per outcome.
options:
  _input:
    description:
      - List of rows, each a dictionary with at least C(host) and C(outcome); C(env_type), C(where),
        C(before) and C(after) are shown when present.
    type: list
    elements: dict
    required: true
  title:
    description: First line of the report.
    type: str
    default: What ran where
"""

EXAMPLES = r"""
- name: Print what ran where
  ansible.builtin.debug:
    msg: "{{ rows | changeward.hybrid.change_report(title='Change CHG-1') }}"
  vars:
    rows:
      - {host: edge-s1-01, env_type: edge, where: edge-site-1, before: 1.0.0, after: 1.0.1, outcome: changed}
"""

RETURN = r"""
_value:
  description: The report, one string per line.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.changeward.hybrid.plugins.plugin_utils.report import ReportError, change_report


def _change_report(rows, title="What ran where"):
    try:
        return change_report(rows, title=title)
    except ReportError as exc:
        raise AnsibleFilterError(f"change_report: {exc}") from exc


class FilterModule:
    """changeward report filters."""

    def filters(self):
        return {"change_report": _change_report}
