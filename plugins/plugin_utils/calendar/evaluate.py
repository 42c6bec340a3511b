# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decide whether a change with a given scope may start at a given instant, and when it next may.

Rules (docs/blackout.md): windows are [start, end); overlapping windows are ORed; an applicable
blackout window blocks; when any maintenance event applies to the scope, the change must also be
inside one of the applicable maintenance windows; blackout beats maintenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .expand import Timeline
from .localtime import iso_utc
from .model import scope_key, scope_matches

DEFAULT_HORIZON_DAYS = 366


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


class CalendarSet:
    """Loaded events of every calendar; evaluate() is the per-check entry point."""

    def __init__(self, events):
        self.timelines = [Timeline(event) for event in events]
        self._by_scope = {}

    def __len__(self):
        return len(self.timelines)

    def applicable(self, scope):
        key = scope_key(scope)
        cached = self._by_scope.get(key)
        if cached is None:
            blackouts, maintenance = [], []
            for timeline in self.timelines:
                if scope_matches(timeline.event.scope, scope):
                    (blackouts if timeline.event.kind == "blackout" else maintenance).append(timeline)
            cached = self._by_scope[key] = (blackouts, maintenance)
        return cached

    @staticmethod
    def _active(timelines, t):
        return [(timeline, i) for timeline in timelines for i in timeline.active_at(t)]

    def evaluate(self, at, scope, horizon_days=DEFAULT_HORIZON_DAYS):
        blackouts, maintenance = self.applicable(scope)
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
        next_allowed = self.next_allowed(at, blackouts, maintenance, horizon_days) if blocked else at
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

    def next_allowed(self, at, blackouts, maintenance, horizon_days):
        """Earliest instant >= at that is allowed, or None within the horizon.

        The allowed set is a union of half-open intervals, so its first point is `at`, the end of
        a blackout window or the start of a maintenance window; walk those in time order.
        """
        limit = at + horizon_days * 86400.0
        t = at
        while t <= limit:
            ends = [tl.ends[i] for tl, i in self._active(blackouts, t)]
            if ends:
                t = max(ends)
                continue
            if maintenance and not self._active(maintenance, t):
                starts = [s for s in (tl.next_start_after(t, limit) for tl in maintenance) if s is not None]
                if not starts:
                    return None
                t = min(starts)
                continue
            return t
        return None
