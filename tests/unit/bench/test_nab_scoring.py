"""NAB's scoring (bench/nab_scoring.py) against cases worked out by hand from NAB's formulas."""

import math
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import nab_scoring as nab

START = datetime(2026, 1, 1)
TIMES = [START + timedelta(minutes=5 * i) for i in range(100)]
# rows 50..54 (width 5); 100 rows -> rows 0..14 are probationary (floor(0.15 * 100) = 15). Long enough
# that flagging every row (threshold 0) costs more than it earns.
WINDOW = [(TIMES[50].isoformat(sep=" "), TIMES[54].isoformat(sep=" "))]
MAX_TP = 2 / (1 + math.exp(-5)) - 1  # scaled_sigmoid(-1) = 0.9866143


def corpus(scores):
    return nab.score_corpus({"f.csv": (TIMES, scores)}, {"f.csv": WINDOW})


def detections(**rows):
    scores = [0.0] * 100
    for row, score in rows.items():
        scores[int(row[1:])] = score
    return scores


def test_scaled_sigmoid_values():
    assert nab.scaled_sigmoid(-1.0) == pytest.approx(0.9866143)
    assert nab.scaled_sigmoid(0.0) == pytest.approx(0.0)
    assert nab.scaled_sigmoid(0.5) == pytest.approx(-0.8482836)
    assert nab.scaled_sigmoid(3.5) == -1.0
    assert nab.scaled_sigmoid(3.0) == -1.0  # NAB's sweeper: "if relativePositionInWindow >= 3.0: return -1.0"


def test_probationary_length_is_15_percent_capped_at_750_rows():
    assert nab.probationary_length(20) == 3
    assert nab.probationary_length(100) == 15
    assert nab.probationary_length(4032) == 604
    assert nab.probationary_length(22695) == 750


def test_detection_at_the_window_start_is_perfect():
    results = corpus(detections(r50=1.0))
    for profile in nab.PROFILES:
        assert results[profile].raw == pytest.approx(1.0)
        assert results[profile].normalised == pytest.approx(100.0)
        assert results[profile].threshold == 1.0


def test_detection_at_the_window_end_earns_little():
    # position -(54 - 54 + 1) / 5 = -0.2: (2 sigmoid(1) - 1) / MAX_TP = 0.468387
    results = corpus(detections(r54=1.0))
    assert results["standard"].raw == pytest.approx(0.4621172 / MAX_TP)
    assert results["standard"].normalised == pytest.approx(100 * (0.468387 + 1) / 2, abs=1e-4)
    # low FN: null -2, perfect 1
    assert results["reward_low_FN_rate"].normalised == pytest.approx(100 * (0.468387 + 2) / 3, abs=1e-4)


def test_false_positive_before_the_window_and_the_threshold_sweep():
    # row 45 (score 1.0) costs the full fp weight; row 52 (score 0.8) at position -0.6 earns
    # (2 sigmoid(3) - 1) / MAX_TP = 0.917428; the best threshold is 0.8, which takes both
    results = corpus(detections(r45=1.0, r52=0.8))
    assert results["standard"].threshold == 0.8
    assert results["standard"].raw == pytest.approx(0.917428 - 0.11, abs=1e-6)
    assert results["standard"].normalised == pytest.approx(90.3714, abs=1e-3)
    assert results["reward_low_FP_rate"].normalised == pytest.approx(100 * (0.917428 - 0.22 + 1) / 2, abs=1e-3)
    assert results["reward_low_FN_rate"].normalised == pytest.approx(100 * (0.917428 - 0.11 + 2) / 3, abs=1e-3)


def test_false_positives_behind_a_window_cost_by_distance():
    rows = nab.sweep_rows(TIMES, [0.0] * 100, WINDOW, "f.csv", nab.PROFILES["standard"])
    # |54 - i| / (5 - 1): 0.25 -> -0.5546, 1.25 -> -0.9961 (times 0.11)
    assert rows[55].sweep == pytest.approx(-0.11 * 0.5545997, abs=1e-6)
    assert rows[59].sweep == pytest.approx(-0.11 * 0.9961464, abs=1e-6)
    assert rows[49].sweep == pytest.approx(-0.11)
    assert [r.window for r in rows[:15]] == ["probationary"] * 15
    assert rows[50].window == rows[54].window == "f.csv|" + TIMES[50].isoformat()
    assert rows[55].window is None


def test_a_detection_only_after_the_window_scores_like_the_null_detector():
    # thresholds 1.0 would give -1 - 0.11 * 0.5546 < -1: the sweep keeps 1.1 (no detections)
    results = corpus(detections(r55=1.0))
    assert results["standard"].threshold == nab.NULL_THRESHOLD
    assert results["standard"].normalised == pytest.approx(0.0)


def test_probationary_detections_are_not_scored():
    results = corpus(detections(r1=1.0, r2=1.0, r50=1.0))
    assert results["standard"].raw == pytest.approx(1.0)


def test_only_the_earliest_detection_in_a_window_counts():
    results = corpus(detections(r51=1.0, r52=1.0, r53=1.0))
    # position -(54 - 51 + 1) / 5 = -0.8: (2 sigmoid(4) - 1) / MAX_TP
    assert results["standard"].raw == pytest.approx((2 / (1 + math.exp(-4)) - 1) / MAX_TP)


def test_the_threshold_is_shared_by_the_whole_corpus():
    # file a: a window found at score 0.9; file b: a false positive at 0.95 and nothing in its window.
    # 0.9 takes both (1 - 0.11 - 1 = -0.11), 0.95 only the FP (-2.11), 1.1 none (-2): 0.9 wins.
    a = detections(r50=0.9)
    b = detections(r45=0.95)
    results = nab.score_corpus({"a": (TIMES, a), "b": (TIMES, b)}, {"a": WINDOW, "b": WINDOW})
    assert results["standard"].threshold == 0.9
    assert results["standard"].raw == pytest.approx(-0.11)
    assert results["standard"].normalised == pytest.approx(100 * (-0.11 + 2) / 4)


def test_windows_must_fall_on_timestamps():
    with pytest.raises(ValueError, match="does not fall"):
        nab.sweep_rows(
            TIMES, [0.0] * 100, [("2025-01-01 00:00:00", "2025-01-01 00:05:00")], "f", nab.PROFILES["standard"]
        )
