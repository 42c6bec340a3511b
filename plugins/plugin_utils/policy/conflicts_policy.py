# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``conflicts`` section of the gate policy: provider feeds, SaaS dependencies and what each kind of conflict
does (refuse or warn). gate_policy.py calls these functions for the section's schema, defaults and merging, so
that section's rules live in one place (docs/calendars-across-providers.md).

A regional layer may only tighten: turn a ``warn`` into ``refuse``, add feeds and SaaS dependencies, lengthen the
assumed change duration. Anything else is an error naming the layer.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import TimeFormatError, parse_duration

KINDS = ("provider_maintenance", "changes", "blackout", "saas", "unchecked_providers")
ACTIONS = ("refuse", "warn")
FEED_FORMATS = ("aws_health", "azure_scheduled_events", "gcp_maintenance")

DEFAULTS = {
    # blackout: the blackout gate already refuses a change inside a window; here a window that starts while the
    # change is expected to run is a warning unless the policy says refuse
    "decisions": {
        "provider_maintenance": "refuse",
        "changes": "refuse",
        "blackout": "warn",
        "saas": "refuse",
        "unchecked_providers": "warn",
    },
    "change_duration": "2h",
    "unknown_duration": "1h",
    "http_timeout": 10,
    "feeds": [],
    "saas_dependencies": {},
}

_DURATION = {
    "oneOf": [
        {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d|w|y))+$"},
        {"type": "number", "exclusiveMinimum": 0},
    ]
}
_URL_OR_PATH = {"type": "string", "minLength": 1}
_HEADERS = {"type": "object", "additionalProperties": {"type": "string"}}
_FEED = {
    "type": "object",
    "additionalProperties": False,
    "required": ["format", "src"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "format": {"enum": list(FEED_FORMATS)},
        "src": _URL_OR_PATH,
        "headers": _HEADERS,
        "instance_id": {"type": "string", "minLength": 1, "description": "the one instance a per-VM document is about"},
        "region": {"type": "string", "minLength": 1, "description": "region of a document that does not say it"},
        "endpoint_url": {
            "type": "string",
            "pattern": "^https?://",
            "description": "src aws:health only: the Health API endpoint (default the global one, us-east-1)",
        },
        "profile": {"type": "string", "minLength": 1, "description": "src aws:health only: the AWS profile to use"},
    },
}
_SAAS = {
    "type": "object",
    "additionalProperties": False,
    "anyOf": [{"required": ["statuspage"]}, {"required": ["health"]}],
    "properties": {
        "statuspage": {**_URL_OR_PATH, "description": "Statuspage v2 summary.json"},
        "health": {**_URL_OR_PATH, "description": "a URL whose answer status says healthy"},
        "expect_status": {"type": "integer", "minimum": 100, "maximum": 599},
        "components": {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True},
        "services": {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True},
        "headers": _HEADERS,
    },
}


def schema(local: bool) -> dict:
    """The section's JSON Schema (central, or what a regional layer may set). A regional layer's ``warn`` passes
    the schema so that tighten_problems can say why it is refused instead of the schema's bare enum message."""
    action = {"enum": list(ACTIONS)}
    if local:
        action["description"] = "a regional layer may only set refuse; a warn is refused, saying so"
    props = {
        "decisions": {
            "type": "object",
            "additionalProperties": False,
            "properties": dict.fromkeys(KINDS, action),
        },
        "change_duration": {**_DURATION, "description": "how long a change is assumed to run (its window)"},
        "feeds": {"type": "array", "items": _FEED},
        "saas_dependencies": {"type": "object", "additionalProperties": _SAAS},
    }
    if not local:
        props["unknown_duration"] = {**_DURATION, "description": "length of a maintenance that gives none"}
        props["http_timeout"] = {"type": "number", "exclusiveMinimum": 0, "maximum": 120}
    return {
        "type": "object",
        "additionalProperties": False,
        "description": "Conflicts with provider maintenance, other changes, blackouts and SaaS health "
        "(docs/calendars-across-providers.md)",
        "properties": props,
    }


def with_defaults(section) -> dict:
    out = copy.deepcopy(DEFAULTS)
    for key, value in (section or {}).items():
        if key == "decisions":
            out["decisions"].update(value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _seconds(value, where: str) -> float:
    try:
        return parse_duration(value, where)
    except TimeFormatError as exc:
        raise ValueError(str(exc)) from None


def tighten_problems(central: Mapping, local: Mapping, origin: str) -> list:
    """Where a regional layer would loosen the central section (the schema already allows only 'refuse')."""
    section = (local or {}).get("conflicts") or {}
    problems = []
    mine = central.get("conflicts") or DEFAULTS
    for kind, action in sorted((section.get("decisions") or {}).items()):
        if action != "refuse":
            current = (mine.get("decisions") or {}).get(kind) or DEFAULTS["decisions"].get(kind)
            problems.append(
                f"{origin}.conflicts.decisions.{kind}: {action} - a regional layer may only tighten a decision to "
                f"refuse, never relax one (the central policy says {current}; only the central policy may warn)"
            )
    if "change_duration" in section:
        try:
            if _seconds(section["change_duration"], "change_duration") < _seconds(mine["change_duration"], "central"):
                problems.append(
                    f"{origin}.conflicts.change_duration: {section['change_duration']} would loosen the central policy "
                    f"({mine['change_duration']}); a local policy may only lengthen it"
                )
        except ValueError as exc:
            problems.append(f"{origin}.conflicts.change_duration: {exc}")
    for name, entry in (section.get("saas_dependencies") or {}).items():
        existing = (mine.get("saas_dependencies") or {}).get(name)
        if existing is not None and existing != entry:
            problems.append(
                f"{origin}.conflicts.saas_dependencies.{name}: defined by the central policy; a local policy may add "
                "SaaS dependencies but not change one"
            )
    return problems


def combine(merged: dict, local: Mapping, origin: str) -> list:
    """Merge a (checked) regional layer's section into the effective policy; returns the problems (two layers
    that disagree on a SaaS dependency)."""
    section = (local or {}).get("conflicts") or {}
    if not section:
        return []
    mine = merged.setdefault("conflicts", copy.deepcopy(DEFAULTS))
    decisions = section.get("decisions") or {}
    relaxed = sorted(kind for kind, action in decisions.items() if action != "refuse")
    if relaxed:  # tighten_problems refuses these first; never merge one that slipped past
        return [f"{origin}.conflicts.decisions: {', '.join(relaxed)} - a regional layer may only set refuse"]
    mine["decisions"].update(decisions)
    if "change_duration" in section and _seconds(section["change_duration"], "l") > _seconds(
        mine["change_duration"], "c"
    ):
        mine["change_duration"] = section["change_duration"]
    for feed in section.get("feeds") or []:
        if feed not in mine["feeds"]:
            mine["feeds"].append(copy.deepcopy(feed))
    for name, entry in (section.get("saas_dependencies") or {}).items():
        if name in mine["saas_dependencies"] and mine["saas_dependencies"][name] != entry:
            return [
                f"{origin}.conflicts.saas_dependencies.{name}: defined differently by another layer; two layers cannot "
                "disagree on a SaaS dependency"
            ]
        mine["saas_dependencies"][name] = copy.deepcopy(entry)
    return []
