"""The lab's monitoring beside Prometheus: Alertmanager, a pushgateway and the blackbox exporter (Debian's
packages, run as plain processes on the controller address), the demo service's alert rules, and a webhook sink
that stands in for the ops and team receivers (it writes every notification it gets to a file).

Prometheus evaluates the rules, sends alerts to Alertmanager and scrapes the pushgateway (honor_labels, so the
change metadata keeps its own labels). Alertmanager starts with a configuration that routes everything to ops;
playbooks/alert_routes.yml replaces it with the one generated from the alert policy and the inventory's labels.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from .fleet import CONTROLLER_IP

ALERTMANAGER_PORT = 9093
PUSHGATEWAY_PORT = 9091
BLACKBOX_PORT = 9115
WEBHOOK_PORT = 9097
ALERTMANAGER_URL = f"http://{CONTROLLER_IP}:{ALERTMANAGER_PORT}"
PUSHGATEWAY_URL = f"http://{CONTROLLER_IP}:{PUSHGATEWAY_PORT}"
BLACKBOX_URL = f"http://{CONTROLLER_IP}:{BLACKBOX_PORT}"
WEBHOOK_URL = f"http://{CONTROLLER_IP}:{WEBHOOK_PORT}"
BINARIES = {
    "alertmanager": "/usr/bin/prometheus-alertmanager",
    "pushgateway": "/usr/bin/prometheus-pushgateway",
    "blackbox": "/usr/bin/prometheus-blackbox-exporter",
}
SERVICES = ("alertmanager", "pushgateway", "blackbox", "webhook")
SINK = Path(__file__).resolve().parent / "webhook_sink.py"

# The demo service's alerts. A change's alert names the change: while a change runs, the pushgateway holds
# changeward_change_info for each of its hosts, and the join copies its change_id, owner_team and version onto the
# alert (`or ... unless` keeps the alert for a host no change is on). A host with several changes on it at once
# gets one alert per change. The error alerts fire at the first evaluation ("for: 0s"): a bad canary is rolled back
# within seconds, and its alert must still reach people with the change's id.
_CHANGE = "max by (host, change_id, owner_team, version) (changeward_change_info)"


def _joined(expr: str) -> str:
    joined = f"({expr}) * on (host) group_left (change_id, owner_team, version) {_CHANGE}"
    return f"({joined}) or (({expr}) unless on (host) {_CHANGE})"


_ERROR_RATIO = (
    'sum by (host) (rate(demo_http_requests_total{job="demo", code=~"5.."}[20s]))'
    ' / sum by (host) (rate(demo_http_requests_total{job="demo"}[20s]))'
)
RULES = {
    "groups": [
        {
            "name": "demo",
            "rules": [
                {
                    "alert": "DemoHighErrorRate",
                    "expr": _joined(f"{_ERROR_RATIO} > 0.05"),
                    "for": "0s",
                    "labels": {"severity": "critical", "service": "demo"},
                    "annotations": {
                        "summary": "{{ $labels.host }}: more than 5% of demo requests fail",
                        "change_id": "{{ $labels.change_id }}",
                    },
                },
                {
                    "alert": "DemoErrorsElevated",
                    "expr": _joined(f"{_ERROR_RATIO} > 0.01"),
                    "for": "0s",
                    "labels": {"severity": "warning", "service": "demo"},
                    "annotations": {
                        "summary": "{{ $labels.host }}: more than 1% of demo requests fail",
                        "change_id": "{{ $labels.change_id }}",
                    },
                },
                {
                    "alert": "DemoDown",
                    "expr": _joined('up{job="demo"} == 0'),
                    "for": "30s",
                    "labels": {"severity": "critical", "service": "demo"},
                    "annotations": {"summary": "{{ $labels.host }}: the demo service is not scraped"},
                },
            ],
        }
    ]
}


def prometheus_extra(promdir: Path) -> str:
    """What the lab's prometheus.yml adds for these services: rules, Alertmanager, the pushgateway."""
    rules = promdir / "rules.yml"
    return f"""\
rule_files: ["{rules}"]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["{CONTROLLER_IP}:{ALERTMANAGER_PORT}"]
"""


PUSHGATEWAY_SCRAPE = f"""\
  - job_name: pushgateway
    honor_labels: true
    static_configs:
      - targets: ["{CONTROLLER_IP}:{PUSHGATEWAY_PORT}"]
"""


def write_rules(promdir: Path) -> Path:
    path = promdir / "rules.yml"
    path.write_text("# Written by cwlab: the demo service's alert rules.\n" + yaml.safe_dump(RULES, sort_keys=False))
    return path


def initial_alertmanager_config() -> dict:
    """Until playbooks/alert_routes.yml writes the generated one: everything to ops."""
    return {
        "route": {"receiver": "ops", "group_by": ["alertname", "host"], "group_wait": "5s"},
        "receivers": [{"name": "ops", "webhook_configs": [{"url": f"{WEBHOOK_URL}/ops"}]}],
    }


def write_configs(mondir: Path) -> dict[str, Path]:
    """Config files of the services (an existing alertmanager.yml - the generated routes - is kept)."""
    for sub in ("alertmanager", "pushgateway", "blackbox", "webhook"):
        (mondir / sub).mkdir(parents=True, exist_ok=True)
    am = mondir / "alertmanager" / "alertmanager.yml"
    if not am.exists():
        am.write_text(yaml.safe_dump(initial_alertmanager_config(), sort_keys=False))
    bb = mondir / "blackbox" / "blackbox.yml"
    if not bb.exists():  # the synthetic_check action adds its journeys' modules to this file
        bb.write_text(yaml.safe_dump({"modules": {"http_2xx": {"prober": "http", "timeout": "5s"}}}))
    return {"alertmanager": am, "blackbox": bb}


def argv(service: str, mondir: Path) -> list[str]:
    if service == "alertmanager":
        return [
            BINARIES["alertmanager"],
            f"--config.file={mondir / 'alertmanager' / 'alertmanager.yml'}",
            f"--storage.path={mondir / 'alertmanager' / 'data'}",
            f"--web.listen-address={CONTROLLER_IP}:{ALERTMANAGER_PORT}",
            "--cluster.listen-address=",  # one instance: no gossip port
            "--log.level=warn",
        ]
    if service == "pushgateway":
        return [BINARIES["pushgateway"], f"--web.listen-address={CONTROLLER_IP}:{PUSHGATEWAY_PORT}", "--log.level=warn"]
    if service == "blackbox":
        return [
            BINARIES["blackbox"],
            f"--config.file={mondir / 'blackbox' / 'blackbox.yml'}",
            f"--web.listen-address={CONTROLLER_IP}:{BLACKBOX_PORT}",
            "--log.level=warn",
        ]
    if service == "webhook":
        return ["/usr/bin/python3", str(SINK), str(mondir / "webhook"), CONTROLLER_IP, str(WEBHOOK_PORT)]
    raise ValueError(f"unknown monitoring service {service!r}")


def ready_url(service: str) -> str:
    return {
        "alertmanager": f"{ALERTMANAGER_URL}/-/ready",
        "pushgateway": f"{PUSHGATEWAY_URL}/-/ready",
        "blackbox": f"{BLACKBOX_URL}/-/healthy",
        "webhook": f"{WEBHOOK_URL}/-/ready",
    }[service]


def is_ready(service: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(ready_url(service), timeout=timeout) as resp:  # noqa: S310 - fixed lab URL
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def notifications(mondir: Path, receiver: str) -> list[dict]:
    """What the webhook sink received for a receiver (ops, team-<name>), oldest first."""
    path = mondir / "webhook" / f"{receiver}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
