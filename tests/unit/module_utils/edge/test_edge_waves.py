import pytest

from ansible_collections.changeward.hybrid.plugins.module_utils.edge.waves import judge


def test_continue_when_enough_committed():
    d = judge({"a": "committed", "b": "committed", "c": "pending"}, 60, 0)
    assert d["decision"] == "continue" and d["pending_hosts"] == ["c"]


def test_stop_when_more_than_the_error_threshold_failed():
    d = judge({"a": "committed", "b": "rolled_back", "c": "committed", "d": "committed"}, 50, 20)
    assert d["decision"] == "stop" and d["failed_hosts"] == ["b"] and d["failed_percent"] == 25.0
    assert judge({"a": "committed", "b": "rolled_back", "c": "committed", "d": "committed"}, 50, 25)["decision"] == (
        "continue"
    )


def test_pending_hosts_hold_the_wave_but_never_fail_it():
    d = judge({"a": "pending", "b": "pending", "c": "committed"}, 100, 0)
    assert d["decision"] == "hold" and d["failed_hosts"] == []


def test_bad_input_cannot_be_judged():
    with pytest.raises(ValueError, match="no hosts"):
        judge({}, 100, 0)
    with pytest.raises(ValueError, match="percentage"):
        judge({"a": "committed"}, 120, 0)
