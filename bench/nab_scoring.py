"""The Numenta Anomaly Benchmark's scoring, as NAB publishes it (numenta/NAB: nab/sweeper.py, nab/runner.py,
config/profiles.json), in plain Python so the benchmark needs neither NAB nor pandas.

Per data file, every row gets a weighted sweep score:

* inside an anomaly window, a detection at relative position ``p = -(right - i + 1) / width`` (-1 at the
  window's first row, near 0 at its last) earns ``scaled_sigmoid(p) * tp_weight / scaled_sigmoid(-1)``:
  exactly tp_weight at the start, almost nothing at the end;
* outside every window, a detection costs ``fp_weight`` times ``-1`` before the first window, else
  ``scaled_sigmoid(|prev_right - i| / (prev_width - 1))``: close behind a window it costs little, three
  window widths behind it costs the full fp_weight.

Rows of the probationary period (the first 15 % of a file, at most 750 rows) are not scored. Over the rows
that remain, for a threshold T every row whose anomaly score is >= T is a detection; a window scores the best
(earliest) detection it holds, or ``-fn_weight`` when it has none; false positives add up. A profile's
threshold is the one that gives the best total over the whole corpus (swept over every distinct score, as
NAB's sweeper does); the reported score is normalised so that the null detector (never detects) scores 0
and a perfect one (detects every window at its first row, nothing else) scores 100:
``100 * (raw - null) / (perfect - null)`` with ``perfect = windows * tp_weight``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

PROFILES = {
    "standard": {"tp": 1.0, "fp": 0.11, "fn": 1.0, "tn": 1.0},
    "reward_low_FP_rate": {"tp": 1.0, "fp": 0.22, "fn": 1.0, "tn": 1.0},
    "reward_low_FN_rate": {"tp": 1.0, "fp": 0.11, "fn": 2.0, "tn": 1.0},
}
PROBATION_PERCENT = 0.15
NULL_THRESHOLD = 1.1  # NAB starts its sweep above any score: no detections at all


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def scaled_sigmoid(position: float) -> float:
    """NAB's reward curve: +0.987 at -1 (a window's start), 0 at 0 (its end), -1 from 3 on (far behind it)."""
    if position >= 3.0:  # NAB: a detection three window widths behind it or more costs the full weight
        return -1.0
    return 2.0 * sigmoid(-5.0 * position) - 1.0


def probationary_length(rows: int, percent: float = PROBATION_PERCENT) -> float:
    return min(math.floor(percent * rows), percent * 5000)


@dataclass(frozen=True)
class Row:
    score: float  # the detector's anomaly score
    sweep: float  # the weighted reward (window) or cost (outside) of a detection here
    window: str | None  # the window's name, None outside any window, "probationary" when not scored


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def sweep_rows(timestamps: Sequence, scores: Sequence[float], windows: Sequence, name: str, weights: Mapping):
    """Every row's Row for one file (NAB Sweeper.calcSweepScore). timestamps and window limits are datetimes
    (or strings parse_time reads); each window's limits must be timestamps of the file."""
    if len(timestamps) != len(scores):
        raise ValueError(f"{name}: {len(timestamps)} timestamps but {len(scores)} scores")
    times = [t if isinstance(t, datetime) else parse_time(t) for t in timestamps]
    index = {t: i for i, t in enumerate(times)}
    limits = []
    for start, end in windows:
        start = start if isinstance(start, datetime) else parse_time(start)
        end = end if isinstance(end, datetime) else parse_time(end)
        if start not in index or end not in index:
            raise ValueError(f"{name}: window {start}..{end} does not fall on the file's timestamps")
        limits.append((index[start], index[end], f"{name}|{start.isoformat()}"))
    limits.sort()
    max_tp = scaled_sigmoid(-1.0)
    probation = probationary_length(len(times))
    out = []
    cur_right = cur_width = cur_name = None
    prev_right = prev_width = None
    pending = list(limits)
    for i, score in enumerate(scores):
        if pending and i == pending[0][0]:
            cur_right = pending[0][1]
            cur_width = float(cur_right - i + 1)
            cur_name = pending[0][2]
            pending.pop(0)
        if cur_right is not None:
            position = -(cur_right - i + 1) / cur_width
            sweep = scaled_sigmoid(position) * weights["tp"] / max_tp
            window = cur_name
        else:
            if prev_right is None:
                unweighted = -1.0
            else:
                unweighted = scaled_sigmoid(abs(prev_right - i) / float(prev_width - 1)) if prev_width > 1 else -1.0
            sweep = unweighted * weights["fp"]
            window = None
        out.append(Row(float(score), sweep, window if i >= probation else "probationary"))
        if cur_right is not None and i == cur_right:
            prev_right, prev_width = cur_right, cur_width
            cur_right = cur_width = cur_name = None
    return out


def scores_by_threshold(rows: Sequence[Row], weights: Mapping) -> list[tuple[float, float]]:
    """(threshold, total score) for every distinct threshold, highest threshold first, starting at 1.1 - no
    detections (NAB Sweeper.calcScoreByThreshold). A row is a detection at T when its score >= T."""
    scorable = sorted((r for r in rows if r.window != "probationary"), key=lambda r: r.score, reverse=True)
    parts = {r.window: -weights["fn"] for r in scorable if r.window is not None}
    fp = 0.0
    window_total = sum(parts.values())
    out = []
    threshold = NULL_THRESHOLD
    for row in scorable:
        if row.score != threshold:
            out.append((threshold, window_total + fp))
            threshold = row.score
        if row.window is None:
            fp += row.sweep
        elif row.sweep > parts[row.window]:
            window_total += row.sweep - parts[row.window]
            parts[row.window] = row.sweep
    out.append((threshold, window_total + fp))
    return out


def score_at(rows: Sequence[Row], weights: Mapping, threshold: float) -> float:
    """The total score of rows when every row scoring >= threshold is a detection."""
    parts = {}
    fp = 0.0
    for row in rows:
        if row.window == "probationary":
            continue
        if row.window is not None:
            best = parts.setdefault(row.window, -weights["fn"])
            if row.score >= threshold and row.sweep > best:
                parts[row.window] = row.sweep
        elif row.score >= threshold:
            fp += row.sweep
    return sum(parts.values()) + fp


@dataclass
class ProfileResult:
    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float

    @property
    def normalised(self) -> float:
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null)


def score_corpus(files: Mapping[str, tuple[Sequence, Sequence[float]]], windows: Mapping[str, Sequence]):
    """Every profile's ProfileResult for a detector's scores: files maps a file name to (timestamps, scores),
    windows maps it to its window limits (labels/combined_windows.json). The threshold is optimised over the
    corpus per profile; the null detector is scored through the same pipeline (it never detects)."""
    missing = sorted(set(windows) - set(files))
    if missing:
        raise ValueError(f"no scores for {len(missing)} labelled file(s): {', '.join(missing[:3])}")
    window_count = sum(len(windows[name]) for name in files)
    results = {}
    for profile, weights in PROFILES.items():
        rows, null_rows = [], []
        for name, (timestamps, scores) in files.items():
            rows.extend(sweep_rows(timestamps, scores, windows[name], name, weights))
            null_rows.extend(sweep_rows(timestamps, [0.5] * len(scores), windows[name], name, weights))
        threshold, raw = max(scores_by_threshold(rows, weights), key=lambda pair: pair[1])
        _unused, null = max(scores_by_threshold(null_rows, weights), key=lambda pair: pair[1])
        results[profile] = ProfileResult(profile, threshold, raw, null, window_count * weights["tp"])
    return results


def load_corpus(nab_dir: str | Path):
    """(series, windows): series maps each labelled file (relative to data/) to (timestamps, values)."""
    nab_dir = Path(nab_dir)
    with open(nab_dir / "labels" / "combined_windows.json", encoding="utf-8") as handle:
        windows = json.load(handle)
    series = {}
    for name in sorted(windows):
        timestamps, values = [], []
        with open(nab_dir / "data" / name, encoding="utf-8") as handle:
            next(handle)
            for line in handle:
                if not line.strip():
                    continue
                stamp, value = line.rsplit(",", 1)
                timestamps.append(parse_time(stamp))
                values.append(float(value))
        series[name] = (timestamps, values)
    return series, windows
