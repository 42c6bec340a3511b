# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The declared state of a host: which roles, with which variables, describe what it should be.

The operator declares it in the inventory, per host group (``group_vars``), as ``changeward_drift_state``:

```yaml
changeward_drift_state:
  - role: sysctl_setting
    vars:
      sysctl_setting_values: {net.core.somaxconn: 4096}
  - role: nginx_site                # a role name alone: its defaults and the inventory's variables
```

A run may name the roles for every target instead (``drift_roles``: a list of the same entries, or role
names as one comma-separated string, which an AWX survey or schedule can fill). Detection runs these roles
in check mode, remediation runs them for real: both read the same list, so they cannot disagree.

A host with no declared state has nothing to compare against: it is never in sync and never remediated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.errors import DriftInputError

STATE_VAR = "changeward_drift_state"
RUN_VAR = "drift_roles"
# the role whose render entry point gives drift_scan its baseline (the only one the scan detector covers)
BASELINE_ROLES = ("changeward.hybrid.drift_baseline", "drift_baseline")
ROLE_RE = re.compile(r"\A[A-Za-z0-9_]+(\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+)?\Z")
VAR_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
# the playbooks' own variables: a declared state may not steer the run that judges it
CONTROL_VARS = frozenset(
    {
        "drift_targets",
        "drift_detectors",
        "drift_roles",
        "drift_scan_baseline",
        "drift_accepted",
        "drift_report_dir",
        "drift_record",
        "drift_calendars",
        "drift_change_id",
        "drift_snapshot_store",
        "drift_declared",
    }
)
RESERVED_PREFIXES = ("ansible_", "changeward_", "drift_state", "drift_scan_", "drift_rescan_", "drift_remediation")


def _entry(value, where: str) -> dict:
    if isinstance(value, str):
        value = {"role": value.strip()}
    if not isinstance(value, Mapping):
        raise DriftInputError(f"{where}: an entry must be a role name or a mapping with role and vars")
    unknown = sorted(set(value) - {"role", "vars"})
    if unknown:
        raise DriftInputError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; allowed: role, vars")
    role = value.get("role")
    if not isinstance(role, str) or not ROLE_RE.match(role):
        raise DriftInputError(f"{where}.role: {role!r} is not a role name (name or namespace.collection.name)")
    variables = value.get("vars")
    variables = {} if variables is None else variables
    if not isinstance(variables, Mapping):
        raise DriftInputError(f"{where}.vars: must be a mapping of variable names to values")
    for name in variables:
        if not isinstance(name, str) or not VAR_RE.match(name):
            raise DriftInputError(f"{where}.vars: {name!r} is not a variable name")
        if name in CONTROL_VARS or name.startswith(RESERVED_PREFIXES):
            raise DriftInputError(
                f"{where}.vars: {name} is reserved for the run itself (ansible_*, changeward_* and the drift "
                "playbooks' own variables cannot be part of a declared state)"
            )
    return {"role": role, "vars": dict(variables)}


def declared_state(host_state=None, run_roles=None) -> dict:
    """{roles, entries, vars, source} of one host: ``run_roles`` (the run's drift_roles) when given, else the
    host's changeward_drift_state; nothing declared gives no roles. Raises DriftInputError naming the entry."""
    if run_roles is not None and run_roles != "" and run_roles != []:
        source, value = RUN_VAR, run_roles
        if isinstance(value, str):
            value = [name for name in (part.strip() for part in value.split(",")) if name]
    elif host_state is not None:
        source, value = STATE_VAR, host_state
    else:
        return {"roles": [], "entries": [], "vars": {}, "source": None}
    if not isinstance(value, list):
        raise DriftInputError(f"{source}: must be a list of roles (name, or role and vars)")
    entries = [_entry(v, f"{source}[{i}]") for i, v in enumerate(value)]
    merged: dict = {}
    for i, entry in enumerate(entries):
        for name, val in entry["vars"].items():
            if name in merged and merged[name] != val:
                raise DriftInputError(
                    f"{source}[{i}].vars: {name} is declared twice with different values; a host has one "
                    "desired value for each variable"
                )
            merged[name] = val
    roles = list(dict.fromkeys(e["role"] for e in entries))
    if len(roles) != len(entries):
        raise DriftInputError(f"{source}: a role is listed twice; give it once, with all its variables")
    return {"roles": roles, "entries": entries, "vars": merged, "source": source}


def is_baseline_role(role: str) -> bool:
    return role in BASELINE_ROLES


def unscanned(roles, hand_written_baseline: bool) -> list:
    """Roles of the declared state no drift_scan baseline stands for. An operator's own baseline
    (drift_scan_baseline) is taken to cover the whole state; otherwise only drift_baseline renders one."""
    if hand_written_baseline:
        return []
    return [r for r in roles if not is_baseline_role(r)]
