# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decide whether a change with a given scope may start at a given instant, and when it next may.

Rules (docs/blackout.md): windows are [start, end); overlapping windows are ORed; an applicable
blackout window blocks; when any maintenance event applies to the scope, the change must also be
inside one of the applicable maintenance windows; blackout beats maintenance.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from .expand import Timeline
from .localtime import iso_utc
from .model import scope_key, scope_matches

DEFAULT_HORIZON_DAYS = 366
# Merged windows are cached per scope in blocks of this many seconds, so next_allowed_at walks a few
# merged intervals instead of every event's windows.
BLOCK = 30 * 86400.0


@dataclass
class Evaluation:
    at: float
    blocked: bool
    active: list  # Window, every kind, active at `at`
    blocking: list  # active blackout windows
    maintenance_applies: bool
    in_maintenance: bool
    maintenance_calendars: list
    next_allowed: float | None
    horizon_days: int
    reasons: list = field(default_factory=list)


class Union:
    """The union of some timelines' windows as disjoint [start, end) intervals, built per block.

    A block's intervals merge every window that overlaps the block (windows may reach beyond it), so a
    point in the block is covered exactly when it lies in one of them.
    """

    def __init__(self, timelines):
        self.timelines = timelines
        self.blocks = {}

    def _block(self, number):
        block = self.blocks.get(number)
        if block is not None:
            return block
        low, high = number * BLOCK, (number + 1) * BLOCK
        pairs = []
        for timeline in self.timelines:
            timeline.extend_to(high)
            starts, ends = timeline.starts, timeline.ends
            for i in range(bisect_left(starts, low - timeline.max_len), bisect_left(starts, high)):
                if ends[i] > low:
                    pairs.append((starts[i], ends[i]))
        pairs.sort()
        merged_starts, merged_ends = [], []
        for start, end in pairs:
            if merged_ends and start <= merged_ends[-1]:
                merged_ends[-1] = max(merged_ends[-1], end)
            else:
                merged_starts.append(start)
                merged_ends.append(end)
        block = self.blocks[number] = (merged_starts, merged_ends)
        return block

    def cover_end(self, t):
        """End of the merged interval containing t, or None when no window covers t."""
        starts, ends = self._block(int(t // BLOCK))
        i = bisect_right(starts, t) - 1
        return ends[i] if i >= 0 and ends[i] > t else None

    def next_start_after(self, t, limit):
        """First interval start > t and <= limit, or None."""
        number = int(t // BLOCK)
        while number * BLOCK <= limit:
            starts, _ends = self._block(number)
            i = bisect_right(starts, t)
            if i < len(starts):
                return starts[i] if starts[i] <= limit else None
            number += 1
        return None


class CalendarSet:
    """Loaded events of every calendar; evaluate() is the per-check entry point."""

    def __init__(self, events):
        self.timelines = [Timeline(event) for event in events]
        self._by_scope = {}

    def __len__(self):
        return len(self.timelines)

    def expand_until(self, until):
        """Expand every event up to a timestamp now instead of lazily during checks."""
        for timeline in self.timelines:
            timeline.extend_to(until)

    def _for_scope(self, scope):
        key = scope_key(scope)
        cached = self._by_scope.get(key)
        if cached is None:
            blackouts, maintenance = [], []
            for timeline in self.timelines:
                if scope_matches(timeline.event.scope, scope):
                    (blackouts if timeline.event.kind == "blackout" else maintenance).append(timeline)
            cached = self._by_scope[key] = (blackouts, maintenance, Union(blackouts), Union(maintenance))
        return cached

    def applicable(self, scope):
        """(blackout timelines, maintenance timelines) whose events apply to the scope."""
        return self._for_scope(scope)[:2]

    @staticmethod
    def _active(timelines, t):
        return [(timeline, i) for timeline in timelines for i in timeline.active_at(t)]

    def evaluate(self, at, scope, horizon_days=DEFAULT_HORIZON_DAYS):
        blackouts, maintenance, black_union, maint_union = self._for_scope(scope)
        active_black = self._active(blackouts, at)
        active_maint = self._active(maintenance, at)
        maintenance_applies = bool(maintenance)
        in_maintenance = bool(active_maint)
        blocked = bool(active_black) or (maintenance_applies and not in_maintenance)

        blocking = sorted((tl.window(i) for tl, i in active_black), key=lambda w: (w.start, w.name))
        active = sorted(blocking + [tl.window(i) for tl, i in active_maint], key=lambda w: (w.start, w.kind, w.name))
        maint_calendars = sorted({tl.event.calendar for tl in maintenance})

        reasons = [f"blackout {w.name!r} ({w.calendar}) {iso_utc(w.start)} to {iso_utc(w.end)}" for w in blocking]
        if maintenance_applies and not in_maintenance:
            reasons.append(
                "outside every maintenance window that applies to this scope (calendars: "
                + ", ".join(maint_calendars)
                + ")"
            )
        next_allowed = (
            self.next_allowed(at, black_union, maint_union if maintenance else None, horizon_days) if blocked else at
        )
        return Evaluation(
            at=at,
            blocked=blocked,
            active=active,
            blocking=blocking,
            maintenance_applies=maintenance_applies,
            in_maintenance=in_maintenance,
            maintenance_calendars=maint_calendars,
            next_allowed=next_allowed,
            horizon_days=horizon_days,
            reasons=reasons,
        )

    @staticmethod
    def next_allowed(at, black, maint, horizon_days):
        """Earliest instant >= at that is allowed, or None within the horizon.

        The allowed set is a union of half-open intervals, so its first point is `at`, the end of
        a merged blackout interval or the start of a merged maintenance interval; walk those in order.
        """
        limit = at + horizon_days * 86400.0
        t = at
        while t <= limit:
            end = black.cover_end(t)
            if end is not None:
                t = end
                continue
            if maint is not None and maint.cover_end(t) is None:
                start = maint.next_start_after(t, limit)
                if start is None:
                    return None
                t = start
                continue
            return t
        return None
