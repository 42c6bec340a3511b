"""The published calendar: which changes appear and as what, stable UIDs, and an RFC 5545 document icalendar reads."""

from icalendar import Calendar

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import parse_instant
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar import publish
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.model import Window
from ansible_collections.changeward.hybrid.plugins.plugin_utils.providers.feeds import Maintenance

NOW = parse_instant("2026-12-08T12:00:00Z")
HOUR, DAY = 3600.0, 86400.0


def change(cid, status="open", opened="2026-12-08T11:30:00Z", closed=None, outcome=None, rings=False, service="demo"):
    return {
        **{"id": cid, "type": "standard", "summary": "Release", "status": status, "outcome": outcome},
        **{"service": service, "targets": ["h1"], "opened_at": opened, "closed_at": closed, "rings_started": rings},
    }


def planned(cid, start="2026-12-09T22:00:00Z", end="2026-12-10T00:00:00Z", service="demo"):
    return {
        **change(cid, status="planned", opened=None, service=service),
        **{"planned_start": start, "planned_end": end},
    }


def test_planned_open_closed_and_old_changes():
    changes = [
        planned("CHG-PLANNED"),
        planned("CHG-PLANNED-OVER", "2026-11-01T08:00:00Z", "2026-11-01T09:00:00Z"),
        change("CHG-OPEN"),
        change("CHG-RUNNING", rings=True),
        change("CHG-DONE", "closed", "2026-12-08T08:00:00Z", "2026-12-08T09:00:00Z", "successful"),
        change("CHG-ABORTED", "closed", "2026-12-08T10:00:00Z", "2026-12-08T10:00:05Z", "aborted"),
        change("CHG-OLD", "closed", "2026-11-01T08:00:00Z", "2026-11-01T09:00:00Z", "successful"),
        change("CHG-OTHER", service="billing"),
    ]
    items = {i["uid"]: i for i in publish.change_items(changes, NOW, 2 * HOUR, 7 * DAY, services={"demo"})}
    assert sorted(items) == [
        f"{c}@changeward" for c in ("CHG-ABORTED", "CHG-DONE", "CHG-OPEN", "CHG-PLANNED", "CHG-RUNNING")
    ]
    assert items["CHG-PLANNED@changeward"]["summary"] == "[planned] CHG-PLANNED: Release"
    assert (items["CHG-PLANNED@changeward"]["start"], items["CHG-PLANNED@changeward"]["end"]) == (
        parse_instant("2026-12-09T22:00:00Z"),
        parse_instant("2026-12-10T00:00:00Z"),
    )
    assert items["CHG-OPEN@changeward"]["summary"] == "[running] CHG-OPEN: Release"
    assert items["CHG-OPEN@changeward"]["end"] == NOW + 2 * HOUR  # open: change_duration beyond now
    assert items["CHG-RUNNING@changeward"]["summary"].startswith("[running]")
    assert items["CHG-ABORTED@changeward"]["status"] == "CANCELLED"
    assert items["CHG-DONE@changeward"]["summary"].startswith("[closed successful]")


def test_a_planned_change_that_opened_is_one_event_running_until_its_planned_end():
    opened = {**change("CHG-P"), "planned_start": "2026-12-08T11:00:00Z", "planned_end": "2026-12-08T18:00:00Z"}
    (item,) = publish.change_items([opened], NOW, 2 * HOUR, DAY)
    assert item["uid"] == "CHG-P@changeward" and item["summary"].startswith("[running]")
    assert item["start"] == parse_instant("2026-12-08T11:30:00Z")  # when it really opened
    assert item["end"] == parse_instant("2026-12-08T18:00:00Z")  # its planned end, later than now + 2h
    assert "planned 2026-12-08T11:00:00Z - 2026-12-08T18:00:00Z" in item["description"]


def test_the_document_parses_and_is_stable_but_for_its_stamps():
    window = Window("Year-end freeze", "blackout", NOW + DAY, NOW + 2 * DAY, "lab", "year-end@lab")
    m = Maintenance(
        "aws-health", "aws", "arn:ev", "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED", "upcoming", NOW + HOUR, None
    )
    items = publish.change_items([change("CHG-1")], NOW, 2 * HOUR, DAY)
    items += publish.window_items([window])
    items += publish.maintenance_items([m], lambda _m: ["h1"])
    first = publish.render(items, "demo", NOW)
    again = publish.render(list(reversed(items)), "demo", NOW + 60)
    assert first != again and publish.without_stamps(first) == publish.without_stamps(again)
    cal = Calendar.from_ical(first)
    assert (str(cal["VERSION"]), str(cal["METHOD"]), str(cal["X-WR-CALNAME"])) == ("2.0", "PUBLISH", "demo")
    events = {str(e["SUMMARY"]): e for e in cal.walk("VEVENT")}
    assert set(events) == {
        "[running] CHG-1: Release",
        "Blackout: Year-end freeze",
        "AWS maintenance: AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED (h1)",
    }
    assert events["Blackout: Year-end freeze"]["X-CHANGEWARD-KIND"] == "blackout"
    retirement = events["AWS maintenance: AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED (h1)"]
    assert "open-ended" in str(retirement["DESCRIPTION"])
    assert (retirement["DTEND"].dt - retirement["DTSTART"].dt).total_seconds() == DAY
