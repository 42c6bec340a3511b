"""The streaming anomaly detector and the scan over series: what it flags, what it learns to ignore."""

import math
import os
from datetime import UTC
from pathlib import Path

import numpy as np
import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.anomaly.detector import (
    DetectorConfig,
    StreamingDetector,
    scan,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.anomaly.scan import AnomalyError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.anomaly.scan import scan as scan_series

STEP = 300.0
T0 = 1_800_000_000.0


def times(n):
    return [T0 + STEP * i for i in range(n)]


def scores(values, **config):
    return [s.score for s in scan(zip(times(len(values)), values, strict=True), DetectorConfig(**config))]


def test_a_spike_in_noise_is_flagged_and_the_noise_is_not():
    rng = np.random.default_rng(1)
    values = list(100 + rng.normal(0, 2, 1500))
    values[1200] = 130
    out = scores(values)
    assert out[1200] >= 0.5
    quiet = [s for i, s in enumerate(out) if i != 1200 and not 1200 <= i < 1203]
    assert sum(s >= 0.5 for s in quiet) <= 3  # a false alarm or so in 1500 points of noise


def test_warmup_only_learns_and_non_finite_values_are_not_learned():
    rng = np.random.default_rng(2)
    values = list(10 + rng.normal(0, 1, 400))
    values[50] = 1000  # inside the warm-up: scored 0
    values[300] = math.nan
    detector = StreamingDetector(DetectorConfig(warmup=150))
    out = [detector.update(v, t) for t, v in zip(times(400), values, strict=True)]
    assert all(s.score == 0.0 for s in out[:150])
    assert out[300].score == 0.0 and out[300].explained_by == "none"
    assert detector.count == 399  # the NaN did not join the history


def test_a_daily_pattern_is_learned_and_a_missing_peak_is_flagged():
    n = 288 * 6  # six days at 5 minutes
    rng = np.random.default_rng(3)
    phase = np.arange(n) % 288
    values = 50 + 40 * np.exp(-(((phase - 144) / 20.0) ** 2)) + rng.normal(0, 1, n)
    values[288 * 5 + 130 : 288 * 5 + 160] = 50 + rng.normal(0, 1, 30)  # day 6: the midday peak does not come
    detector = StreamingDetector(DetectorConfig())
    out = [detector.update(v, t) for t, v in zip(times(n), values, strict=True)]
    day5 = out[288 * 4 : 288 * 5]
    assert max(s.score for s in day5) < 0.5, "an ordinary peak is explained by the season"
    assert any(s.explained_by.startswith("seasonal:86400") for s in day5)
    assert max(s.score for s in out[288 * 5 + 130 : 288 * 5 + 160]) >= 0.5


def test_outliers_in_the_history_do_not_move_the_baseline():
    rng = np.random.default_rng(4)
    values = list(20 + rng.normal(0, 0.5, 1200))
    for i in range(200, 900, 70):
        values[i] = 200  # ten wild spikes
    values[1000:] = [v + 6 for v in values[1000:]]
    detector = StreamingDetector(DetectorConfig())
    out = [detector.update(v, t) for t, v in zip(times(1200), values, strict=True)]
    # the baseline and its yardstick are medians: the spikes neither drag the prediction nor widen the scale,
    # so a shift of 12 noise sd stays a surprise of about 12
    assert out[1000].expected == pytest.approx(20, abs=0.5)
    assert out[1000].surprise >= 8
    assert out[1200 - 1].surprise < 4, "and the new level is learned within the local window"


def test_scores_are_causal():
    rng = np.random.default_rng(5)
    values = list(rng.normal(0, 1, 600))
    assert scores(values[:400]) == scores(values)[:400]


def test_scan_reports_only_from_report_from_and_says_the_verdict():
    rng = np.random.default_rng(6)
    values = list(100 + rng.normal(0, 2, 600))
    values[550] = 140
    series = {"a": [[t, v] for t, v in zip(times(600), values, strict=True)]}
    found = scan_series(series, report_from=T0 + STEP * 500)
    assert found["verdict"] == "anomalous"
    assert [a["time"] for a in found["anomalies"]] == [T0 + STEP * 550]
    assert found["series"]["a"]["learned_from"] == 500
    clean = scan_series(series, report_from=T0 + STEP * 560)
    assert clean["verdict"] == "clean"


def test_too_little_history_is_nodata_never_clean():
    series = {"a": [[t, 1.0] for t in times(40)]}
    assert scan_series(series)["verdict"] == "nodata"
    assert scan_series({})["verdict"] == "nodata"
    with pytest.raises(AnomalyError, match="sample 0"):
        scan_series({"a": [[1, "x"]]})


NAB = os.environ.get("NAB_DIR")


@pytest.mark.skipif(not NAB, reason="NAB_DIR (the Numenta Anomaly Benchmark's directory) is not set")
def test_on_a_nab_file_the_jump_is_found_inside_its_window():
    import json
    from datetime import datetime

    name = "artificialWithAnomaly/art_daily_jumpsup.csv"
    windows = json.loads((Path(NAB) / "labels" / "combined_windows.json").read_text())[name]
    rows = [line.rsplit(",", 1) for line in (Path(NAB) / "data" / name).read_text().splitlines()[1:]]

    def ts(text):
        return datetime.fromisoformat(text.strip().split(".")[0]).replace(tzinfo=UTC).timestamp()

    out = scan(((ts(t), float(v)) for t, v in rows), DetectorConfig())
    flagged = [ts(rows[i][0]) for i, s in enumerate(out) if s.score >= 0.5]
    (start, end) = (ts(windows[0][0]), ts(windows[0][1]))
    assert any(start <= f <= end for f in flagged)
    assert sum(1 for f in flagged if not start <= f <= end) <= 2


def test_a_reported_point_inside_the_warm_up_makes_the_scan_nodata():
    # a spike after report_from but within the first 150 points was never scored: that is no "clean"
    rng = np.random.default_rng(7)
    values = list(100 + rng.normal(0, 2, 400))
    values[120] = 180
    series = {"a": [[t, v] for t, v in zip(times(400), values, strict=True)]}
    found = scan_series(series, report_from=T0 + STEP * 100)
    assert found["verdict"] == "nodata" and found["series"]["a"]["unscored"] == 50
    assert "before report_from" in found["reason"]


def test_without_numpy_the_detector_says_what_is_missing(monkeypatch):
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.anomaly import detector

    monkeypatch.setattr(detector, "_IMPORT_ERROR", ImportError("No module named 'numpy'"))
    with pytest.raises(detector.MissingLibraryError, match="needs numpy"):
        StreamingDetector()
