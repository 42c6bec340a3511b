"""The ring-by-ring report: every planned ring, its outcome and why, rollbacks and the detection timing."""

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.rollout_report import (
    RolloutReportError,
    ring_report,
    timing,
)

RINGS = [
    {"name": "canary", "hosts": ["c1"], "env_types": ["cloud"], "domains": ["eu-west-1b"]},
    {"name": "ring-1", "hosts": ["c2", "c3"], "env_types": ["cloud"], "domains": ["eu-west-1a", "eu-west-1b"]},
    {"name": "ring-2", "hosts": ["e1"], "env_types": ["edge"], "domains": ["site-1"]},
]
T = 1_800_000_000.0


def rolled_back(detected_after=3.5):
    return {
        "name": "canary",
        "status": "rolled_back",
        "note": "bake watch breach: error_ratio of c1 is 0.3",
        "rollback": {"hosts": {"c1": {"rolled_back": True, "verified": True, "seconds": 0.004}}},
        "timings": {"visible_ts": T, "detected_ts": T + detected_after, "rolled_back_ts": T + detected_after + 1.5},
    }


def test_every_planned_ring_is_shown_with_what_stopped_it():
    lines = ring_report([rolled_back()], RINGS, title="Change CHG-1")
    assert lines[0] == "Change CHG-1 (3 rings planned, 1 reached)"
    assert "ROLLED BACK" in lines[2] and "error_ratio of c1" in lines[2]
    assert "c1 verified in 0.004 s" in lines[3]
    assert "(+3.5 s, within 2 scrape intervals = 10 s)" in lines[4] and "visible to rolled back 5.0 s" in lines[4]
    later = [line for line in lines if line.lstrip().startswith(("ring-1", "ring-2"))]
    assert len(later) == 2 and all("not started" in line and "stopped at canary" in line for line in later)


def test_slow_detection_is_called_out():
    lines = ring_report([rolled_back(detected_after=12.0)], RINGS)
    assert any("OVER 2 scrape intervals" in line for line in lines)
    assert timing(rolled_back(12.0))["detection_within_target"] is False
    assert timing(rolled_back(12.0), scrape_interval=15)["detection_within_target"] is True


def test_passed_rings_and_hosts_not_rolled_back():
    results = [
        {"name": "canary", "status": "passed", "note": "judge pass"},
        {
            "name": "ring-1",
            "status": "rolled_back",
            "note": "the change failed on c3",
            "rollback": {"hosts": {"c2": {"rolled_back": True, "verified": False}, "c3": {"note": "unreachable"}}},
        },
    ]
    lines = ring_report(results, RINGS)
    assert "2 reached" in lines[0]
    assert any("c2 NOT verified" in line and "c3 not rolled back (unreachable)" in line for line in lines)
    assert not any("timing" in line for line in lines)  # no breach, no detection timing


def test_results_without_a_plan_and_bad_rows():
    assert ring_report([{"name": "canary", "status": "passed"}])[0].endswith("(1 ring planned, 1 reached)")
    with pytest.raises(RolloutReportError, match="name and status"):
        ring_report([{"name": "canary"}])


def test_an_unreachable_ring_is_named_and_not_counted_as_reached():
    passed = {"name": "canary", "status": "passed", "note": "watched 3 polls without a breach"}
    unreachable = {
        "name": "ring-1",
        "status": "unreachable",
        "note": "no host of the ring could be reached, nothing applied: unreachable c2, c3",
        "unreachable": ["c2", "c3"],
    }
    lines = ring_report([passed, unreachable], RINGS, title="Change CHG-2")
    assert lines[0] == "Change CHG-2 (3 rings planned, 1 reached)"
    (row,) = [line for line in lines if line.lstrip().startswith("ring-1")]
    assert "UNREACHABLE" in row and "unreachable c2, c3" in row
    (later,) = [line for line in lines if line.lstrip().startswith("ring-2")]
    assert "not started" in later and "stopped at ring-1" in later
