"""Planned changes: a plan's rules (ServiceNow's scheduled / canceled before implement), plans read from the
ledger's events, a planned change as the conflicts gate sees it, and a plan that opens becoming the running change."""

import pytest

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import parse_instant
from ansible_collections.changeward.hybrid.plugins.plugin_utils import change_plans as plans
from ansible_collections.changeward.hybrid.plugins.plugin_utils import conflicts as core
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import new_record

NOW = parse_instant("2026-12-08T01:00:00Z")
HOUR = 3600.0
KEY = "hmac:unit-test-change-plans-key-0123456789"


def plan(cid="CHG-P", start=NOW + 4 * HOUR, end=NOW + 5 * HOUR, service="search", targets=("h1",), who="bob"):
    return plans.new_plan(cid, "normal", "reindex", who, service, list(targets), start, end, NOW)


def test_a_plan_has_a_real_window_ahead_and_hosts():
    p = plan(targets=("h2", "h1", "h1"))
    assert (p["start"], p["end"], p["targets"]) == ("2026-12-08T05:00:00Z", "2026-12-08T06:00:00Z", ["h1", "h2"])
    with pytest.raises(plans.PlanError, match=r"ends .* before it starts"):
        plan(end=NOW + 4 * HOUR)
    with pytest.raises(plans.PlanError, match="a plan is for a change ahead"):
        plan(start=NOW - 3 * HOUR, end=NOW - HOUR)
    with pytest.raises(plans.PlanError, match="targets is empty"):
        plan(targets=())
    with pytest.raises(plans.PlanError, match="change id must match"):
        plan(cid="bad id")


def test_scheduling_again_moves_the_plan_and_the_same_plan_changes_nothing():
    first = plan()
    kind, data = plans.schedule(None, first, None)
    assert kind == plans.PLAN_SCHEDULED and data["rescheduled"] is False
    current = {**first, "state": plans.SCHEDULED}
    assert plans.schedule(current, first, None)[0] is None
    moved = plan(start=NOW + 6 * HOUR, end=NOW + 7 * HOUR)
    kind, data = plans.schedule(current, moved, None)
    assert kind == plans.PLAN_SCHEDULED and data["rescheduled"] is True
    with pytest.raises(plans.PlanError, match="requester is fixed"):
        plans.schedule(current, plan(who="mallory"), None)
    with pytest.raises(plans.PlanError, match="already in the ledger"):
        plans.schedule(current, first, {"status": "open"})


def test_cancel_needs_a_plan_not_yet_opened():
    current = {**plan(), "state": plans.SCHEDULED}
    kind, data = plans.cancel(current, "CHG-P", "superseded", None)
    assert kind == plans.PLAN_CANCELED and data["reason"] == "superseded"
    assert plans.cancel({**current, "state": plans.CANCELED}, "CHG-P", None, None)[0] is None
    with pytest.raises(plans.PlanError, match="has no plan"):
        plans.cancel(None, "CHG-P", None, None)
    with pytest.raises(plans.PlanError, match="has opened"):
        plans.cancel(current, "CHG-P", None, {"status": "open"})


def test_plans_from_events_keep_the_latest_state_and_ignore_a_plan_about_another_subject():
    p = plan()
    events = [
        {"type": plans.PLAN_SCHEDULED, "subject": "CHG-P", "data": {"plan": p}},
        {"type": plans.PLAN_SCHEDULED, "subject": "CHG-X", "data": {"plan": {**p, "id": "CHG-P"}}},
        {"type": plans.PLAN_CANCELED, "subject": "CHG-P", "data": {"plan": p, "reason": "later"}},
    ]
    found = plans.plans_from_events(events)
    assert list(found) == ["CHG-P"] and found["CHG-P"]["state"] == plans.CANCELED
    assert found["CHG-P"]["reason"] == "later"
    assert plans.as_changes(found) == []
    assert [c["id"] for c in plans.as_changes(plans.plans_from_events(events[:1]))] == ["CHG-P"]


def test_a_change_overlapping_a_planned_one_on_a_shared_host_or_service_conflicts():
    planned = plans.as_changes({"CHG-P": {**plan(), "state": plans.SCHEDULED}})
    inside = (NOW + 4.5 * HOUR, NOW + 5.5 * HOUR)
    (c,) = core.change_conflicts("CHG-1", "web", ["h1"], planned, inside, NOW, 2 * HOUR)
    assert c["with"] == "CHG-P" and c["planned"] and c["name"] == "planned change CHG-P: reindex"
    assert c["overlap"] == {"start": "2026-12-08T05:30:00Z", "end": "2026-12-08T06:00:00Z"}
    assert core.change_conflicts("CHG-1", "search", ["h9"], planned, inside, NOW, 2 * HOUR)[0]["why"] == (
        "service search"
    )
    assert core.change_conflicts("CHG-1", "web", ["h9"], planned, inside, NOW, 2 * HOUR) == []
    before = (NOW, NOW + 2 * HOUR)  # over before the plan starts
    assert core.change_conflicts("CHG-1", "web", ["h1"], planned, before, NOW, 2 * HOUR) == []
    assert core.change_conflicts("CHG-P", "search", ["h1"], planned, inside, NOW, 2 * HOUR) == []  # itself


def test_an_opened_planned_change_keeps_others_clear_until_its_planned_end():
    opened = {
        "id": "CHG-P",
        "status": "open",
        "service": "search",
        "targets": ["h1"],
        "opened_at": "2026-12-08T01:00:00Z",
        "planned_start": "2026-12-08T01:00:00Z",
        "planned_end": "2026-12-08T09:00:00Z",
    }
    late = (NOW + 6 * HOUR, NOW + 7 * HOUR)  # after now + change_duration, before the planned end
    assert core.change_conflicts("CHG-1", "web", ["h1"], [opened], late, NOW, 2 * HOUR)[0]["with"] == "CHG-P"
    without_plan = {**opened, "planned_end": None}
    assert core.change_conflicts("CHG-1", "web", ["h1"], [without_plan], late, NOW, 2 * HOUR) == []
    assert core.plan_window(opened, (NOW, NOW + 2 * HOUR), NOW) == (NOW, NOW + 8 * HOUR)
    assert core.plan_window({**opened, "status": "planned"}, (NOW, NOW + 2 * HOUR), NOW) == (NOW, NOW + 8 * HOUR)


def test_in_the_ledger_a_plan_that_opens_is_the_running_change_and_the_chain_verifies(tmp_path):
    path = str(tmp_path / "ledger.db")
    p = plan(start=NOW + 4 * HOUR, end=NOW + 5 * HOUR)
    with open_ledger(path, key=KEY) as ledger:
        ledger.record(plans.PLAN_SCHEDULED, "CHG-P", plans.schedule(None, p, None)[1])
        dropped = plan(cid="CHG-D")
        ledger.record(plans.PLAN_SCHEDULED, "CHG-D", plans.schedule(None, dropped, None)[1])
        current = plans.read_plans(ledger)["CHG-D"]
        ledger.record(plans.PLAN_CANCELED, "CHG-D", plans.cancel(current, "CHG-D", "superseded", None)[1])
        before = core.ledger_changes(ledger)
        ledger.open_change(new_record("CHG-P", "normal", "reindex", "bob", targets=["h1"]), data={"service": "search"})
        after = core.ledger_changes(ledger)
        states = {k: v["state"] for k, v in plans.read_plans(ledger).items()}
        report = ledger.verify()
    assert [(c["id"], c["status"]) for c in before] == [("CHG-P", "planned")]
    assert [(c["id"], c["status"], c["planned_end"]) for c in after] == [("CHG-P", "open", "2026-12-08T06:00:00Z")]
    assert states == {"CHG-P": plans.IMPLEMENTED, "CHG-D": plans.CANCELED}
    assert report["valid"] and report["problems"] == []
