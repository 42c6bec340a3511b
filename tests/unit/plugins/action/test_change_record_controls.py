"""change_record cannot bypass a control: no reserved control event type, no approvers written by hand, and the
requester and implementer stay what they were when the change was opened. Each refusal is recorded."""

import pytest
from action_runner import run_action as run_task
from ansible.errors import AnsibleActionFail

from ansible_collections.changeward.hybrid.plugins.action.change_record import ActionModule
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerInvalidInput

KEY = "hmac:unit-test-change-record-key-0123456789"


@pytest.fixture
def ledger_path(tmp_path, monkeypatch):
    for name in ("CHANGEWARD_LEDGER", "CHANGEWARD_LEDGER_CHECKPOINT_INTERVAL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHANGEWARD_LEDGER_KEY", KEY)
    path = str(tmp_path / "ledger.db")
    with open_ledger(path, key=KEY) as ledger:
        ledger.open_change(model.new_record("CHG-1", "normal", "upgrade", "carol", implementer="dave"))
        ledger.open_change(model.new_record("CHG-2", "normal", "upgrade", "carol"))
    return path


def update(path, change_id="CHG-1", **args):
    return run_task(
        ActionModule, "change_record", {"state": "updated", "change_id": change_id, "ledger": path, **args}, {}
    )


def refused(path, **args) -> str:
    """change_record raises (RAISE_ERRORS): the task fails with this message."""
    with pytest.raises(AnsibleActionFail) as info:
        update(path, **args)
    return str(info.value)


def types(path, change_id="CHG-1"):
    with open_ledger(path, create=False, readonly=True) as ledger:
        return [e.event["type"] for e in ledger.entries() if e.event["subject"] == change_id]


def record(path, change_id="CHG-1"):
    with open_ledger(path, create=False, readonly=True) as ledger:
        return ledger.get_change(change_id)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"set": {"requester": "zed"}}, "refused to set requester of change CHG-1"),
        ({"set": {"implementer": "bob"}}, "refused to set implementer of change CHG-1"),
        ({"event_type": "io.changeward.approval.recorded", "add": {"targets": ["x"]}}, "reserved control event"),
        ({"event_type": "io.changeward.breaker.closed"}, "circuit breaker control"),
        ({"add": {"approvers": [{"name": "bob", "decision": "approved"}]}}, "only changeward.hybrid.approval"),
    ],
)
def test_a_bypass_is_refused_and_recorded(ledger_path, args, words):
    assert words in refused(ledger_path, **args)
    assert types(ledger_path)[-1] == "io.changeward.control.refused"
    assert (record(ledger_path)["requester"], record(ledger_path)["implementer"]) == ("carol", "dave")
    assert record(ledger_path)["approvers"] == []


def test_an_implementer_not_yet_known_cannot_be_set_by_hand_either(ledger_path):
    assert "fixed once the change is opened" in refused(ledger_path, change_id="CHG-2", set={"implementer": "carol"})
    assert record(ledger_path, "CHG-2")["implementer"] is None


def test_ordinary_updates_still_work(ledger_path):
    result = update(ledger_path, add={"targets": ["web2"]}, set={"requester": "carol"})
    assert result.get("failed", False) is False and result["changed"] is True
    assert "web2" in record(ledger_path)["targets"]


def test_the_ledger_model_keeps_requester_and_implementer_fixed():
    rec = model.new_record("CHG-3", "normal", "x", "carol")
    assert model.update_record(rec, {"implementer": "dave"})["implementer"] == "dave"  # set once (approval check)
    fixed = model.update_record(rec, {"implementer": "dave"})
    with pytest.raises(LedgerInvalidInput, match="implementer is 'dave' since the change was opened"):
        model.update_record(fixed, {"implementer": "bob"})
    with pytest.raises(LedgerInvalidInput, match="requester is 'carol'"):
        model.update_record(rec, {"requester": "zed"})
