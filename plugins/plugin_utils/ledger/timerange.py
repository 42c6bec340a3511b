# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time windows over the ledger: which events happened in [start, end).

Event times are RFC 3339 UTC with 0 to 9 fraction digits (model.TIME_RE), so whole times do not sort as text
("...:00Z" sorts after "...:00.5Z"). The backends select on the time to the second (the first 19 characters,
indexed) with both bounds inclusive; ``key`` then gives each time a form that does sort as text (the fraction
padded to nine digits), and the exact comparison is made on it here.
"""

from __future__ import annotations

from typing import NamedTuple

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import TimeFormatError, instant

from .errors import LedgerInvalidInput
from .model import TIME_RE


class Window(NamedTuple):
    """[start, end) as sortable keys (None: unbounded), and the instants as given, normalised, for headers."""

    start: str | None
    end: str | None
    start_time: str | None
    end_time: str | None

    @property
    def bounded(self) -> bool:
        return self.start is not None or self.end is not None

    def second_from(self) -> str | None:
        return self.start[:19] if self.start is not None else None

    def second_to(self) -> str | None:
        return self.end[:19] if self.end is not None else None

    def holds(self, event_time) -> bool:
        k = key(event_time)
        if k is None:
            return False
        return (self.start is None or k >= self.start) and (self.end is None or k < self.end)

    def as_dict(self) -> dict:
        return {"start_time": self.start_time, "end_time": self.end_time}


def key(event_time) -> str | None:
    """``YYYY-MM-DDTHH:MM:SS.fffffffff`` of an event time (sorts as text), None when it is not one."""
    m = TIME_RE.match(event_time) if isinstance(event_time, str) else None
    if m is None:
        return None
    fraction = (m.group(7) or ".")[1:]
    return event_time[:19] + "." + fraction.ljust(9, "0")


def _bound(value, what: str) -> tuple:
    if value is None:
        return None, None
    try:
        moment = instant(value, what)
    except TimeFormatError as exc:
        raise LedgerInvalidInput(str(exc)) from None
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{moment.microsecond:06d}" if moment.microsecond else "") + "Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond:06d}000", text


def window(start_time=None, end_time=None) -> Window:
    """The window [start_time, end_time) from instants (ISO 8601 with an offset, unix seconds, 'now')."""
    start, start_text = _bound(start_time, "start_time")
    end, end_text = _bound(end_time, "end_time")
    if start is not None and end is not None and end <= start:
        raise LedgerInvalidInput(f"end_time {end_text} must be after start_time {start_text}")
    return Window(start, end, start_text, end_text)


__all__ = ["Window", "key", "window"]
