"""Mann-Whitney, the Hodges-Lehmann shift and its interval, and input cleaning."""

import itertools
import math
import statistics

import numpy as np
import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge import stats
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.errors import JudgeError


def test_clean_drops_and_counts_nan_null_and_infinities():
    s = stats.clean([1, "2.5", None, float("nan"), "NaN", float("inf"), "-Inf", 3], "x")
    assert s.values.tolist() == [1.0, 2.5, 3.0]
    assert (s.nan, s.inf, s.count) == (3, 2, 3)


@pytest.mark.parametrize(
    "bad, match", [("1,2", "list of numbers"), ([1, True], r"x\[1\] is a boolean"), ([1, "a"], "not a number")]
)
def test_clean_refuses_what_is_not_a_number(bad, match):
    with pytest.raises(JudgeError, match=match):
        stats.clean(bad, "x")


def test_hodges_lehmann_is_the_median_of_all_pairwise_differences():
    rng = np.random.default_rng(7)
    c, b = rng.normal(3, 2, 13), rng.normal(0, 2, 11)
    naive = statistics.median(ci - bj for ci, bj in itertools.product(c, b))
    est, lo, hi = stats.hodges_lehmann(c, b, 0.95)
    assert est == pytest.approx(naive, abs=1e-12)
    assert lo < est < hi


def test_interval_covers_the_true_shift_about_as_often_as_its_level():
    rng = np.random.default_rng(11)
    trials, covered = 300, 0
    for _unused in range(trials):
        b, c = rng.normal(0, 1, 40), rng.normal(0.7, 1, 40)
        _unused, lo, hi = stats.hodges_lehmann(c, b, 0.90)
        covered += lo <= 0.7 <= hi
    # nominal 90 %; binomial sd at n=300 is 1.7 points
    assert 0.84 <= covered / trials <= 0.96


def test_bisection_path_agrees_with_materialised_differences(monkeypatch):
    rng = np.random.default_rng(3)
    c, b = rng.lognormal(0, 1, 150), rng.lognormal(0.2, 1, 170)
    exact = stats.hodges_lehmann(c, b, 0.99)
    monkeypatch.setattr(stats, "EXACT_PAIRS_LIMIT", 10)
    bisected = stats.hodges_lehmann(c, b, 0.99)
    assert bisected == pytest.approx(exact, rel=1e-9, abs=1e-12)


def test_bisection_handles_heavy_ties(monkeypatch):
    c = np.array([1.0] * 30 + [2.0] * 30)
    b = np.array([1.0] * 40 + [2.0] * 20)
    exact = stats.hodges_lehmann(c, b, 0.95)
    monkeypatch.setattr(stats, "EXACT_PAIRS_LIMIT", 10)
    assert stats.hodges_lehmann(c, b, 0.95) == pytest.approx(exact)


def test_mann_whitney_one_sided_alternatives_point_the_right_way():
    b, c = np.arange(20.0), np.arange(20.0) + 15
    _unused, p_greater = stats.mann_whitney(c, b, "greater")
    _unused, p_less = stats.mann_whitney(c, b, "less")
    assert p_greater < 1e-4 < 0.99 < p_less


def test_smallest_attainable_p_value():
    assert stats.min_attainable_p(3, 3, "greater") == pytest.approx(1 / 20)
    assert stats.min_attainable_p(3, 3, "two-sided") == pytest.approx(1 / 10)
    assert stats.min_attainable_p(50, 50, "greater") < 1e-20
    assert math.comb(6, 3) == 20


def test_confidence_out_of_range_is_refused():
    with pytest.raises(JudgeError, match="confidence"):
        stats.hodges_lehmann(np.ones(3), np.zeros(3), 1.0)


def test_clean_keeps_the_series_boundaries_after_dropping_values():
    sample = stats.clean([1, None, 2, 3, float("nan"), float("nan"), 4, 5], "x", [3, 2, 3])
    assert list(sample.values) == [1, 2, 3, 4, 5] and sample.segments == (2, 1, 2)
    with pytest.raises(JudgeError, match="do not add up"):
        stats.clean([1, 2, 3], "x", [2, 2])


def test_lag1_autocorrelation_finds_the_correlation_and_clips_at_zero():
    rng = np.random.default_rng(11)
    e = rng.normal(0, 1, 5000)
    x = np.empty_like(e)
    x[0] = e[0]
    for i in range(1, e.size):
        x[i] = 0.7 * x[i - 1] + e[i]
    assert stats.lag1_autocorrelation(x) == pytest.approx(0.7, abs=0.03)
    alternating = np.tile([1.0, -1.0], 50)
    assert stats.lag1_autocorrelation(alternating) == 0.0
    # two series at different levels: no correlation within either
    two = np.concatenate([rng.normal(0, 1, 500), rng.normal(50, 1, 500)])
    assert stats.lag1_autocorrelation(two, [500, 500]) < 0.1 < stats.lag1_autocorrelation(two)


def test_inflated_variance_makes_the_p_value_larger():
    rng = np.random.default_rng(12)
    c, b = rng.normal(1, 1, 60), rng.normal(0, 1, 60)
    u1, p1 = stats.mann_whitney_inflated(c, b, "greater", 1.0)
    u, p_exact = stats.mann_whitney(c, b, "greater")
    assert u1 == u and p1 == pytest.approx(p_exact, rel=0.2)
    _unused, p9 = stats.mann_whitney_inflated(c, b, "greater", 9.0)
    assert p9 > 100 * p1
    lo1, hi1 = stats.hodges_lehmann(c, b, 0.99)[1:]
    lo9, hi9 = stats.hodges_lehmann(c, b, 0.99, inflation=9.0)[1:]
    assert lo9 < lo1 and hi9 > hi1
