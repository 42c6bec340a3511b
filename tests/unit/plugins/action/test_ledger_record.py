"""The ledger_record action: events land in a real SQLite ledger, bound to their change, idempotently,
and every doubtful request fails with nothing written."""

import os

import pytest
from action_runner import run_action as run_task

from ansible_collections.changeward.hybrid.plugins.action.ledger_record import ActionModule
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.events import SNAPSHOT_TAKEN, ledger_event
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

KEY = "hmac:unit-test-ledger-key-0123456789"
CHANGE = {"type": "standard", "summary": "rollback drill", "requester": "tests"}


def run_action(args, check_mode=False):
    return run_task(ActionModule, "ledger_record", args, {}, check_mode=check_mode)


@pytest.fixture(autouse=True)
def no_ledger_env(monkeypatch):
    for name in ("CHANGEWARD_LEDGER", "CHANGEWARD_LEDGER_KEY", "CHANGEWARD_LEDGER_CHECKPOINT_INTERVAL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def ledger_path(tmp_path):
    path = str(tmp_path / "ledger.db")
    with open_ledger(path, key=KEY) as ledger:
        ledger.open_change(model.new_record("CHG-1", "normal", "upgrade", "alice"))
    return path


def events_of(path, change_id):
    with open_ledger(path, create=False, readonly=True) as ledger:
        return [e.event for e in ledger.entries() if e.event["subject"] == change_id]


def snapshot_event(change_id="CHG-1"):
    # Exactly what the snapshot module returns as ledger_event.
    return ledger_event(SNAPSHOT_TAKEN, change_id, {"snapshot_id": "CHG-1.x", "bytes": 10, "ratio": 0.5}, host="web1")


def test_module_event_is_appended_unchanged_and_a_rerun_appends_nothing(ledger_path):
    event = snapshot_event()
    first = run_action({"change_id": "CHG-1", "event": event, "ledger": ledger_path, "key": KEY})
    assert not first.get("failed"), first
    assert first["changed"] is True and len(first["appended"]) == 1
    assert first["appended"][0]["event_id"] == event["id"]
    recorded = events_of(ledger_path, "CHG-1")
    assert recorded[-1] == event
    again = run_action({"change_id": "CHG-1", "event": event, "ledger": ledger_path, "key": KEY})
    assert again["changed"] is False and again["appended"] == []
    assert again["already_recorded"][0]["seq"] == first["appended"][0]["seq"]
    assert len(events_of(ledger_path, "CHG-1")) == len(recorded)


def test_same_id_with_other_content_is_refused(ledger_path):
    event = snapshot_event()
    run_action({"change_id": "CHG-1", "event": event, "ledger": ledger_path, "key": KEY})
    forged = dict(event, data={**event["data"], "bytes": 11})
    result = run_action({"change_id": "CHG-1", "event": forged, "ledger": ledger_path, "key": KEY})
    assert result["failed"] is True and "different content" in result["msg"]


def test_event_of_another_change_is_refused_and_nothing_is_written(ledger_path):
    before = events_of(ledger_path, "CHG-1")
    result = run_action({"change_id": "CHG-1", "event": snapshot_event("CHG-2"), "ledger": ledger_path, "key": KEY})
    assert result["failed"] is True and "belongs to change 'CHG-2'" in result["msg"]
    assert events_of(ledger_path, "CHG-1") == before


def test_events_list_is_all_or_nothing(ledger_path):
    good = snapshot_event()
    bad = dict(snapshot_event(), type="not.a.changeward.type")
    result = run_action({"change_id": "CHG-1", "events": [good, bad], "ledger": ledger_path, "key": KEY})
    assert result["failed"] is True
    assert all(e["id"] != good["id"] for e in events_of(ledger_path, "CHG-1"))


def test_null_event_fails_with_a_hint():
    result = run_action({"change_id": "CHG-1", "event": None, "ledger": "/nonexistent/ledger.db"})
    assert result["failed"] is True
    assert "is not none" in result["msg"]


def test_unknown_change_fails_unless_opened(ledger_path):
    args = {"change_id": "DRILL-1", "type": "io.changeward.rollback.drill", "data": {"host": "h1"}}
    result = run_action({**args, "ledger": ledger_path, "key": KEY})
    assert result["failed"] is True and "not in the ledger" in result["msg"]
    opened = run_action({**args, "ledger": ledger_path, "key": KEY, "change": CHANGE})
    assert not opened.get("failed"), opened
    assert opened["change_opened"] is True
    types = [e["type"] for e in events_of(ledger_path, "DRILL-1")]
    assert types == [model.CHANGE_OPENED, "io.changeward.rollback.drill"]
    with open_ledger(ledger_path, create=False, readonly=True) as ledger:
        assert ledger.get_change("DRILL-1")["summary"] == "rollback drill"


def test_no_ledger_configured_uses_the_default_ledger_and_fails_closed_when_it_is_missing(tmp_path, monkeypatch):
    # The one rule: ledger option, else CHANGEWARD_LEDGER, else the default ledger file (the recorder's).
    monkeypatch.delenv("CHANGEWARD_LEDGER", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    result = run_action({"change_id": "CHG-1", "event": snapshot_event()})
    assert result["failed"] is True
    assert str(tmp_path / "changeward" / "ledger.db") in result["msg"]
    assert not (tmp_path / "changeward" / "ledger.db").exists()


def test_ledger_from_environment_and_missing_key_fails(ledger_path, monkeypatch):
    monkeypatch.setenv("CHANGEWARD_LEDGER", ledger_path)
    result = run_action({"change_id": "CHG-1", "event": snapshot_event()})
    assert result["failed"] is True and result["error_kind"] == "LedgerKeyError"
    monkeypatch.setenv("CHANGEWARD_LEDGER_KEY", KEY)
    ok = run_action({"change_id": "CHG-1", "event": snapshot_event()})
    assert not ok.get("failed"), ok


def test_missing_ledger_is_not_created_without_a_change(tmp_path):
    path = tmp_path / "absent.db"
    result = run_action({"change_id": "CHG-1", "event": snapshot_event(), "ledger": str(path), "key": KEY})
    assert result["failed"] is True
    assert not path.exists()


def test_check_mode_writes_nothing(ledger_path, tmp_path):
    before = os.stat(ledger_path).st_size, events_of(ledger_path, "CHG-1")
    result = run_action({"change_id": "CHG-1", "event": snapshot_event(), "ledger": ledger_path}, check_mode=True)
    assert not result.get("failed"), result
    assert result["would_append"] == 1 and result["changed"] is True
    assert (os.stat(ledger_path).st_size, events_of(ledger_path, "CHG-1")) == before
    new = tmp_path / "new.db"
    planned = run_action(
        {"change_id": "CHG-9", "type": "io.changeward.rollback.drill", "ledger": str(new), "change": CHANGE},
        check_mode=True,
    )
    assert planned["ledger_created"] is True and not new.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        ({"change_id": "bad id", "type": "io.changeward.rollback.drill"}, "change_id must match"),
        ({"change_id": "CHG-1", "data": {"a": 1}, "event": {"x": 1}}, "data is only used with type"),
        ({"change_id": "CHG-1", "event": {"x": 1}, "type": "io.changeward.a.b"}, "exactly one of"),
        ({"change_id": "CHG-1", "events": []}, "non-empty list"),
        ({"change_id": "CHG-1", "event": "text"}, "must be a CloudEvent"),
    ],
)
def test_bad_requests_fail(ledger_path, args, message):
    result = run_action({**args, "ledger": ledger_path, "key": KEY})
    assert result["failed"] is True
    assert message in result["msg"]


# -- reserved control events ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("event_type", "control"),
    [
        ("io.changeward.approval.recorded", "approval control, written only by changeward.hybrid.approval"),
        ("io.changeward.breaker.closed", "circuit breaker control"),
        ("io.changeward.breaker.anything_new", "circuit breaker control"),
        ("io.changeward.gate.override", "emergency override control"),
        ("io.changeward.policy.signed_off", "policy sign-off control"),
        ("io.changeward.ledger.key_rotated", "ledger key rotation control"),
    ],
)
def test_a_reserved_control_event_is_refused_and_the_refusal_recorded(ledger_path, event_type, control):
    before = events_of(ledger_path, "CHG-1")
    forged = {"approval": {"approver": "bob", "role": "peer", "decision": "approved", "method": "run"}}
    result = run_action({"change_id": "CHG-1", "type": event_type, "data": forged, "ledger": ledger_path, "key": KEY})
    assert result["failed"] is True
    assert f"ledger_record refused to write {event_type} for change CHG-1" in result["msg"]
    assert control in result["msg"]
    after = events_of(ledger_path, "CHG-1")
    assert [e["type"] for e in after[len(before) :]] == ["io.changeward.control.refused"]
    refusal = after[-1]["data"]
    assert refusal["refused"][0]["type"] == event_type
    assert "approval" not in refusal  # the forged content itself is not written


def test_a_reserved_event_in_a_list_refuses_the_whole_list(ledger_path):
    fine = model.new_event("io.changeward.ring.note", "CHG-1", {"x": 1})
    forged = model.new_event("io.changeward.breaker.closed", "CHG-1", {})
    result = run_action({"change_id": "CHG-1", "events": [fine, forged], "ledger": ledger_path, "key": KEY})
    assert result["failed"] is True
    assert [e["type"] for e in events_of(ledger_path, "CHG-1")][-1] == "io.changeward.control.refused"
    assert fine["id"] not in [e["id"] for e in events_of(ledger_path, "CHG-1")]


def test_a_reserved_event_for_an_unknown_change_is_refused_without_writing(ledger_path):
    result = run_action(
        {"change_id": "CHG-404", "type": "io.changeward.approval.recorded", "ledger": ledger_path, "key": KEY}
    )
    assert result["failed"] is True and "reserved control event" in result["msg"]
    assert events_of(ledger_path, "CHG-404") == []
