"""The anomaly_scan and change_correlation actions run as tasks do: inline samples, a real ledger, a real
Prometheus-format server; failures are failed tasks naming the action."""

import math

import numpy as np
import pytest
from action_runner import run_action

from ansible_collections.changeward.hybrid.plugins.action.anomaly_scan import ActionModule as AnomalyScan
from ansible_collections.changeward.hybrid.plugins.action.change_correlation import ActionModule as Correlation
from ansible_collections.changeward.hybrid.plugins.plugin_utils import correlation as cor
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

KEY = "hmac:correlation-action-key-0123456789"
T0 = 1_800_000_000.0


def noisy(n=600, spike_at=None, seed=1):
    rng = np.random.default_rng(seed)
    values = 100 + rng.normal(0, 2, n)
    if spike_at is not None:
        values[spike_at] = 150
    return [[T0 + 60 * i, float(v)] for i, v in enumerate(values)]


def test_anomaly_scan_inline_samples_reports_and_fails_on_request():
    args = {"samples": {"cpu": noisy(spike_at=500)}, "report_from": T0 + 60 * 400}
    out = run_action(AnomalyScan, "anomaly_scan", args)
    assert not out.get("failed") and out["verdict"] == "anomalous"
    assert [a["time"] for a in out["anomalies"]] == [T0 + 60 * 500]
    failed = run_action(AnomalyScan, "anomaly_scan", {**args, "fail_on": ["anomalous"]})
    assert failed["failed"] and failed["msg"].startswith("anomaly_scan: anomalous")


def test_anomaly_scan_without_enough_history_is_nodata_and_can_fail():
    out = run_action(AnomalyScan, "anomaly_scan", {"samples": {"cpu": noisy(40)}, "fail_on": ["nodata"]})
    assert out["failed"] and out["verdict"] == "nodata"


def test_anomaly_scan_reads_a_prometheus_range(monkeypatch):
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import PrometheusClient, Series

    seen = {}

    def fake_range(self, query, start, end, step):
        seen.update(query=query, start=start, end=end, step=step)
        return [Series({"host": "h1"}, [tuple(p) for p in noisy(spike_at=550)])]

    monkeypatch.setattr(PrometheusClient, "range", fake_range)
    args = {
        "query": "up",
        "prometheus_url": "http://127.0.0.1:9",
        "start": T0,
        "end": T0 + 60 * 599,
        "step": "1m",
        "report_from": T0 + 60 * 500,
    }
    out = run_action(AnomalyScan, "anomaly_scan", args)
    assert seen == {"query": "up", "start": T0, "end": T0 + 60 * 599, "step": 60.0}
    assert out["verdict"] == "anomalous" and out["anomalies"][0]["labels"] == {"host": "h1"}


def test_anomaly_scan_with_an_unreachable_prometheus_fails():
    args = {"query": "up", "prometheus_url": "http://127.0.0.1:9", "prometheus_retries": 0, "prometheus_timeout": 1}
    out = run_action(AnomalyScan, "anomaly_scan", args)
    assert out["failed"] and out["msg"].startswith("anomaly_scan:")


@pytest.fixture
def ledger(tmp_path):
    path = tmp_path / "ledger.db"
    with open_ledger(str(path), key=KEY) as led:
        led.open_change(
            model.new_record(
                "CHG-1", "standard", "release 2", "alice", targets=["web-1", "web-2"], opened_at="2027-01-15T08:00:00Z"
            ),
            data={"service": "web"},
        )
        led.record(cor.RING_STARTED, "CHG-1", {"ring": "canary", "hosts": ["web-1"], "since": T0})
    return str(path)


def test_change_correlation_names_the_change_and_annotates(ledger):
    args = {"host": "web-1", "service": "web", "at": T0 + 300, "alert": "HighErrorRate", "ledger": ledger}
    out = run_action(Correlation, "change_correlation", args)
    assert not out.get("failed")
    assert out["culprit"] == "CHG-1" and out["confident"]
    assert out["confidence"] == pytest.approx(0.5 ** (300 / 1800), abs=1e-4)
    assert out["annotations"]["changeward_suspect"] == "CHG-1"


def test_change_correlation_for_another_host_and_service_has_no_culprit(ledger):
    args = {"host": "db-1", "service": "db", "at": T0 + 300, "ledger": ledger}
    out = run_action(Correlation, "change_correlation", args)
    assert out["culprit"] is None and not out["confident"] and out["candidates"] == []


def test_change_correlation_reads_a_dependency_map_file(ledger, tmp_path):
    deps = tmp_path / "deps.yml"
    deps.write_text("web: [api]\n")  # api consumes web: an api alert may come from a web change
    args = {"host": "api-1", "service": "api", "at": T0 + 60, "ledger": ledger, "dependency_map": str(deps)}
    out = run_action(Correlation, "change_correlation", args)
    assert out["candidates"][0]["relation"] == "dependency"
    assert out["candidates"][0]["score"] == pytest.approx(0.5 * 0.5 ** (60 / 1800), abs=1e-4)
    assert not math.isnan(out["candidates"][0]["share"])


def test_change_correlation_without_a_ledger_fails(tmp_path):
    out = run_action(Correlation, "change_correlation", {"host": "web-1", "ledger": str(tmp_path / "none.db")})
    assert out["failed"] and "no ledger" in out["msg"] and out["msg"].startswith("change_correlation:")


def test_change_correlation_takes_the_hosts_services_from_the_inventory_labels(ledger):
    task_vars = {"hostvars": {"web-9": {"changeward_labels": {"services": ["web"]}}}}
    args = {"host": "web-9", "at": T0 + 60, "ledger": ledger}
    out = run_action(Correlation, "change_correlation", args, task_vars=task_vars)
    assert out["candidates"][0]["relation"] == "same_service"
    assert run_action(Correlation, "change_correlation", args)["candidates"] == []


def test_change_correlation_uses_the_inventorys_dependency_map_and_reads_the_graph_store(ledger, tmp_path):
    # the operator's map in the inventory, as risk_score reads it: web is consumed by api
    deps = {"web": ["api"]}
    task_vars = {
        "inventory_hostname": "localhost",
        "changeward_dependency_map": deps,
        "hostvars": {"localhost": {"changeward_dependency_map": deps}},
    }
    args = {"host": "api-1", "service": "api", "at": T0 + 60, "ledger": ledger}
    out = run_action(Correlation, "change_correlation", args, task_vars=task_vars)
    assert out["candidates"][0]["relation"] == "dependency"
    # the dependency graph's store: edges are consumer -> provider
    graph = {
        "api_version": "changeward.hybrid/dependency-graph/v1",
        "services": {},
        "edges": [{"consumer": "api", "provider": "web", "documented": {"catalogue": {}}, "observed": {}}],
    }
    out = run_action(Correlation, "change_correlation", {**args, "dependency_map": graph})
    assert out["candidates"][0]["relation"] == "dependency"
