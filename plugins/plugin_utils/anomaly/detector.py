# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A streaming anomaly detector with learned baselines, for one metric series at a time.

Each point is scored against what the series' own history says it should be, before the point joins that
history (causal: the score of a point never depends on later points):

1. **Predictions.** A *local* baseline (the median of the last ``local`` points) and, once the history
   holds a few whole periods and the series correlates with itself at that lag, a *seasonal* baseline for
   each period tried (a day and a week by default): the median of the values one, two, ... periods ago,
   shifted by how much the current level differs from the level back then.
2. **Surprise.** Each prediction's residual is measured against the history of that prediction's residuals
   with a robust location and scale (median and MAD), so a spike in the history barely moves the yardstick
   (robust to outliers), and a noisy series needs a larger deviation than a quiet one. A point is as
   surprising as its best explanation: the smallest of the surprises (a daily ramp is explained by the
   seasonal baseline; a fresh level shift by none).
3. **Likelihood.** The surprise is turned into a probability the way Numenta's anomaly likelihood does: the
   average surprise of the last few points against the distribution of surprises over the long history,
   a Gaussian tail, reported on a log scale in [0, 1] (0.5 means about one in 10^5).
4. **One alarm per episode.** After a score above ``alarm_level`` the following ``quiet`` points are
   damped, so one incident yields one detection rather than a stream of them.

The first ``warmup`` points only teach the baseline and score 0. Non-finite values are skipped (scored 0,
not learned). Plain Python over numpy; no Ansible objects.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

try:
    import numpy as np
except ImportError as exc:  # ansible-test's import check has no numpy; callers get a clear error instead
    np = None
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None


class MissingLibraryError(ChangewardError):
    """numpy is not installed on the controller."""


LOG_FLOOR = math.log(1e-10)
DAY = 86400.0
WEEK = 7 * DAY


def _mad_scale(values: np.ndarray, floor: float) -> tuple[float, float]:
    med = float(np.median(values))
    mad = float(np.median(np.abs(values - med))) * 1.4826
    return med, max(mad, floor)


class _Buffer:
    """The last ``size`` floats, readable as one numpy array (a doubling array compacted now and then)."""

    def __init__(self, size: int):
        self.size = size
        self.data = np.empty(2 * size)
        self.start = 0
        self.end = 0

    def append(self, value: float) -> None:
        if self.end == len(self.data):
            keep = self.data[self.end - self.size : self.end].copy()
            self.data[: self.size] = keep
            self.start, self.end = 0, self.size
        self.data[self.end] = value
        self.end += 1
        if self.end - self.start > self.size:
            self.start += 1

    def __len__(self) -> int:
        return self.end - self.start

    def view(self, last: int | None = None) -> np.ndarray:
        if last is None or last >= len(self):
            return self.data[self.start : self.end]
        return self.data[self.end - last : self.end]

    def ago(self, lag: int) -> float:
        """The value lag points before the next one (lag >= 1)."""
        return float(self.data[self.end - lag])


@dataclass
class Score:
    """One point's score: ``score`` in [0, 1] and what it rests on."""

    score: float
    surprise: float  # robust z of the best explanation
    likelihood: float  # probability that recent surprise is this unusual (1 - tail)
    explained_by: str  # local | seasonal:<period s> | none (warm-up, non-finite)
    expected: float | None  # the best explanation's prediction
    damped: bool = False


@dataclass
class DetectorConfig:
    warmup: int = 150  # points only learned from
    history: int = 4000  # points of history kept (values and residuals)
    local: int = 12  # points in the local baseline
    periods: tuple = (DAY, WEEK)  # seasonal periods tried, in seconds
    season_cycles: int = 3  # past periods the seasonal baseline looks at
    season_min_corr: float = 0.3  # autocorrelation at the period needed to use it
    short: int = 3  # points averaged for the likelihood
    long: int = 1000  # surprises the likelihood is fitted to
    alarm_level: float = 0.5  # a score from this level on opens a quiet period
    quiet: int = 100  # points damped after an alarm (0: none)
    damping: float = 0.0  # damped scores are multiplied by this
    step: float | None = None  # seconds between points (None: learned from the timestamps)


@dataclass
class StreamingDetector:
    """Feed points in time order with update(); each returns the point's Score."""

    config: DetectorConfig = field(default_factory=DetectorConfig)

    def __post_init__(self):
        if _IMPORT_ERROR is not None:
            raise MissingLibraryError(
                f"anomaly detection needs numpy on the controller (pip install numpy): {_IMPORT_ERROR}"
            )
        c = self.config
        self.values = _Buffer(max(c.history, 8 * 2016 + 64))
        self.count = 0
        self.last_time = None
        self.steps = []
        self.step = c.step
        self.local_res = _Buffer(c.history)
        self.season_res = {}
        self.surprises = _Buffer(c.long)
        self.quiet_left = 0
        self.season_ok = {}
        self._season_checked = {}

    # -- learning the sampling step and seasons ------------------------------------------------------------------
    def _learn_step(self, when: float | None) -> None:
        if when is None:
            return
        if self.last_time is not None and self.step is None and len(self.steps) < 64:
            gap = when - self.last_time
            if gap > 0:
                self.steps.append(gap)
        self.last_time = when

    def _period_points(self) -> dict:
        step = self.config.step or (float(np.median(self.steps)) if self.steps else None)
        if not step:
            return {}
        out = {}
        for period in self.config.periods:
            points = round(period / step)
            if points >= 4 and len(self.values) >= 2 * points + self.config.local:
                out[period] = points
        return out

    def _season_usable(self, period: float, points: int) -> bool:
        # re-check the autocorrelation every period's worth of points
        checked = self._season_checked.get(period)
        if checked is not None and self.count - checked < points:
            return self.season_ok.get(period, False)
        hist = self.values.view()
        a, b = hist[points:], hist[:-points]
        ok = False
        if len(a) > 8 and np.std(a) > 0 and np.std(b) > 0:
            ok = float(np.corrcoef(a, b)[0, 1]) >= self.config.season_min_corr
        self.season_ok[period] = ok
        self._season_checked[period] = self.count
        return ok

    def _seasonal_prediction(self, points: int) -> float:
        c = self.config
        hist = self.values.view()
        n = len(hist)
        cycles = min(c.season_cycles, (n - c.local) // points)
        past = []
        for k in range(1, cycles + 1):
            # the value one period ago, shifted by how the level moved since then
            then = hist[n - k * points]
            level_then = np.median(hist[n - k * points - c.local : n - k * points])
            past.append((then, level_then))
        level_now = float(np.median(hist[n - c.local :]))
        return float(np.median([then + (level_now - lvl) for then, lvl in past]))

    # -- scoring ---------------------------------------------------------------------------------------------------
    def update(self, value: float, when: float | None = None) -> Score:
        c = self.config
        self._learn_step(when)
        if value is None or not math.isfinite(value):
            return Score(0.0, 0.0, 0.0, "none", None)
        value = float(value)
        if len(self.values) < c.local + 2:
            self.values.append(value)
            self.count += 1
            return Score(0.0, 0.0, 0.0, "none", None)

        hist = self.values.view()
        spread = float(np.median(np.abs(np.diff(hist[-min(len(hist), 400) :]))))
        floor = max(spread * 0.05, 1e-9 * max(1.0, abs(value)))
        candidates = []
        local_pred = float(np.median(hist[-c.local :]))
        local_r = value - local_pred
        if len(self.local_res) >= 10:
            med, scale = _mad_scale(self.local_res.view(), floor)
            candidates.append((abs(local_r - med) / scale, "local", local_pred))
        self.local_res.append(local_r)
        for period, points in self._period_points().items():
            if not self._season_usable(period, points):
                continue
            pred = self._seasonal_prediction(points)
            res = self.season_res.setdefault(period, _Buffer(c.history))
            r = value - pred
            if len(res) >= 10:
                med, scale = _mad_scale(res.view(), floor)
                candidates.append((abs(r - med) / scale, f"seasonal:{int(period)}", pred))
            res.append(r)

        self.values.append(value)
        self.count += 1
        if not candidates:
            return Score(0.0, 0.0, 0.0, "none", None)
        surprise, explained_by, expected = min(candidates, key=lambda cand: cand[0])
        surprise = min(surprise, 1e6)
        self.surprises.append(surprise)
        if self.count <= c.warmup or len(self.surprises) < 20:
            return Score(0.0, surprise, 0.0, explained_by, expected)

        long = self.surprises.view()
        recent = float(np.mean(long[-c.short :]))
        mean = float(np.mean(long[: -c.short])) if len(long) > c.short else float(np.mean(long))
        std = float(np.std(long[: -c.short])) if len(long) > c.short else float(np.std(long))
        std = max(std, 1e-3)
        tail = 0.5 * math.erfc((recent - mean) / std / math.sqrt(2.0))
        likelihood = 1.0 - tail
        score = min(1.0, max(0.0, math.log(max(tail, 1e-300) + 1e-10) / LOG_FLOOR))
        damped = False
        if self.quiet_left > 0:
            self.quiet_left -= 1
            score *= c.damping
            damped = True
        elif score >= c.alarm_level and c.quiet > 0:
            self.quiet_left = c.quiet
        return Score(score, surprise, likelihood, explained_by, expected, damped)


def scan(points: Iterable[tuple[float, float]], config: DetectorConfig | None = None) -> list[Score]:
    """The Score of every (time, value) point of one series, in order."""
    detector = StreamingDetector(config or DetectorConfig())
    return [detector.update(value, when) for when, value in points]
