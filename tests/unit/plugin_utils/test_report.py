import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.report import (
    ReportError,
    change_outcome,
    change_report,
    change_rows,
)


def rows():
    return [
        {
            "host": "edge-s1-01",
            "env_type": "edge",
            "where": "edge-site-1",
            "before": "1.0.0",
            "after": "1.0.1",
            "outcome": "changed",
        },
        {
            "host": "cloud-b",
            "env_type": "cloud",
            "where": "eu-west-1b",
            "before": "1.0.1",
            "after": "1.0.1",
            "outcome": "unchanged",
        },
        {
            "host": "cloud-a",
            "env_type": "cloud",
            "where": "eu-west-1a",
            "before": "1.0.0",
            "after": "1.0.1",
            "outcome": "changed",
        },
        {"host": "odd", "env_type": "lab", "outcome": "not reached"},
    ]


def test_groups_by_env_type_in_cloud_onprem_edge_order_then_others():
    lines = change_report(rows(), title="T")
    headers = [line for line in lines if line.startswith("[")]
    assert headers == ["[cloud] 2 hosts", "[edge] 1 host", "[lab] 1 host"]
    assert lines[0] == "T"


def test_hosts_sorted_within_group_and_columns_aligned():
    lines = change_report(rows())
    cloud = lines.index("[cloud] 2 hosts")
    assert lines[cloud + 2].split()[0] == "cloud-a"
    assert lines[cloud + 3].split()[0] == "cloud-b"
    # every data line of one table starts its 'where' column at the same offset
    assert lines[cloud + 2].index("eu-west-1a") == lines[cloud + 3].index("eu-west-1b")


def test_totals_count_outcomes():
    assert change_report(rows())[-1] == "totals: changed 2, not reached 1, unchanged 1"


def test_empty_report_says_no_hosts():
    assert change_report([]) == ["What ran where", "totals: no hosts"]


@pytest.mark.parametrize("bad", [["x"], [{"outcome": "changed"}], [{"host": "h"}]])
def test_bad_rows_are_named(bad):
    with pytest.raises(ReportError, match="row 0"):
        change_report(bad)


# -- the change's outcome and rows, from the rollout's ring results ------------------------------------------------
RINGS = [
    {"name": "canary", "hosts": ["c1"]},
    {"name": "ring-1", "hosts": ["c2", "c3"]},
    {"name": "ring-2", "hosts": ["d1"]},
]
TARGETS = ["c1", "c2", "c3", "d1"]
PASSED = {"name": "canary", "status": "passed", "note": "watched 12 polls without a breach", "hosts": ["c1"]}


def ring(name, status, hosts, note="why", **extra):
    return {"name": name, "status": status, "note": note, "hosts": hosts, **extra}


def test_every_ring_passed_is_successful():
    results = [PASSED, ring("ring-1", "passed", ["c2", "c3"]), ring("ring-2", "passed", ["d1"])]
    out = change_outcome(results, RINGS, TARGETS, label="Release 2")
    assert out["outcome"] == "successful" and out["not_reached"] == [] and out["halt_reason"] == ""
    assert out["summary"] == "Release 2 reached 4 of 4 hosts in 3 of 3 rings"
    assert out["observations"][1] == "canary: passed: watched 12 polls without a breach"


def test_a_rolled_back_ring_makes_the_change_rolled_back_and_names_the_hosts():
    rb = {"hosts": {"c2": {"rolled_back": True}, "c3": {"rolled_back": False, "note": "not restorable"}}}
    results = [PASSED, ring("ring-1", "rolled_back", ["c2", "c3"], "bake watch breach: x", rollback=rb)]
    out = change_outcome(results, RINGS, TARGETS)
    assert out["outcome"] == "rolled_back"
    assert out["rolled_back"] == ["c2"] and out["reached"] == ["c1"] and out["not_reached"] == ["d1"]
    assert out["summary"] == (
        "the change reached 1 of 4 hosts in 1 of 3 rings, rolled back on c2; halted: ring-1: bake watch breach: x"
    )
    assert out["observations"][-1] == "not reached: d1"


def test_unreachable_after_a_passed_ring_is_failed_and_the_first_ring_unreachable_is_aborted():
    stuck = ring("ring-1", "unreachable", ["c2", "c3"], "no host", unreachable=["c2", "c3"])
    out = change_outcome([PASSED, stuck], RINGS, TARGETS)
    assert out["outcome"] == "failed"
    assert out["unreachable"] == ["c2", "c3"] and out["not_reached"] == ["c2", "c3", "d1"]
    assert "unreachable: c2, c3" in out["observations"]
    first = ring("canary", "unreachable", ["c1"], "no host", unreachable=["c1"])
    assert change_outcome([first], RINGS, TARGETS)["outcome"] == "aborted"


@pytest.mark.parametrize("status", ["halted", "held"])
def test_halted_or_held_rollouts_are_aborted(status):
    out = change_outcome([PASSED, ring("ring-1", status, ["c2", "c3"], "not started: breaker open")], RINGS, TARGETS)
    assert out["outcome"] == "aborted" and out["halt_reason"] == "ring-1: not started: breaker open"


def test_no_ring_reached_is_aborted_and_bad_results_are_named():
    assert change_outcome([], RINGS, TARGETS)["outcome"] == "aborted"
    assert change_outcome([], [], [])["outcome"] == "aborted"  # nothing planned is no success
    with pytest.raises(ReportError, match="needs at least name and status"):
        change_outcome([{"name": "canary"}], RINGS, TARGETS)
    with pytest.raises(ReportError, match="unknown status 'fine'"):
        change_outcome([ring("canary", "fine", ["c1"])], RINGS, TARGETS)


HOSTVARS = {
    "c1": {
        "env_type": "cloud",
        "az": "eu-west-1b",
        "changeward_apply_result": {"before": "1", "after": "2", "changed": True},
    },
    "c2": {
        "changeward_labels": {"env_type": "cloud", "az": "eu-west-1a"},
        "changeward_apply_result": {"before": "1", "after": "2"},
    },
    "c3": {
        "env_type": "cloud",
        "az": "eu-west-1a",
        "changeward_apply_result": {"before": "2", "after": "2", "changed": False},
    },
    "d1": {"env_type": "onprem", "site": "dc1"},
}


def test_rows_say_per_host_where_it_is_and_what_happened():
    results = [PASSED, ring("ring-1", "passed", ["c2", "c3"])]
    rows = {r["host"]: r for r in change_rows(TARGETS, HOSTVARS, RINGS, results)}
    assert rows["c1"] == {
        "host": "c1",
        "env_type": "cloud",
        "where": "eu-west-1b (canary)",
        "before": "1",
        "after": "2",
        "outcome": "changed",
    }
    assert rows["c2"]["outcome"] == "applied" and rows["c2"]["env_type"] == "cloud"  # labels; changed not said
    assert rows["c3"]["outcome"] == "unchanged"
    assert rows["d1"] == {
        "host": "d1",
        "env_type": "onprem",
        "where": "dc1 (ring-2)",
        "before": "-",
        "after": "-",
        "outcome": "not reached",
    }


def test_rows_of_a_rolled_back_ring_and_of_earlier_rings_rolled_back_too():
    rb = {
        "hosts": {"c2": {"rolled_back": True}, "c3": {"rolled_back": False, "error": "deadline"}},
        "earlier": [["c1", True]],
    }
    results = [PASSED, ring("ring-1", "rolled_back", ["c2", "c3"], rollback=rb)]
    rows = {r["host"]: r for r in change_rows(TARGETS, HOSTVARS, RINGS, results)}
    assert rows["c1"]["outcome"] == "rolled back" and rows["c1"]["after"] == "1"  # back at before
    assert rows["c2"]["outcome"] == "rolled back" and rows["c2"]["after"] == "1"
    assert rows["c3"]["outcome"] == "failed"
    held = change_rows(["c2"], HOSTVARS, RINGS, [PASSED, ring("ring-1", "held", ["c2", "c3"])])
    assert held[0]["outcome"] == "held" and held[0]["after"] == "2"


def test_rows_read_the_apply_result_the_caller_names_and_refuse_unknown_hosts():
    hv = {"c1": {"env_type": "cloud", "az": "a", "my_result": {"before": "x", "after": "y", "changed": True}}}
    assert change_rows(["c1"], hv, RINGS, [PASSED], result_var="my_result")[0]["after"] == "y"
    assert change_rows(["c1"], hv, RINGS, [PASSED])[0]["before"] == "-"
    with pytest.raises(ReportError, match="target zz is not a host of the inventory"):
        change_rows(["zz"], hv, RINGS, [])
