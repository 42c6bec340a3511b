# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inputs the risk_score and approval actions share: targets from host names or labels, the effective policy
(central + every applicable ``changeward_policy_local``) and the ledger to use. Plain mappings in, so the
actions stay thin and this stays testable without a playbook."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import LABELS
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import (
    GatePolicy,
    effective_policy,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.risk import (
    TAG_KEYS,
    RiskInputError,
    normalise_targets,
    target_from_vars,
)

POLICY_VAR = "changeward_policy"
LOCAL_VAR = "changeward_policy_local"
ENV_LEDGER = "CHANGEWARD_LEDGER"
HOST_KEYS = ("changeward_labels", *LABELS, *TAG_KEYS, LOCAL_VAR)


def host_vars(hostvars: Mapping, name: str) -> dict:
    """The variables of inventory host ``name`` that targets and policies need, as a plain dict."""
    if name not in hostvars:
        raise RiskInputError(f"target {name} is not a host of the inventory")
    found = hostvars[name]
    return {k: found[k] for k in HOST_KEYS if k in found}


def resolve_targets(spec, hostvars: Mapping | None) -> tuple:
    """(targets, local policies) from host names, label dicts or a mapping of host -> vars.

    Host names are looked up in ``hostvars``; the ``changeward_policy_local`` of each such host comes along.
    """
    if isinstance(spec, str):
        spec = [s.strip() for s in spec.split(",") if s.strip()]
    if spec is None or (isinstance(spec, (list, tuple, Mapping)) and not spec):
        raise RiskInputError("targets is required and must not be empty")
    locals_ = []
    if isinstance(spec, (list, tuple)) and all(isinstance(s, str) for s in spec):
        if hostvars is None:
            raise RiskInputError("targets are host names but no hostvars are available")
        targets = []
        for name in spec:
            found = host_vars(hostvars, name)
            if found.get(LOCAL_VAR):
                locals_.append((found[LOCAL_VAR], f"{LOCAL_VAR} of host {name}"))
            targets.append(target_from_vars(name, found))
        return normalise_dupes(targets), locals_
    if isinstance(spec, (list, tuple)) and any(isinstance(s, str) for s in spec):
        raise RiskInputError("targets must be all host names or all label dicts, not a mix")
    return normalise_targets(spec), locals_


def normalise_dupes(targets: list) -> list:
    names = [t.name for t in targets]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RiskInputError(f"targets named more than once: {', '.join(dupes)}")
    return sorted(targets, key=lambda t: t.name)


def build_policy(
    policy_arg,
    local_arg,
    task_vars: Mapping,
    target_locals: list,
    resolve_path: Callable[[str], str] | None = None,
) -> GatePolicy:
    """The effective policy. ``policy`` defaults to the ``changeward_policy`` var; ``policy_local`` to the
    ``changeward_policy_local`` of this host and of every target host (given explicitly, only it is used)."""
    central = policy_arg if policy_arg not in (None, "", {}) else task_vars.get(POLICY_VAR)
    origin = None
    if isinstance(central, str) and central.strip():
        origin = central.strip()
        central = resolve_path(origin) if resolve_path else origin
    if local_arg not in (None, ""):
        items = local_arg if isinstance(local_arg, list) else [local_arg]
        locals_ = [(item, f"policy_local[{i}]") for i, item in enumerate(items)]
    else:
        locals_ = list(target_locals)
        own = task_vars.get(LOCAL_VAR)
        if own:
            locals_.insert(0, (own, f"{LOCAL_VAR} of host {task_vars.get('inventory_hostname', '?')}"))
    resolved = []
    for item, where in locals_:
        if isinstance(item, str) and resolve_path:
            item = resolve_path(item)
        resolved.append((item, where))
    return effective_policy(central if central not in (None, "", {}) else None, resolved, central_origin=origin)


def ledger_target(arg: str | None, required: bool) -> str | None:
    """The ledger to use: the parameter, else CHANGEWARD_LEDGER; None (or an error when required) otherwise."""
    target = (arg or "").strip() or (os.environ.get(ENV_LEDGER) or "").strip()
    if not target and required:
        raise RiskInputError(f"no ledger: pass ledger (a SQLite path or postgresql:// DSN) or set {ENV_LEDGER}")
    return target or None
