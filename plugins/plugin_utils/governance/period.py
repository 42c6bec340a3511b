# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reporting periods: fiscal quarters and years (a configurable first month) or explicit instants.

A fiscal year is named by the calendar year it ends in (FY2027 starting in July runs 2026-07-01 to
2027-07-01), the usual convention; with the first month January, FY2026 is calendar 2026. Periods are
half-open, [start, end), in UTC.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import TimeFormatError, instant
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

PERIOD_RE = re.compile(r"\A(?:FY)?(\d{4})(?:-?Q([1-4]))?\Z", re.IGNORECASE)


class PeriodError(ChangewardError, ValueError):
    """A period that cannot be read: reports are never built over a guessed range."""


def _month(year: int, month: int) -> datetime:
    year += (month - 1) // 12
    return datetime((year), (month - 1) % 12 + 1, 1, tzinfo=timezone.utc)


def _text(moment: datetime) -> str:
    return (
        moment.strftime("%Y-%m-%dT%H:%M:%SZ") if not moment.microsecond else moment.isoformat().replace("+00:00", "Z")
    )


def period(name=None, *, fiscal_year_start: int = 1, start_time=None, end_time=None) -> dict:
    """{label, start_time, end_time} of a fiscal quarter or year (``FY2027-Q1``, ``2026Q3``, ``FY2027``) or
    of explicit instants (both needed; timeparse forms)."""
    if (
        isinstance(fiscal_year_start, bool)
        or not isinstance(fiscal_year_start, int)
        or not 1 <= fiscal_year_start <= 12
    ):
        raise PeriodError(f"fiscal_year_start must be a month 1-12, got {fiscal_year_start!r}")
    if name is not None and (start_time is not None or end_time is not None):
        raise PeriodError("give a period or start_time and end_time, not both")
    if name is None:
        if start_time is None or end_time is None:
            raise PeriodError("a report needs a period (e.g. FY2027-Q1) or both start_time and end_time")
        try:
            start, end = instant(start_time, "start_time"), instant(end_time, "end_time")
        except TimeFormatError as exc:
            raise PeriodError(str(exc)) from None
        if end <= start:
            raise PeriodError(f"end_time {_text(end)} must be after start_time {_text(start)}")
        return {"label": f"{_text(start)} to {_text(end)}", "start_time": _text(start), "end_time": _text(end)}
    m = PERIOD_RE.match(str(name).strip())
    if m is None:
        raise PeriodError(f"period must look like FY2027-Q1, 2026Q3 or FY2027, got {name!r}")
    fiscal_year, quarter = int(m[1]), m[2]
    # The fiscal year ends in the calendar year it is named after (a January start: the same year).
    first_year = fiscal_year if fiscal_year_start == 1 else fiscal_year - 1
    start = _month(first_year, fiscal_year_start + (3 * (int(quarter) - 1) if quarter else 0))
    end = _month(start.year, start.month + (3 if quarter else 12))
    label = f"FY{fiscal_year}" + (f"-Q{quarter}" if quarter else "")
    return {"label": label, "start_time": _text(start), "end_time": _text(end), "fiscal_year_start": fiscal_year_start}


__all__ = ["PeriodError", "period"]
