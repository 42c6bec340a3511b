"""The lab's Prometheus: a real server run as a plain process, scraping every host's demo service."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from . import monitoring
from .fleet import CONTROLLER_IP, HostSpec

PORT = 9090
URL = f"http://{CONTROLLER_IP}:{PORT}"
BINARY = "/usr/bin/prometheus"
DEMO_PORT = 8080
TARGET_LABELS = ("env_type", "region", "az", "site")

CONFIG = """\
# Written by cwlab; targets come from targets.json (rewritten when the fleet changes).
global:
  scrape_interval: 5s
  scrape_timeout: 4s
  evaluation_interval: 5s
scrape_configs:
  - job_name: demo
    file_sd_configs:
      - files: ["{targets}"]
        refresh_interval: 5s
  - job_name: prometheus
    static_configs:
      - targets: ["{controller}:{port}"]
"""


def targets(hosts: list[HostSpec]) -> list[dict]:
    groups = []
    for h in hosts:
        labels = {"host": h.name}
        labels.update({k: h.labels[k] for k in TARGET_LABELS if h.labels.get(k)})
        groups.append({"targets": [f"{h.address}:{DEMO_PORT}"], "labels": labels})
    return groups


def write_config(promdir: Path, hosts: list[HostSpec]) -> Path:
    promdir.mkdir(parents=True, exist_ok=True)
    tfile = promdir / "targets.json"
    tmp = tfile.with_suffix(".tmp")
    tmp.write_text(json.dumps(targets(hosts), indent=2) + "\n")
    os.replace(tmp, tfile)
    cfg = promdir / "prometheus.yml"
    # Alert rules, Alertmanager and the pushgateway (monitoring.py) beside the demo targets.
    monitoring.write_rules(promdir)
    text = CONFIG.format(targets=tfile, controller=CONTROLLER_IP, port=PORT) + monitoring.PUSHGATEWAY_SCRAPE
    cfg.write_text(text + monitoring.prometheus_extra(promdir))
    return cfg


def reload() -> bool:
    """Ask a running Prometheus to read its configuration again (--web.enable-lifecycle); False when it did not."""
    req = urllib.request.Request(f"{URL}/-/reload", method="POST")  # noqa: S310 - fixed lab URL
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - fixed lab URL
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def argv(promdir: Path) -> list[str]:
    return [
        BINARY,
        f"--config.file={promdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={promdir / 'data'}",
        "--storage.tsdb.retention.time=2d",
        f"--web.listen-address={CONTROLLER_IP}:{PORT}",
        "--web.enable-lifecycle",
        "--log.level=warn",
    ]


def is_ready(timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{URL}/-/ready", timeout=timeout) as resp:  # noqa: S310 - fixed lab URL
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def query(expr: str, timeout: float = 5.0) -> list[dict]:
    """Instant query; returns the result vector. Raises on any API error (never an empty 'pass')."""
    url = f"{URL}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - fixed lab URL
        body = json.load(resp)
    if body.get("status") != "success":
        raise RuntimeError(f"prometheus query {expr!r} failed: {body}")
    return body["data"]["result"]


def hosts_without_rates(names: list[str], samples: int = 2) -> set[str]:
    """Hosts whose demo target Prometheus has not yet scraped successfully `samples` times.

    rate() needs two samples per series, so a gate querying a freshly started lab would otherwise see
    "no data" (and rightly refuse). Any API error counts as "not yet" for every host.
    """
    try:
        rows = query('sum by (host) (sum_over_time(up{job="demo"}[10m]))')  # successful scrapes
    except (OSError, RuntimeError, ValueError):
        return set(names)
    have = {r["metric"].get("host"): float(r["value"][1]) for r in rows}
    return {n for n in names if have.get(n, 0.0) < samples}
