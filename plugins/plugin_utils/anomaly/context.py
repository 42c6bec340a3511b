# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A contextual anomaly detector: how unusual is the *pattern* a point completes, not how far the value is.

After the contextual detectors that lead the Numenta Anomaly Benchmark (CAD OSE, HTM), in its own, simpler
form:

1. **Quantise.** The first ``warmup`` points only learn the series' range. Each point is then placed on
   a few grids over that range at once (``resolutions``: 2, 4 and 8 levels by default - coarse to fine).
   The range is frozen after the warm-up: a value beyond it gets a level beyond the grid (level 8, 9, ...
   or -1, ...), which the history has never held, instead of being clipped into the top level.
2. **Contexts.** For each grid and each context length ``k`` in ``orders`` (1, 2 and 3), the context is
   the levels of the ``k`` points before, and the pattern is that context followed by this point's level.
   Every pattern seen is counted (a memory of the series' own behaviour, learned online).
3. **Novelty.** A point's score is the share of its patterns (grids x orders) that were never seen before.
   A daily ramp walks through patterns seen every day and scores 0; a level never reached, a flat stretch
   where the series always moved, a spike where none ever came, complete patterns the series never made.
4. **One alarm per episode.** After a score of ``alarm_level`` or more, the next ``quiet`` points score 0:
   the first detection of an incident is the useful one, and each repeat would be a false alarm.

Streaming and causal (a point's score never depends on later points); plain Python, no numpy. The memory
grows with the patterns seen: a bounded number within the learned range, plus those of values beyond it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from ansible_collections.changeward.hybrid.plugins.plugin_utils.anomaly.detector import Score


@dataclass
class ContextConfig:
    warmup: int = 150  # points only learned from (the range is learned over them, then frozen)
    resolutions: tuple = (2, 4, 8)  # levels of each grid over the learned range
    orders: tuple = (1, 2, 3)  # context lengths, in points
    alarm_level: float = 5 / 9  # a score from this level on is an alarm and opens a quiet period
    quiet: int = 30  # points scored 0 after an alarm (0: none)


@dataclass
class ContextDetector:
    """Feed points in time order with update(); each returns the point's Score (``surprise`` = the share of
    novel patterns, ``explained_by`` = ``context``)."""

    config: ContextConfig = field(default_factory=ContextConfig)

    def __post_init__(self):
        self.count = 0
        self.low = self.high = None
        depth = max(self.config.orders) + 1
        self.levels = deque(maxlen=depth)
        self.seen = set()
        self.quiet_left = 0

    def _levels(self, value: float) -> tuple:
        span = (self.high - self.low) or 1.0
        x = (value - self.low) / span
        return tuple(math.floor(x * r) for r in self.config.resolutions)

    def update(self, value: float, when: float | None = None) -> Score:  # when: the same interface as StreamingDetector
        c = self.config
        if value is None or not math.isfinite(value):
            return Score(0.0, 0.0, 0.0, "none", None)
        value = float(value)
        if self.count < c.warmup or self.low is None:
            self.low = value if self.low is None else min(self.low, value)
            self.high = value if self.high is None else max(self.high, value)
        self.count += 1
        levels = self._levels(value)
        self.levels.append(levels)
        novel = total = 0
        past = list(self.levels)
        for grid in range(len(c.resolutions)):
            for k in c.orders:
                if len(past) <= k:
                    continue
                pattern = (grid, k, *(p[grid] for p in past[-k - 1 :]))
                total += 1
                if pattern not in self.seen:
                    novel += 1
                    self.seen.add(pattern)
        surprise = novel / total if total else 0.0
        if self.count <= c.warmup:
            return Score(0.0, surprise, 0.0, "context", None)
        score = surprise
        damped = False
        if self.quiet_left > 0:
            self.quiet_left -= 1
            score, damped = 0.0, True
        elif score >= c.alarm_level and c.quiet > 0:
            self.quiet_left = c.quiet
        return Score(score, surprise, 0.0, "context", None, damped)
