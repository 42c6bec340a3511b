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


def test_open_closed_and_old_changes():
    changes = [
        change("CHG-PLANNED"),
        change("CHG-RUNNING", rings=True),
        change("CHG-DONE", "closed", "2026-12-08T08:00:00Z", "2026-12-08T09:00:00Z", "successful"),
        change("CHG-ABORTED", "closed", "2026-12-08T10:00:00Z", "2026-12-08T10:00:05Z", "aborted"),
        change("CHG-OLD", "closed", "2026-11-01T08:00:00Z", "2026-11-01T09:00:00Z", "successful"),
        change("CHG-OTHER", service="billing"),
    ]
    items = {i["uid"]: i for i in publish.change_items(changes, NOW, 2 * HOUR, 7 * DAY, services={"demo"})}
    assert sorted(items) == [f"{c}@changeward" for c in ("CHG-ABORTED", "CHG-DONE", "CHG-PLANNED", "CHG-RUNNING")]
    assert items["CHG-PLANNED@changeward"]["summary"] == "[planned] CHG-PLANNED: Release"
    assert items["CHG-PLANNED@changeward"]["end"] == NOW + 2 * HOUR  # open: change_duration beyond now
    assert items["CHG-RUNNING@changeward"]["summary"].startswith("[running]")
    assert items["CHG-ABORTED@changeward"]["status"] == "CANCELLED"
    assert items["CHG-DONE@changeward"]["summary"].startswith("[closed successful]")


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
        "[planned] CHG-1: Release",
        "Blackout: Year-end freeze",
        "AWS maintenance: AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED (h1)",
    }
    assert events["Blackout: Year-end freeze"]["X-CHANGEWARD-KIND"] == "blackout"
    retirement = events["AWS maintenance: AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED (h1)"]
    assert "open-ended" in str(retirement["DESCRIPTION"])
    assert (retirement["DTEND"].dt - retirement["DTSTART"].dt).total_seconds() == DAY
