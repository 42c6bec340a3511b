# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: drift_state
author: changeward maintainers
version_added: "0.1.0"
short_description: The declared state of a host - the roles, with their variables, drift is judged against
description:
  - Reads the host's C(changeward_drift_state) (the inventory's declaration for a host group - a list of roles,
    each a name or a mapping with C(role) and C(vars)) or, when given, the run's C(drift_roles) (the same list,
    or role names as one comma-separated string, as an AWX survey or schedule fills it), which then stands for
    every target.
  - Validates it - role names, variable names (not C(ansible_*), C(changeward_*) or the drift playbooks' own),
    no role twice, no variable declared twice with different values - and fails naming the entry otherwise.
  - Nothing declared gives no roles; the drift report then calls the host unknown and remediation leaves it alone.
options:
  _input:
    description: The host's C(changeward_drift_state), or V(null) when it has none.
    type: raw
    required: true
  run_roles:
    description: The run's C(drift_roles), or V(null).
    type: raw
  hand_written_baseline:
    description: Whether the host has a C(drift_scan_baseline) of its own (it then covers the whole state).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Resolve the declared state of this host
  ansible.builtin.set_fact:
    drift_declared: >-
      {{ changeward_drift_state | default(none) | changeward.hybrid.drift_state(drift_roles | default(none),
                                                                         drift_scan_baseline is defined) }}
"""

RETURN = r"""
_value:
  description: The declared state.
  type: dict
  contains:
    roles:
      description: The role names, in order.
      type: list
      elements: str
    entries:
      description: Each role with its variables (C(role), C(vars)).
      type: list
      elements: dict
    vars:
      description: The variables of all entries, merged (the playbooks set them as host facts before the roles run).
      type: dict
    source:
      description: V(drift_roles), V(changeward_drift_state), or V(null) when nothing is declared.
      type: str
    unscanned:
      description: Roles no drift_scan baseline stands for; only the check-mode detector evaluates them.
      type: list
      elements: str
    baseline:
      description: Whether changeward.hybrid.drift_baseline (which renders a drift_scan baseline) is one of them.
      type: bool
    scan_baseline:
      description: Whether the scan detector has a baseline for this host (drift_baseline, or its own).
      type: bool
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.errors import DriftInputError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.state import (
    declared_state,
    is_baseline_role,
    unscanned,
)


def _plain(value):
    """Ansible's lazy containers as plain dict/list (validation compares and copies them)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _drift_state(host_state, run_roles=None, hand_written_baseline=False):
    try:
        state = declared_state(_plain(host_state), _plain(run_roles))
    except DriftInputError as exc:
        raise AnsibleFilterError(f"drift_state: {exc}") from None
    state["unscanned"] = unscanned(state["roles"], bool(hand_written_baseline))
    state["baseline"] = any(is_baseline_role(r) for r in state["roles"])
    state["scan_baseline"] = bool(hand_written_baseline) or state["baseline"]
    return state


class FilterModule:
    """changeward declared drift state filter."""

    def filters(self):
        return {"drift_state": _drift_state}
