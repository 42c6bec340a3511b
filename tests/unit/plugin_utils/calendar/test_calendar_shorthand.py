"""The YAML shorthand compiles to the same windows as iCalendar and refuses what it cannot read."""

from pathlib import Path

import pytest
from calendar_testlib import fixture_path, load_rules, windows

from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar import gate

EXAMPLES = Path(__file__).resolve().parents[4] / "docs" / "examples" / "calendars"


def test_docs_example_matches_the_ics_fixture():
    yaml_rules = load_rules(str(EXAMPLES / "finance.yml"))
    ics_rules = load_rules(fixture_path("month_end.ics"))
    for uid in ("lbd@finance", "l3bd@finance", "eoq@finance"):
        assert windows(yaml_rules, uid, until="2027-01-01T00:00:00Z") == windows(
            ics_rules, uid, until="2027-01-01T00:00:00Z"
        )
    # Spot checks by hand: 30 May 2025 18:00 CEST = 16:00Z; 31 Dec 2025 00:00 EST = 05:00Z.
    assert ("2025-05-30T16:00:00Z", "2025-05-31T04:00:00Z") in windows(yaml_rules, "lbd@finance")
    assert ("2025-12-31T05:00:00Z", "2026-01-01T05:00:00Z") in windows(yaml_rules, "eoq@finance")


def test_year_end_freeze_in_calendar_zone_with_exdate():
    got = windows(load_rules(str(EXAMPLES / "finance.yml")), "year-end@finance", until="2028-01-01T00:00:00Z")
    assert got == [
        ("2025-12-23T23:00:00Z", "2026-01-01T23:00:00Z"),
        ("2027-12-23T23:00:00Z", "2028-01-01T23:00:00Z"),
    ]


def test_docs_policy_example_loads_and_decides():
    import yaml

    policy = yaml.safe_load((EXAMPLES / "policy.yml").read_text())
    result = gate.check(
        policy=policy,
        at="2025-01-04T02:30:00+01:00",  # Saturday 02:30 Berlin: inside db maintenance, before the freeze
        scope={"service": "db"},
        resolve_path=lambda src: str(EXAMPLES / src),  # relative to the policy file
    )
    assert result["errors"] == []
    assert result["blocked"] is False
    assert result["maintenance_applies"] is True
    result = gate.check(
        policy=policy,
        at="2025-01-04T03:30:00+01:00",
        scope={"service": "db"},
        enforce=False,
        resolve_path=lambda src: str(EXAMPLES / src),  # relative to the policy file
    )
    assert result["blocked"] is True
    assert result["next_allowed_at"] == "2025-01-04T03:00:00Z"  # 04:00 CET, freeze over, maintenance on


def test_inline_shorthand_with_aware_times_and_list_rrule():
    cal = [
        {
            "name": "inline",
            "tz": "Asia/Kolkata",
            "windows": [
                {
                    "name": "Settlement",
                    "start": "2025-06-10T09:00",
                    "end": "2025-06-10T11:00",
                    "rrule": ["FREQ=WEEKLY;COUNT=2"],
                    "exdates": ["2025-06-17T03:30:00Z"],
                    "rdates": ["2025-06-20T09:00"],
                },
            ],
        }
    ]
    rules = load_rules(cal[0])
    assert windows(rules, "inline#0") == [
        ("2025-06-10T03:30:00Z", "2025-06-10T05:30:00Z"),
        ("2025-06-20T03:30:00Z", "2025-06-20T05:30:00Z"),
    ]


def test_until_in_utc_is_converted_to_local_time():
    # Daily 23:30 New York = 04:30Z the next day (EST). UNTIL 20250103T043000Z is 2 Jan 23:30 local and is
    # inclusive, so 1 Jan and 2 Jan occur and 3 Jan does not.
    cal = {
        "name": "u",
        "tz": "America/New_York",
        "windows": [
            {
                "name": "N",
                "start": "2025-01-01T23:30",
                "duration": "PT1H",
                "rrule": "FREQ=DAILY;UNTIL=20250103T043000Z",
            },
        ],
    }
    assert [s for s, _unused in windows(load_rules(cal), "u#0")] == ["2025-01-02T04:30:00Z", "2025-01-03T04:30:00Z"]


@pytest.mark.parametrize(
    ("window", "fragment"),
    [
        ({"name": "x", "start": "2025-01-01T00:00", "duration": "PT1H", "colour": "red"}, "unknown key(s) colour"),
        ({"name": "x", "duration": "PT1H"}, "windows[0].start is required"),
        ({"name": "x", "start": "2025-01-01T00:00"}, "exactly one of end or duration"),
        ({"name": "x", "start": "2025-01-01T00:00", "end": "2025-01-01T01:00", "duration": "PT1H"}, "exactly one"),
        ({"name": "x", "start": "2025-01-01T00:00", "duration": "4 hours"}, "not an RFC 5545 duration"),
        ({"name": "x", "start": "2025-01-01T00:00", "duration": "PT0S"}, "is zero"),
        ({"name": "x", "start": "2025-01-01T00:00", "duration": "PT1H", "rrule": "FREQ=OFTEN"}, "rrule"),
        ({"name": "x", "start": "2025-01-01T00:00", "duration": "PT1H", "tz": "Nowhere/City"}, "Nowhere/City"),
        ({"name": "x", "start": "2025-01-01T00:00", "duration": "PT1H", "kind": "freeze"}, "kind"),
        ({"name": "x", "start": "2025-01-01", "end": "2025-01-01T10:00"}, "must both be dates or both date-times"),
        ({"name": "x", "start": "first of May", "duration": "PT1H"}, "not an ISO 8601"),
        ({"name": "x", "start": "2025-01-01T00:00", "duration": "PT1H", "scope": ["billing"]}, "scope must be"),
    ],
)
def test_invalid_windows_block_with_a_named_error(window, fragment):
    result = gate.check(calendars=[{"name": "bad", "windows": [window]}], at="2025-01-01T00:30:00Z")
    assert result["blocked"] is True
    assert result["failed"] is True
    assert result["errors"][0].startswith("calendar bad:")
    assert fragment in result["errors"][0]


def test_yaml_file_that_is_not_a_calendar(tmp_path):
    path = tmp_path / "cal.yml"
    path.write_text("- just\n- a list\n")
    result = gate.check(calendars=[str(path)], at="2025-01-01T00:00:00Z")
    assert result["blocked"] is True
    assert "a mapping with windows" in result["errors"][0]
