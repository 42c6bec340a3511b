# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time zones and the RFC 5545 section 3.3.5 rules for local times that do not map to one instant.

A local time in a DST gap does not exist; RFC 5545 says it is read with the UTC offset in force
*before* the gap. A local time in a DST overlap happens twice; RFC 5545 says it means the first
occurrence. zoneinfo gets both right with fold=0, but the tzinfo that icalendar builds from a
VTIMEZONE (dateutil's tzical) reads gap times with the offset *after* the gap, an hour late in
UTC terms. So for any zone other than zoneinfo the resolver does not trust fold handling: it only
asks the zone for the offset at given UTC instants and decides gap/overlap itself.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
except ImportError:  # pragma: no cover - controller Python is 3.11+
    ZoneInfo = None
    ZoneInfoNotFoundError = KeyError

from ansible_collections.changeward.hybrid.plugins.module_utils import timeparse

from .errors import GateInputError

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1)
_OFFSET_RE = re.compile(r"(Z|[+-]\d{2}(:?\d{2})?)$", re.IGNORECASE)


def get_zone(name):
    """Return the tzinfo for an IANA name; raise GateInputError naming an unknown zone."""
    if not isinstance(name, str) or not name.strip():
        raise GateInputError(f"time zone must be an IANA name such as Europe/Berlin, got {name!r}")
    key = name.strip()
    if key.upper() in ("UTC", "Z", "ETC/UTC"):
        return UTC
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise GateInputError(f"unknown time zone {key!r} (use an IANA name such as Europe/Berlin)") from None


def _offset_at(naive_utc, tz):
    return naive_utc.replace(tzinfo=UTC).astimezone(tz).utcoffset()


def local_to_utc(naive, tz):
    """Map a wall-clock time in tz to a naive UTC datetime, following RFC 5545 section 3.3.5."""
    if tz is UTC:
        return naive
    if isinstance(tz, timezone):
        return naive - tz.utcoffset(None)
    if ZoneInfo is not None and isinstance(tz, ZoneInfo):
        # PEP 495 fold=0 is exactly the RFC rule (offset before a gap, first of an overlap); the unit
        # tests pin this, and it is several times faster than probing.
        return naive - naive.replace(tzinfo=tz).utcoffset()
    offsets = {naive.replace(tzinfo=tz, fold=0).utcoffset(), naive.replace(tzinfo=tz, fold=1).utcoffset()}
    # A tzinfo that ignores fold reports one offset only; the offsets in force at the candidate
    # instants reveal the other side of a nearby transition.
    for _round in range(2):
        offsets |= {_offset_at(naive - off, tz) for off in offsets}
    valid = [off for off in offsets if _offset_at(naive - off, tz) == off]
    if valid:
        # Overlap: several offsets are consistent; the first occurrence is the earliest instant.
        return naive - max(valid)
    # Gap: clocks jump forward, so the offset before the gap is the smaller one.
    return naive - min(offsets)


def utc_to_local(naive_utc, tz):
    """Wall-clock time in tz (naive) of a naive UTC instant."""
    return naive_utc.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)


def to_timestamp(naive_utc):
    return (naive_utc - EPOCH).total_seconds()


def from_timestamp(ts):
    return EPOCH + timedelta(seconds=ts)


def iso_utc(ts):
    """ISO 8601 UTC text of a timestamp, with Z; whole seconds unless the instant has a fraction."""
    dt = from_timestamp(ts)
    if dt.microsecond:
        return dt.isoformat(timespec="microseconds") + "Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(text, what="at"):
    """Unix seconds of an instant (module_utils.timeparse): a time without a UTC offset is refused, not guessed."""
    try:
        return timeparse.parse_instant(text, what)
    except timeparse.TimeFormatError as exc:
        raise GateInputError(str(exc)) from None


def is_tzinfo(value):
    return isinstance(value, tzinfo)
