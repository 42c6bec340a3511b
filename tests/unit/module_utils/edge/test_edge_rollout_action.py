"""The controller side (plugins/action/edge_rollout.py): unreachable hosts, device events into the ledger."""

from unittest import mock

import pytest
from ansible.errors import AnsibleConnectionFailure

from ansible_collections.changeward.hybrid.plugins.action import edge_rollout
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

REL = "demo-1.0.0-0123456789ab"


def action(tmp_path, check_mode=False):
    task = mock.MagicMock()
    task.check_mode = check_mode
    act = edge_rollout.ActionModule(task, mock.MagicMock(), mock.MagicMock(), None, None, None)
    act._task_vars = {"inventory_hostname": "edge1"}
    ledger = str(tmp_path / "ledger.db")
    with open_ledger(ledger, checkpoint_interval=0) as led:
        led.open_change(model.new_record("CHG-1", "normal", "edge", "tester", targets=["edge1"]))
    act._args = {"validate_certs": True}
    args = dict.fromkeys(edge_rollout.ARGUMENT_SPEC)
    args.update(
        step="activate",
        change_id="CHG-1",
        ledger=ledger,
        deadline=0.5,
        poll=0.05,
        transfer={},
        links={},
        health={"url": "http://x"},
        restart_command=[],
        root_dir="/r",
        signature_check="required",
        validate_certs=True,
        restart_failed=False,
        install_boot_hook=True,
        app="demo",
    )
    return act, args, ledger


def device_event(seq, kind, time="2030-01-01T00:00:0%d.000001Z"):
    return {
        "seq": seq,
        "id": model.new_event("io.changeward.edge.x", "s")["id"],
        "type": kind,
        "time": time % seq,
        "host": "edge1",
        "app": "demo",
        "release": REL,
        "change_id": "CHG-1",
        "data": {},
    }


def events(ledger):
    with open_ledger(ledger, create=False) as led:
        return [e.event for e in led.entries()]


def test_unreachable_until_the_deadline_is_pending_not_failed(tmp_path):
    act, args, ledger = action(tmp_path)
    with mock.patch.object(act, "_call", side_effect=AnsibleConnectionFailure("ssh: connect timed out")):
        out = act._drive(args, REL, {"state": "activated"}, done=("committed", "rolled_back"), step="activate")
    assert out["outcome"] == "pending" and "unreachable" in out["msg"]
    assert out["attempts"] >= 2 and out["unreachable_seconds"] > 0
    assert "failed" not in out
    pending = [e for e in events(ledger) if e["type"] == "io.changeward.edge.host_pending"]
    assert len(pending) == 1 and pending[0]["data"]["host"] == "edge1"


def test_a_host_that_comes_back_reports_what_it_decided_meanwhile(tmp_path):
    act, args, ledger = action(tmp_path)
    args["deadline"] = 5
    activated, committed = device_event(1, "activated"), device_event(2, "committed")
    answers = [
        AnsibleConnectionFailure("down"),
        AnsibleConnectionFailure("down"),
        {"release_status": "committed", "changed": False, "events": [activated, committed]},
    ]

    def call(_args):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with mock.patch.object(act, "_call", side_effect=call):
        out = act._drive(args, REL, {"state": "activated"}, done=("committed", "rolled_back"), step="activate")
    assert out["outcome"] == "committed" and out["attempts"] == 3
    recorded = {e["id"]: e for e in events(ledger)}
    for ev in (activated, committed):
        assert recorded[ev["id"]]["time"] == ev["time"], "the ledger must keep the device's timestamp"
        assert recorded[ev["id"]]["source"] == "urn:changeward:edge:edge1"
    # Learning the same events again records nothing twice.
    assert act._learn(args, "edge1", [activated, committed]) == []
    assert len(events(ledger)) == 3  # the change opened + the 2 device events, nothing else


def test_device_outcomes_are_data_not_task_failures(tmp_path):
    act, args, _ledger = action(tmp_path)
    answer = {"release_status": "rolled_back", "activation": {"reason": "health check failed"}, "events": []}
    with mock.patch.object(act, "_call", return_value=answer):
        out = act._drive(args, REL, {"state": "activated"}, done=("committed", "rolled_back"), step="activate")
    assert out["outcome"] == "rolled_back" and out["msg"] == "health check failed" and "failed" not in out
    refused = {"failed": True, "error_kind": "signature", "msg": "does not verify", "events": []}
    with mock.patch.object(act, "_call", return_value=refused):
        out = act._drive(args, REL, {"state": "staged"}, done=("staged",), step="stage")
    assert out["outcome"] == "refused"


def test_no_ledger_is_an_error(tmp_path, monkeypatch):
    act, args, _ledger = action(tmp_path)
    monkeypatch.delenv("CHANGEWARD_LEDGER", raising=False)
    args["ledger"] = None
    with pytest.raises(edge_rollout.EdgeRolloutError, match="no ledger"):
        act._record_controller(args, "host_pending", {})


def test_manifest_signature_is_verified_on_the_controller(tmp_path):
    from edgehelpers import keypair, release, sign

    key, pem = keypair()
    other, _unused = keypair()
    _data, text = release(tmp_path)
    _manifest, rid, key_id = edge_rollout.verify_manifest(text, sign(key, text), pem)
    assert rid.startswith("demo-1.0.0-") and key_id.startswith("ed25519-")
    with pytest.raises(edge_rollout.EdgeRolloutError, match="does not verify"):
        edge_rollout.verify_manifest(text, sign(other, text), pem)
    with pytest.raises(edge_rollout.EdgeRolloutError, match="does not verify"):
        edge_rollout.verify_manifest(text.replace("1.0.0", "1.0.1"), sign(key, text), pem)
