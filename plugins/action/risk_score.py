# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.risk_score; the documentation lives in plugins/modules/risk_score.py."""

from __future__ import annotations

from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.context import ledger_exists
from ansible_collections.changeward.hybrid.plugins.plugin_utils.governance import learning
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import PolicyError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.risk import (
    CHANGE_KINDS,
    History,
    RiskInputError,
    closed_records,
    history_from_records,
    ledger_risk,
    score_change,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.risk_inputs import (
    resolve_targets,
)

RISK_SCORED = "io.changeward.risk.scored"
DEPENDENCY_MAP_VAR = "changeward_dependency_map"
PATTERNS_VAR = "changeward_failure_patterns"

ARGUMENT_SPEC = {
    "targets": {"type": "raw", "required": True},
    "change_kind": {"type": "str", "required": True, "choices": list(CHANGE_KINDS)},
    "services": {"type": "list", "elements": "str", "default": []},
    "teams": {"type": "list", "elements": "str", "default": []},
    "system_class": {"type": "str"},
    "dependency_map": {"type": "raw"},
    "imported_patterns": {"type": "list", "elements": "path"},
    "next_blackout_in": {"type": "raw"},
    "at": {"type": "str"},
    "change_id": {"type": "str"},
    "record": {"type": "bool", "default": True},
    "policy": {"type": "raw"},
    "policy_local": {"type": "raw"},
}


class ActionModule(ControllerAction):
    NAME = "risk_score"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (RiskInputError, PolicyError, LedgerError)

    def ensure(self, args, task_vars):
        return self.ensure_scored(args, task_vars)

    def _imported_patterns(self, args, task_vars) -> list:
        """Other teams' failure patterns: the option, else the inventory's pinned changeward_failure_patterns
        (imported successes lower a score, so a run cannot hand in its own)."""
        paths = args["imported_patterns"]
        if paths is None:
            paths = self.pinned_var(PATTERNS_VAR, task_vars) or []
        if isinstance(paths, str):
            paths = [paths]
        patterns = []
        for path in paths:
            doc = self.load_yaml(str(path), "failure pattern export", RiskInputError)  # JSON is YAML
            try:
                patterns += learning.validate_patterns(doc)
            except learning.LearningError as exc:
                raise RiskInputError(f"failure pattern export {path}: {exc}") from None
        return patterns

    def ensure_scored(self, args, task_vars):
        targets, _target_locals = resolve_targets(args["targets"], task_vars.get("hostvars"))
        # relative policy and map paths are looked up like other task files (role files/, playbook dir)
        policy = self.gate_policy(args, task_vars, targets)
        dependency_map = args["dependency_map"]
        if dependency_map is None:
            # the operator's map (dependency_map's store), from the inventory only: a change cannot shrink its
            # own blast radius by naming another map
            dependency_map = self.pinned_var(DEPENDENCY_MAP_VAR, task_vars)
        if isinstance(dependency_map, str):
            dependency_map = self.load_yaml(dependency_map, "dependency_map", RiskInputError)
        at = args["at"] or _now()
        ledger_path = self.ledger_target(args)
        writing = bool(args["change_id"] and args["record"] and not self._task.check_mode)
        if not writing and not ledger_exists(ledger_path):
            # A ledger that does not exist yet holds no closed change: the prior alone is the history.
            ledger_path = None

        def score(history):
            return score_change(
                targets,
                args["change_kind"],
                policy,
                services=args["services"],
                teams=args["teams"],
                dependency_map=dependency_map,
                next_blackout_in=args["next_blackout_in"],
                at=at,
                system_class=args["system_class"],
                history=history,
            )

        imported = self._imported_patterns(args, task_vars)
        if not ledger_path:
            if not imported:
                return {**score(None), "changed": False, "recorded": False, "ledger_seq": None}
            first = score(None)
            prior = policy.risk["prior"]
            history = History("prior only: no ledger given", float(prior["alpha"]), float(prior["beta"]))
            result = score(learning.add_imported(history, imported, first["system_class"]))
            return {**result, "changed": False, "recorded": False, "ledger_seq": None}

        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import utc_now

        with open_ledger(ledger_path, key=args["key"], create=False, readonly=not writing) as ledger:
            first = score(None)  # services and system class decide which history is similar
            prior = policy.risk["prior"]
            history: History = history_from_records(
                closed_records(ledger),
                first["services"],
                first["system_class"],
                prior,
                source=f"ledger {ledger.target}",
                exclude=args["change_id"],
            )
            result = score(learning.add_imported(history, imported, first["system_class"]))
            seq = None
            if writing:
                if ledger.get_change(args["change_id"]) is None:
                    raise RiskInputError(f"change {args['change_id']} is not in the ledger {ledger.target}")
                seq = ledger.update_change(
                    args["change_id"],
                    set_fields={"risk": ledger_risk(result, utc_now())},
                    event_type=RISK_SCORED,
                    data={"risk_score": result},
                ).seq
        return {**result, "changed": seq is not None, "recorded": seq is not None, "ledger_seq": seq}


def _now():
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
