# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The window model both calendar formats compile to, durations and scope matching."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from .errors import CalendarFormatError, GateInputError
from .localtime import iso_utc

KINDS = ("blackout", "maintenance")
CHANGE_TYPES = ("standard", "normal", "emergency")

_DURATION_RE = re.compile(
    r"^(?P<sign>[+-])?P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)


@dataclass(frozen=True)
class Length:
    """How long each occurrence lasts.

    RFC 5545 3.3.6/3.8.5.3: the day and week part of a DURATION is nominal (added to the local
    wall-clock time, so P1D across a DST change is 23 or 25 hours), the rest is exact. A DTEND
    gives the same exact length to every occurrence (days for all-day events, which are floating
    dates, stay nominal).
    """

    days: int = 0
    exact: timedelta = timedelta(0)

    @property
    def empty(self):
        return self.days <= 0 and self.exact <= timedelta(0)


def parse_duration(text, calendar=None, where="DURATION"):
    """Parse an RFC 5545 dur-value (e.g. P1D, PT4H30M, P1W) into a Length; refuse <= 0."""
    raw = str(text).strip().upper()
    match = _DURATION_RE.match(raw)
    if not match or raw in ("P", "-P", "+P") or raw.endswith("T"):
        raise CalendarFormatError(f"{where} {text!r} is not an RFC 5545 duration such as PT4H or P1D", calendar)
    if match.group("sign") == "-":
        raise CalendarFormatError(f"{where} {text!r} is negative", calendar)
    parts = {k: int(v) for k, v in match.groupdict().items() if k != "sign" and v}
    length = Length(
        days=parts.get("w", 0) * 7 + parts.get("d", 0),
        exact=timedelta(hours=parts.get("h", 0), minutes=parts.get("m", 0), seconds=parts.get("s", 0)),
    )
    if length.empty:
        raise CalendarFormatError(f"{where} {text!r} is zero: a window needs a length", calendar)
    return length


@dataclass
class EventRule:
    """One calendar event compiled to local wall-clock terms; expand.Timeline turns it into windows."""

    uid: str
    name: str
    kind: str
    calendar: str
    scope: dict
    tz: tzinfo
    start: datetime  # naive wall-clock time in tz (midnight for all-day events)
    length: Length
    all_day: bool = False
    rrules: list = field(default_factory=list)  # RRULE strings, UNTIL already in local wall-clock time
    exrules: list = field(default_factory=list)
    rdates: list = field(default_factory=list)  # naive wall-clock datetimes in tz
    periods: list = field(default_factory=list)  # (start, end) naive UTC, from RDATE;VALUE=PERIOD
    exdates: frozenset = frozenset()  # naive UTC instants
    exdays: frozenset = frozenset()  # local dates (EXDATE;VALUE=DATE)


@dataclass(frozen=True)
class Window:
    """One occurrence: [start, end) as UTC timestamps."""

    name: str
    kind: str
    start: float
    end: float
    calendar: str
    uid: str

    def as_dict(self):
        return {
            "name": self.name,
            "kind": self.kind,
            "start": iso_utc(self.start),
            "end": iso_utc(self.end),
            "calendar": self.calendar,
            "uid": self.uid,
        }


def check_kind(value, calendar=None, where="kind"):
    kind = str(value).strip().lower()
    if kind not in KINDS:
        raise CalendarFormatError(f"{where} {value!r} must be one of {', '.join(KINDS)}", calendar)
    return kind


def _norm(value):
    return str(value).strip().casefold()


def scope_from_tokens(tokens):
    """CATEGORIES tokens 'label=value' -> {label: frozenset(values)}; other tokens are plain categories."""
    scope = {}
    for token in tokens:
        label, sep, value = str(token).partition("=")
        if not sep:
            continue
        label, value = _norm(label), _norm(value)
        if not label or not value:
            continue
        scope.setdefault(label, set()).add(value)
    return {label: frozenset(values) for label, values in scope.items()}


def scope_from_mapping(mapping, calendar=None, where="scope"):
    """A YAML shorthand scope {label: value or list} -> {label: frozenset(values)}."""
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise CalendarFormatError(f"{where} must be a mapping of label to value or list", calendar)
    scope = {}
    for label, value in mapping.items():
        values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
        cleaned = frozenset(_norm(v) for v in values if v is not None and _norm(v))
        if not cleaned:
            raise CalendarFormatError(f"{where}.{label} has no value", calendar)
        scope[_norm(label)] = cleaned
    return scope


def change_scope(scope, change_type=None):
    """Normalise the change's scope; the change type is matched like any other label."""
    if scope is None:
        scope = {}
    if not isinstance(scope, dict):
        raise GateInputError("scope must be a mapping of label to value or list of values")
    result = {}
    for label, value in scope.items():
        values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
        cleaned = frozenset(_norm(v) for v in values if v is not None and _norm(v))
        # An empty list says nothing about the change: leave the label unknown (see scope_matches).
        if cleaned:
            result[_norm(label)] = cleaned
    if change_type and "change_type" not in result:
        result["change_type"] = frozenset([_norm(change_type)])
    return result


def scope_matches(event_scope, scope):
    """Does an event with event_scope apply to a change with scope?

    Values of one label are ORed, labels ANDed, no tokens applies to everything. A label the
    change does not state is unknown and counts as a match: the change may well touch it, and
    guessing "no" would let a change through a window meant for it.
    """
    for label, values in event_scope.items():
        given = scope.get(label)
        if given is not None and not (given & values):
            return False
    return True


def scope_key(scope):
    return tuple(sorted((label, tuple(sorted(values))) for label, values in scope.items()))


def as_date(value):
    """True date (not datetime) check; datetime is a subclass of date."""
    return isinstance(value, date) and not isinstance(value, datetime)
