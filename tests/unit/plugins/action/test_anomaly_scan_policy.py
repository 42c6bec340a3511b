"""anomaly_scan's policy mode: the tolerance policy's declared checks over a ring's bake, each metric's query for
the ring's hosts, history before the ring and reports from its start; a query that fails is nodata, not clean."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from action_runner import run_action
from ansible.errors import AnsibleActionFail

from ansible_collections.changeward.hybrid.plugins.action.anomaly_scan import ActionModule as AnomalyScan
from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import (
    PrometheusClient,
    PrometheusError,
    Series,
)

DEMO = Path(__file__).resolve().parents[4] / "docs" / "examples" / "policies" / "demo.yml"
SINCE = 1_800_000_000.0


def policy(*checks):
    with open(DEMO, encoding="utf-8") as handle:
        return yaml.safe_load(handle) | {"anomaly_detection": list(checks)}


def series(spike: bool):
    rng = np.random.default_rng(7)
    values = 0.01 + rng.normal(0, 0.001, 300)
    if spike:
        values[280] = 0.3
    return [(SINCE - 15 * 250 + 15 * i, float(v)) for i, v in enumerate(values)]


def args(pol, **kw):
    base = {
        "tolerance_policy": pol,
        "ring_hosts": ["c1"],
        "since": SINCE,
        "end": SINCE + 15 * 49,
        "prometheus_url": "http://127.0.0.1:9",
    }
    return base | kw


def test_declared_checks_read_the_ring_hosts_from_history_and_report_the_bake(monkeypatch):
    asked = []

    def fake_range(self, query, start, end, step):
        asked.append((query, start, end, step))
        if "demo_http_request_duration" in query:  # latency: a daily-like pattern the series repeats
            return [Series({"host": "c1"}, [(t, 0.1 + 0.01 * (i % 20)) for i, (t, _v) in enumerate(series(False))])]
        return [Series({"host": "c1"}, series(spike=True))]

    monkeypatch.setattr(PrometheusClient, "range", fake_range)
    checks = [
        {"metric": "error_ratio", "history": "1h", "step": "15s"},
        {"metric": "mean_latency_seconds", "history": "1h", "step": "15s", "fails_ring": False, "method": "context"},
    ]
    out = run_action(AnomalyScan, "anomaly_scan", args(policy(*checks)))
    assert not out.get("failed") and out["verdict"] == "anomalous"
    error, latency = out["checks"]
    assert (error["metric"], error["verdict"], error["fails_ring"]) == ("error_ratio", "anomalous", True)
    assert [a["time"] for a in error["anomalies"]] == [SINCE - 15 * 250 + 15 * 280]
    assert (latency["verdict"], latency["fails_ring"], latency["method"]) == ("clean", False, "context")
    query, start, end, step = asked[0]
    assert 'host=~"(?:c1)(?::[0-9]+)?"' in query and "${" not in query
    assert (start, end, step) == (SINCE - 3600, SINCE + 15 * 49, 15.0)


def test_a_failing_query_is_nodata_and_no_declared_check_is_none(monkeypatch):
    def broken(self, query, start, end, step):
        raise PrometheusError("connection refused")

    monkeypatch.setattr(PrometheusClient, "range", broken)
    out = run_action(AnomalyScan, "anomaly_scan", args(policy({"metric": "error_ratio"}), fail_on=["nodata"]))
    assert out["failed"] and out["verdict"] == "nodata"
    assert out["checks"][0]["reason"] == "the query failed: connection refused"
    none = run_action(AnomalyScan, "anomaly_scan", args(policy(), prometheus_url=None))
    assert not none.get("failed") and none["verdict"] == "none" and none["checks"] == []


def test_policy_mode_needs_the_ring_and_its_start():
    with pytest.raises(AnsibleActionFail, match="required by 'tolerance_policy': since"):
        run_action(AnomalyScan, "anomaly_scan", {"tolerance_policy": policy(), "ring_hosts": ["c1"]})
