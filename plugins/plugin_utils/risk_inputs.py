# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inputs the risk_score and approval actions share: targets from host names or labels and their regional policy
layers (the effective policy and the ledger come from the controller context, plugin_utils.context). Plain
mappings in, so the actions stay thin and this stays testable without a playbook."""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.context import LOCAL_VAR
from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import LABELS, LABELS_VAR
from ansible_collections.changeward.hybrid.plugins.plugin_utils.risk import (
    TAG_KEYS,
    RiskInputError,
    normalise_targets,
    target_from_vars,
)

HOST_KEYS = (LABELS_VAR, *LABELS, *TAG_KEYS, LOCAL_VAR)


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
