# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tolerance policy of a service: one YAML document, validated with a JSON Schema, then checked for meaning.

A policy says how much a change may move each metric (allowances), how to query it, how to judge a canary,
how long each ring bakes, the SLOs behind the error budget, who owns it and who signed it off. Targets that
cannot be rolled back fully get tighter allowances (see ``TIGHTENING`` and docs/tolerance-policy.md).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import yaml

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.classify import Allowance, MetricSpec
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.errors import JudgeError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.spec import QUERY_KEYS, Defaults, metric_spec
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.verdict import check_thresholds

try:
    import jsonschema
except ImportError as exc:  # ansible-test's import check has no jsonschema; callers get a clear error instead
    jsonschema = None
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

API_VERSION = "changeward.hybrid/v1"
CAPABILITIES = ("full", "partial", "none")  # from least to most strict
# allowance_factor multiplies every allowance; 'none' also makes every metric critical and turns a
# nodata strategy of 'ignore' into 'inconclusive' (nothing may be waved through where nothing can be undone).
TIGHTENING = {
    "full": {"allowance_factor": 1.0, "all_critical": False, "no_ignore": False},
    "partial": {"allowance_factor": 0.5, "all_critical": False, "no_ignore": False},
    "none": {"allowance_factor": 0.25, "all_critical": True, "no_ignore": True},
}

_DURATION = {"type": "string", "pattern": r"^([0-9]+(ms|s|m|h|d|w|y))+$"}
_NAME = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", "maxLength": 128}
_ALLOWANCE = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {
        "relative": {"type": "number", "minimum": 0, "description": "0.2 = the canary may be 20 % worse"},
        "absolute": {"type": "number", "minimum": 0, "description": "in the metric's unit, e.g. 0.005"},
    },
}
_FACTOR = {
    "type": "object",
    "additionalProperties": False,
    "required": ["allowance_factor"],
    "properties": {"allowance_factor": {"type": "number", "minimum": 0, "maximum": 1}},
}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "changeward tolerance policy",
    "type": "object",
    "additionalProperties": False,
    "required": ["api_version", "service", "owners", "sign_off", "slos", "metrics", "canary", "bake_times"],
    "properties": {
        "api_version": {"const": API_VERSION},
        "service": _NAME,
        "description": {"type": "string"},
        "owners": {"type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "string", "minLength": 1}},
        "sign_off": {
            "type": "object",
            "additionalProperties": False,
            "required": ["product_owner", "signed_at"],
            "properties": {
                "product_owner": {"type": "string", "minLength": 1},
                "signed_at": {"type": "string", "minLength": 10},
                "reference": {"type": "string", "description": "the change record that recorded the sign-off"},
            },
        },
        "slos": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "objective", "error_ratio_query"],
                "properties": {
                    "name": _NAME,
                    "objective": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                    "period": _DURATION,
                    "error_ratio_query": {"type": "string", "pattern": r"\$"},
                    "description": {"type": "string"},
                },
            },
        },
        "error_budget": {
            "type": "object",
            "additionalProperties": False,
            "required": ["slo"],
            "properties": {
                "slo": _NAME,
                "windows": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["long", "short", "factor"],
                        "properties": {
                            "long": _DURATION,
                            "short": _DURATION,
                            "factor": {"type": "number", "exclusiveMinimum": 0},
                        },
                    },
                },
                "exempt_change_types": {"type": "array", "uniqueItems": True, "items": {"type": "string"}},
                "refuse_on_burn": {"type": "boolean"},
            },
        },
        "metrics": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "direction"],
                "properties": {
                    "name": _NAME,
                    "description": {"type": "string"},
                    "query": {"type": "string", "minLength": 1},
                    "canary_query": {"type": "string", "minLength": 1},
                    "baseline_query": {"type": "string", "minLength": 1},
                    "direction": {"enum": ["increase", "decrease", "either"]},
                    "critical": {"type": "boolean"},
                    "allowance": _ALLOWANCE,
                    "nodata": {"enum": ["fail", "inconclusive", "ignore"]},
                    "weight": {"type": "number", "exclusiveMinimum": 0},
                    "alpha": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.5},
                    "min_points": {"type": "integer", "minimum": 2},
                },
            },
        },
        "canary": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "pass_score": {"type": "number", "minimum": 0, "maximum": 100},
                "marginal_score": {"type": "number", "minimum": 0, "maximum": 100},
                "alpha": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.5},
                "min_points": {"type": "integer", "minimum": 2},
                "default_allowance": _ALLOWANCE,
                "nodata": {"enum": ["fail", "inconclusive", "ignore"]},
                "lookback": _DURATION,
                "step": _DURATION,
                "size": {"type": "number", "exclusiveMinimum": 0, "maximum": 100, "description": "% of hosts"},
            },
        },
        "bake_times": {
            "type": "object",
            "required": ["default"],
            "properties": {"default": _DURATION},
            "additionalProperties": _DURATION,
        },
        "rollback_tightening": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"partial": _FACTOR, "none": _FACTOR},
        },
        "anomaly_detection": {
            "type": "array",
            "description": "metrics scanned for anomalies over each ring's bake (anomaly_scan), against their history",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["metric"],
                "properties": {
                    "metric": _NAME,
                    "history": _DURATION,
                    "step": _DURATION,
                    "method": {"enum": ["baseline", "context"]},
                    "threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                    "fails_ring": {"type": "boolean", "description": "an anomaly alone fails the ring (default)"},
                },
            },
        },
    },
}


class PolicyError(ChangewardError, ValueError):
    """The policy is invalid; the message lists every problem with its location."""


def _plain(value):
    """YAML gives datetimes for unquoted timestamps; the schema speaks JSON, so make them ISO strings."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value


def _where(path: Iterable) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def strictest_capability(values: Iterable) -> str:
    """The strictest rollback_capability among targets; a missing or unknown value counts as 'none'."""
    values = list(values)
    if not values:
        raise PolicyError("no targets given to derive rollback_capability from")
    ranks = [CAPABILITIES.index(v) if v in CAPABILITIES else len(CAPABILITIES) - 1 for v in values]
    return CAPABILITIES[max(ranks)]


@dataclass(frozen=True)
class TolerancePolicy:
    data: dict
    digest: str

    @property
    def service(self) -> str:
        return self.data["service"]

    @property
    def canary(self) -> dict:
        return dict(self.data.get("canary") or {})

    def tightening(self, capability: str) -> dict:
        if capability not in CAPABILITIES:
            raise PolicyError(f"rollback_capability must be one of {', '.join(CAPABILITIES)}, got {capability!r}")
        rule = dict(TIGHTENING[capability])
        override = (self.data.get("rollback_tightening") or {}).get(capability)
        if override:
            rule["allowance_factor"] = float(override["allowance_factor"])
        return rule

    def judge_defaults(self) -> Defaults:
        c = self.canary
        base = Defaults()
        allowance = Allowance.from_mapping(c.get("default_allowance"), "canary.default_allowance")
        return Defaults(
            alpha=float(c.get("alpha", base.alpha)),
            min_points=int(c.get("min_points", base.min_points)),
            allowance=allowance or base.allowance,
            nodata=c.get("nodata", base.nodata),
        )

    def metric_specs(self, capability: str = "full") -> list[MetricSpec]:
        """The policy's metrics with the tightening for ``capability`` applied."""
        rule = self.tightening(capability)
        defaults = self.judge_defaults()
        return [
            metric_spec(_strip(m), i, defaults, extra_keys=QUERY_KEYS).tightened(
                rule["allowance_factor"], rule["all_critical"], rule["no_ignore"]
            )
            for i, m in enumerate(self.data["metrics"])
        ]

    def metric_queries(self) -> dict:
        return {m["name"]: {k: m[k] for k in QUERY_KEYS if k in m} for m in self.data["metrics"]}

    def slo(self, name: str | None = None) -> dict:
        slos = self.data["slos"]
        if name is None:
            name = (self.data.get("error_budget") or {}).get("slo")
            if name is None:
                if len(slos) != 1:
                    raise PolicyError("the policy has several SLOs and no error_budget.slo: name the SLO to use")
                return dict(slos[0])
        for slo in slos:
            if slo["name"] == name:
                return dict(slo)
        raise PolicyError(f"the policy has no SLO named {name!r} (has: {', '.join(s['name'] for s in slos)})")

    @property
    def error_budget(self) -> dict:
        return dict(self.data.get("error_budget") or {})

    def anomaly_checks(self) -> list[dict]:
        """The declared anomaly checks, each with its metric's query template (query, else canary_query) and the
        defaults filled in: history 6h, step 60s, method baseline, threshold 0.5, fails_ring true."""
        queries = {m["name"]: m.get("query") or m.get("canary_query") for m in self.data["metrics"]}
        defaults = {"history": "6h", "step": "60s", "method": "baseline", "threshold": 0.5, "fails_ring": True}
        return [defaults | dict(c) | {"query": queries[c["metric"]]} for c in self.data.get("anomaly_detection") or []]

    def bake_time(self, ring: str | None = None) -> str:
        times = self.data["bake_times"]
        return times.get(ring, times["default"]) if ring else times["default"]


def _strip(metric: Mapping) -> dict:
    return {k: v for k, v in metric.items() if k != "description"}


def validate(data) -> list[str]:
    """Every problem of ``data`` as 'location: message', schema problems first; [] when valid."""
    if _IMPORT_ERROR is not None:
        raise PolicyError(
            f"validating a tolerance policy needs the jsonschema library on the controller: {_IMPORT_ERROR}"
        )
    if not isinstance(data, Mapping):
        return [f"(top level): a policy is a mapping, got {type(data).__name__}"]
    data = _plain(data)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    problems = [
        f"{_where(e.absolute_path)}: {e.message}"
        for e in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    ]
    if problems:
        return problems

    def dupes(items, what):
        names = [i["name"] for i in items]
        return [f"{what}: name {n!r} is used more than once" for n in sorted({n for n in names if names.count(n) > 1})]

    problems += dupes(data["metrics"], "metrics") + dupes(data["slos"], "slos")
    try:
        datetime.datetime.fromisoformat(data["sign_off"]["signed_at"])
    except ValueError:
        problems.append(f"sign_off.signed_at: {data['sign_off']['signed_at']!r} is not an ISO 8601 date/time")
    canary = data.get("canary") or {}
    try:
        check_thresholds(canary.get("pass_score", 95), canary.get("marginal_score", 75))
    except JudgeError as exc:
        problems.append(f"canary: {exc}")
    budget = data.get("error_budget") or {}
    slo_names = [s["name"] for s in data["slos"]]
    if budget.get("slo") and budget["slo"] not in slo_names:
        problems.append(f"error_budget.slo: no SLO named {budget['slo']!r} (has: {', '.join(slo_names)})")
    for i, m in enumerate(data["metrics"]):
        sides = [k for k in ("canary_query", "baseline_query") if k in m]
        if ("query" in m) == bool(sides) or len(sides) == 1:
            problems.append(f"metrics[{i}] ({m['name']}): give either query or both canary_query and baseline_query")
        elif "query" in m and "$" not in m["query"]:
            problems.append(
                f"metrics[{i}].query: needs a ${{selector}} placeholder, or canary and baseline would read the same"
            )
        if "canary_query" in m and m["canary_query"] == m.get("baseline_query"):
            problems.append(f"metrics[{i}]: canary_query and baseline_query are identical")
    for i, s in enumerate(data["slos"]):
        if "window" not in s["error_ratio_query"]:
            problems.append(f"slos[{i}].error_ratio_query: needs a ${{window}} placeholder")
    metric_names = [m["name"] for m in data["metrics"]]
    for i, c in enumerate(data.get("anomaly_detection") or []):
        if c["metric"] not in metric_names:
            problems.append(f"anomaly_detection[{i}].metric: no metric named {c['metric']!r}")
    problems += [
        f"anomaly_detection: metric {n!r} is declared more than once"
        for n in sorted({c["metric"] for c in data.get("anomaly_detection") or []})
        if [c["metric"] for c in data.get("anomaly_detection") or []].count(n) > 1
    ]
    tight = data.get("rollback_tightening") or {}
    if (
        "partial" in tight
        and "none" in tight
        and tight["none"]["allowance_factor"] > tight["partial"]["allowance_factor"]
    ):
        problems.append("rollback_tightening: none must be at least as tight as partial")
    return problems


def load(source) -> TolerancePolicy:
    """A validated policy from a mapping or a path to a YAML file; PolicyError lists every problem."""
    if isinstance(source, Mapping):
        data = source
    elif isinstance(source, str):
        try:
            with open(source, encoding="utf-8") as fh:
                data = yaml.safe_load(fh)
        except OSError as exc:
            raise PolicyError(f"cannot read tolerance policy {source}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise PolicyError(f"tolerance policy {source} is not valid YAML: {exc}") from None
    else:
        raise PolicyError(f"a policy is a mapping or a path to a YAML file, got {type(source).__name__}")
    problems = validate(data)
    if problems:
        raise PolicyError("invalid tolerance policy:\n  " + "\n  ".join(problems))
    plain = _plain(data)
    digest = hashlib.sha256(json.dumps(plain, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return TolerancePolicy(plain, digest)
