"""Recurrence expansion of iCalendar fixtures; every expected instant is worked out by hand in the comments."""

import pytest
from calendar_testlib import fixture_path, load_rules, windows

from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.localtime import get_zone


def test_last_business_day_of_every_month_2025():
    # BYDAY=MO..FR;BYSETPOS=-1 at 18:00 Europe/Berlin for 12 hours. Weekends push May, Aug and Nov back to
    # Friday (May 31 Sat, Aug 30/31 Sat/Sun, Nov 29/30 Sat/Sun). CEST (UTC+2) runs 30 Mar - 26 Oct 2025,
    # so March-September start at 16:00Z and the other months at 17:00Z.
    got = windows(load_rules(fixture_path("month_end.ics")), "lbd@finance", until="2025-12-31T23:59:59Z")
    assert got == [
        ("2025-01-31T17:00:00Z", "2025-02-01T05:00:00Z"),
        ("2025-02-28T17:00:00Z", "2025-03-01T05:00:00Z"),
        ("2025-03-31T16:00:00Z", "2025-04-01T04:00:00Z"),
        ("2025-04-30T16:00:00Z", "2025-05-01T04:00:00Z"),
        ("2025-05-30T16:00:00Z", "2025-05-31T04:00:00Z"),
        ("2025-06-30T16:00:00Z", "2025-07-01T04:00:00Z"),
        ("2025-07-31T16:00:00Z", "2025-08-01T04:00:00Z"),
        ("2025-08-29T16:00:00Z", "2025-08-30T04:00:00Z"),
        ("2025-09-30T16:00:00Z", "2025-10-01T04:00:00Z"),
        ("2025-10-31T17:00:00Z", "2025-11-01T05:00:00Z"),
        ("2025-11-28T17:00:00Z", "2025-11-29T05:00:00Z"),
        ("2025-12-31T17:00:00Z", "2026-01-01T05:00:00Z"),
    ]


def test_last_three_business_days_all_day_in_calendar_zone():
    # All-day dates are floating; X-WR-TIMEZONE Europe/Berlin places them at local midnight (23:00Z in winter,
    # 22:00Z in summer). Feb 2025 ends Wed 26, Thu 27, Fri 28; Aug 2025 ends Wed 27, Thu 28, Fri 29.
    got = windows(load_rules(fixture_path("month_end.ics")), "l3bd@finance", until="2025-08-31T00:00:00Z")
    assert got[:3] == [
        ("2025-01-28T23:00:00Z", "2025-01-29T23:00:00Z"),
        ("2025-01-29T23:00:00Z", "2025-01-30T23:00:00Z"),
        ("2025-01-30T23:00:00Z", "2025-01-31T23:00:00Z"),
    ]
    assert got[3:6] == [
        ("2025-02-25T23:00:00Z", "2025-02-26T23:00:00Z"),
        ("2025-02-26T23:00:00Z", "2025-02-27T23:00:00Z"),
        ("2025-02-27T23:00:00Z", "2025-02-28T23:00:00Z"),
    ]
    assert got[-3:] == [
        ("2025-08-26T22:00:00Z", "2025-08-27T22:00:00Z"),
        ("2025-08-27T22:00:00Z", "2025-08-28T22:00:00Z"),
        ("2025-08-28T22:00:00Z", "2025-08-29T22:00:00Z"),
    ]
    assert len(got) == 8 * 3


def test_end_of_quarter_crosses_year_end():
    # Last business day of Mar/Jun/Sep/Dec 2025: Mon 31 Mar, Mon 30 Jun, Tue 30 Sep, Wed 31 Dec. Midnight
    # America/New_York is 04:00Z in EDT (9 Mar - 2 Nov) and 05:00Z in EST; P1D is one calendar day.
    got = windows(load_rules(fixture_path("month_end.ics")), "eoq@finance", until="2026-01-31T00:00:00Z")
    assert got == [
        ("2025-03-31T04:00:00Z", "2025-04-01T04:00:00Z"),
        ("2025-06-30T04:00:00Z", "2025-07-01T04:00:00Z"),
        ("2025-09-30T04:00:00Z", "2025-10-01T04:00:00Z"),
        ("2025-12-31T05:00:00Z", "2026-01-01T05:00:00Z"),
    ]


def test_us_dst_gap_uses_offset_before_the_gap():
    # 02:30 on 9 Mar 2025 does not exist in New York; RFC 5545 3.3.5 reads it with EST (-05:00) -> 07:30Z.
    got = windows(load_rules(fixture_path("dst.ics")), "us-gap")
    assert [s for s, _unused in got] == ["2025-03-08T07:30:00Z", "2025-03-09T07:30:00Z", "2025-03-10T06:30:00Z"]
    assert got[1][1] == "2025-03-09T08:30:00Z"  # PT1H is exact


def test_us_dst_overlap_means_first_occurrence():
    # 01:30 on 2 Nov 2025 happens twice in New York; the first is EDT (-04:00) -> 05:30Z.
    got = windows(load_rules(fixture_path("dst.ics")), "us-overlap")
    assert [s for s, _unused in got] == ["2025-11-01T05:30:00Z", "2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z"]


def test_eu_dst_gap_and_overlap():
    rules = load_rules(fixture_path("dst.ics"))
    # 02:30 on 30 Mar 2025 is in the Berlin gap -> CET (+01:00) -> 01:30Z.
    assert [s for s, _unused in windows(rules, "eu-gap")] == [
        "2025-03-29T01:30:00Z",
        "2025-03-30T01:30:00Z",
        "2025-03-31T00:30:00Z",
    ]
    # 02:30 on 26 Oct 2025 happens twice; first is CEST (+02:00) -> 00:30Z.
    assert [s for s, _unused in windows(rules, "eu-overlap")] == [
        "2025-10-25T00:30:00Z",
        "2025-10-26T00:30:00Z",
        "2025-10-27T01:30:00Z",
    ]


def test_vtimezone_zone_gets_the_same_rfc_answers_as_iana():
    # icalendar builds "Custom Eastern" with dateutil's tzical, which reads gap times with the offset after
    # the gap (06:30Z); the loader corrects that to the RFC answer, identical to America/New_York above.
    rules = load_rules(fixture_path("dst.ics"))
    assert [s for s, _unused in windows(rules, "custom-gap")] == [
        "2025-03-08T07:30:00Z",
        "2025-03-09T07:30:00Z",
        "2025-03-10T06:30:00Z",
    ]
    assert [s for s, _unused in windows(rules, "custom-overlap")] == [
        "2025-11-01T05:30:00Z",
        "2025-11-02T05:30:00Z",
        "2025-11-03T06:30:00Z",
    ]


def test_lord_howe_half_hour_dst():
    rules = load_rules(fixture_path("dst.ics"))
    # Lord Howe: +10:30 standard, +11:00 summer; 5 Oct 2025 02:00 -> 02:30, so 02:15 is in the gap and is read
    # with +10:30: 02:15 - 10:30 = 15:45Z the day before. 6 Oct is +11:00 -> 15:15Z.
    assert [s for s, _unused in windows(rules, "lhi-gap")] == [
        "2025-10-03T15:45:00Z",
        "2025-10-04T15:45:00Z",
        "2025-10-05T15:15:00Z",
    ]
    # 6 Apr 2025 02:00 -> 01:30, so 01:45 happens twice; the first is +11:00 -> 14:45Z the day before.
    assert [s for s, _unused in windows(rules, "lhi-overlap")] == [
        "2025-04-04T14:45:00Z",
        "2025-04-05T14:45:00Z",
        "2025-04-06T15:15:00Z",
    ]


def test_asia_kolkata_half_hour_offset():
    # IST is +05:30 all year: 09:00 -> 03:30Z.
    got = windows(load_rules(fixture_path("dst.ics")), "kolkata")
    assert got == [("2025-06-10T03:30:00Z", "2025-06-10T05:30:00Z"), ("2025-06-17T03:30:00Z", "2025-06-17T05:30:00Z")]


def test_duration_days_are_nominal_hours_exact():
    rules = load_rules(fixture_path("dst.ics"))
    # 29 Mar 12:00 CET = 11:00Z. P1D ends 30 Mar 12:00 CEST = 10:00Z (23 h); PT24H ends 24 h later, 11:00Z.
    assert windows(rules, "nominal-day") == [("2025-03-29T11:00:00Z", "2025-03-30T10:00:00Z")]
    assert windows(rules, "exact-24h") == [("2025-03-29T11:00:00Z", "2025-03-30T11:00:00Z")]


def test_exdate_in_utc_and_in_zone_removes_instances_and_windows_cross_midnight():
    # Weekdays 22:00-02:00 Berlin (21:00Z-01:00Z in January). EXDATE 20250108T210000Z is Wed 22:00 CET and
    # EXDATE;TZID=Europe/Berlin 20250110T220000 is Fri: both go, Mon/Tue/Thu stay.
    got = windows(load_rules(fixture_path("edges.ics")), "nightly", until="2025-01-12T00:00:00Z")
    assert got == [
        ("2025-01-06T21:00:00Z", "2025-01-07T01:00:00Z"),
        ("2025-01-07T21:00:00Z", "2025-01-08T01:00:00Z"),
        ("2025-01-09T21:00:00Z", "2025-01-10T01:00:00Z"),
    ]


def test_all_day_year_end_freeze_with_date_exdate():
    # Floating dates in the default zone (UTC here): 24 Dec -> 2 Jan is 9 days; 2026 is excluded by EXDATE.
    got = windows(load_rules(fixture_path("edges.ics")), "year-end", until="2028-01-01T00:00:00Z")
    assert got == [
        ("2025-12-24T00:00:00Z", "2026-01-02T00:00:00Z"),
        ("2027-12-24T00:00:00Z", "2028-01-02T00:00:00Z"),
    ]


def test_all_day_dates_follow_default_zone():
    rules = load_rules(fixture_path("edges.ics"), default_tz=get_zone("Europe/Berlin"))
    assert windows(rules, "year-end", until="2026-01-01T00:00:00Z") == [
        ("2025-12-23T23:00:00Z", "2026-01-01T23:00:00Z")
    ]


def test_rdate_and_rdate_period():
    got = windows(load_rules(fixture_path("edges.ics")), "rdates")
    assert got == [
        ("2025-03-01T08:00:00Z", "2025-03-01T10:00:00Z"),
        ("2025-03-15T08:00:00Z", "2025-03-15T10:00:00Z"),  # RDATE takes the event's length
        ("2025-04-01T08:00:00Z", "2025-04-01T08:30:00Z"),  # PERIOD brings its own
    ]


def test_recurrence_id_moves_one_instance():
    rules = load_rules(fixture_path("edges.ics"))
    assert [s for s, _unused in windows(rules, "moved", name="Weekly patching")] == [
        "2025-04-07T10:00:00Z",
        "2025-04-21T10:00:00Z",
        "2025-04-28T10:00:00Z",
    ]
    assert windows(rules, "moved", name="Weekly patching (moved)") == [("2025-04-15T14:00:00Z", "2025-04-15T15:00:00Z")]


def test_cancelled_event_is_no_window():
    assert "cancelled" not in {r.uid for r in load_rules(fixture_path("edges.ics"))}


@pytest.mark.filterwarnings("ignore:Timezone .* is a globally unique TZID")
def test_windows_and_globally_unique_tzids(tmp_path):
    # Both name Europe/Berlin: 09:00 CET on 1 Jan 2025 is 08:00Z.
    path = tmp_path / "tz.ics"
    path.write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\n"
        "BEGIN:VEVENT\nUID:win\nDTSTART;TZID=W. Europe Standard Time:20250101T090000\nDURATION:PT1H\nEND:VEVENT\n"
        "BEGIN:VEVENT\nUID:global\nDTSTART;TZID=/freeassociation.sourceforge.net/Europe/Berlin:20250101T090000\n"
        "DURATION:PT1H\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    rules = load_rules(str(path))
    assert windows(rules, "win") == [("2025-01-01T08:00:00Z", "2025-01-01T09:00:00Z")]
    assert windows(rules, "global") == [("2025-01-01T08:00:00Z", "2025-01-01T09:00:00Z")]


def test_calendar_level_kind_and_event_override():
    rules = {r.uid: r.kind for r in load_rules(str(fixture_path("maintenance.ics")))}
    assert rules == {"db-maint": "blackout", "db-freeze": "blackout"}  # no calendar kind given: blackout
    rules = {r.uid: r.kind for r in load_rules({"src": fixture_path("maintenance.ics"), "kind": "maintenance"})}
    assert rules == {"db-maint": "maintenance", "db-freeze": "blackout"}  # the event's X-CHANGEWARD-KIND wins
