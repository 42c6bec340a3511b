# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JSON Schema (2020-12) of the drift report; docs/schemas/drift-report.schema.json is this, as JSON."""

from __future__ import annotations

STATUS = {"enum": ["in_sync", "drifted", "unknown"]}
CLASS = {"enum": ["file", "package", "service", "sysctl", "port", "user", "task"]}
STR = {"type": "string"}
NULLABLE_STR = {"type": ["string", "null"]}
COUNT = {"type": "integer", "minimum": 0}
TIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"}

FINDING = {
    "type": "object",
    "required": ["id", "detector", "class", "item", "attribute"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9a-f]{12}$"},
        "detector": {"enum": ["scan", "check"]},
        "class": CLASS,
        "item": STR,
        "attribute": STR,
        "expected": {},
        "actual": {},
        "task": NULLABLE_STR,
        "action": NULLABLE_STR,
        "diff": NULLABLE_STR,
        "diff_sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
        "diff_hidden": {"type": ["boolean", "null"]},
        "accepted_by": STR,
        "acceptance_expired": {"type": "array", "items": STR},
    },
    "additionalProperties": False,
}

UNKNOWN_ITEM = {
    "type": "object",
    "required": ["detector", "class", "item", "reason"],
    "properties": {
        "detector": {"enum": ["scan", "check"]},
        "class": {"enum": ["file", "package", "service", "sysctl", "port", "user", "task", "host"]},
        "item": STR,
        "task": NULLABLE_STR,
        "reason": STR,
    },
    "additionalProperties": False,
}

HOST = {
    "type": "object",
    "required": ["env_type", "region", "site", "status", "reachable", "detectors", "findings", "accepted", "unknown"],
    "properties": {
        "env_type": STR,
        "region": STR,
        "site": STR,
        "status": STATUS,
        "reachable": {"type": ["boolean", "null"]},
        "detectors": {
            "type": "object",
            "properties": {"scan": STATUS, "check": STATUS},
            "additionalProperties": False,
            "minProperties": 1,
        },
        "findings": {"type": "array", "items": FINDING},
        "accepted": {"type": "array", "items": FINDING},
        "unknown": {"type": "array", "items": UNKNOWN_ITEM},
        "labels": {"type": "object"},
    },
    "additionalProperties": False,
}

ACCEPTANCE = {
    "type": "object",
    "required": ["id", "host", "class", "item", "approver", "reason", "expires", "active"],
    "properties": {
        "id": STR,
        "host": STR,
        "class": {"enum": ["file", "package", "service", "sysctl", "port", "user", "task", "*"]},
        "item": STR,
        "attribute": NULLABLE_STR,
        "actual": {},
        "approver": STR,
        "reason": STR,
        "expires": TIME,
        "reference": NULLABLE_STR,
        "active": {"type": "boolean"},
    },
    "additionalProperties": False,
}

STATUS_COUNTS = {
    "type": "object",
    "required": ["in_sync", "drifted", "unknown"],
    "properties": {"in_sync": COUNT, "drifted": COUNT, "unknown": COUNT},
    "additionalProperties": False,
}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://github.com/changeward/hybrid/blob/main/docs/schemas/drift-report.schema.json",
    "title": "changeward drift report",
    "description": "Per-host drift status from the drift_scan and check-mode detectors (docs/drift.md).",
    "type": "object",
    "required": [
        "format",
        "run_id",
        "generated_at",
        "detectors",
        "status",
        "exit_code",
        "summary",
        "groups",
        "hosts",
        "acceptances",
    ],
    "properties": {
        "format": {"const": "changeward-drift-report/1"},
        "run_id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"},
        "generated_at": TIME,
        "detectors": {"type": "array", "items": {"enum": ["scan", "check"]}, "minItems": 1, "uniqueItems": True},
        "status": STATUS,
        "exit_code": {"enum": [0, 1, 2]},
        "summary": {
            "type": "object",
            "required": [
                "hosts",
                "in_sync",
                "drifted",
                "unknown",
                "unreachable",
                "findings",
                "accepted",
                "unknown_items",
                "expired_acceptances",
                "by_class",
                "by_env_type",
            ],
            "properties": {
                "hosts": {"type": "integer", "minimum": 1},
                "in_sync": COUNT,
                "drifted": COUNT,
                "unknown": COUNT,
                "unreachable": COUNT,
                "findings": COUNT,
                "accepted": COUNT,
                "unknown_items": COUNT,
                "expired_acceptances": COUNT,
                "by_class": {
                    "type": "object",
                    "propertyNames": CLASS,
                    "additionalProperties": COUNT,
                },
                "by_env_type": {"type": "object", "additionalProperties": STATUS_COUNTS},
            },
            "additionalProperties": False,
        },
        "groups": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["env_type", "region", "site", "hosts", "in_sync", "drifted", "unknown"],
                "properties": {
                    "env_type": STR,
                    "region": STR,
                    "site": STR,
                    "hosts": {"type": "array", "items": STR, "minItems": 1},
                    "in_sync": COUNT,
                    "drifted": COUNT,
                    "unknown": COUNT,
                },
                "additionalProperties": False,
            },
        },
        "hosts": {"type": "object", "additionalProperties": HOST, "minProperties": 1},
        "acceptances": {
            "type": "object",
            "required": ["active", "expired", "unused"],
            "properties": {
                "active": {"type": "array", "items": ACCEPTANCE},
                "expired": {"type": "array", "items": ACCEPTANCE},
                "unused": {"type": "array", "items": STR},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}


def validate(report) -> list:
    """Schema violations as text (empty when valid). Needs jsonschema on the controller."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(SCHEMA)
    return sorted(
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(report)
    )
