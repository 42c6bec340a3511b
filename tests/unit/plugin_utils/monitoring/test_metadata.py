"""Change metadata (plugin_utils/monitoring/metadata.py): the exposition a pushgateway or textfile gets."""

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring import metadata
from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring.http import MonitoringError

RINGS = [{"name": "canary", "hosts": ["a"]}, {"name": "ring-1", "hosts": ["b", "c"]}]


def lines(text, name):
    return [line for line in text.splitlines() if line.startswith(name + "{")]


def test_one_info_series_per_host_with_ring_version_and_team():
    text = metadata.exposition("CHG-1", "demo", "1.0.1", RINGS, {"a": "web", "b": "db"})
    common = 'change_id="CHG-1",service="demo"'
    assert lines(text, metadata.INFO) == [
        f'changeward_change_info{{{common},ring="canary",version="1.0.1",host="a",owner_team="web"}} 1',
        f'changeward_change_info{{{common},ring="ring-1",version="1.0.1",host="b",owner_team="db"}} 1',
        f'changeward_change_info{{{common},ring="ring-1",version="1.0.1",host="c",owner_team=""}} 1',
    ]


def test_ring_progress_counts_rings_with_a_verdict():
    results = [{"name": "canary", "status": "passed"}]
    text = metadata.exposition("CHG-1", "demo", "1", RINGS, {}, results)
    assert lines(text, metadata.RINGS_TOTAL) == ['changeward_change_rings_total{change_id="CHG-1",service="demo"} 2']
    assert lines(text, metadata.RINGS_COMPLETED) == [
        'changeward_change_rings_completed{change_id="CHG-1",service="demo"} 1'
    ]
    assert 'ring="canary",status="passed"} 1' in text and 'ring="ring-1",status="planned"} 1' in text


def test_label_values_are_escaped():
    text = metadata.exposition('CHG-"1"', "demo", "a\\b\nc", [{"name": "canary", "hosts": ["a"]}], {})
    assert 'change_id="CHG-\\"1\\""' in text and 'version="a\\\\b\\nc"' in text


@pytest.mark.parametrize(
    ("explicit", "apply", "want"),
    [
        ("2.0", {"vars": {"demo_release_version": "1.0"}}, "2.0"),
        (None, {"vars": {"demo_release_version": "1.0", "other": 3}}, "1.0"),
        (None, {"vars": {"version": "3"}}, "3"),
        (None, {"vars": {"a_version": "1", "b_version": "2"}}, "unknown"),
        (None, {"vars": {}}, "unknown"),
        (None, None, "unknown"),
    ],
)
def test_release_version_never_guesses_between_two(explicit, apply, want):
    assert metadata.release_version(explicit, apply) == want


def test_group_path_encodes_the_change_id_and_needs_one():
    assert metadata.group_path("CHG-1/x") == "/metrics/job/changeward/change_id/CHG-1%2Fx"
    with pytest.raises(MonitoringError):
        metadata.group_path("")
    with pytest.raises(MonitoringError):
        metadata.exposition("CHG-1", "demo", "1", [], {})
