"""A whole judgement from inline samples and from Prometheus range queries (real HTTP server thread)."""

import numpy as np
import pytest
from fake_prometheus import closed_port_url

from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.errors import JudgeError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.runner import (
    PrometheusUnavailable,
    host_selector,
    judge,
    make_window,
    parse_time,
    render,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import PrometheusClient

QUERY = "rate(errors{${selector}}[1m])"
SEL = {"canary": 'instance=~"c1"', "baseline": 'instance=~"b1|b2"'}
WINDOW = make_window(start=1_700_000_000, end=1_700_000_600, step="15s")


def run(metrics, prom_url=None, **kw):
    client = PrometheusClient(prom_url, timeout=1.0, retries=1, backoff=0.01) if prom_url else None
    return judge(
        metrics,
        pass_score=95,
        marginal_score=75,
        client=client,
        window=WINDOW,
        selectors=kw.pop("selectors", SEL),
        **kw,
    )


def series(rng, mean, n=40):
    return list(rng.normal(mean, mean * 0.1, n))


def test_prometheus_canary_regression_is_caught_and_the_hosts_pooled(prom):
    rng = np.random.default_rng(1)
    prom.on_range('rate(errors{instance=~"c1"}[1m])', series(rng, 130))
    prom.on_range('rate(errors{instance=~"b1|b2"}[1m])', series(rng, 100), series(rng, 100))
    j, sources = run([{"name": "errors", "query": QUERY, "critical": True}], prom.url)
    assert j.verdict == "fail" and j.metrics[0].classification == "high"
    assert j.metrics[0].evidence["baseline_count"] == 80 and j.metrics[0].evidence["canary_count"] == 40
    assert sources[0]["queries"]["canary"] == 'rate(errors{instance=~"c1"}[1m])'
    assert (sources[0]["canary_series"], sources[0]["baseline_series"]) == (1, 2)
    params = prom.requests[0]["params"]
    # the window asks for 15 s, but rate(...[1m]) at a 15 s step would overlap: queried at the range, 60 s
    assert float(params["start"]) == 1_700_000_000 and float(params["step"]) == 60


def test_overlapping_rate_windows_are_queried_at_a_step_as_long_as_the_range(prom):
    rng = np.random.default_rng(6)
    slow = "rate(errors{${selector}}[2m])"
    prom.on_range('rate(errors{instance=~"c1"}[2m])', series(rng, 100, n=10))
    prom.on_range('rate(errors{instance=~"b1|b2"}[2m])', series(rng, 100, n=10))
    prom.on_range('rate(errors{instance=~"c1"}[15s])', series(rng, 100))
    prom.on_range('rate(errors{instance=~"b1|b2"}[15s])', series(rng, 100))
    metrics = [{"name": "slow", "query": slow}, {"name": "ok", "query": QUERY.replace("1m", "15s")}]
    _unused, sources = run(metrics, prom.url)
    steps = {r["params"]["query"]: float(r["params"]["step"]) for r in prom.requests}
    assert steps['rate(errors{instance=~"c1"}[2m])'] == steps['rate(errors{instance=~"b1|b2"}[2m])'] == 120
    assert steps['rate(errors{instance=~"c1"}[15s])'] == 15
    assert sources[0]["step"] == 120 and "overlapping windows" in sources[0]["note"]
    assert "step" not in sources[1] and "note" not in sources[1]


def test_autocorrelation_is_measured_per_host_series_not_across_them(prom):
    """Two baseline hosts at different levels are two series: pooled end to end they would look like one
    strongly autocorrelated series (a level step) and lose most of their weight."""
    rng = np.random.default_rng(8)
    prom.on_range('rate(errors{instance=~"c1"}[1m])', series(rng, 100, n=60))
    prom.on_range('rate(errors{instance=~"b1|b2"}[1m])', series(rng, 80, n=60), series(rng, 120, n=60))
    judgement, _sources = run([{"name": "errors", "query": "rate(errors{${selector}}[1m])"}], prom.url)
    evidence = judgement.metrics[0].evidence
    assert evidence["baseline_count"] == 120
    assert evidence["autocorrelation"] < 0.3
    assert evidence["effective_counts"]["baseline"] > 60


def test_prometheus_healthy_canary_passes(prom):
    rng = np.random.default_rng(2)
    prom.on_range('rate(errors{instance=~"c1"}[1m])', series(rng, 100))
    prom.on_range('rate(errors{instance=~"b1|b2"}[1m])', series(rng, 100), series(rng, 100))
    j, _unused = run([{"name": "errors", "query": QUERY}], prom.url)
    assert j.verdict == "pass"


def test_empty_prometheus_result_is_nodata_handled_by_the_strategy(prom):
    rng = np.random.default_rng(3)
    prom.on_range('rate(errors{instance=~"b1|b2"}[1m])', series(rng, 100))
    j, _unused = run([{"name": "errors", "query": QUERY}], prom.url)
    assert j.verdict == "inconclusive"
    assert j.metrics[0].classification == "nodata" and "no series for the canary query" in j.metrics[0].reason
    j, _unused = run([{"name": "errors", "query": QUERY, "nodata": "fail", "critical": True}], prom.url)
    assert j.verdict == "fail"


def test_all_nan_from_prometheus_is_nodata(prom):
    nan = float("nan")
    prom.on_range('rate(errors{instance=~"c1"}[1m])', [nan] * 40)
    prom.on_range('rate(errors{instance=~"b1|b2"}[1m])', [1.0] * 40)
    j, _unused = run([{"name": "errors", "query": QUERY}], prom.url)
    assert j.metrics[0].classification == "nodata" and j.metrics[0].evidence["canary_nan"] == 40
    assert j.verdict == "inconclusive"


def test_unreachable_prometheus_is_unavailable_not_a_verdict():
    with pytest.raises(PrometheusUnavailable, match="unreachable"):
        run([{"name": "errors", "query": QUERY}], closed_port_url())


def test_prometheus_outage_mid_judgement_is_unavailable(prom):
    rng = np.random.default_rng(4)
    prom.on_range('rate(errors{instance=~"c1"}[1m])', series(rng, 100))
    prom.on_range('rate(errors{instance=~"b1|b2"}[1m])', series(rng, 100))
    original = prom.answer
    calls = []

    def flaky(path, params):
        calls.append(path)
        if len(calls) > 2:  # the second metric's queries meet an outage
            prom.unavailable = 100
        return original(path, params)

    prom.answer = flaky
    metrics = [{"name": "a", "query": QUERY}, {"name": "b", "query": QUERY}]
    with pytest.raises(PrometheusUnavailable, match="metric 'b'"):
        run(metrics, prom.url)


def test_rejected_query_is_a_configuration_error(prom):
    prom.on_error('rate(errors{instance=~"c1"}[1m])', 400, "bad_data", "parse error")
    with pytest.raises(JudgeError, match="rejected the query") as err:
        run([{"name": "errors", "query": QUERY}], prom.url)
    assert not isinstance(err.value, PrometheusUnavailable)


def test_identical_canary_and_baseline_queries_are_refused():
    with pytest.raises(JudgeError, match="identical"):
        run([{"name": "e", "query": "rate(errors[1m])"}], "http://127.0.0.1:9")
    with pytest.raises(JudgeError, match="identical"):
        run([{"name": "e", "canary_query": "x", "baseline_query": "x"}], "http://127.0.0.1:9")


def test_missing_selector_and_unknown_placeholder_are_named():
    with pytest.raises(JudgeError, match=r"\$selector has no value"):
        run([{"name": "e", "query": QUERY}], "http://127.0.0.1:9", selectors={})
    with pytest.raises(JudgeError, match=r"\$job has no value"):
        render("up{job='$job'}", "e", "canary", "x")


def test_group_placeholder_and_literal_dollar():
    assert render('up{ring="${group}", x="$$"}', "e", "baseline", None) == 'up{ring="baseline", x="$"}'


def test_inline_and_query_metrics_mix_and_typos_are_refused():
    with pytest.raises(JudgeError, match="unknown keys: critcal"):
        run([{"name": "e", "baseline": [1], "canary": [1], "critcal": True}])
    with pytest.raises(JudgeError, match="not both"):
        run([{"name": "e", "baseline": [1], "canary": [1], "query": QUERY}])
    with pytest.raises(JudgeError, match="needs baseline and canary samples, or a query"):
        run([{"name": "e"}])
    with pytest.raises(JudgeError, match="need prometheus_url"):
        run([{"name": "e", "query": QUERY}])


def test_inline_with_one_side_missing_is_nodata():
    j, _unused = run([{"name": "e", "canary": list(range(20))}])
    assert j.metrics[0].classification == "nodata" and j.verdict == "inconclusive"


def test_tightening_applies_to_every_metric():
    rng = np.random.default_rng(5)
    b, c = series(rng, 100, 400), series(rng, 103, 400)  # +3 %, significant at 400 points, within 5 %
    metric = {"name": "lat", "baseline": b, "canary": c, "allowance": {"relative": 0.05}}
    full, _unused = run([metric])
    none, _unused = run([metric], tightening={"allowance_factor": 0.25, "all_critical": True, "no_ignore": True})
    assert full.verdict == "pass"
    assert none.verdict == "fail" and none.metrics[0].critical


def test_host_selector_matches_with_or_without_port_and_escapes():
    sel = host_selector(["web-1.example", "web-2"], "instance")
    assert sel == 'instance=~"(?:web-1\\\\.example|web-2)(?::[0-9]+)?"'
    with pytest.raises(JudgeError, match="label name"):
        host_selector(["a"], "bad label")
    with pytest.raises(JudgeError, match="empty"):
        host_selector([], "instance")


def test_window_from_lookback_and_iso_times():
    w = make_window(end="2024-01-01T00:10:00Z", lookback="10m", step="30s")
    assert (w.end - w.start, w.step) == (600.0, 30.0)
    assert parse_time("2024-01-01T00:00:00Z", "t", now=0) == parse_time("2024-01-01T01:00:00+01:00", "t", now=0)
    with pytest.raises(JudgeError, match="no UTC offset"):  # the one instant parser: never guessed as UTC
        parse_time("2024-01-01T00:00:00", "t", now=0)
    assert parse_time("now", "t", now=42.0) == 42.0
    with pytest.raises(JudgeError, match="empty"):
        make_window(start=10, end=5)
    with pytest.raises(JudgeError, match="either start or lookback"):
        make_window(start=1, lookback="5m", end=100)
    with pytest.raises(JudgeError, match="ISO 8601"):
        parse_time("yesterday", "start", now=0)
