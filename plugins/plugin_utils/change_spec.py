# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The change spec: one YAML document that says what a change is (docs/change-spec.md).

Plain Python: the schema, its validation with error messages that name the field, and the normalisation the
main job (playbooks/change.yml) runs on. Everything a spec names is checked here, before any gate runs, so a
bad spec never opens a change record.
"""

from __future__ import annotations

import os
import random
from datetime import datetime, timezone

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import LABELS, host_label, host_labels
from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring.synthetics import SCHEMA as _JOURNEYS

SPEC_VAR = "change_spec"

_DURATION = {"oneOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string", "minLength": 1}]}
_STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}}
_NAME = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]*$"}
_VAR_NAME = r"^(?!ansible_|changeward_)[A-Za-z_][A-Za-z0-9_]*$"

_HEALTH_CHECK = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "url": {"type": "string", "pattern": r"^https?://"},
        "status": {"type": "array", "items": {"type": "integer", "minimum": 100, "maximum": 599}, "minItems": 1},
        "contains": {"type": "string"},
        "command": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "retries": {"type": "integer", "minimum": 0, "maximum": 600},
        "delay": {"type": "integer", "minimum": 1, "maximum": 300},
    },
    "oneOf": [{"required": ["url"]}, {"required": ["command"]}],
}

_EDGE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["manifest", "signature", "public_key", "url"],
    "properties": {
        "manifest": {"type": "string", "minLength": 1},
        "signature": {"type": "string", "minLength": 1},
        "public_key": {"type": "string", "minLength": 1},
        "url": {"type": "string", "pattern": r"^https?://"},
        "links": {"type": "object", "additionalProperties": {"type": "string"}},
        "restart_command": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "health": {"type": "object"},
        "transfer": {"type": "object"},
        "root_dir": {"type": "string", "pattern": "^/"},
        "waves": {"type": "array", "items": {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string"}]}},
        "stage_deadline": {"type": "integer", "minimum": 1},
        "activate_deadline": {"type": "integer", "minimum": 1},
        "poll": {"type": "integer", "minimum": 1},
        "calendars": _STRINGS,
    },
}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://changeward.example/schemas/change-spec/v1",
    "title": "changeward change spec",
    "type": "object",
    "additionalProperties": False,
    "required": ["summary", "service", "targets", "apply"],
    "properties": {
        "id": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"},
        "summary": {"type": "string", "minLength": 1, "maxLength": 500},
        "type": {"enum": ["standard", "normal", "emergency"]},
        "requester": {"type": "string", "minLength": 1},
        "service": _NAME,
        "change_kind": {"enum": ["config", "package", "binary", "schema"]},
        "targets": {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {
                "pattern": {"type": "string", "minLength": 1},
                "labels": {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": {
                        "oneOf": [
                            {"type": ["string", "integer"]},
                            {"type": "array", "items": {"type": ["string", "integer"]}, "minItems": 1},
                        ]
                    },
                },
            },
        },
        "apply": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "role": {"type": "string", "minLength": 1},
                "tasks": {"type": "string", "minLength": 1},
                # the vars become host facts of the targets: never connection or changeward variables
                "vars": {
                    "type": "object",
                    "propertyNames": {"pattern": r"^(?!ansible_|changeward_)[A-Za-z_][A-Za-z0-9_]*$"},
                },
                "edge": _EDGE,
            },
            "oneOf": [{"required": ["role"]}, {"required": ["tasks"]}, {"required": ["edge"]}],
        },
        "snapshot": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "paths": {"type": "array", "items": {"type": "string", "pattern": "^/"}},
                "packages": _STRINGS,
                "services": _STRINGS,
                "verify_commands": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name", "cmd"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "cmd": {"type": "string", "minLength": 1},
                            "timeout": {"type": "integer", "minimum": 1},
                        },
                    },
                },
            },
        },
        "health_checks": {"type": "array", "items": _HEALTH_CHECK},
        "synthetic_checks": _JOURNEYS,  # journeys run against each ring once it is changed (docs/monitoring.md)
        "bake_times": {"type": "object", "additionalProperties": _DURATION},
        "ring_steps": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}},
        # SaaS the change depends on: the saas_health gate checks them (gate policy conflicts.saas_dependencies)
        "saas_dependencies": {"type": "array", "uniqueItems": True, "items": _NAME},
        # shadow traffic compared before the canary: the shadow_diff gate (docs/pre-implementation-validation.md)
        "shadow": {
            "type": "object",
            "additionalProperties": False,
            "required": ["primary", "secondary", "candidate"],
            "anyOf": [{"required": ["requests"]}, {"required": ["access_log"]}, {"required": ["listen"]}],
            # live requests mirrored to listen are taken only from the mirroring proxies
            "dependentRequired": {"listen": ["mirror_from"]},
            "properties": {
                **{k: {"type": "string", "pattern": "^https?://"} for k in ("primary", "secondary", "candidate")},
                "requests": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": "^/"}},
                "access_log": {"type": "string", "minLength": 1},
                "listen": {"type": "string", "pattern": "^[^:]+:[0-9]+$"},
                "mirror_from": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
                "duration": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
                "sample": {"type": "integer", "minimum": 1},
                "headers": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "noise": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "max_rate": {"type": "number", "minimum": 0, "maximum": 1},
            },
        },
        "data": {"type": "object"},
    },
}

ROLE_META = os.path.join("meta", "changeward.yml")


TOLERANCE_VAR = "changeward_tolerance_policies"


class ChangeSpecError(ChangewardError, ValueError):
    """The change spec is invalid; the message names the field."""


def _field(path, root: str = SPEC_VAR) -> str:
    parts = [root]
    for part in path:
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(parts).replace(".[", "[")


def _message(error, root: str = SPEC_VAR) -> str:
    path = list(error.absolute_path)
    where = _field(path, root)
    # oneOf failures are clearer told as what the field needs than as jsonschema's nested report
    if error.validator == "oneOf" and path and path[-1] == "apply":
        return f"{where}: give exactly one of role, tasks or edge"
    if error.validator == "oneOf" and len(path) >= 2 and path[-2] == "health_checks":
        return f"{where}: a health check has exactly one of url or command"
    return f"{where}: {error.message}"


def _check(schema: dict, value, where: str, root: str = SPEC_VAR) -> None:
    import jsonschema

    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(value),
        key=lambda e: (list(map(str, e.absolute_path)), e.message),
    )
    if errors:
        raise ChangeSpecError(f"invalid {where}: " + "; ".join(_message(e, root) for e in errors))


def validate(spec) -> None:
    """Raise ChangeSpecError naming every wrong field (the spec's variable, dotted path, what is wrong)."""
    if not isinstance(spec, dict):
        raise ChangeSpecError(f"{SPEC_VAR}: must be a mapping (the change spec), got {type(spec).__name__}")
    if "policy" in spec:
        # the person a policy constrains cannot choose it (docs/trust-model.md)
        raise ChangeSpecError(
            f"{SPEC_VAR}.policy: a change cannot choose the policies it runs under; the operator pins them in the "
            "inventory (changeward_policy, changeward_tolerance_policies) - remove policy from the spec"
        )
    _check(SCHEMA, spec, "change spec")


def new_change_id(now: datetime | None = None, rng: random.Random | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"CHG-{now:%Y%m%d%H%M%S}-{(rng or random.SystemRandom()).randrange(10**6):06d}"


def _matches(labels: dict, wanted: dict) -> bool:
    for name, want in wanted.items():
        have = labels.get(name)
        want_set = {str(w) for w in (want if isinstance(want, list) else [want])}
        have_set = {str(h) for h in (have if isinstance(have, (list, tuple)) else [] if have is None else [have])}
        if not want_set & have_set:
            return False
    return True


def select_targets(targets: dict, pattern_hosts: list, hostvars) -> list:
    """The hosts of the pattern (already expanded by the inventory) whose labels match every wanted label."""
    wanted = targets.get("labels") or {}
    unknown = sorted(set(wanted) - set(LABELS))
    if unknown:
        raise ChangeSpecError(
            f"{SPEC_VAR}.targets.labels: unknown label {', '.join(unknown)} (labels: {', '.join(LABELS)})"
        )
    return [h for h in pattern_hosts if _matches(host_labels(hostvars[h]), wanted)]


def resolve_path(path: str, base: str, field: str, must_exist: bool = True) -> str:
    """An absolute path: as given, or relative to base (the project checkout); it must exist when asked."""
    full = os.path.normpath(os.path.join(base, os.path.expanduser(path)))
    if must_exist and not os.path.exists(full):
        raise ChangeSpecError(f"{SPEC_VAR}.{field}: {path} does not exist (relative paths are read from {base})")
    return full


def role_scope(role_path: str | None) -> dict | None:
    """The snapshot scope a role declares in meta/changeward.yml (``snapshot:``), or None."""
    import yaml

    if not role_path:
        return None
    meta = os.path.join(role_path, ROLE_META)
    if not os.path.exists(meta):
        return None
    try:
        with open(meta, encoding="utf-8") as handle:
            doc = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ChangeSpecError(f"{SPEC_VAR}.apply.role: cannot read {meta}: {exc}") from None
    scope = doc.get("snapshot") if isinstance(doc, dict) else None
    if scope is None:
        return None
    _check(SCHEMA["properties"]["snapshot"], scope, f"snapshot scope in {meta}", root="snapshot")
    return scope


def _scope(spec: dict, declared: dict | None, edge: dict | None) -> dict:
    scope = spec.get("snapshot")
    source = "spec"
    if scope is None and declared is not None:
        scope, source = declared, "role"
    scope = dict(scope or {})
    if edge:
        # the edge agent switches these links: what they point at now is what a rollback must restore
        scope["paths"] = sorted(set(scope.get("paths", [])) | set(edge.get("links") or {}))
    out = {k: list(scope.get(k) or []) for k in ("paths", "packages", "services", "verify_commands")}
    if not (out["paths"] or out["packages"] or out["services"]):
        raise ChangeSpecError(
            f"{SPEC_VAR}.snapshot: nothing to snapshot - give snapshot.paths, packages or services "
            "(or use a role that declares them in meta/changeward.yml); a change that cannot be rolled back "
            "does not start"
        )
    out["source"] = source
    return out


def _health(checks: list) -> list:
    out = []
    for i, check in enumerate(checks):
        item = {
            "name": check.get("name") or check.get("url") or " ".join(check["command"]),
            "retries": check.get("retries", 10),
            "delay": check.get("delay", 2),
        }
        if "url" in check:
            item.update(
                kind="url", url=check["url"], status=check.get("status", [200]), contains=check.get("contains", "")
            )
        else:
            item.update(kind="command", command=check["command"])
        item["index"] = i
        out.append(item)
    return out


def normalize(
    spec: dict,
    *,
    pattern_hosts: list,
    hostvars,
    base_dir: str,
    role_path: str | None = None,
    requester: str,
    policies: dict,
    change_id: str | None = None,
    now: datetime | None = None,
) -> dict:
    """The change the main job runs: validated, targets resolved, paths absolute, snapshot scope decided.

    pattern_hosts: the hosts the inventory gives for targets.pattern (all hosts when it is not set);
    role_path: where apply.role was found (the caller asks Ansible's role search); policies: the pinned
    policies, {"gate": path, "tolerance": {service: path}} as the operator's inventory gives them;
    change_id: an id given by the launcher, which wins over the spec's.
    """
    validate(spec)
    apply = spec["apply"]
    if apply.get("edge") and apply.get("vars"):
        raise ChangeSpecError(f"{SPEC_VAR}.apply.vars: only for a role or tasks file, not for an edge release")
    targets = select_targets(spec["targets"], pattern_hosts, hostvars)
    if not targets:
        raise ChangeSpecError(
            f"{SPEC_VAR}.targets: no host matches pattern {spec['targets'].get('pattern', 'all')!r}"
            + (f" with labels {spec['targets']['labels']}" if spec["targets"].get("labels") else "")
            + "; nothing would be changed"
        )
    edge = apply.get("edge")
    if edge:
        not_edge = [h for h in targets if host_label(hostvars[h], "env_type") != "edge"]
        if not_edge:
            raise ChangeSpecError(
                f"{SPEC_VAR}.apply.edge: an edge release goes to edge hosts only; not edge: {', '.join(not_edge)}"
            )
    service = spec["service"]
    gate = policies.get("gate")
    if not gate:
        raise ChangeSpecError(
            "no gate policy: the operator pins it as changeward_policy in the inventory (group_vars/all), "
            "a path or a mapping"
        )
    known = policies.get("tolerance") or {}
    tolerance = known.get(service)
    if not tolerance:
        raise ChangeSpecError(
            f"{SPEC_VAR}.service: no tolerance policy for service {service!r}; the operator pins one per service "
            f"in changeward_tolerance_policies (inventory), which has: {', '.join(sorted(known)) or 'none'}"
        )
    policy = {}
    for name, value, var in (("gate", gate, "changeward_policy"), ("tolerance", tolerance, TOLERANCE_VAR)):
        if isinstance(value, str):
            full = os.path.normpath(os.path.join(base_dir, os.path.expanduser(value)))
            if not os.path.exists(full):
                raise ChangeSpecError(
                    f"the {name} policy {value} ({var} in the inventory) does not exist "
                    f"(relative paths are read from {base_dir})"
                )
            value = full
        policy[name] = value
    kind = "edge" if edge else ("role" if apply.get("role") else "tasks")
    out_apply = {"kind": kind, "vars": dict(apply.get("vars") or {})}
    if kind == "role":
        if not role_path:
            raise ChangeSpecError(f"{SPEC_VAR}.apply.role: role {apply['role']!r} not found")
        out_apply.update(role=apply["role"], role_path=role_path)
    elif kind == "tasks":
        out_apply["tasks"] = resolve_path(apply["tasks"], base_dir, "apply.tasks")
    else:
        out_apply["edge"] = dict(edge)
    return {
        "id": change_id or spec.get("id") or new_change_id(now),
        "type": spec.get("type", "standard"),
        "summary": spec["summary"],
        "requester": spec.get("requester") or requester,
        "service": service,
        "change_kind": spec.get("change_kind", "package" if edge else "config"),
        "pattern": spec["targets"].get("pattern", "all"),
        "labels": dict(spec["targets"].get("labels") or {}),
        "targets": targets,
        "apply": out_apply,
        "snapshot": _scope(spec, role_scope(role_path) if kind == "role" else None, edge),
        "health_checks": _health(spec.get("health_checks") or []),
        "gate_policy": policy["gate"],
        "tolerance_policy": policy["tolerance"],
        "bake_times": dict(spec.get("bake_times") or {}),
        "ring_steps": list(spec.get("ring_steps") or []),
        # the rings planner's steps are percentages of the targets (the last one 100); the spec's are fractions
        "ring_percents": [round(step * 100, 6) for step in spec.get("ring_steps") or []],
        "data": dict(spec.get("data") or {}),
    }
