# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The YAML shorthand: a readable calendar that compiles to the same EventRule model as iCalendar.

    name: billing                # optional, default: the file name
    kind: blackout               # default kind of the windows below
    tz: Europe/Berlin            # default zone of the windows below
    windows:
      - name: Month-end billing
        start: "2025-01-31T18:00"          # wall-clock time in tz; a date makes an all-day window
        duration: PT12H                    # or end: "2025-02-01T06:00" (same meaning as DTEND)
        rrule: FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1
        exdates: ["2025-12-31T18:00"]
        rdates: ["2025-06-15T18:00"]
        scope: {service: billing, env_type: [cloud, onprem]}

Each key maps to one iCalendar property (docs/blackout.md has the table), so both formats share
expansion, DST handling and evaluation.
"""

from __future__ import annotations

from datetime import date, datetime, time

try:
    from icalendar.prop import vRecur
except ImportError:  # pragma: no cover - exercised by the sanity import test only
    vRecur = None

from .errors import CalendarDependencyError, CalendarFormatError, GateInputError
from .localtime import UTC, get_zone, local_to_utc, utc_to_local
from .model import EventRule, Length, as_date, check_kind, parse_duration, scope_from_mapping

CALENDAR_KEYS = ("name", "kind", "tz", "windows")
WINDOW_KEYS = ("name", "uid", "kind", "tz", "start", "end", "duration", "rrule", "exdates", "rdates", "scope")


def _value(raw, where, calendar):
    """A YAML date/datetime or ISO 8601 text -> date, naive datetime or aware datetime."""
    if isinstance(raw, (datetime, date)):
        return raw
    if not isinstance(raw, str) or not raw.strip():
        raise CalendarFormatError(f"{where} must be an ISO 8601 date or date-time, got {raw!r}", calendar)
    text = raw.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "zZ" else text)
    except ValueError:
        raise CalendarFormatError(f"{where} {raw!r} is not an ISO 8601 date or date-time", calendar) from None


def _local(value, tz):
    """Wall-clock time in tz: aware values are converted, naive ones are already local."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return utc_to_local(value.astimezone(UTC).replace(tzinfo=None), tz)
        return value
    return datetime.combine(value, time())


def _keys(mapping, allowed, where, calendar):
    if not isinstance(mapping, dict):
        raise CalendarFormatError(f"{where} must be a mapping", calendar)
    unknown = sorted(str(k) for k in mapping if k not in allowed)
    if unknown:
        raise CalendarFormatError(
            f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(allowed)})", calendar
        )


def _zone(name, where, calendar):
    try:
        return get_zone(name)
    except GateInputError as exc:
        raise CalendarFormatError(f"{where}: {exc}", calendar) from None


def _rule(text, tz, where, calendar):
    if vRecur is None:
        raise CalendarDependencyError("the icalendar library is required on the controller", calendar)
    raw = str(text).strip()
    if raw.upper().startswith("RRULE:"):
        raw = raw[6:]
    try:
        recur = vRecur.from_ical(raw)
    except ValueError as exc:
        raise CalendarFormatError(f"{where} {text!r}: {exc}", calendar) from None
    rule = vRecur({k: v for k, v in recur.items() if k.upper() != "UNTIL"}).to_ical().decode()
    if "UNTIL" in recur:
        until = recur["UNTIL"][0]
        until = datetime.combine(until, time(23, 59, 59)) if as_date(until) else _local(until, tz)
        rule += ";UNTIL=" + until.strftime("%Y%m%dT%H%M%S")
    return rule


def _window(item, index, doc, spec, default_tz):
    calendar = spec.name
    where = f"windows[{index}]"
    _keys(item, WINDOW_KEYS, where, calendar)
    for key in ("name", "start"):
        if not item.get(key):
            raise CalendarFormatError(f"{where}.{key} is required", calendar)
    if ("end" in item) == ("duration" in item):
        raise CalendarFormatError(f"{where} needs exactly one of end or duration", calendar)
    tz = _zone(item["tz"], f"{where}.tz", calendar) if item.get("tz") else default_tz
    start = _value(item["start"], f"{where}.start", calendar)
    all_day = as_date(start)
    local_start = _local(start, tz)
    if "end" in item:
        end = _value(item["end"], f"{where}.end", calendar)
        if as_date(end) != all_day:
            raise CalendarFormatError(f"{where}: start and end must both be dates or both date-times", calendar)
        if all_day:
            length = Length(days=(end - start).days)
        else:
            length = Length(exact=local_to_utc(_local(end, tz), tz) - local_to_utc(local_start, tz))
        if length.empty:
            raise CalendarFormatError(f"{where}.end is not after start", calendar)
    else:
        length = parse_duration(item["duration"], calendar, f"{where}.duration")

    kind = check_kind(item.get("kind") or spec.kind or doc.get("kind") or "blackout", calendar, f"{where}.kind")
    rrules = item.get("rrule") or []
    rrules = rrules if isinstance(rrules, list) else [rrules]
    rule = EventRule(
        uid=str(item.get("uid") or f"{calendar}#{index}"),
        name=str(item["name"]),
        kind=kind,
        calendar=calendar,
        scope=scope_from_mapping(item.get("scope"), calendar, f"{where}.scope"),
        tz=tz,
        start=local_start,
        length=length,
        all_day=all_day,
        rrules=[_rule(r, tz, f"{where}.rrule", calendar) for r in rrules],
    )
    exdates, exdays = set(), set()
    for n, raw in enumerate(_list(item.get("exdates"), f"{where}.exdates", calendar)):
        value = _value(raw, f"{where}.exdates[{n}]", calendar)
        if as_date(value):
            exdays.add(value)
        else:
            exdates.add(local_to_utc(_local(value, tz), tz))
    rule.exdates, rule.exdays = frozenset(exdates), frozenset(exdays)
    for n, raw in enumerate(_list(item.get("rdates"), f"{where}.rdates", calendar)):
        rule.rdates.append(_local(_value(raw, f"{where}.rdates[{n}]", calendar), tz))
    return rule


def _list(value, where, calendar):
    if value is None:
        return []
    if not isinstance(value, list):
        raise CalendarFormatError(f"{where} must be a list", calendar)
    return value


def load_shorthand(doc, spec, default_tz):
    """Compile a parsed YAML shorthand calendar (a mapping with `windows`) into EventRules."""
    calendar = spec.name
    _keys(doc, CALENDAR_KEYS, "calendar", calendar)
    if "windows" not in doc:
        raise CalendarFormatError("a YAML calendar needs a windows list", calendar)
    windows = _list(doc["windows"], "windows", calendar)
    tz = spec.tz or (_zone(doc["tz"], "tz", calendar) if doc.get("tz") else default_tz)
    if doc.get("kind"):
        check_kind(doc["kind"], calendar)
    return [_window(item, i, doc, spec, tz) for i, item in enumerate(windows)]
