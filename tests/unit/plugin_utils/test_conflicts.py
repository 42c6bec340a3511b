"""Conflict detection: provider maintenance on the targets, other open changes, blackouts; refuse or warn by
policy; what cannot be decided refuses."""

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import parse_instant
from ansible_collections.changeward.hybrid.plugins.plugin_utils import conflicts as core
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.evaluate import CalendarSet
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.model import change_scope
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.shorthand import load_shorthand
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.sources import CalendarSpec
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.conflicts_policy import DEFAULTS
from ansible_collections.changeward.hybrid.plugins.plugin_utils.providers.feeds import Maintenance

NOW = parse_instant("2026-12-08T01:00:00Z")
HOUR = 3600.0
WINDOW = (NOW, NOW + 2 * HOUR)
HOSTS = {
    "a1": {"env_type": "cloud", "provider": "aws", "region": "eu-west-1", "az": "eu-west-1a", "instance_id": "i-1"},
    "a2": {"env_type": "cloud", "provider": "aws", "region": "eu-west-1", "az": "eu-west-1b", "instance_id": "i-2"},
    "z1": {"env_type": "cloud", "provider": "azure", "region": "westeurope", "instance_id": "vm-1"},
    "d1": {"env_type": "onprem", "provider": "vmware", "region": "onprem-eu", "site": "dc1"},
}


def maint(provider, resources, start, end, event_id="ev-1", kind="Freeze", region=None):
    return Maintenance("feed", provider, event_id, kind, "scheduled", start, end, region=region, resources=resources)


def test_maintenance_on_a_target_in_the_window_conflicts_with_its_overlap_and_hosts():
    m = maint("aws", ("i-1",), NOW + HOUR, NOW + 3 * HOUR, kind="AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED")
    found, unsure = core.provider_conflicts([m], HOSTS, WINDOW)
    assert unsure == []
    (c,) = found
    assert c["hosts"] == ["a1"]
    assert c["overlap"] == {"start": "2026-12-08T02:00:00Z", "end": "2026-12-08T03:00:00Z"}
    result = core.decide("CHG-1", WINDOW, found, [], DEFAULTS["decisions"])
    assert result["blocked"]
    assert "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED ev-1 on a1" in result["msg"]


def test_maintenance_elsewhere_or_later_does_not_conflict():
    other_host = maint("aws", ("i-9",), NOW, NOW + HOUR)
    later = maint("aws", ("i-1",), WINDOW[1], WINDOW[1] + HOUR)  # [start, end): touching is not overlapping
    found, unsure = core.provider_conflicts([other_host, later], {"a1": HOSTS["a1"]}, WINDOW)
    assert (found, unsure) == ([], [])
    assert core.decide("CHG-1", WINDOW, [], [], DEFAULTS["decisions"])["blocked"] is False


def test_an_open_ended_azure_terminate_overlaps_any_later_window():
    m = maint("azure", ("vm-1",), NOW - HOUR, None, kind="Terminate")
    (c,), _unused = core.provider_conflicts([m], HOSTS, WINDOW)
    assert c["hosts"] == ["z1"] and c["window"]["end"] is None


def test_a_target_without_instance_id_in_the_events_region_cannot_be_decided():
    hosts = {"a3": {"env_type": "cloud", "provider": "aws", "region": "eu-west-1", "az": "eu-west-1a"}}
    found, unsure = core.provider_conflicts([maint("aws", ("i-1",), NOW, NOW + HOUR)], hosts, WINDOW)
    assert found == [] and "a3 carry no instance_id" in unsure[0]
    result = core.decide("CHG-1", WINDOW, found, unsure, DEFAULTS["decisions"])
    assert result["blocked"] and result["msg"].startswith("change CHG-1 refused: cannot decide")


def open_change(cid, service, targets, opened="2026-12-08T00:30:00Z", status="open"):
    return {"id": cid, "service": service, "targets": targets, "opened_at": opened, "status": status, "summary": "s"}


def test_open_changes_on_a_shared_host_or_the_same_or_a_dependent_service_conflict():
    others = [
        open_change("CHG-SAME", "demo", ["x9"]),
        open_change("CHG-HOST", "web", ["a1"]),
        open_change("CHG-DEP", "billing", ["x8"]),
        open_change("CHG-OTHER", "search", ["x7"]),
        open_change("CHG-CLOSED", "demo", ["a1"], status="closed"),
        open_change("CHG-1", "demo", ["a1"]),  # the change itself
    ]
    found = core.change_conflicts(
        "CHG-1", "demo", ["a1", "a2"], others, WINDOW, NOW, 2 * HOUR, dependency_map={"demo": ["billing"]}
    )
    assert {c["with"]: c["why"] for c in found} == {
        "CHG-SAME": "service demo",
        "CHG-HOST": "1 shared host(s)",
        "CHG-DEP": "service billing (depends on/with demo)",
    }
    assert next(c for c in found if c["with"] == "CHG-HOST")["hosts"] == ["a1"]


def test_an_open_change_is_expected_to_run_at_least_until_now_and_a_planned_change_later_may_not_overlap():
    stale = open_change("CHG-OLD", "demo", ["a1"], opened="2026-12-07T10:00:00Z")  # opened 15 h ago, still open
    (c,) = core.change_conflicts("CHG-1", "demo", ["a1"], [stale], WINDOW, NOW, 2 * HOUR)
    assert c["overlap"]["start"] == "2026-12-08T01:00:00Z"
    planned = (NOW + 5 * HOUR, NOW + 6 * HOUR)
    recent = open_change("CHG-NEW", "demo", ["a1"], opened="2026-12-08T00:50:00Z")
    assert core.change_conflicts("CHG-1", "demo", ["a1"], [recent], planned, NOW, 2 * HOUR) == []


def test_blackout_windows_in_the_change_window_warn_by_default_and_refuse_by_policy():
    rules = load_shorthand(
        {
            "name": "freeze",
            "windows": [
                {
                    "name": "Night freeze",
                    "start": "2026-12-08T02:30",
                    "duration": "PT1H",
                    "tz": "UTC",
                    "scope": {"service": "demo"},
                }
            ],
        },
        CalendarSpec(name="freeze"),
        None,
    )
    windows = core.blackout_windows(CalendarSet(rules), change_scope({"service": "demo"}, "normal"), *WINDOW)
    found = core.blackout_conflicts(windows, ["a1"], WINDOW)
    assert [c["name"] for c in found] == ["blackout Night freeze (freeze)"]
    assert not core.decide("CHG-1", WINDOW, found, [], DEFAULTS["decisions"])["blocked"]
    strict = {**DEFAULTS["decisions"], "blackout": "refuse"}
    assert core.decide("CHG-1", WINDOW, found, [], strict)["blocked"]
    other = core.blackout_windows(CalendarSet(rules), change_scope({"service": "web"}, "normal"), *WINDOW)
    assert other == []


def test_cloud_targets_no_feed_covers_are_reported_and_warn_by_default():
    assert core.unchecked(HOSTS, {"aws"}) == ["z1"]
    result = core.decide("CHG-1", WINDOW, [], [], DEFAULTS["decisions"], ["z1"])
    assert not result["blocked"] and "no maintenance feed" in result["warnings"][0]
    assert core.decide("CHG-1", WINDOW, [], [], {**DEFAULTS["decisions"], "unchecked_providers": "refuse"}, ["z1"])[
        "blocked"
    ]


def test_related_services_read_the_dependency_map_both_ways():
    deps = {"billing": ["invoicing"], "invoicing": ["portal"]}
    assert core.related_services("invoicing", deps) == {"invoicing", "billing", "portal"}
    assert core.related_services(None, deps) == set()
