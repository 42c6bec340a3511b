"""changeward.hybrid.canary_judge end to end: a real ansible-playbook run against a fake Prometheus
(real HTTP server thread, Prometheus API format)."""

import numpy as np
import pytest
from fake_prometheus import closed_port_url
from playbook_runner import REPO, VENVS, run_playbook

POLICY = str(REPO / "docs" / "examples" / "policies" / "demo.yml")
TOKEN = "tok-very-secret-123"
Q = "rate(errors{${selector}}[1m])"


def judge_task(register, **args):
    return {"changeward.hybrid.canary_judge": args, "register": register, "ignore_errors": True}


@pytest.mark.parametrize("venv", VENVS)
def test_canary_judge_end_to_end(venv, prom, tmp_path):
    rng = np.random.default_rng(42)
    prom.on_range('rate(errors{host=~"(?:bad-1)(?::[0-9]+)?"}[1m])', rng.normal(0.05, 0.005, 40).tolist())
    prom.on_range('rate(errors{host=~"(?:good-1)(?::[0-9]+)?"}[1m])', rng.normal(0.01, 0.001, 40).tolist())
    prom.on_range(
        'rate(errors{host=~"(?:base-1|base-2)(?::[0-9]+)?"}[1m])',
        rng.normal(0.01, 0.001, 40).tolist(),
        rng.normal(0.01, 0.001, 40).tolist(),
    )
    common = {
        "prometheus_url": prom.url,
        "prometheus_token": TOKEN,
        "prometheus_retries": 0,
        "baseline_hosts": ["base-1", "base-2"],
        "host_label": "host",
        "start": 1_700_000_000,
        "end": 1_700_000_600,
        "step": "15s",
    }
    metric = [{"name": "errors", "query": Q, "critical": True, "allowance": {"absolute": 0.005}}]
    b = rng.normal(100, 10, 50).tolist()
    c_shift = rng.normal(110, 10, 50).tolist()
    tasks = [
        judge_task("bad", metrics=metric, canary_hosts=["bad-1"], **common),
        judge_task("good", metrics=metric, canary_hosts=["good-1"], **common),
        judge_task("down", metrics=metric, canary_hosts=["good-1"], **{**common, "prometheus_url": closed_port_url()}),
        judge_task(
            "down_report",
            metrics=metric,
            canary_hosts=["good-1"],
            report_only=True,
            **{**common, "prometheus_url": closed_port_url()},
        ),
        judge_task("inline_nodata", metrics=[{"name": "lat", "baseline": b, "canary": ["NaN"] * 50}]),
        {
            **judge_task("in_check_mode", metrics=[{"name": "lat", "baseline": b, "canary": c_shift}]),
            "check_mode": True,
        },
        # policy metrics replaced by inline ones; targets' labels decide the tightening
        judge_task(
            "partial",
            policy=POLICY,
            targets=["h_full", "h_partial"],
            metrics=[{"name": "lat", "baseline": b, "canary": b, "nodata": "ignore"}],
        ),
        judge_task(
            "unlabelled",
            policy=POLICY,
            targets=["h_full", "h_nolabel"],
            metrics=[{"name": "lat", "baseline": b, "canary": [], "nodata": "ignore"}],
        ),
        judge_task("typo", metrics=[{"name": "lat", "baseline": b, "canary": b, "critcal": True}]),
        judge_task("policy_no_prom", policy=POLICY),
    ]
    names = [t["register"] for t in tasks]
    hostvars = {
        "h_full": {"rollback_capability": "full"},
        "h_partial": {"rollback_capability": "partial"},
        "h_nolabel": {},
    }
    r, proc = run_playbook(venv, tmp_path, tasks, names, hostvars)

    assert r["bad"]["failed"] and r["bad"]["verdict"] == "fail"
    assert r["bad"]["metrics"][0]["classification"] == "high" and r["bad"]["metrics"][0]["source"] == "prometheus"
    assert "critical metric(s) failed: errors" in r["bad"]["msg"]

    assert not r["good"].get("failed") and r["good"]["verdict"] == "pass" and r["good"]["score"] == 100.0
    assert r["good"]["window"] == {"start": 1_700_000_000.0, "end": 1_700_000_600.0, "step": 15.0}

    assert r["down"]["failed"] and r["down"]["verdict"] == "inconclusive" and "unreachable" in r["down"]["error"]
    assert not r["down_report"].get("failed") and r["down_report"]["verdict"] == "inconclusive"

    assert r["inline_nodata"]["failed"] and r["inline_nodata"]["verdict"] == "inconclusive"
    assert r["inline_nodata"]["metrics"][0]["evidence"]["canary_nan"] == 50

    assert (
        r["in_check_mode"]["verdict"] == "fail" and r["in_check_mode"]["changed"] is False
    )  # judged in check mode too

    assert r["partial"]["rollback_capability"] == "partial" and r["partial"]["verdict"] == "pass"
    assert len(r["partial"]["policy_digest"]) == 64
    lat = r["partial"]["metrics"][0]
    assert lat["evidence"]["allowance"] == {"relative": 0.025}  # policy default 0.05, halved for partial

    # a host without the label counts as none: critical, and 'ignore' no longer ignores missing data
    assert r["unlabelled"]["rollback_capability"] == "none" and r["unlabelled"]["verdict"] == "inconclusive"
    assert (
        r["unlabelled"]["metrics"][0]["critical"] and r["unlabelled"]["metrics"][0]["nodata_strategy"] == "inconclusive"
    )

    assert r["typo"]["failed"] and "critcal" in r["typo"]["msg"]
    assert r["policy_no_prom"]["failed"] and "need prometheus_url" in r["policy_no_prom"]["msg"]

    assert all(req["authorization"] == f"Bearer {TOKEN}" for req in prom.requests)
    assert TOKEN not in proc.stdout and TOKEN not in proc.stderr
