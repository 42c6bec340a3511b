# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""iCalendar (RFC 5545) loading with the icalendar library, compiled to model.EventRule.

icalendar is lenient: it returns no calendar for a file cut off before END:VCALENDAR and keeps
unparsable properties as "broken" values listed in component.errors. A gate must not read a
damaged file as "no window", so this loader checks the structure itself and refuses any error.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

try:
    import icalendar
    from icalendar.prop import vRecur
    from icalendar.timezone import tzp as _tzp
    from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON
except ImportError:  # pragma: no cover - exercised by the sanity import test only
    icalendar = vRecur = _tzp = None
    WINDOWS_TO_OLSON = {}

from .errors import CalendarDependencyError, CalendarFormatError, GateInputError
from .localtime import UTC, get_zone, local_to_utc, utc_to_local
from .model import EventRule, Length, as_date, check_kind, parse_duration, scope_from_tokens

KIND_PROPERTY = "X-CHANGEWARD-KIND"


def _unfold(text):
    lines = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += raw[1:]
        elif raw.strip():
            lines.append(raw)
    return lines


def scan_structure(text, calendar):
    """Check BEGIN/END nesting and collect each VEVENT's DURATION text as written.

    icalendar turns PT25H into "1 day, 1 hour", which would make it nominal; RFC 5545 keeps
    hours exact, so the raw text decides. Returns {vevent ordinal: duration text}.
    """
    stack, durations, ordinal = [], {}, -1
    for number, line in enumerate(_unfold(text), 1):
        name = line.split(":", 1)[0].split(";", 1)[0].strip().upper()
        value = line.split(":", 1)[1].strip() if ":" in line else ""
        if name == "BEGIN":
            stack.append(value.upper())
            if value.upper() == "VEVENT":
                ordinal += 1
        elif name == "END":
            if not stack or stack[-1] != value.upper():
                expected = stack[-1] if stack else "nothing"
                raise CalendarFormatError(f"line {number}: END:{value} but {expected} is open", calendar)
            stack.pop()
        elif name == "DURATION" and stack and stack[-1] == "VEVENT":
            durations[ordinal] = value
    if stack:
        raise CalendarFormatError(f"truncated: {', '.join(stack)} never ends (missing END:{stack[-1]})", calendar)
    if ordinal < 0 and "VCALENDAR" not in text.upper():
        raise CalendarFormatError("no BEGIN:VCALENDAR", calendar)
    return durations


class _Zones:
    """TZID -> tzinfo for one calendar: IANA name first, then the calendar's own VTIMEZONE."""

    def __init__(self, vtimezones, calendar):
        self.vtimezones = vtimezones
        self.calendar = calendar
        self.cache = {}

    def get(self, tzid):
        tzid = str(tzid)
        if tzid not in self.cache:
            self.cache[tzid] = self._lookup(tzid)
        return self.cache[tzid]

    def _lookup(self, tzid):
        clean = tzid.strip().strip("/")
        candidates = [clean, WINDOWS_TO_OLSON.get(clean)]
        parts = clean.split("/")
        if len(parts) > 2:  # "globally unique" ids such as /freeassociation.sourceforge.net/Europe/Berlin
            candidates += ["/".join(parts[-2:]), "/".join(parts[-3:])]
        for name in candidates:
            if name:
                try:
                    return get_zone(name)
                except GateInputError:
                    pass
        component = self.vtimezones.get(tzid) or self.vtimezones.get(clean)
        if component is not None:
            try:
                # Not tzp.cache_timezone_component: that cache is process-wide and keyed by TZID,
                # so two calendars defining the same TZID differently would share one zone.
                return _tzp.create_timezone(component)
            except Exception as exc:  # any failure makes the zone unusable
                raise CalendarFormatError(f"VTIMEZONE {tzid!r} cannot be used: {exc}", self.calendar) from None
        raise CalendarFormatError(f"TZID {tzid!r} is neither an IANA zone nor defined by a VTIMEZONE", self.calendar)


def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _check_errors(component, calendar):
    for sub in component.walk():
        errors = getattr(sub, "errors", None)
        if errors:
            prop, message = errors[0]
            where = f"{sub.name} {sub.get('UID', '')}".strip()
            raise CalendarFormatError(f"{where}: cannot parse {prop or 'a line'}: {message}", calendar)


class _EventCompiler:
    def __init__(self, spec, zones, floating_tz, kind):
        self.spec = spec
        self.kind = kind
        self.calendar = spec.name
        self.zones = zones
        self.floating = floating_tz

    def fail(self, uid, message):
        raise CalendarFormatError(f"event {uid!r}: {message}", self.calendar)

    def zone_of(self, prop, value, fallback=None):
        tzid = prop.params.get("TZID") if hasattr(prop, "params") else None
        if tzid:
            return self.zones.get(tzid)
        if isinstance(value, datetime) and value.tzinfo is not None:
            offset = value.utcoffset()
            if offset is not None and offset == timedelta(0) and str(value.tzinfo).upper() in ("UTC", "Z", "ETC/UTC"):
                return UTC
            return value.tzinfo
        return fallback or self.floating

    def instant(self, prop, value, fallback=None):
        """Naive UTC instant of a DATE-TIME value."""
        return local_to_utc(value.replace(tzinfo=None), self.zone_of(prop, value, fallback))

    def until_local(self, until, tz, uid):
        if isinstance(until, datetime):
            if until.tzinfo is not None:
                return utc_to_local(until.astimezone(UTC).replace(tzinfo=None), tz)
            return until
        if as_date(until):
            return datetime.combine(until, time(23, 59, 59))
        self.fail(uid, f"RRULE UNTIL {until!r} is not a date or date-time")
        return None

    def rule_text(self, recur, tz, uid):
        if not isinstance(recur, vRecur):
            self.fail(uid, f"unparsable recurrence rule {recur!r}")
        parts = vRecur({k: v for k, v in recur.items() if k.upper() != "UNTIL"})
        text = parts.to_ical().decode()
        if "UNTIL" in recur:
            until = self.until_local(recur["UNTIL"][0], tz, uid)
            text += ";UNTIL=" + until.strftime("%Y%m%dT%H%M%S")
        return text

    def compile(self, event, ordinal, raw_durations, extra_exdates=()):
        uid = str(event.get("UID") or f"{self.calendar}#{ordinal}")
        if "DTSTART" not in event:
            self.fail(uid, "has no DTSTART")
        kind = self.kind
        if KIND_PROPERTY in event:
            kind = check_kind(str(event[KIND_PROPERTY]), self.calendar, f"event {uid!r} {KIND_PROPERTY}")
        tokens = [str(token) for cat in _as_list(event.get("CATEGORIES")) for token in getattr(cat, "cats", [cat])]
        start_prop = event["DTSTART"]
        start = start_prop.dt
        all_day = as_date(start)
        tz = self.floating if all_day else self.zone_of(start_prop, start)
        local_start = datetime.combine(start, time()) if all_day else start.replace(tzinfo=None)
        length = self.length(event, uid, start_prop, start, all_day, tz, ordinal, raw_durations)

        rule = EventRule(
            uid=uid,
            name=str(event.get("SUMMARY") or uid),
            kind=kind,
            calendar=self.calendar,
            scope=scope_from_tokens(tokens),
            tz=tz,
            start=local_start,
            length=length,
            all_day=all_day,
        )
        rule.rrules = [self.rule_text(r, tz, uid) for r in _as_list(event.get("RRULE"))]
        rule.exrules = [self.rule_text(r, tz, uid) for r in _as_list(event.get("EXRULE"))]
        self.add_rdates(rule, event, tz, uid)
        exdates, exdays = set(extra_exdates), set()
        for prop in _as_list(event.get("EXDATE")):
            for item in getattr(prop, "dts", [prop]):
                value = item.dt
                if as_date(value):
                    exdays.add(value)
                elif isinstance(value, datetime):
                    exdates.add(self.instant(prop, value, tz))
                else:
                    self.fail(uid, f"EXDATE {value!r} is not a date or date-time")
        rule.exdates, rule.exdays = frozenset(exdates), frozenset(exdays)
        return rule

    def add_rdates(self, rule, event, tz, uid):
        for prop in _as_list(event.get("RDATE")):
            for item in getattr(prop, "dts", [prop]):
                value = item.dt
                if isinstance(value, tuple):
                    first, second = value
                    begin = self.instant(prop, first, tz)
                    if isinstance(second, timedelta):
                        end = begin + second
                    else:
                        end = self.instant(prop, second, tz)
                    if end <= begin:
                        self.fail(uid, f"RDATE period {first} ends before it starts")
                    rule.periods.append((begin, end))
                elif as_date(value):
                    rule.rdates.append(datetime.combine(value, time()))
                elif isinstance(value, datetime):
                    zone = self.zone_of(prop, value, tz)
                    local = value.replace(tzinfo=None)
                    # Recurrence runs in the event's wall-clock time; an RDATE in another zone is
                    # moved to that clock so it merges with the rule's occurrences.
                    rule.rdates.append(local if zone is tz else utc_to_local(local_to_utc(local, zone), tz))
                else:
                    self.fail(uid, f"RDATE {value!r} is not a date, date-time or period")

    def length(self, event, uid, start_prop, start, all_day, tz, ordinal, raw_durations):
        if "DTEND" in event and "DURATION" in event:
            self.fail(uid, "has both DTEND and DURATION")
        if "DTEND" in event:
            end_prop = event["DTEND"]
            end = end_prop.dt
            if all_day != as_date(end):
                self.fail(uid, "DTSTART and DTEND must both be dates or both date-times")
            if all_day:
                length = Length(days=(end - start).days)
            else:
                exact = self.instant(end_prop, end, tz) - local_to_utc(start.replace(tzinfo=None), tz)
                length = Length(exact=exact)
            if length.empty:
                self.fail(uid, "DTEND is not after DTSTART")
            return length
        if "DURATION" in event:
            text = raw_durations.get(ordinal) or event["DURATION"].to_ical().decode()
            return parse_duration(text, self.calendar, f"event {uid!r} DURATION")
        if all_day:
            return Length(days=1)
        self.fail(uid, "has neither DTEND nor DURATION: a zero-length window cannot block anything")
        return None


def load_ics(data, spec, default_tz):
    """Parse iCalendar bytes/text into EventRules for calendar spec (see sources.CalendarSpec)."""
    if icalendar is None:
        raise CalendarDependencyError("the icalendar library is required on the controller", spec.name)
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    if not text.strip():
        raise CalendarFormatError("empty file", spec.name)
    raw_durations = scan_structure(text, spec.name)
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except Exception as exc:  # icalendar raises ValueError and friends
        raise CalendarFormatError(f"not valid iCalendar: {exc}", spec.name) from None
    calendars = [c for c in calendars if c.name == "VCALENDAR"]
    if not calendars:
        raise CalendarFormatError("no VCALENDAR component", spec.name)

    rules, ordinal = [], -1
    for cal in calendars:
        _check_errors(cal, spec.name)
        floating = spec.tz
        if floating is None and cal.get("X-WR-TIMEZONE"):
            try:
                floating = get_zone(str(cal["X-WR-TIMEZONE"]))
            except GateInputError as exc:
                raise CalendarFormatError(f"X-WR-TIMEZONE: {exc}", spec.name) from None
        zones = _Zones({str(tz["TZID"]): tz for tz in cal.walk("VTIMEZONE") if "TZID" in tz}, spec.name)
        kind = spec.kind
        if kind is None and KIND_PROPERTY in cal:
            kind = check_kind(str(cal[KIND_PROPERTY]), spec.name, f"VCALENDAR {KIND_PROPERTY}")
        compiler = _EventCompiler(spec, zones, floating or default_tz, kind or "blackout")

        masters, overrides = [], []
        for event in cal.walk("VEVENT"):
            ordinal += 1
            (overrides if "RECURRENCE-ID" in event else masters).append((ordinal, event))
        # A RECURRENCE-ID component replaces one instance of its master (same UID).
        replaced = {}
        for ordinal_o, event in overrides:
            rid = event["RECURRENCE-ID"]
            uid = str(event.get("UID") or "")
            if str(rid.params.get("RANGE", "")).upper() == "THISANDFUTURE":
                compiler.fail(uid, "RECURRENCE-ID;RANGE=THISANDFUTURE is not supported; split the series instead")
            value = rid.dt
            instant = (
                local_to_utc(datetime.combine(value, time()), compiler.floating)
                if as_date(value)
                else compiler.instant(rid, value)
            )
            replaced.setdefault(uid, set()).add(instant)
            if str(event.get("STATUS", "")).upper() != "CANCELLED":
                rules.append(compiler.compile(event, ordinal_o, raw_durations))
        for ordinal_m, event in masters:
            if str(event.get("STATUS", "")).upper() == "CANCELLED":
                continue
            uid = str(event.get("UID") or "")
            rules.append(compiler.compile(event, ordinal_m, raw_durations, replaced.get(uid, ())))
    return rules
