# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pinned policy: the policies a change runs under come from the operator's inventory, never from its requester.

The gate policy (``changeward_policy``), its regional layers (``changeward_policy_local``) and the tolerance
policies per service (``changeward_tolerance_policies``) are inventory variables: group_vars and host_vars files
of the operator project, or an inventory source. Whoever runs a playbook can also set variables with ``-e``, in
play, role, block or task vars, or with ``set_fact``/``include_vars``; a policy that came from any of those
would let the person it constrains replace it, so reading one is refused (docs/trust-model.md).

Once a change is open it carries the digest of the policies it opened under; a gate of that change that finds
another policy refuses, so a task run in the middle of a change cannot swap the policy either.
"""

from __future__ import annotations

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

POLICY_VAR = "changeward_policy"
LOCAL_VAR = "changeward_policy_local"
TOLERANCE_VAR = "changeward_tolerance_policies"
PINNED_VARS = (POLICY_VAR, LOCAL_VAR, TOLERANCE_VAR)
DIGESTS_KEY = "policy_digests"  # in a change record's data: {"gate": ..., "tolerance": ...}

_MISSING = object()


class PolicyNotPinned(ChangewardError):
    """A policy came from somewhere its requester can write, or differs from the one its change opened under."""

    CONTROL = "pinned policy"  # the refusal is recorded in the change (ControllerAction.record_refusal)


def origin_problem(
    name: str,
    host: str,
    *,
    from_extra_vars: bool,
    from_facts: bool,
    task_value=_MISSING,
    inventory_value=_MISSING,
) -> str | None:
    """Why the value of the variable name for host cannot be trusted as a pinned policy (None: it can).

    task_value is what the task sees (every variable source merged); inventory_value what the inventory, its
    group_vars/host_vars files and vars plugins give (Ansible's hostvars, without play vars). Either may be
    missing. Extra vars and facts also reach hostvars, so they are asked for separately."""
    where = f"{name} of host {host}"
    if from_extra_vars:
        return (
            f"{where} was given as an extra var (-e); the operator pins policies in the inventory "
            "(group_vars/host_vars), and a run cannot replace them"
        )
    if from_facts:
        return (
            f"{where} was set by set_fact or include_vars during the run; the operator pins policies in the "
            "inventory (group_vars/host_vars), and a run cannot replace them"
        )
    if task_value is not _MISSING and (inventory_value is _MISSING or task_value != inventory_value):
        return (
            f"{where} was set in play, role, block or task vars; the operator pins policies in the inventory "
            "(group_vars/host_vars), and a run cannot replace them"
        )
    return None


def set_during_run(variable_manager, host: str, name: str) -> bool:
    """Whether set_fact or include_vars gave host the variable name in this run (Ansible's fact caches)."""
    if variable_manager is None:
        return False
    for cache_name in ("_nonpersistent_fact_cache", "_vars_cache", "_fact_cache"):
        cache = getattr(variable_manager, cache_name, None)
        # a fact cache plugin's get() raises KeyError for a host it has nothing for
        if cache is not None and (cache.contains(host) if hasattr(cache, "contains") else host in cache):
            if name in (cache.get(host) or {}):
                return True
    return False


def digest_mismatch(change_id: str, kind: str, recorded: str | None, found: str) -> str | None:
    """Why a gate of change_id may not use a policy whose digest is found (None: it may).

    A change opened without recorded digests (by hand with change_record) has nothing to compare against; its
    gates record the digest they used instead."""
    if not recorded or recorded == found:
        return None
    return (
        f"the {kind} policy now in force ({found}) is not the one change {change_id} was opened under "
        f"({recorded}); a policy cannot change in the middle of a change - close it and open a new one"
    )
