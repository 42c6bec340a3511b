"""Per-metric classification on generated data whose truth is known (seeded)."""

import numpy as np
import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.classify import (
    Allowance,
    MetricSpec,
    classify,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.errors import JudgeError

pytestmark = pytest.mark.filterwarnings("error")  # constant or odd series must not make scipy/numpy warn

TRIALS = 300
N = 50


def rate(spec, rng, shift_sd):
    """Share of trials classified as failing; noise sd is 10 % of a mean of 100."""
    fails = 0
    for _unused in range(TRIALS):
        b = rng.normal(100, 10, N)
        c = rng.normal(100 + shift_sd * 10, 10, N)
        fails += classify(spec, b, c).failed
    return fails / TRIALS


@pytest.mark.parametrize("direction", ["increase", "decrease", "either"])
def test_aa_false_fail_rate_is_at_most_one_percent(direction):
    # expected about 0.5 % (alpha); at 300 trials 2 % leaves a margin of ~3 binomial sd
    assert rate(MetricSpec("m", direction=direction), np.random.default_rng(101), 0.0) <= 0.02


def test_one_sd_shift_in_the_bad_direction_is_caught_with_at_least_95_percent_power():
    # +10 % on a metric with 10 % noise, 50 points a side; measured ~97.6 % (bench/judge_power.py)
    assert rate(MetricSpec("m", direction="increase"), np.random.default_rng(202), 1.0) >= 0.95


def test_one_sd_drop_is_caught_for_direction_decrease():
    assert rate(MetricSpec("m", direction="decrease"), np.random.default_rng(303), -1.0) >= 0.95


def ar1(rng, mean, rho, n=N):
    """AR(1) noise of lag-1 correlation rho and sd 10 % of the mean, like rate() over overlapping windows."""
    e = rng.normal(0, 1, n)
    x = np.empty(n)
    x[0] = e[0]
    for i in range(1, n):
        x[i] = rho * x[i - 1] + np.sqrt(1 - rho * rho) * e[i]
    return mean + 0.1 * mean * x


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_autocorrelated_points_do_not_raise_the_aa_false_fail_rate(rho):
    # untreated, rho 0.8 false-fails ~18 % of A/A trials (bench/judge_power.py)
    rng = np.random.default_rng(505)
    spec = MetricSpec("m", direction="increase")
    fails = sum(classify(spec, ar1(rng, 100, rho), ar1(rng, 100, rho)).failed for _unused in range(TRIALS))
    assert fails / TRIALS <= 0.02


def test_autocorrelated_points_weigh_less_and_a_large_shift_is_still_caught():
    rng = np.random.default_rng(606)
    result = classify(MetricSpec("m"), ar1(rng, 100, 0.8, n=100), ar1(rng, 150, 0.8, n=100))
    assert result.classification == "high"
    ev = result.evidence
    assert ev["autocorrelation_adjusted"] and ev["variance_inflation"] > 3
    assert ev["effective_counts"]["canary"] < 100 / 3


def test_independent_points_are_left_almost_as_they_are():
    rng = np.random.default_rng(707)
    inflations = [
        classify(MetricSpec("m"), rng.normal(100, 10, N), rng.normal(100, 10, N)).evidence["variance_inflation"]
        for _unused in range(100)
    ]
    assert min(inflations) == 1.0 and float(np.median(inflations)) < 1.3


def test_points_that_are_effectively_too_few_are_nodata():
    rng = np.random.default_rng(808)
    walk_b, walk_c = 100 + np.cumsum(rng.normal(0, 1, 12)), 100 + np.cumsum(rng.normal(0, 1, 12))
    result = classify(MetricSpec("m"), walk_b, walk_c)
    assert result.classification == "nodata" and "autocorrelated" in result.reason


def test_a_shift_in_the_good_direction_passes():
    assert rate(MetricSpec("m", direction="increase"), np.random.default_rng(404), -1.0) == 0.0


def test_high_and_low_are_named_by_the_shift():
    rng = np.random.default_rng(5)
    b = rng.normal(100, 10, N)
    up = classify(MetricSpec("m", direction="either"), b, rng.normal(130, 10, N))
    down = classify(MetricSpec("m", direction="either"), b, rng.normal(70, 10, N))
    assert (up.classification, down.classification) == ("high", "low")
    ev = up.evidence
    assert ev["p_value"] < 0.005 and ev["ci_low"] < ev["shift"] < ev["ci_high"] and ev["u_statistic"] > N * N / 2
    assert ev["ci_low"] > 0 and ev["method"] == "mann-whitney"


def test_significant_shift_within_the_allowance_passes():
    # 5000 points make +2 % highly significant, but 20 % is allowed
    rng = np.random.default_rng(6)
    b, c = rng.normal(100, 10, 5000), rng.normal(102, 10, 5000)
    loose = classify(MetricSpec("m", allowance=Allowance("relative", 0.2)), b, c)
    tight = classify(MetricSpec("m", allowance=Allowance("relative", 0.0)), b, c)
    assert loose.evidence["p_value"] < 1e-6
    assert loose.classification == "pass" and "within the allowed" in loose.reason
    assert tight.classification == "high"


def test_absolute_allowance_is_in_the_metric_unit():
    rng = np.random.default_rng(8)
    b, c = rng.normal(0.010, 0.002, N), rng.normal(0.020, 0.002, N)  # error ratio 1 % -> 2 %
    assert classify(MetricSpec("err", allowance=Allowance("absolute", 0.005)), b, c).classification == "high"
    assert classify(MetricSpec("err", allowance=Allowance("absolute", 0.02)), b, c).classification == "pass"


def test_nan_values_are_dropped_and_counted():
    rng = np.random.default_rng(9)
    b = [*rng.normal(100, 10, N), *[float("nan")] * 3]
    c = [*rng.normal(100, 10, N), None, float("inf")]
    r = classify(MetricSpec("m"), b, c)
    assert r.classification == "pass"
    ev = r.evidence
    assert (ev["baseline_count"], ev["baseline_nan"], ev["canary_count"], ev["canary_nan"], ev["canary_inf"]) == (
        N,
        3,
        N,
        1,
        1,
    )


@pytest.mark.parametrize(
    "baseline, canary, side",
    [
        ([float("nan")] * 20, list(range(20)), "baseline"),
        (list(range(20)), [float("nan")] * 20, "canary"),
        ([], list(range(20)), "baseline"),
        ([float("nan")] * 5, [], "baseline and canary"),
    ],
)
def test_all_nan_or_empty_is_nodata(baseline, canary, side):
    r = classify(MetricSpec("m", nodata="fail"), baseline, canary)
    assert r.classification == "nodata" and r.reason.startswith(f"{side} has no usable data")
    assert r.nodata == "fail"


def test_too_few_points_is_nodata_not_a_pass():
    r = classify(MetricSpec("m"), [1, 2, 3], [100, 200, 300])
    assert r.classification == "nodata" and "too few points" in r.reason


def test_points_that_can_never_reach_significance_are_nodata():
    # min_points lowered to 3: 3 vs 3 points cannot get below p = 0.05 > alpha
    r = classify(MetricSpec("m", min_points=3), [1, 2, 3], [100, 200, 300])
    assert r.classification == "nodata" and "can never reach significance" in r.reason


def test_equal_constant_series_pass_without_a_test():
    r = classify(MetricSpec("m", allowance=Allowance("relative", 0.0)), [0.0] * 30, [0.0] * 30)
    assert r.classification == "pass" and r.evidence["method"] == "constant" and r.evidence["p_value"] is None


@pytest.mark.parametrize(
    "canary, allowed, expected",
    [
        (104.0, Allowance("relative", 0.05), "pass"),
        (106.0, Allowance("relative", 0.05), "high"),
        (101.0, Allowance("absolute", 0.5), "high"),
    ],
)
def test_different_constants_are_decided_by_the_effect_size(canary, allowed, expected):
    r = classify(MetricSpec("m", allowance=allowed), [100.0] * 20, [canary] * 20)
    assert r.classification == expected
    assert r.evidence["shift"] == canary - 100.0 and r.evidence["method"] == "constant"


def test_constant_drop_with_direction_decrease_is_low():
    r = classify(MetricSpec("ok_ratio", direction="decrease"), [1.0] * 20, [0.5] * 20)
    assert r.classification == "low"


def test_one_constant_side_is_tested_normally():
    rng = np.random.default_rng(12)
    r = classify(MetricSpec("m"), [100.0] * 30, rng.normal(100, 10, 30))
    assert r.classification == "pass" and r.evidence["method"] == "mann-whitney"


def test_outliers_in_the_canary_do_not_fail_a_healthy_canary():
    rng = np.random.default_rng(13)
    b = rng.normal(100, 10, N)
    c = np.concatenate([rng.normal(100, 10, N - 3), [1e6, 5e6, 1e7]])
    assert c.mean() > 10 * b.mean()  # a mean-based comparison would call this a disaster
    r = classify(MetricSpec("m"), b, c)
    assert r.classification == "pass"
    assert abs(r.evidence["shift"]) < 5


def test_outliers_in_the_baseline_do_not_hide_a_real_regression():
    rng = np.random.default_rng(14)
    b = np.concatenate([rng.normal(100, 10, N - 3), [1e6, 5e6, 1e7]])
    c = rng.normal(125, 10, N)
    assert classify(MetricSpec("m"), b, c).classification == "high"


def test_relative_allowance_is_taken_from_the_baseline_median():
    assert Allowance("relative", 0.2).absolute_for(-50.0) == 10.0
    assert Allowance("absolute", 0.3).absolute_for(1000.0) == 0.3


@pytest.mark.parametrize(
    "raw, match",
    [
        ({"relative": 0.1, "absolute": 1}, "exactly one"),
        ({}, "exactly one"),
        ({"percent": 5}, "unknown keys"),
        ({"relative": -0.1}, ">= 0"),
        ({"relative": "lots"}, "not a number"),
    ],
)
def test_bad_allowances_are_refused(raw, match):
    with pytest.raises(JudgeError, match=match):
        Allowance.from_mapping(raw, "m.allowance")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"direction": "up"}, "direction"),
        ({"nodata": "pass"}, "nodata"),
        ({"alpha": 0.7}, "alpha"),
        ({"min_points": 1}, "min_points"),
        ({"weight": 0}, "weight"),
        ({"critical": "yes"}, "critical"),
    ],
)
def test_bad_metric_settings_are_refused(kwargs, match):
    with pytest.raises(JudgeError, match=match):
        MetricSpec("m", **kwargs)


def test_tightening_scales_the_allowance_and_can_make_critical():
    spec = MetricSpec("m", allowance=Allowance("relative", 0.2), nodata="ignore")
    t = spec.tightened(0.25, all_critical=True, no_ignore=True)
    assert t.allowance == Allowance("relative", 0.05) and t.critical and t.nodata == "inconclusive"
    assert spec.tightened(0.5).allowance.value == 0.1 and not spec.tightened(0.5).critical
