# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Synthetic checks as a ring gate: journeys of HTTP steps, probed by Prometheus' blackbox exporter.

A journey is what a user does, in order: each step an HTTP request to the host with what must come back (status
codes, text in the body, at most a latency). Each step becomes a blackbox exporter module (``modules``: the
exporter checks status and body and reports probe_* metrics), the exporter probes the ring's hosts after the ring
was changed, and ``evaluate`` decides: a journey passes on a host when every step does; it stops at the first
step that fails (later steps depend on it); the ring fails when any host's journey fails. A probe that cannot be
run is an error, never a pass.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from ansible_collections.changeward.hybrid.plugins.module_utils import timeparse
from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring.http import HttpService, MonitoringError

CHECKED = "io.changeward.synthetic.checked"
DEFAULT_TIMEOUT = 10.0
MODULE_PREFIX = "changeward_"
_NAME = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$"}
# a duration as timeparse reads it (30s, 1h30m, 500ms, or seconds), so a spec with another is refused before any gate
_DURATION = {
    "oneOf": [
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "string", "pattern": r"^(([0-9]+(\.[0-9]+)?(ms|s|m|h|d|w|y))+|[0-9]+(\.[0-9]+)?)$"},
    ]
}
STEP_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "path"],
    "properties": {
        "name": _NAME,
        "path": {"type": "string", "pattern": "^/"},
        "method": {"enum": ["GET", "HEAD", "POST", "PUT"]},
        "body": {"type": "string"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "status": {"type": "array", "items": {"type": "integer", "minimum": 100, "maximum": 599}, "minItems": 1},
        "contains": {"type": "string", "minLength": 1},
        "max_latency": _DURATION,
    },
}
JOURNEY_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "steps"],
    "properties": {
        "name": _NAME,
        "scheme": {"enum": ["http", "https"]},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "timeout": _DURATION,
        "steps": {"type": "array", "items": STEP_SCHEMA, "minItems": 1},
    },
}
SCHEMA = {"type": "array", "items": JOURNEY_SCHEMA}


class JourneyError(MonitoringError):
    """Journeys that cannot be run as written."""


class ProbeError(MonitoringError):
    """The exporter could not be asked or answered something that is not a probe result."""


def validate(journeys) -> list[dict]:
    """Journeys checked against the schema and normalised (defaults filled, durations in seconds)."""
    import jsonschema

    try:  # plain JSON types from here on (what a YAML dumper and the ledger take), whatever the caller passed
        journeys = json.loads(json.dumps(journeys))
    except (TypeError, ValueError) as exc:
        raise JourneyError(f"synthetic_checks must be plain data (mappings, lists, text, numbers): {exc}") from None
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(journeys), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        where = "synthetic_checks" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.path)
        raise JourneyError(f"{where}: {err.message}")
    names = [j["name"] for j in journeys]
    if len(set(names)) != len(names):
        raise JourneyError(f"synthetic_checks: journey names must be unique, got {names}")
    out = []
    for i, raw in enumerate(journeys):
        journey = copy.deepcopy(dict(raw))
        journey.setdefault("scheme", "http")
        journey.setdefault("port", 443 if journey["scheme"] == "https" else 80)
        where = f"synthetic_checks[{i}]"
        journey["timeout"] = _seconds(journey.get("timeout", DEFAULT_TIMEOUT), f"{where}.timeout")
        for k, step in enumerate(journey["steps"]):
            step.setdefault("method", "GET")
            step.setdefault("status", [200])
            if "max_latency" in step:
                step["max_latency"] = _seconds(step["max_latency"], f"{where}.steps[{k}].max_latency")
                if step["max_latency"] > journey["timeout"]:
                    raise JourneyError(f"{where}.steps[{k}].max_latency is longer than the journey's timeout")
        out.append(journey)
    return out


def _seconds(value, what: str) -> float:
    try:
        return timeparse.parse_duration(value, what)
    except timeparse.TimeFormatError as exc:
        raise JourneyError(str(exc)) from None


def module_name(journey: Mapping, step: Mapping) -> str:
    """The exporter module of a step: named by a digest of what it checks, so the same step is the same module."""
    what = {k: step.get(k) for k in ("method", "body", "headers", "status", "contains")}
    what["timeout"] = journey["timeout"]
    digest = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]
    return MODULE_PREFIX + digest


def _go_duration(seconds: float) -> str:
    return f"{math.ceil(seconds * 1000)}ms"


def modules(journeys: Iterable[Mapping]) -> dict:
    """blackbox.yml ``modules`` for the steps: http prober, the expected status codes, the text the body must hold
    (as a literal), no redirects followed (a step says where it goes), IPv4."""
    out = {}
    for journey in journeys:
        for step in journey["steps"]:
            http = {
                "method": step["method"],
                "valid_status_codes": list(step["status"]),
                "no_follow_redirects": True,
                "preferred_ip_protocol": "ip4",
                "ip_protocol_fallback": False,
            }
            if step.get("contains"):
                http["fail_if_body_not_matches_regexp"] = [re.escape(step["contains"])]
            if step.get("headers"):
                http["headers"] = dict(step["headers"])
            if step.get("body") is not None:
                http["body"] = step["body"]
            out[module_name(journey, step)] = {
                "prober": "http",
                "timeout": _go_duration(journey["timeout"]),
                "http": http,
            }
    return out


def merged_config(existing: Mapping | None, journeys: Iterable[Mapping]) -> tuple[dict, bool]:
    """(blackbox.yml with the journeys' modules added, whether anything changed). Other modules stay as they are;
    a module of this name with another body is replaced (the name is the digest of what it checks)."""
    config = copy.deepcopy(dict(existing or {}))
    have = config.setdefault("modules", {}) or {}
    config["modules"] = have
    changed = False
    for name, body in modules(journeys).items():
        if have.get(name) != body:
            have[name], changed = body, True
    return config, changed


def target_url(journey: Mapping, address: str, step: Mapping) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"{journey['scheme']}://{host}:{journey['port']}{step['path']}"


def parse_probe(text: str) -> dict:
    """The unlabelled probe_* samples of an exporter answer: {name: value}."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"(probe_[a-zA-Z0-9_]+)(\{[^}]*\})?\s+(\S+)(\s+\d+)?", line)
        if m and not m.group(2):
            try:
                out[m.group(1)] = float(m.group(3))
            except ValueError:
                continue
    if "probe_success" not in out:
        raise ProbeError("the blackbox exporter's answer has no probe_success: not a probe result")
    return out


def judge_step(step: Mapping, probe: Mapping) -> dict:
    """One step's result from its probe metrics: passed, and every expectation it missed, with the evidence."""
    status = int(probe.get("probe_http_status_code", 0))
    seconds = probe.get("probe_duration_seconds")
    problems = []
    if status == 0:
        problems.append("no HTTP answer (connection failed or timed out)")
    elif status not in step["status"]:
        problems.append(f"status {status}, expected {', '.join(map(str, step['status']))}")
    if status and probe.get("probe_failed_due_to_regex") == 1:
        problems.append(f"body does not contain {step['contains']!r}")
    if step.get("max_latency") is not None and seconds is not None and seconds > step["max_latency"]:
        problems.append(f"took {seconds * 1000:.0f} ms, more than {step['max_latency'] * 1000:.0f} ms")
    if not problems and probe.get("probe_success") != 1:
        problems.append("the exporter reported the probe failed")
    return {
        "step": step["name"],
        "passed": not problems,
        "status": status,
        "seconds": None if seconds is None else round(seconds, 4),
        "problems": problems,
    }


def run_journey(journey: Mapping, address: str, probe) -> dict:
    """Run a journey's steps on one host in order, stopping at the first failure. probe(module, url) -> metrics."""
    steps = []
    for step in journey["steps"]:
        result = judge_step(step, probe(module_name(journey, step), target_url(journey, address, step)))
        result["url"] = target_url(journey, address, step)
        steps.append(result)
        if not result["passed"]:
            break
    failed = next((s for s in steps if not s["passed"]), None)
    skipped = [s["name"] for s in journey["steps"][len(steps) :]]
    return {
        "journey": journey["name"],
        "passed": failed is None,
        "steps": steps,
        "not_run": skipped,
        "reason": "" if failed is None else f"step {failed['step']}: {'; '.join(failed['problems'])}",
    }


def evaluate(journeys: Iterable[Mapping], hosts: Mapping[str, str], probe) -> dict:
    """Every journey on every host (hosts: name -> address). verdict pass | fail, the failures first in reasons."""
    journeys = list(journeys)
    if not journeys:
        raise JourneyError("no journeys to run")
    if not hosts:
        raise JourneyError("no hosts to run the journeys on")
    results = []
    for host, address in hosts.items():
        for journey in journeys:
            results.append({"host": host, **run_journey(journey, address, probe)})
    failed = [r for r in results if not r["passed"]]
    return {
        "verdict": "fail" if failed else "pass",
        "reasons": [f"{r['host']}: journey {r['journey']} failed at {r['reason']}" for r in failed],
        "journeys": results,
    }


class BlackboxExporter(HttpService):
    def __init__(self, url: str, **kwargs):
        super().__init__(url, "blackbox exporter", **kwargs)

    def probe(self, module: str, target: str) -> dict:
        resp = self.request("GET", "/probe", params={"module": module, "target": target})
        return parse_probe(resp.text)

    def reload(self) -> None:
        self.request("POST", "/-/reload", ok=(200,))

    def has_module(self, module: str) -> bool:
        """Whether the running exporter knows the module (its /config answer lists the modules by name)."""
        text = self.request("GET", "/config").text
        return re.search(rf"^\s+{re.escape(quote(module))}:\s*$", text, re.MULTILINE) is not None
