"""Score and verdict from metric classifications (NetflixACAJudge-style aggregation)."""

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.classify import MetricResult
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.errors import JudgeError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.verdict import aggregate


def m(name, classification="pass", critical=False, nodata="inconclusive", weight=1.0):
    return MetricResult(name, classification, "why", critical, nodata, weight, "increase", {})


def passes(n, prefix="p"):
    return [m(f"{prefix}{i}") for i in range(n)]


def test_all_pass_is_pass_with_score_100():
    j = aggregate(passes(3))
    assert (j.verdict, j.score) == ("pass", 100.0)


@pytest.mark.parametrize(
    "n_pass, n_fail, verdict", [(19, 1, "pass"), (9, 1, "marginal"), (3, 1, "marginal"), (1, 1, "fail")]
)
def test_score_thresholds(n_pass, n_fail, verdict):
    j = aggregate(passes(n_pass) + [m(f"f{i}", "high") for i in range(n_fail)], pass_score=95, marginal_score=75)
    assert j.score == pytest.approx(100 * n_pass / (n_pass + n_fail), abs=0.01)
    assert j.verdict == verdict


def test_critical_failure_fails_whatever_the_score():
    j = aggregate([*passes(99), m("err", "low", critical=True)])
    assert j.score == 99.0 and j.verdict == "fail"
    assert j.reasons[0] == "critical metric(s) failed: err"


def test_nodata_inconclusive_makes_the_verdict_inconclusive_never_pass():
    j = aggregate([*passes(10), m("lat", "nodata", nodata="inconclusive")])
    assert j.score == 100.0 and j.verdict == "inconclusive"


def test_nodata_fail_counts_as_a_failed_metric():
    j = aggregate([*passes(3), m("lat", "nodata", nodata="fail")])
    assert j.score == 75.0 and j.verdict == "marginal"


def test_critical_nodata_fail_fails_the_judgement():
    assert aggregate([*passes(3), m("lat", "nodata", critical=True, nodata="fail")]).verdict == "fail"


def test_nodata_ignore_is_left_out_of_the_score():
    j = aggregate([*passes(3), m("lat", "nodata", nodata="ignore")])
    assert (j.verdict, j.score) == ("pass", 100.0)
    assert any("ignored as configured" in r for r in j.reasons)


def test_everything_ignored_is_inconclusive():
    j = aggregate([m("a", "nodata", nodata="ignore"), m("b", "nodata", nodata="ignore")])
    assert (j.verdict, j.score) == ("inconclusive", None)


def test_clear_failure_is_not_hidden_behind_missing_data():
    # even if the data-less metric passed, 1 of 3 passing stays below marginal
    j = aggregate([m("a"), m("b", "high"), m("c", "high"), m("d", "nodata")])
    assert j.verdict == "fail" and "even if the metrics without data passed" in j.reasons[0]


def test_weights_move_the_score():
    j = aggregate([m("a", weight=3), m("b", "high", weight=1)], pass_score=95, marginal_score=70)
    assert j.score == 75.0 and j.verdict == "marginal"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"pass_score": 101}, "pass_score"),
        ({"marginal_score": -1}, "marginal_score"),
        ({"pass_score": 50, "marginal_score": 60}, "must not exceed"),
    ],
)
def test_bad_thresholds_are_refused(kwargs, match):
    with pytest.raises(JudgeError, match=match):
        aggregate(passes(1), **kwargs)


def test_no_metrics_and_duplicate_names_are_refused():
    with pytest.raises(JudgeError, match="no metrics"):
        aggregate([])
    with pytest.raises(JudgeError, match="unique"):
        aggregate([m("a"), m("a")])
