"""Helpers for the calendar tests: load a fixture and list its windows as ISO 8601 UTC text."""

from pathlib import Path

from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.expand import Timeline
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.localtime import UTC, iso_utc, parse_instant
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.sources import load_calendar, parse_spec

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "calendars"


def fixture_path(name):
    return str(FIXTURES / name)


def load_rules(spec, default_tz=UTC):
    return load_calendar(parse_spec(spec, 0), default_tz)


def windows(rules, uid, until="2030-01-01T00:00:00Z", name=None):
    """[(start, end)] of one event (by UID, and SUMMARY if given) up to `until`, as ISO 8601 UTC text."""
    (rule,) = [r for r in rules if r.uid == uid and (name is None or r.name == name)]
    timeline = Timeline(rule)
    limit = parse_instant(until)
    timeline.extend_to(limit)
    return [(iso_utc(s), iso_utc(e)) for s, e in zip(timeline.starts, timeline.ends, strict=True) if s <= limit]
