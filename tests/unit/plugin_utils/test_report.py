import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.report import ReportError, change_report


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
