"""The contextual detector (anomaly/context.py): patterns the series has made score 0, patterns it never made
score by their share of novelty, one alarm per episode, and the range is learned from the warm-up only."""

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from ansible_collections.changeward.hybrid.plugins.plugin_utils.anomaly.context import ContextConfig, ContextDetector
from ansible_collections.changeward.hybrid.plugins.plugin_utils.anomaly.scan import AnomalyError, detector_config
from ansible_collections.changeward.hybrid.plugins.plugin_utils.anomaly.scan import scan as scan_series
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.tolerance import PolicyError, load

T0 = 1_800_000_000.0
DEMO = Path(__file__).resolve().parents[4] / "docs" / "examples" / "policies" / "demo.yml"


def run(values, **config):
    detector = ContextDetector(ContextConfig(**config))
    return [detector.update(v, T0 + 60 * i) for i, v in enumerate(values)]


def saw_tooth(n):
    return [float(i % 24) for i in range(n)]


def test_a_repeating_pattern_is_learned_and_scores_nothing():
    out = run(saw_tooth(1000), warmup=150)
    assert all(s.score == 0.0 for s in out[:150])  # the warm-up only learns
    assert max(s.score for s in out[200:]) == 0.0


def test_a_value_beyond_the_learned_range_is_novel_on_every_grid_and_order():
    values = saw_tooth(1000)
    values[600] = 40.0  # the warm-up's range is 0..23
    out = run(values, warmup=150)
    assert out[600].score == 1.0 and out[600].explained_by == "context"


def test_a_pattern_never_made_inside_the_range_is_flagged():
    values = saw_tooth(1000)
    values[600:640] = [12.0] * 40  # a flat stretch in the middle of the range: the series always moved
    out = run(values, warmup=150, quiet=0)
    assert max(s.score for s in out[600:640]) >= 5 / 9
    assert max(s.score for s in out[200:600]) == 0.0


def test_one_alarm_per_episode_then_quiet():
    values = saw_tooth(1000)
    values[600] = 40.0
    values[610] = -30.0
    out = run(values, warmup=150, quiet=30)
    assert out[600].score == 1.0
    assert out[610].score == 0.0 and out[610].damped and out[610].surprise == 1.0
    loud = run(values, warmup=150, quiet=0)
    assert loud[610].score == 1.0


def test_non_finite_values_are_skipped_and_not_learned():
    values = saw_tooth(400)
    values[300] = math.nan
    detector = ContextDetector(ContextConfig(warmup=150))
    out = [detector.update(v) for v in values]
    assert out[300].score == 0.0 and out[300].explained_by == "none"
    assert detector.count == 399


def test_noise_within_its_range_raises_few_alarms():
    rng = np.random.default_rng(4)
    out = run(list(rng.normal(0, 1, 3000)), warmup=300, quiet=60)
    assert sum(s.score >= 5 / 9 for s in out) <= 6


def test_the_scan_uses_the_contextual_detector_by_method():
    values = saw_tooth(600)
    values[500] = 40.0
    series = {"x": [[T0 + 60 * i, v] for i, v in enumerate(values)]}
    out = scan_series(series, report_from=T0 + 60 * 400, config=detector_config("context", 150, 30))
    assert out["verdict"] == "anomalous" and [a["time"] for a in out["anomalies"]] == [T0 + 60 * 500]
    clean = scan_series({"x": series["x"][:500]}, report_from=T0 + 60 * 400, config=detector_config("context", 150, 30))
    assert clean["verdict"] == "clean"
    with pytest.raises(AnomalyError, match="method must be one of"):
        detector_config("magic", 150, 30)


# -- the tolerance policy's declaration ------------------------------------------------------------------------
def demo_policy(**extra):
    with open(DEMO, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    return data | extra


def test_the_policy_declares_anomaly_checks_with_defaults_and_the_metric_query():
    policy = load(demo_policy(anomaly_detection=[{"metric": "error_ratio", "step": "15s", "fails_ring": False}]))
    (check,) = policy.anomaly_checks()
    assert check["metric"] == "error_ratio" and check["step"] == "15s" and check["fails_ring"] is False
    assert (check["history"], check["method"], check["threshold"]) == ("6h", "baseline", 0.5)
    assert "${selector}" in check["query"] and "demo_http_requests_total" in check["query"]
    assert load(demo_policy()).anomaly_checks() == []


@pytest.mark.parametrize(
    ("checks", "problem"),
    [
        ([{"metric": "nope"}], "no metric named 'nope'"),
        ([{"metric": "error_ratio"}, {"metric": "error_ratio"}], "declared more than once"),
        ([{"metric": "error_ratio", "method": "magic"}], "magic"),
        ([{"metric": "error_ratio", "threshold": 0}], "anomaly_detection"),
        ([{"step": "15s"}], "'metric' is a required property"),
    ],
)
def test_a_bad_anomaly_declaration_is_refused(checks, problem):
    with pytest.raises(PolicyError, match=problem):
        load(demo_policy(anomaly_detection=checks))
