# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gate policy: calendars, approval rules and risk thresholds, per service or team, in one YAML document.

    central = load_document(path_or_dict)                 # validated against SCHEMA
    policy = effective_policy(central, [local, ...])      # locals validated against the local schema, merged

A central policy is owned by the change board. Regional teams put a *local* policy in inventory group_vars
(``changeward_policy_local``); it may add calendars, approvers, service accounts and tags and may tighten
(lower risk thresholds, more approvals) but never loosen. Anything a local policy may not do is an error naming
where it came from, never silently dropped. docs/risk-and-approvals.md is the prose version of this module and
docs/schemas/gate-policy.schema.json is ``schema_document()`` written out (a unit test holds them together).
"""

from __future__ import annotations

import copy
import datetime
import fnmatch
import hashlib
import itertools
import json
import os
import re
from collections.abc import Iterable, Mapping

import yaml

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy import conflicts_policy

try:
    import jsonschema
except ImportError as exc:  # ansible-test's import check has no jsonschema; callers get a clear error instead
    jsonschema = None
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

API_VERSION = "changeward.hybrid/v1"
RISK_CLASSES = ("low", "medium", "high", "critical")
# What may require observations at close: change types, risk classes, closing outcomes.
OBSERVATION_TRIGGERS = (
    *("standard", "normal", "emergency"),
    *RISK_CLASSES,
    *("successful", "successful_with_issues", "failed", "rolled_back", "aborted"),
)
THRESHOLD_CLASSES = ("medium", "high", "critical")  # a score >= threshold is in that class; below medium: low
IDENTITY_SOURCES = ("awx", "env", "os")
# Only AWX/AAP sets a run's identity where the person it names cannot choose it; env and os can be chosen by
# whoever runs ansible-playbook, so approvals through them must be signed.
UNSIGNED_SOURCES = ("awx",)
APPROVER_KINDS = ("human", "service")
# The complexity factors and the history factor of the risk score; weights are points out of 100.
FACTORS = (
    "hosts",
    "services",
    "env_types",
    "change_kind",
    "rollback",
    "downstream",
    "data_class",
    "blackout",
    "history",
)
# Keys of a calendar entry and of the blackout section; the calendar gate reads them (plugin_utils/calendar).
CALENDAR_KEYS = ("src", "windows", "kind", "name", "tz", "format", "allow_empty", "headers")
BLACKOUT_KEYS = ("calendars", "override_roles", "horizon_days", "default_timezone", "http_timeout")

DEFAULTS = {
    "approval": {
        "identity": {"sources": list(IDENTITY_SOURCES), "env": "CHANGEWARD_IDENTITY"},
        # Shared or machine accounts: an approval under one of these names is never a human approval.
        "service_accounts": [
            "root",
            "awx",
            "tower",
            "ansible",
            "runner",
            "*-bot",
            "*_bot",
            "*[[]bot]",
            "svc-*",
            "svc_*",
        ],
        "approvers": [],
        "required_approvals": {"low": 1, "medium": 1, "high": 2, "critical": 3},
        "peer_review": {"data_classes": ["pii"], "roles": ["peer"]},
        "human_approval_tags": ["auth", "billing"],
        # The OpenSSH allowed-signers file approvals are verified against; none: no approval can be verified.
        "allowed_signers": None,
        # Identity sources whose unsigned approvals count (only awx may be listed; default none: signed only).
        "unsigned_sources": [],
        # Whether a change needs its requester's signed request (who asks is who signed, not what the launch says).
        "require_signed_request": False,
    },
    # Emergency overrides: the incident-id pattern a reference must match (none: no override is accepted) and
    # the other gates an override may exempt a change from (each exemption needs a justification).
    "override": {"reference_pattern": None, "exemptions": []},
    "risk": {
        "thresholds": {"medium": 25, "high": 50, "critical": 75},
        # Beta(1, 9): a 10 % failure rate worth ten changes of evidence (see docs/risk-and-approvals.md).
        "prior": {"alpha": 1.0, "beta": 9.0},
        "weights": {
            "hosts": 8,
            "services": 6,
            "env_types": 6,
            "change_kind": 10,
            "rollback": 10,
            "downstream": 6,
            "data_class": 8,
            "blackout": 6,
            "history": 40,
        },
    },
    "services": {},
    "teams": {},
}

# -- the JSON Schema ------------------------------------------------------------------------------------------
_TEXT = {"type": "string", "minLength": 1, "maxLength": 1024}
_IDENT = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._@:+-]*$", "maxLength": 128}
_LABEL = {"type": "string", "pattern": r"^[a-z0-9][a-z0-9._@-]*$", "maxLength": 127}
_NAMES = {"type": "array", "uniqueItems": True, "items": _IDENT}
_LABELS = {"type": "array", "uniqueItems": True, "items": _LABEL}
_PATTERNS = {"type": "array", "uniqueItems": True, "items": {"type": "string", "minLength": 1, "maxLength": 128}}
_THRESHOLDS = {
    "type": "object",
    "description": "A risk score >= the threshold is in that class; below medium it is low.",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {c: {"type": "integer", "minimum": 1, "maximum": 100} for c in THRESHOLD_CLASSES},
}
_COUNTS = {
    "type": "object",
    "description": "Approvals needed (distinct approvers, not the requester or implementer) per risk class.",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {c: {"type": "integer", "minimum": 0, "maximum": 20} for c in RISK_CLASSES},
}
_APPROVER = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "roles"],
    "properties": {
        "name": {
            **_IDENT,
            "description": "The approver's principal in the allowed-signers file (and the AWX user name, if used).",
        },
        "roles": {**_NAMES, "minItems": 1},
        "kind": {"enum": list(APPROVER_KINDS), "description": "service: never counts as a human approval"},
        "description": _TEXT,
    },
}
_CALENDAR = {
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "path or http(s) URL of an .ics or YAML calendar"},
        {
            "type": "object",
            "additionalProperties": False,
            "anyOf": [{"required": ["src"]}, {"required": ["windows"]}],
            "properties": {
                "src": {"type": "string", "minLength": 1},
                "windows": {"type": "array", "items": {"type": "object"}},
                "kind": {"enum": ["blackout", "maintenance"]},
                "name": {"type": "string", "minLength": 1},
                "tz": {"type": "string", "minLength": 1},
                "format": {"enum": ["ics", "yaml"]},
                "allow_empty": {"type": "boolean"},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    ]
}
_CALENDARS = {"type": "array", "items": {"$ref": "#/$defs/calendar"}}


def _scoped(local: bool, service: bool) -> dict:
    """Schema of one services.<name> or teams.<name> entry."""
    props = {
        "description": _TEXT,
        "risk": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"thresholds": {"$ref": "#/$defs/thresholds"}},
        },
        "approval": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"required_approvals": {"$ref": "#/$defs/approval_counts"}},
        },
    }
    if service:
        props["tags"] = _LABELS
        if not local:
            props["team"] = _LABEL
    if local:
        props.pop("description")
    return {"type": "object", "additionalProperties": False, "properties": props}


def _sections(local: bool) -> dict:
    blackout = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"calendars": {"$ref": "#/$defs/calendars"}},
    }
    approval = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "approvers": {"type": "array", "items": {"$ref": "#/$defs/approver"}},
            "required_approvals": {"$ref": "#/$defs/approval_counts"},
            "service_accounts": _PATTERNS,
            "human_approval_tags": _LABELS,
            "peer_review": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"data_classes": _LABELS},
            },
        },
    }
    risk = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"thresholds": {"$ref": "#/$defs/thresholds"}},
    }
    if not local:
        blackout["properties"].update(
            override_roles=_NAMES,
            horizon_days={"type": "integer", "minimum": 1, "maximum": 3660},
            default_timezone={"type": "string", "minLength": 1},
            http_timeout={"type": "number", "exclusiveMinimum": 0, "maximum": 120},
        )
        approval["properties"].update(
            identity={
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "sources": {
                        "type": "array",
                        "minItems": 1,
                        "uniqueItems": True,
                        "items": {"enum": list(IDENTITY_SOURCES)},
                        "description": "Where a run's identity comes from, tried in this order.",
                    },
                    "env": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
                },
            },
            allowed_signers={
                "type": "string",
                "minLength": 1,
                "description": "OpenSSH allowed-signers file (principal, key, valid-after/valid-before) that "
                "verifies signed approvals and overrides; relative paths are looked up like other task files.",
            },
            require_signed_request={
                "type": "boolean",
                "description": "A change proceeds only with its requester's request, signed over the change digest "
                "(namespace changeward-request) and verified against allowed_signers.",
            },
            unsigned_sources={
                "type": "array",
                "uniqueItems": True,
                "items": {"enum": list(UNSIGNED_SOURCES)},
                "description": "Identity sources whose unsigned approvals count (awx only: AWX sets the identity).",
            },
        )
        approval["properties"]["peer_review"]["properties"]["roles"] = {**_NAMES, "minItems": 1}
        risk["properties"].update(
            prior={
                "type": "object",
                "additionalProperties": False,
                "required": ["alpha", "beta"],
                "properties": {
                    "alpha": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
                    "beta": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000},
                },
            },
            weights={
                "type": "object",
                "additionalProperties": False,
                "description": "Points (out of 100) per factor; all weights together must make 100.",
                "properties": {f: {"type": "integer", "minimum": 0, "maximum": 100} for f in FACTORS},
            },
            # Blast radius (plugin_utils/risk.py, docs/dependencies.md): not in DEFAULTS, so policies without
            # it keep their digests; absent means no class floor and weight 1 per consumer of unknown criticality.
            blast_radius={
                "type": "object",
                "additionalProperties": False,
                "required": ["weighted_consumers"],
                "description": "A change whose transitive downstream consumers, weighted by their criticality, "
                "reach weighted_consumers is at least of class `class` (default high), whatever its score.",
                "properties": {
                    "weighted_consumers": {"type": "number", "exclusiveMinimum": 0, "maximum": 10000},
                    "class": {"enum": list(THRESHOLD_CLASSES)},
                    "criticality_weights": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            c: {"type": "number", "minimum": 0, "maximum": 100}
                            for c in ("low", "medium", "high", "critical", "unknown")
                        },
                    },
                },
            },
        )
    props = {
        "blackout": blackout,
        "approval": approval,
        "risk": risk,
        "services": {
            "type": "object",
            "propertyNames": _LABEL,
            "additionalProperties": {"$ref": "#/$defs/local_service" if local else "#/$defs/service"},
        },
        "teams": {
            "type": "object",
            "propertyNames": _LABEL,
            "additionalProperties": {"$ref": "#/$defs/local_team" if local else "#/$defs/team"},
        },
        "description": _TEXT,
    }
    # conflicts with provider maintenance, other changes, blackouts and SaaS health (policy/conflicts_policy.py)
    props["conflicts"] = conflicts_policy.schema(local)
    if not local:
        props["api_version"] = {"const": API_VERSION}
        props["override"] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "reference_pattern": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Regular expression an override's incident reference must match in full.",
                },
                "exemptions": {
                    **_LABELS,
                    "description": "Gates besides the calendar an override may exempt a change from "
                    "(e.g. error_budget); each exemption needs a justification and opens a review.",
                },
            },
        }
        # When the main job must have people's observations at close (governance/review.py decides): changes of
        # these types, risk classes or closing outcomes.
        props["review"] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "observations_required": {
                    "type": "array",
                    "uniqueItems": True,
                    "items": {"enum": list(OBSERVATION_TRIGGERS)},
                    "description": "Change types, risk classes or closing outcomes whose close needs people's "
                    "observations (the main job asks, and fails when none are given).",
                }
            },
        }
        # The drift gate's section of the same document; drift/policy.py validates its content.
        props["drift"] = {
            "type": "object",
            "description": "Automatic drift remediation (docs/drift.md); validated by the drift gate.",
        }
    doc = {"type": "object", "additionalProperties": False, "properties": props}
    if not local:
        doc["required"] = ["api_version"]
    return doc


def schema_document() -> dict:
    """The JSON Schema (2020-12) of a central policy; ``$defs/local_policy`` is the schema of a local one."""
    central = _sections(local=False)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/changeward/hybrid/blob/main/docs/schemas/gate-policy.schema.json",
        "title": "changeward gate policy",
        "description": "Calendars, approval rules and risk thresholds per service or team (docs/risk-and-approvals.md)",
        **central,
        "$defs": {
            "calendar": _CALENDAR,
            "calendars": _CALENDARS,
            "thresholds": _THRESHOLDS,
            "approval_counts": _COUNTS,
            "approver": _APPROVER,
            "service": _scoped(local=False, service=True),
            "team": _scoped(local=False, service=False),
            "local_service": _scoped(local=True, service=True),
            "local_team": _scoped(local=True, service=False),
            "local_policy": {
                "title": "changeward local gate policy (changeward_policy_local)",
                **_sections(local=True),
            },
        },
    }


SCHEMA = schema_document()
LOCAL_SCHEMA = {**SCHEMA, "$ref": "#/$defs/local_policy"}
for _key in ("type", "additionalProperties", "properties", "required"):
    LOCAL_SCHEMA.pop(_key, None)


class PolicyError(ChangewardError, ValueError):
    """The policy is invalid or a local policy tries to loosen it; the message names every problem's location."""


# -- loading and validation -----------------------------------------------------------------------------------
def _plain(value):
    """YAML gives dates and datetimes for unquoted timestamps; the schema speaks JSON."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, str):
        return str(value)  # drop str subclasses (Ansible's tagged strings) so digests are plain JSON
    return value


def _where(origin: str, path: Iterable) -> str:
    out = origin
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def read_document(src, origin: str | None = None) -> tuple[dict, str]:
    """A policy from a mapping or a YAML file path -> (plain dict, origin for messages)."""
    if isinstance(src, Mapping):
        return _plain(src), origin or "policy"
    if isinstance(src, str) and src.strip():
        path = os.path.expanduser(src.strip())
        try:
            with open(path, encoding="utf-8") as handle:
                doc = yaml.safe_load(handle)
        except OSError as exc:
            raise PolicyError(f"cannot read policy file {src}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise PolicyError(f"policy file {src} is not valid YAML: {exc}") from None
        if not isinstance(doc, Mapping):
            raise PolicyError(f"policy file {src} must hold a YAML mapping, got {type(doc).__name__}")
        return _plain(doc), origin or src
    raise PolicyError(f"a policy must be a mapping or a path to a YAML file, got {type(src).__name__}")


def _schema_errors(doc, schema, origin: str, local: bool) -> list:
    if jsonschema is None:
        raise PolicyError(f"the gate policy needs the Python package jsonschema on the controller ({_IMPORT_ERROR})")
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        where = _where(origin, err.absolute_path)
        if local and err.validator == "additionalProperties":
            allowed = ", ".join(sorted(err.schema.get("properties", {})))
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            problems.append(
                f"{where}: a local policy may not set {', '.join(extra)} (it may set only: {allowed}); "
                "change the central policy instead"
            )
        else:
            problems.append(f"{where}: {err.message}")
    return problems


def _raise(problems: list) -> None:
    if problems:
        shown = problems[:20]
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise PolicyError("invalid gate policy: " + "; ".join(shown) + more)


def load_document(src, origin: str | None = None) -> dict:
    """Read and validate a central policy (schema + meaning); returns the plain document."""
    doc, origin = read_document(src, origin)
    problems = _schema_errors(doc, SCHEMA, origin, local=False)
    _raise(problems)
    problems = _meaning(doc, origin)
    _raise(problems)
    return doc


def load_local(src, origin: str | None = None) -> dict:
    doc, origin = read_document(src, origin or "changeward_policy_local")
    _raise(_schema_errors(doc, LOCAL_SCHEMA, origin, local=True))
    _raise(_approver_problems(doc, origin))
    return doc


def _approver_problems(doc, origin) -> list:
    problems = []
    seen = set()
    for i, approver in enumerate(((doc.get("approval") or {}).get("approvers")) or []):
        key = approver["name"].casefold()
        if key in seen:
            problems.append(f"{origin}.approval.approvers[{i}]: approver {approver['name']} is listed twice")
        seen.add(key)
    pattern = (doc.get("override") or {}).get("reference_pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append(f"{origin}.override.reference_pattern: not a regular expression ({exc})")
    return problems


def _ordered(thresholds: Mapping, where: str) -> list:
    values = [(c, thresholds[c]) for c in THRESHOLD_CLASSES]
    for (lo_name, lo), (hi_name, hi) in itertools.pairwise(values):
        if lo >= hi:
            return [f"{where}: {lo_name} ({lo}) must be below {hi_name} ({hi})"]
    return []


def _meaning(doc, origin) -> list:
    """Checks a schema cannot say: ordered thresholds, weights that make 100, usable keys, known teams."""
    problems = _approver_problems(doc, origin)
    base = {**DEFAULTS["risk"]["thresholds"], **((doc.get("risk") or {}).get("thresholds") or {})}
    problems += _ordered(base, f"{origin}.risk.thresholds")
    weights = {**DEFAULTS["risk"]["weights"], **((doc.get("risk") or {}).get("weights") or {})}
    if sum(weights.values()) != 100:
        problems.append(
            f"{origin}.risk.weights: the weights must add up to 100, they add up to {sum(weights.values())}"
        )
    teams = doc.get("teams") or {}
    for name, team in teams.items():
        merged = {**base, **((team.get("risk") or {}).get("thresholds") or {})}
        problems += _ordered(merged, f"{origin}.teams.{name}.risk.thresholds")
    for name, service in (doc.get("services") or {}).items():
        team = teams.get(service.get("team")) or {}
        merged = {
            **base,
            **((team.get("risk") or {}).get("thresholds") or {}),
            **((service.get("risk") or {}).get("thresholds") or {}),
        }
        problems += _ordered(merged, f"{origin}.services.{name}.risk.thresholds")
    return problems


# -- merging ----------------------------------------------------------------------------------------------------
def _with_defaults(doc: Mapping) -> dict:
    out = copy.deepcopy(DEFAULTS)
    out["api_version"] = API_VERSION
    out["blackout"] = copy.deepcopy(doc.get("blackout") or {})
    for section in ("approval", "risk", "override"):
        given = doc.get(section) or {}
        for key, value in given.items():
            if isinstance(value, Mapping) and isinstance(out[section].get(key), Mapping):
                out[section][key] = {**out[section][key], **copy.deepcopy(value)}
            else:
                out[section][key] = copy.deepcopy(value)
    out["services"] = copy.deepcopy(doc.get("services") or {})
    out["teams"] = copy.deepcopy(doc.get("teams") or {})
    out["conflicts"] = conflicts_policy.with_defaults(doc.get("conflicts"))
    if doc.get("description"):
        out["description"] = doc["description"]
    if doc.get("review"):  # only when given: a policy without it keeps its digest
        out["review"] = copy.deepcopy(doc["review"])
    return out


def _union(first: Iterable, second: Iterable) -> list:
    out = list(first)
    for item in second:
        if item not in out:
            out.append(item)
    return out


def _tighten(central: dict, local: Mapping, origin: str) -> list:
    """Problems where ``local`` would loosen ``central`` (the effective central policy)."""
    problems = []
    pol = GatePolicy(central)

    def thresholds(where, given, current):
        for cls, value in (given or {}).items():
            if value > current[cls]:
                problems.append(
                    f"{where}.{cls}: {value} would loosen the central policy ({current[cls]}); a local policy may "
                    "only lower risk thresholds"
                )

    def counts(where, given, current):
        for cls, value in (given or {}).items():
            if value < current[cls]:
                problems.append(
                    f"{where}.{cls}: {value} would loosen the central policy ({current[cls]}); a local policy may "
                    "only require more approvals"
                )

    risk = local.get("risk") or {}
    thresholds(f"{origin}.risk.thresholds", risk.get("thresholds"), central["risk"]["thresholds"])
    approval = local.get("approval") or {}
    counts(
        f"{origin}.approval.required_approvals",
        approval.get("required_approvals"),
        central["approval"]["required_approvals"],
    )
    for name, entry in (local.get("services") or {}).items():
        # The service's layer already includes its central team, so the service alone is the reference.
        thresholds(
            f"{origin}.services.{name}.risk.thresholds",
            (entry.get("risk") or {}).get("thresholds"),
            pol.thresholds([name]),
        )
        counts(
            f"{origin}.services.{name}.approval.required_approvals",
            (entry.get("approval") or {}).get("required_approvals"),
            pol.required_approvals([name]),
        )
    for name, entry in (local.get("teams") or {}).items():
        thresholds(
            f"{origin}.teams.{name}.risk.thresholds",
            (entry.get("risk") or {}).get("thresholds"),
            pol.thresholds([], [name]),
        )
        counts(
            f"{origin}.teams.{name}.approval.required_approvals",
            (entry.get("approval") or {}).get("required_approvals"),
            pol.required_approvals([], [name]),
        )
    problems += conflicts_policy.tighten_problems(central, local, origin)
    known = {a["name"].casefold(): a for a in central["approval"]["approvers"]}
    for i, approver in enumerate(approval.get("approvers") or []):
        existing = known.get(approver["name"].casefold())
        if existing is not None and _approver_key(existing) != _approver_key(approver):
            problems.append(
                f"{origin}.approval.approvers[{i}]: approver {approver['name']} is defined by the central policy; a "
                "local policy may add approvers but not change one (roles, kind or key)"
            )
    return problems


def _approver_key(approver: Mapping) -> tuple:
    return (
        approver["name"].casefold(),
        tuple(sorted(approver["roles"])),
        approver.get("kind", "human"),
    )


def _merge_scoped(target: dict, given: Mapping, service: bool) -> None:
    for name, entry in (given or {}).items():
        current = target.setdefault(name, {})
        if service and entry.get("tags"):
            current["tags"] = _union(current.get("tags") or [], entry["tags"])
        risk_t = (entry.get("risk") or {}).get("thresholds")
        if risk_t:
            have = current.setdefault("risk", {}).setdefault("thresholds", {})
            for cls, value in risk_t.items():
                have[cls] = min(value, have.get(cls, value))
        counts = (entry.get("approval") or {}).get("required_approvals")
        if counts:
            have = current.setdefault("approval", {}).setdefault("required_approvals", {})
            for cls, value in counts.items():
                have[cls] = max(value, have.get(cls, value))


def _combine(merged: dict, local: Mapping, origin: str) -> None:
    calendars = (local.get("blackout") or {}).get("calendars") or []
    if calendars:
        merged["blackout"]["calendars"] = _union(merged["blackout"].get("calendars") or [], copy.deepcopy(calendars))
    _raise(conflicts_policy.combine(merged, local, origin))
    approval = local.get("approval") or {}
    mine = merged["approval"]
    by_name = {a["name"].casefold(): a for a in mine["approvers"]}
    for approver in approval.get("approvers") or []:
        existing = by_name.get(approver["name"].casefold())
        if existing is None:
            entry = {**copy.deepcopy(approver), "origin": origin}
            mine["approvers"].append(entry)
            by_name[approver["name"].casefold()] = entry
        elif _approver_key(existing) != _approver_key(approver):
            raise PolicyError(
                f"{origin}.approval.approvers: approver {approver['name']} is defined differently by "
                f"{existing.get('origin', 'the central policy')}; two local policies cannot disagree on an approver"
            )
    for cls, value in (approval.get("required_approvals") or {}).items():
        mine["required_approvals"][cls] = max(value, mine["required_approvals"][cls])
    mine["service_accounts"] = _union(mine["service_accounts"], approval.get("service_accounts") or [])
    mine["human_approval_tags"] = _union(mine["human_approval_tags"], approval.get("human_approval_tags") or [])
    classes = (approval.get("peer_review") or {}).get("data_classes") or []
    mine["peer_review"]["data_classes"] = _union(mine["peer_review"]["data_classes"], classes)
    for cls, value in ((local.get("risk") or {}).get("thresholds") or {}).items():
        merged["risk"]["thresholds"][cls] = min(value, merged["risk"]["thresholds"][cls])
    _merge_scoped(merged["services"], local.get("services"), service=True)
    _merge_scoped(merged["teams"], local.get("teams"), service=False)


def canonical_digest(doc) -> str:
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def effective_policy(central=None, locals_=(), central_origin=None) -> GatePolicy:
    """Validate the central policy (None: built-in defaults only) and merge the local ones into it.

    ``locals_`` is a list of local policies, each a mapping/path or a (document, origin) pair. Identical local
    documents (one group_vars file seen through many hosts) count once.
    """
    sources = []
    if central is None:
        merged = _with_defaults({})
        sources.append("built-in defaults")
    else:
        doc = load_document(central, central_origin)
        merged = _with_defaults(doc)
        sources.append(central_origin or (central if isinstance(central, str) else "policy"))
    for approver in merged["approval"]["approvers"]:
        approver.setdefault("origin", sources[0])
    central_view = copy.deepcopy(merged)
    seen = set()
    for item in locals_ or ():
        src, origin = item if isinstance(item, tuple) else (item, None)
        if src is None or src == {}:
            continue
        local = load_local(src, origin)
        digest = canonical_digest(local)
        if digest in seen:
            continue
        seen.add(digest)
        origin = origin or "changeward_policy_local"
        _raise(_tighten(central_view, local, origin))
        _combine(merged, local, origin)
        sources.append(origin)
    return GatePolicy(merged, sources)


class GatePolicy:
    """The effective policy (defaults <- central <- locals) with the lookups the gates need."""

    def __init__(self, data: Mapping, sources: Iterable = ()):
        self.data = data
        self.sources = list(sources)
        self.digest = canonical_digest(dict(data))
        self.allowed_signers_digest = None

    def bind_allowed_signers(self, content_digest: str | None) -> None:
        """Fold the content of the allowed-signers file the policy names into its digest: who may approve is
        part of the policy, so a change opened under one file refuses gates that would verify against another.
        content_digest is None when the file cannot be read (verifying a signature then fails on its own)."""
        self.allowed_signers_digest = content_digest
        self.digest = canonical_digest({"policy": dict(self.data), "allowed_signers": content_digest or "unreadable"})

    # -- sections ----------------------------------------------------------------------------------------------
    @property
    def approval(self) -> dict:
        return self.data["approval"]

    @property
    def risk(self) -> dict:
        return self.data["risk"]

    @property
    def identity_sources(self) -> tuple:
        return tuple(self.approval["identity"]["sources"])

    @property
    def identity_env(self) -> str:
        return self.approval["identity"]["env"]

    @property
    def allowed_signers(self) -> str | None:
        """The allowed-signers file as the policy names it (the action resolves a relative path)."""
        return self.approval.get("allowed_signers")

    @property
    def unsigned_sources(self) -> tuple:
        return tuple(self.approval.get("unsigned_sources") or ())

    @property
    def override(self) -> dict:
        return self.data.get("override") or {"reference_pattern": None, "exemptions": []}

    @property
    def conflicts(self) -> dict:
        """The conflicts section with its defaults (policy/conflicts_policy.py)."""
        return self.data.get("conflicts") or conflicts_policy.with_defaults(None)

    # -- per service / team ------------------------------------------------------------------------------------
    def team_of(self, service: str) -> str | None:
        return (self.data["services"].get(service) or {}).get("team")

    def service_tags(self, service: str) -> list:
        return list((self.data["services"].get(service) or {}).get("tags") or [])

    def _layers(self, services: Iterable, teams: Iterable) -> list:
        """One list of policy layers per service or team involved (global first, most specific last)."""
        layers = []
        for name in sorted(set(services)):
            entry = self.data["services"].get(name) or {}
            team = self.data["teams"].get(entry.get("team")) or {}
            layers.append([team, entry])
        for name in sorted(set(teams)):
            layers.append([self.data["teams"].get(name) or {}])
        return layers or [[]]

    def _resolve(self, section: str, key: str, base: Mapping, services, teams, pick) -> dict:
        candidates = []
        for layer in self._layers(services, teams):
            value = dict(base)
            for entry in layer:
                value.update(((entry.get(section) or {}).get(key)) or {})
            candidates.append(value)
        return {cls: pick(c[cls] for c in candidates) for cls in base}

    def thresholds(self, services: Iterable = (), teams: Iterable = ()) -> dict:
        """Risk class thresholds for a change touching these services and teams: the strictest (lowest) wins."""
        return self._resolve("risk", "thresholds", self.risk["thresholds"], services, teams, min)

    def required_approvals(self, services: Iterable = (), teams: Iterable = ()) -> dict:
        """Approvals per risk class: the largest number any involved service or team asks for."""
        return self._resolve(
            "approval", "required_approvals", self.approval["required_approvals"], services, teams, max
        )

    # -- approvers ---------------------------------------------------------------------------------------------
    def approver(self, name: str) -> dict | None:
        key = name.casefold()
        for entry in self.approval["approvers"]:
            if entry["name"].casefold() == key:
                return entry
        return None

    def is_service_account(self, name: str) -> bool:
        key = name.casefold()
        return any(fnmatch.fnmatchcase(key, pattern.casefold()) for pattern in self.approval["service_accounts"])

    def summary(self) -> dict:
        out = {"digest": self.digest, "sources": list(self.sources)}
        if self.allowed_signers:
            out["allowed_signers_digest"] = self.allowed_signers_digest
        return out
