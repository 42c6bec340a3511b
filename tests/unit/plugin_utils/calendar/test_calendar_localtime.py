"""RFC 5545 3.3.5 local-time resolution, and what the libraries do on their own (checked, not assumed)."""

from datetime import datetime

import icalendar
import pytest
from calendar_testlib import fixture_path

from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.errors import GateInputError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.localtime import (
    UTC,
    get_zone,
    iso_utc,
    local_to_utc,
    parse_instant,
)

NY = "America/New_York"


def _vtimezone_zone():
    cal = icalendar.Calendar.from_ical(open(fixture_path("dst.ics"), "rb").read())
    (component,) = cal.walk("VTIMEZONE")
    return icalendar.timezone.tzp.create_timezone(component)


def test_library_behaviour_the_resolver_corrects():
    gap = datetime(2025, 3, 9, 2, 30)
    # zoneinfo with fold=0 already follows RFC 5545 in the gap (EST, -05:00 -> 07:30Z) ...
    assert gap.replace(tzinfo=get_zone(NY)).astimezone(UTC).replace(tzinfo=None) == datetime(2025, 3, 9, 7, 30)
    # ... but icalendar's VTIMEZONE zone (dateutil tzical) uses the offset after the gap (EDT -> 06:30Z).
    assert gap.replace(tzinfo=_vtimezone_zone()).astimezone(UTC).replace(tzinfo=None) == datetime(2025, 3, 9, 6, 30)


@pytest.mark.parametrize("zone", [get_zone(NY), _vtimezone_zone()], ids=["zoneinfo", "vtimezone"])
@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2025, 3, 9, 1, 59), datetime(2025, 3, 9, 6, 59)),  # last minute of EST
        (datetime(2025, 3, 9, 2, 0), datetime(2025, 3, 9, 7, 0)),  # gap start, read as EST
        (datetime(2025, 3, 9, 2, 59), datetime(2025, 3, 9, 7, 59)),  # gap end, read as EST
        (datetime(2025, 3, 9, 3, 0), datetime(2025, 3, 9, 7, 0)),  # first EDT minute
        (datetime(2025, 11, 2, 0, 59), datetime(2025, 11, 2, 4, 59)),  # EDT
        (datetime(2025, 11, 2, 1, 0), datetime(2025, 11, 2, 5, 0)),  # overlap: first (EDT)
        (datetime(2025, 11, 2, 1, 59), datetime(2025, 11, 2, 5, 59)),  # overlap: first (EDT)
        (datetime(2025, 11, 2, 2, 0), datetime(2025, 11, 2, 7, 0)),  # EST
    ],
)
def test_local_to_utc_gap_and_overlap(zone, local, expected):
    assert local_to_utc(local, zone) == expected


def test_lord_howe_and_kolkata():
    lhi = get_zone("Australia/Lord_Howe")
    assert local_to_utc(datetime(2025, 10, 5, 2, 15), lhi) == datetime(2025, 10, 4, 15, 45)  # gap, +10:30
    assert local_to_utc(datetime(2025, 4, 6, 1, 45), lhi) == datetime(2025, 4, 5, 14, 45)  # overlap, +11:00
    assert local_to_utc(datetime(2025, 1, 1, 0, 0), get_zone("Asia/Kolkata")) == datetime(2024, 12, 31, 18, 30)


def test_parse_instant_requires_an_offset():
    assert iso_utc(parse_instant("2025-03-31T18:00:00+02:00")) == "2025-03-31T16:00:00Z"
    assert iso_utc(parse_instant("2025-03-31T16:00:00Z")) == "2025-03-31T16:00:00Z"
    assert iso_utc(parse_instant("2025-03-31T16:00:00.250000+00:00")) == "2025-03-31T16:00:00.250000Z"
    for bad in ("2025-03-31T18:00:00", "yesterday", "", "2025-13-01T00:00:00Z"):
        with pytest.raises(GateInputError):
            parse_instant(bad)


def test_unknown_zone_is_an_error():
    with pytest.raises(GateInputError, match="Mars/Olympus"):
        get_zone("Mars/Olympus")
