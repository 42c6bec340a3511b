# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one instant parser and the one duration parser of the collection (standard library only: targets use it).

Every option that takes a time or a duration reads it here, so the same text means the same everywhere:

- an instant is ISO 8601 / RFC 3339 with a UTC offset (``2026-01-01T12:00:00Z``, ``...+02:00``), unix seconds
  (a number, or a string of one) or ``now``. A date-time without an offset (``2026-01-01T12:00:00``) is refused
  everywhere - which zone was meant cannot be known, and guessing UTC moves a window by hours;
- a duration is a Prometheus-style duration, one or more number+unit parts from the largest unit down
  (``90s``, ``5m``, ``1h30m``, ``3d``, ``2w``, ``1y``; units ms s m h d w y), or a number of seconds.

ICS durations (``PT1H30M``, RFC 5545) are another format and stay in the calendar code.
"""

from __future__ import absolute_import, division, print_function

import math
import re
import time
from datetime import datetime, timedelta, timezone

from ansible_collections.changeward.hybrid.plugins.module_utils.errors import ChangewardError

__metaclass__ = type

UNITS = (("y", 31536000.0), ("w", 604800.0), ("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 0.001))
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_OFFSET = re.compile(r"(Z|[+-]\d{2}(:?\d{2})?)$", re.IGNORECASE)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class TimeFormatError(ChangewardError, ValueError):
    """A time or duration that cannot be read; the message names the option and the forms accepted."""


def parse_duration(value, what="duration", allow_zero=False):
    """Seconds (a float) of a duration: ``90s``, ``1h30m``, ``500ms``, ``3d``, or a number of seconds."""
    forms = "a duration like 30s, 5m, 1h30m or 3d, or a number of seconds"
    if isinstance(value, bool) or value is None:
        raise TimeFormatError("%s must be %s, got %r" % (what, forms, value))
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip()
        parts = list(_PART.finditer(text))
        if parts and "".join(p.group(0) for p in parts) == text:
            order = [unit for unit, _size in UNITS]
            ranks = [order.index(p.group(2)) for p in parts]
            if ranks != sorted(set(ranks)):
                raise TimeFormatError(
                    "%s: the parts of %r must go from the largest unit down, once each" % (what, text)
                )
            size = dict(UNITS)
            seconds = sum(float(p.group(1)) * size[p.group(2)] for p in parts)
        else:
            try:
                seconds = float(text)
            except ValueError:
                raise TimeFormatError("%s must be %s, got %r" % (what, forms, value)) from None
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        raise TimeFormatError("%s must be %s, got %r" % (what, "a duration >= 0" if allow_zero else "> 0", value))
    return seconds


def instant(value, what="at", now=None):
    """An aware UTC datetime from an instant (see the module docstring); ``now`` (unix seconds) for 'now'."""
    forms = "an ISO 8601 date-time with a UTC offset (e.g. 2026-01-01T12:00:00Z), unix seconds or 'now'"
    if isinstance(value, bool) or value is None:
        raise TimeFormatError("%s must be %s, got %r" % (what, forms, value))
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise TimeFormatError(
                "%s %s has no UTC offset; give one (e.g. 2026-01-01T12:00:00Z or +02:00)" % (what, value.isoformat())
            )
        return value.astimezone(timezone.utc)
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise TimeFormatError("%s must be %s, got %r" % (what, forms, value))
        return _EPOCH + timedelta(seconds=float(value))
    text = str(value).strip()
    if text.lower() == "now":
        return _EPOCH + timedelta(seconds=time.time() if now is None else float(now))
    try:
        return instant(float(text), what)
    except ValueError:
        pass
    if not text or not _OFFSET.search(text) or ("T" not in text.upper() and " " not in text):
        if text and re.match(r"^\d{4}-\d{2}-\d{2}([T ].*)?$", text, re.IGNORECASE):
            raise TimeFormatError(
                "%s %r has no UTC offset; give one (e.g. 2026-01-01T12:00:00Z or +02:00)" % (what, text)
            )
        raise TimeFormatError("%s must be %s, got %r" % (what, forms, value))
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "zZ" else text)
    except ValueError:
        raise TimeFormatError("%s %r is not an ISO 8601 date-time" % (what, text)) from None
    return instant(parsed, what)


def parse_instant(value, what="at", now=None):
    """Unix seconds (a float) of an instant (see the module docstring)."""
    return (instant(value, what, now) - _EPOCH).total_seconds()
