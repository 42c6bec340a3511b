# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alertmanager during a change: silences scoped to the change, routes to ops and the owning team.

The alert policy (the inventory's ``changeward_alert_policy``, pinned like the gate policy) says which labels
name a host, a service, a team and a change, which alerts are critical (never silenced), the longest silence a
change may hold, and the receivers: ops, and one per team that owns hosts (the ``owner_team`` label).

- ``silence_matchers``: a silence for the change's hosts and service, with one negative matcher per critical
  rule, so no alert the policy marks critical is ever covered. Alertmanager ANDs a silence's matchers, so each
  critical rule is a single label condition (``not (a or b)`` is ``not a and not b``; ``not (a and b)`` would need
  two silences).
- ``routing_config``: the ``route`` and ``receivers`` of alertmanager.yml, generated from the policy and the
  teams of the inventory's labels; checked with ``amtool check-config`` (``check_config``).
- ``Alertmanager``: create, list and expire silences over the v2 API.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.module_utils import timeparse
from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring.http import (
    HttpService,
    MonitoringError,
    ServiceRefused,
)

API_VERSION = "changeward.hybrid/v1"
POLICY_VAR = "changeward_alert_policy"
ENV_URL = "CHANGEWARD_ALERTMANAGER_URL"
ENV_TOKEN = "CHANGEWARD_ALERTMANAGER_TOKEN"  # noqa: S105 - the name of a variable, not a secret
SILENCED = "io.changeward.alerts.silenced"
UNSILENCED = "io.changeward.alerts.unsilenced"
ROUTED = "io.changeward.alerts.routed"
CREATED_BY = "changeward.hybrid"
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
DEFAULT_LABELS = {"host": "host", "service": "service", "team": "owner_team", "change": "change_id"}

_DURATION = {"oneOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string", "minLength": 1}]}
_LABEL = {"type": "string", "pattern": LABEL_NAME.pattern}
_RECEIVER = {
    "type": "object",
    "additionalProperties": False,
    "required": ["webhook_url"],
    "properties": {
        "webhook_url": {"type": "string", "pattern": r"^https?://"},
        "send_resolved": {"type": "boolean"},
    },
}
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["api_version", "critical", "routing"],
    "properties": {
        "api_version": {"const": API_VERSION},
        "description": {"type": "string"},
        "alertmanager_url": {"type": "string", "pattern": r"^https?://"},
        "labels": {
            "type": "object",
            "additionalProperties": False,
            "properties": dict.fromkeys(DEFAULT_LABELS, _LABEL),
        },
        "critical": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["label"],
                "properties": {"label": _LABEL, "value": {"type": "string"}, "regex": {"type": "string"}},
                "oneOf": [{"required": ["value"]}, {"required": ["regex"]}],
            },
        },
        "silence": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"max_window": _DURATION},
        },
        "routing": {
            "type": "object",
            "additionalProperties": False,
            "required": ["ops", "teams"],
            "properties": {
                "ops": _RECEIVER,
                "teams": {"type": "object", "additionalProperties": _RECEIVER},
                "group_by": {"type": "array", "items": _LABEL},
                "group_wait": {"type": "string"},
                "group_interval": {"type": "string"},
                "repeat_interval": {"type": "string"},
            },
        },
    },
}


class AlertPolicyError(MonitoringError):
    """The alert policy is missing or invalid."""


class SilenceRefused(MonitoringError):
    """A silence the policy does not allow (too long, no host, a matcher that would cover a critical alert)."""


def load_policy(raw) -> dict:
    """The alert policy from a mapping (or a YAML file path), validated; labels filled with their defaults."""
    if raw in (None, "", {}):
        raise AlertPolicyError(
            f"no alert policy: the inventory must pin {POLICY_VAR} (a path or a mapping, docs/monitoring.md)"
        )
    if isinstance(raw, str):
        import yaml

        try:
            with open(os.path.expanduser(raw), encoding="utf-8") as handle:
                raw = yaml.safe_load(handle)
        except OSError as exc:
            raise AlertPolicyError(f"cannot read the alert policy {raw}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise AlertPolicyError(f"alert policy {raw} is not valid YAML: {exc}") from None
    if not isinstance(raw, Mapping):
        raise AlertPolicyError("the alert policy must be a mapping")
    import json

    import jsonschema

    raw = json.loads(json.dumps(raw))  # plain JSON types: what a YAML dumper and the ledger take

    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(raw), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.path) or "(top)"
        raise AlertPolicyError(f"alert policy: {where}: {err.message}")
    policy = copy.deepcopy(dict(raw))
    policy["labels"] = {**DEFAULT_LABELS, **(policy.get("labels") or {})}
    for i, rule in enumerate(policy["critical"]):
        if "regex" in rule:
            try:
                re.compile(rule["regex"])
            except re.error as exc:
                raise AlertPolicyError(f"alert policy: critical.{i}.regex is not a regular expression: {exc}") from None
    return policy


def iso(ts: float) -> str:
    """RFC 3339 UTC with milliseconds, as Alertmanager writes its times."""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(float(ts), tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- silences --------------------------------------------------------------------------------------------------------
def _anchored_union(values: Iterable[str]) -> str:
    return "|".join(re.escape(v) for v in sorted(set(values)))


def silence_matchers(policy: Mapping, hosts: Iterable[str], service: str) -> list[dict]:
    """The matchers of a change's silence (Alertmanager API v2 form): its hosts, its service, and not critical."""
    hosts = sorted({str(h) for h in hosts if str(h)})
    if not hosts:
        raise SilenceRefused("a silence needs the change's hosts: none given")
    if not service:
        raise SilenceRefused("a silence needs the change's service")
    labels = policy["labels"]
    out = [
        {"name": labels["host"], "value": _anchored_union(hosts), "isRegex": True, "isEqual": True},
        {"name": labels["service"], "value": str(service), "isRegex": False, "isEqual": True},
    ]
    for rule in policy["critical"]:
        regex = "regex" in rule
        out.append(
            {
                "name": rule["label"],
                "value": rule["regex"] if regex else rule["value"],
                "isRegex": regex,
                "isEqual": False,
            }
        )
    return out


def covers(matchers: Iterable[Mapping], labels: Mapping) -> bool:
    """Whether a silence with these matchers silences an alert with these labels (Alertmanager's rule: every
    matcher holds; a regex matches the whole value; a missing label is the empty string)."""
    for m in matchers:
        value = str(labels.get(m["name"], ""))
        hit = re.fullmatch(m["value"], value) is not None if m["isRegex"] else value == m["value"]
        if hit != m.get("isEqual", True):
            return False
    return True


def is_critical(policy: Mapping, labels: Mapping) -> bool:
    for rule in policy["critical"]:
        value = str(labels.get(rule["label"], ""))
        if ("regex" in rule and re.fullmatch(rule["regex"], value)) or rule.get("value") == value:
            return True
    return False


def silence_window(policy: Mapping, starts: float, ends: float) -> tuple[float, float]:
    """(starts, ends) of a change's silence, refused when it is empty or longer than the policy's max_window."""
    if ends <= starts:
        raise SilenceRefused(f"the silence would end ({iso(ends)}) before it starts ({iso(starts)})")
    limit = (policy.get("silence") or {}).get("max_window")
    if limit is not None:
        longest = timeparse.parse_duration(limit, "silence.max_window")
        if ends - starts > longest:
            raise SilenceRefused(
                f"a silence of {ends - starts:.0f}s is longer than the policy's silence.max_window ({limit})"
            )
    return starts, ends


def silence_body(change_id: str, matchers: list, starts: float, ends: float, comment: str) -> dict:
    return {
        "matchers": matchers,
        "startsAt": iso(starts),
        "endsAt": iso(ends),
        "createdBy": f"{CREATED_BY}/{change_id}",
        "comment": f"change {change_id}: {comment}",
    }


# -- routing ---------------------------------------------------------------------------------------------------------
def team_receiver(team: str) -> str:
    return f"team-{team}"


def routing_config(policy: Mapping, teams: Iterable[str]) -> dict:
    """alertmanager.yml's route and receivers: every alert to ops; an alert of a change (its change label set) also
    to the team that owns the host (its team label). Every team that owns a host must have a receiver: a change's
    alert for a team nobody listens for is refused here, not discovered during an incident."""
    routing, labels = policy["routing"], policy["labels"]
    teams = sorted({str(t) for t in teams if t})
    missing = [t for t in teams if t not in routing["teams"]]
    if missing:
        raise AlertPolicyError(
            f"hosts are owned by team(s) {', '.join(missing)} with no receiver in the alert policy's routing.teams"
        )
    receivers = [{"name": "ops", "webhook_configs": [_webhook(routing["ops"])]}]
    routes = [{"receiver": "ops", "continue": True}]
    for team in sorted(set(teams) | set(routing["teams"])):
        receivers.append({"name": team_receiver(team), "webhook_configs": [_webhook(routing["teams"][team])]})
        routes.append(
            {
                "receiver": team_receiver(team),
                "matchers": [f'{labels["team"]}="{_quote(team)}"', f'{labels["change"]}=~".+"'],
            }
        )
    route = {
        "receiver": "ops",
        "group_by": list(routing.get("group_by") or ["alertname", labels["host"], labels["change"]]),
        "group_wait": routing.get("group_wait", "10s"),
        "group_interval": routing.get("group_interval", "1m"),
        "repeat_interval": routing.get("repeat_interval", "4h"),
        "routes": routes,
    }
    return {"route": route, "receivers": receivers}


def receivers_for(config: Mapping, labels: Mapping) -> list[str]:
    """Which receivers an alert with these labels reaches under a routing_config (its matchers only: = and =~)."""
    out = []
    for route in config["route"]["routes"]:
        if all(_matcher_holds(m, labels) for m in route.get("matchers") or []):
            out.append(route["receiver"])
            if not route.get("continue"):
                break
    return out or [config["route"]["receiver"]]


def _matcher_holds(text: str, labels: Mapping) -> bool:
    name, op, value = re.fullmatch(r'([a-zA-Z_][a-zA-Z0-9_]*)(=~|=)"(.*)"', text).groups()
    value = value.replace('\\"', '"').replace("\\\\", "\\")
    have = str(labels.get(name, ""))
    return re.fullmatch(value, have) is not None if op == "=~" else have == value


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _webhook(receiver: Mapping) -> dict:
    return {"url": receiver["webhook_url"], "send_resolved": bool(receiver.get("send_resolved", True))}


def merge_config(base: Mapping | None, generated: Mapping) -> dict:
    """An alertmanager.yml: the operator's base (global, inhibit_rules, templates, ...) with the generated route
    and receivers."""
    out = copy.deepcopy(dict(base or {}))
    out.update(copy.deepcopy(dict(generated)))
    return out


def check_config(text: str, amtool: str = "amtool") -> None:
    """Refuse an alertmanager.yml that ``amtool check-config`` does not accept (its own words in the error)."""
    binary = shutil.which(amtool)
    if not binary:
        raise MonitoringError(
            f"amtool not found ({amtool}): the generated Alertmanager configuration cannot be checked"
        )
    with tempfile.TemporaryDirectory(prefix="changeward-am-") as tmp:
        path = os.path.join(tmp, "alertmanager.yml")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        proc = subprocess.run([binary, "check-config", path], capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        said = (proc.stdout + proc.stderr).replace(path, "alertmanager.yml").strip()
        raise MonitoringError(f"amtool check-config refused the generated configuration: {said}")


# -- the API ---------------------------------------------------------------------------------------------------------
class Alertmanager(HttpService):
    """Silences over Alertmanager's v2 API."""

    def __init__(self, url: str, **kwargs):
        super().__init__(url, "Alertmanager", **kwargs)

    def create_silence(self, body: Mapping) -> str:
        answer = self.json("POST", "/api/v2/silences", json=dict(body))
        sid = answer.get("silenceID") if isinstance(answer, Mapping) else None
        if not sid:
            raise ServiceRefused(f"Alertmanager at {self.safe_url} created a silence without an id")
        return str(sid)

    def silences(self) -> list[dict]:
        answer = self.json("GET", "/api/v2/silences")
        if not isinstance(answer, list):
            raise ServiceRefused(f"Alertmanager at {self.safe_url}: the silences are not a list")
        return answer

    def silence(self, sid: str) -> dict | None:
        resp = self.request("GET", f"/api/v2/silence/{sid}", ok=(200, 404))
        return None if resp.status_code == 404 else resp.json()

    def expire(self, sid: str) -> str:
        """Expire a silence: 'expired', or 'already expired' / 'unknown' when there was nothing to do."""
        found = self.silence(sid)
        if found is None:
            return "unknown"
        if (found.get("status") or {}).get("state") == "expired":
            return "already expired"
        self.request("DELETE", f"/api/v2/silence/{sid}", ok=(200,))
        return "expired"

    def alerts(self, filters: Iterable[str] = ()) -> list[dict]:
        params = [("filter", f) for f in filters]
        resp = self.request("GET", "/api/v2/alerts", params=params)
        return resp.json()


def change_silence_ids(events: Iterable[Mapping]) -> list[str]:
    """Silence ids a change's events created and have not expired yet (silenced minus unsilenced), in order."""
    made, gone = [], set()
    for event in events:
        data = event.get("data") or {}
        if event.get("type") == SILENCED:
            made += [str(s["id"]) for s in data.get("silences") or [] if s.get("id")]
        elif event.get("type") == UNSILENCED:
            gone |= {str(s) for s in data.get("expired") or []}
    return [s for s in dict.fromkeys(made) if s not in gone]


def expire_change_silences(client: Alertmanager, change_id: str, recorded: Iterable[str]) -> dict:
    """Expire every active silence of the change: those its events recorded and any Alertmanager holds that a
    changeward run created for it (a run that died between creating and recording). Returns what happened."""
    ids = list(dict.fromkeys(str(s) for s in recorded))
    mine = f"{CREATED_BY}/{change_id}"
    for found in client.silences():
        if found.get("createdBy") == mine and (found.get("status") or {}).get("state") != "expired":
            ids.append(str(found.get("id")))
    out = {"expired": [], "already_expired": [], "unknown": []}
    for sid in dict.fromkeys(ids):
        said = client.expire(sid)
        out[{"expired": "expired", "already expired": "already_expired", "unknown": "unknown"}[said]].append(sid)
    return out
