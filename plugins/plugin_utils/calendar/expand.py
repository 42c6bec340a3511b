# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lazy expansion of one event into UTC windows, using python-dateutil's rrule/rruleset.

Recurrence is expanded on naive wall-clock times in the event's zone (RFC 5545 recurs in local
time: "09:00 every weekday" stays 09:00 across DST), then each occurrence is mapped to UTC with
localtime.local_to_utc. Occurrences are kept in sorted lists and extended on demand, so one
generator pass serves every later check and a check costs a bisect per event.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from datetime import timedelta

try:
    from dateutil.rrule import rruleset, rrulestr
except ImportError:  # pragma: no cover - exercised by the sanity import test only
    rrulestr = rruleset = None

from .errors import CalendarDependencyError, CalendarFormatError
from .localtime import local_to_utc, to_timestamp
from .model import Window

# Local-to-UTC mapping is monotonic except inside DST gaps (and one historical skipped day,
# Pacific/Apia 2011), so an occurrence can start at most this much before one already seen.
_SLACK = 2 * 86400.0
MAX_OCCURRENCES = 400_000


def build_rruleset(event):
    if rruleset is None:
        raise CalendarDependencyError("python-dateutil is required on the controller for recurrence", event.calendar)
    rset = rruleset()
    try:
        for rule in event.rrules:
            rset.rrule(rrulestr(rule, dtstart=event.start))
        for rule in event.exrules:
            rset.exrule(rrulestr(rule, dtstart=event.start))
    except (ValueError, TypeError) as exc:
        raise CalendarFormatError(f"event {event.uid!r}: unusable recurrence rule ({exc})", event.calendar) from None
    # DTSTART is always the first instance (RFC 5545 3.8.5.3), even when the rule would skip it.
    rset.rdate(event.start)
    for value in event.rdates:
        rset.rdate(value)
    return rset


def _occurrences(event):
    tz = event.tz
    exdates, exdays = event.exdates, event.exdays
    days = timedelta(days=event.length.days)
    exact = event.length.exact
    for local in build_rruleset(event):
        if exdays and local.date() in exdays:
            continue
        start = local_to_utc(local, tz)
        if start in exdates:
            continue
        end = local_to_utc(local + days, tz) + exact if event.length.days else start + exact
        yield to_timestamp(start), to_timestamp(end)


def _periods(event):
    for start, end in sorted(event.periods):
        if start in event.exdates:
            continue
        yield to_timestamp(start), to_timestamp(end)


class Timeline:
    """The windows of one event, expanded lazily and kept sorted by start."""

    __slots__ = ("_high", "_it", "ends", "event", "max_len", "starts")

    def __init__(self, event):
        self.event = event
        self.starts = []
        self.ends = []
        self.max_len = 0.0
        self._high = -math.inf  # every window starting at or before this is known
        self._it = heapq.merge(_occurrences(event), _periods(event))

    def extend_to(self, t):
        starts, ends = self.starts, self.ends
        while self._high < t:
            item = next(self._it, None)
            if item is None:
                self._high = math.inf
                break
            start, end = item
            if starts and start == starts[-1] and end == ends[-1]:
                continue  # the same instance from RRULE and RDATE
            if not starts or start >= starts[-1]:
                starts.append(start)
                ends.append(end)
            else:
                i = bisect_right(starts, start)
                starts.insert(i, start)
                ends.insert(i, end)
            self.max_len = max(self.max_len, end - start)
            self._high = start - _SLACK
            if len(starts) > MAX_OCCURRENCES:
                raise CalendarFormatError(
                    f"event {self.event.uid!r} expands to more than {MAX_OCCURRENCES} windows before "
                    "the checked time; narrow its recurrence rule",
                    self.event.calendar,
                )

    def active_at(self, t):
        """Indexes of windows with start <= t < end."""
        self.extend_to(t)
        starts, ends = self.starts, self.ends
        found = []
        j = bisect_right(starts, t) - 1
        earliest = t - self.max_len
        while j >= 0 and starts[j] >= earliest:
            if ends[j] > t:
                found.append(j)
            j -= 1
        return found

    def next_start_after(self, t, limit):
        """First window start > t and <= limit, or None."""
        step = 7 * 86400.0
        horizon = t
        while True:
            horizon = min(horizon + step, limit)
            self.extend_to(horizon)
            i = bisect_right(self.starts, t)
            if i < len(self.starts) and self.starts[i] <= limit:
                return self.starts[i]
            if horizon >= limit or self._high == math.inf:
                return None
            step *= 2

    def window(self, index):
        event = self.event
        return Window(event.name, event.kind, self.starts[index], self.ends[index], event.calendar, event.uid)
