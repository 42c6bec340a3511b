"""The controller side (plugins/action/edge_rollout.py): unreachable hosts, the step's deadline, device events
into the ledger. Time is simulated (SimTime): a device call either answers or fails after the seconds it
"takes", or hangs past the deadline, where the action must stop waiting for it."""

import threading
from unittest import mock

import pytest
from ansible.errors import AnsibleConnectionFailure

from ansible_collections.changeward.hybrid.plugins.action import edge_rollout
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

REL = "demo-1.0.0-0123456789ab"
T0 = 5000.0


class SimTime:
    """The action's monotonic clock, sleep and wait for a call in flight."""

    def __init__(self):
        self.now = T0
        self.hanging = threading.Event()
        self.release = threading.Event()

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.now += seconds

    def wait(self, event, timeout):
        while not event.is_set() and not self.hanging.is_set():
            event.wait(0.01)
        if event.is_set():
            return True
        self.now += timeout
        return False


class Device:
    """Answers device calls from a script: (seconds, answer) - a dict is returned, an exception raised, after
    the simulated seconds; a call that would still run at the deadline hangs (the link dropped under it), and
    so does every call after the script."""

    def __init__(self, act, sim, script):
        self.act, self.sim, self.script = act, sim, list(script)
        self.calls = []

    def __call__(self, call):
        self.calls.append(dict(call, began=self.sim.now))
        if self.script:
            seconds, answer = self.script.pop(0)
        else:  # then: the link is cut, the call never answers
            seconds, answer = float("inf"), AnsibleConnectionFailure("the link is cut")
        if self.sim.now + seconds >= self.act._deadline.at:
            self.sim.hanging.set()
            self.sim.release.wait(30)
            raise AnsibleConnectionFailure("released at the end of the test")
        self.sim.now += seconds
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def sim():
    clock = SimTime()
    yield clock
    clock.release.set()


def action(tmp_path, sim, check_mode=False, **overrides):
    task = mock.MagicMock()
    task.check_mode = check_mode
    act = edge_rollout.ActionModule(task, mock.MagicMock(), mock.MagicMock(), None, None, None)
    act._task_vars = {"inventory_hostname": "edge1"}
    act._clock, act._sleep, act._wait = sim, sim.sleep, sim.wait
    act._time = lambda: 1_800_000_000.0 + (sim.now - T0)
    ledger = str(tmp_path / "ledger.db")
    with open_ledger(ledger, checkpoint_interval=0) as led:
        led.open_change(model.new_record("CHG-1", "normal", "edge", "tester", targets=["edge1"]))
    act._args = {"validate_certs": True}
    args = dict.fromkeys(edge_rollout.ARGUMENT_SPEC)
    args.update(
        step="activate",
        change_id="CHG-1",
        ledger=ledger,
        deadline=30,
        poll=5,
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
    args.update(overrides)
    return act, args, ledger


def drive(act, args, script, sim, step="activate"):
    """Run one step's device loop against a scripted device; (result, device, progress lines)."""
    device = Device(act, sim, script)
    lines = []
    display = mock.MagicMock()
    display.return_value.display.side_effect = lines.append
    act._start_deadline(args)
    first, done = {
        "activate": ({"state": "activated"}, ("committed", "rolled_back")),
        "stage": ({"state": "staged"}, ("staged",)),
        "status": ({"state": "status"}, ()),
    }[step]
    with mock.patch.object(act, "_call", side_effect=device), mock.patch.object(edge_rollout, "Display", display):
        out = act._drive(args, REL, first, done=done, step=step)
    return out, device, lines


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


def answer(status, *events, **extra):
    return dict({"release_status": status, "changed": False, "events": list(events)}, **extra)


def test_unreachable_until_the_deadline_is_pending_not_failed(tmp_path, sim):
    act, args, ledger = action(tmp_path, sim)
    out, device, lines = drive(act, args, [(0, AnsibleConnectionFailure("down"))] * 6, sim)  # each fails at once
    assert out["outcome"] == "pending" and "unreachable" in out["msg"]
    # a call every 5 s; none begins at 30, with no time left to run
    assert [c["began"] - T0 for c in device.calls] == [0, 5, 10, 15, 20, 25] and out["attempts"] == 6
    assert out["unreachable_seconds"] == 25.0 and out["in_flight"] is None
    assert "failed" not in out
    pending = [e for e in events(ledger) if e["type"] == "io.changeward.edge.host_pending"]
    assert len(pending) == 1 and pending[0]["data"]["host"] == "edge1"
    assert pending[0]["data"]["unreachable_seconds"] == 25.0
    # progress: the start, the first failure, one reminder, the outcome - not one line per call
    assert len(lines) == 4 and "unanswered for 0s (down), 30s left" in lines[1] and "pending" in lines[-1]


def test_a_call_hung_when_the_link_dropped_ends_the_step_at_its_deadline(tmp_path, sim):
    """deadline 35: the activation is answered, then the link drops under the next poll. The step returns at
    35 s (it took 86 s when only SSH timeouts bounded it) and says the call was in flight."""
    act, args, ledger = action(tmp_path, sim, deadline=35)
    out, device, _lines = drive(act, args, [(1, answer("activated"))], sim)  # then: hangs
    assert sim.now - T0 == 35 and out["elapsed"] == 35.0
    assert out["outcome"] == "pending" and out["release_status"] == "activated"  # the last answer
    assert out["in_flight"] == {"state": "status", "began_seconds_ago": 30.0, "began_at": "2027-01-15T08:00:05.000000Z"}
    assert out["unreachable_seconds"] == 30.0  # from when the unanswered call began, not when it was given up
    assert "in flight" in out["msg"] and "may act on it" in out["msg"]
    assert [c["state"] for c in device.calls] == ["activated", "status"]
    pending = [e for e in events(ledger) if e["type"] == "io.changeward.edge.host_pending"]
    assert pending[0]["data"]["in_flight"]["state"] == "status"
    act._connection.reset.assert_called()  # the hung SSH session is cut


def test_unreachable_seconds_count_from_the_first_unanswered_call(tmp_path, sim):
    """Each call hangs 30 s (SSH keepalives) before it fails; the time counts from the first call's start."""
    act, args, _ledger = action(tmp_path, sim, deadline=35)
    cut = AnsibleConnectionFailure("ssh: Timeout, server not responding")
    out, device, _lines = drive(act, args, [(30, cut)], sim)  # the retry at 30 would end at 60: in flight
    assert [c["began"] - T0 for c in device.calls] == [0, 30]
    assert out["unreachable_seconds"] == 35.0 and out["elapsed"] == 35.0
    assert out["in_flight"]["began_seconds_ago"] == 5.0 and out["attempts"] == 2


def test_a_host_that_comes_back_reports_what_it_decided_meanwhile(tmp_path, sim):
    act, args, ledger = action(tmp_path, sim, deadline=60)
    activated, committed = device_event(1, "activated"), device_event(2, "committed")
    down = AnsibleConnectionFailure("down")
    script = [(20, down), (0, down), (1, answer("committed", activated, committed))]
    out, device, _lines = drive(act, args, script, sim)
    assert out["outcome"] == "committed" and out["attempts"] == 3
    # down from the first call's start (0) to the start of the call that was answered (25)
    assert [c["began"] - T0 for c in device.calls] == [0, 20, 25] and out["unreachable_seconds"] == 25.0
    recorded = {e["id"]: e for e in events(ledger)}
    for ev in (activated, committed):
        assert recorded[ev["id"]]["time"] == ev["time"], "the ledger must keep the device's timestamp"
        assert recorded[ev["id"]]["source"] == "urn:changeward:edge:edge1"
    # Learning the same events again records nothing twice.
    assert act._learn(args, "edge1", [activated, committed]) == []
    assert len(events(ledger)) == 3  # the change opened + the 2 device events, nothing else


def test_the_device_is_asked_to_answer_before_the_deadline(tmp_path, sim):
    """Each call's wait on the device leaves time for the reply: poll seconds, less near the deadline."""
    act, args, _ledger = action(tmp_path, sim, deadline=12)
    # the device sits out each wait it is given, and the call takes 0.5 s more
    script = [(5.5, answer("activated")), (5.5, answer("activated")), (0.5, answer("activated"))]
    out, device, _lines = drive(act, args, script, sim)
    assert [(c["began"] - T0, c["wait"]) for c in device.calls] == [(0, 5), (5.5, 5), (11, 0)]
    assert out["outcome"] == "pending" and out["in_flight"] is None and out["msg"] == "no outcome within 12s"
    assert sim.now - T0 == 11.5


def test_status_asks_without_waiting_and_gives_up_after_poll(tmp_path, sim):
    act, args, _ledger = action(tmp_path, sim, step="status", deadline=600, poll=10)
    out, device, _lines = drive(act, args, [], sim, step="status")  # the call hangs
    assert device.calls[0]["wait"] == 0
    assert out["outcome"] == "pending" and out["elapsed"] == 10.0 and out["in_flight"]["state"] == "status"


def test_device_outcomes_are_data_not_task_failures(tmp_path, sim):
    act, args, _ledger = action(tmp_path, sim)
    rolled_back = answer("rolled_back", activation={"reason": "health check failed"})
    out, _device, lines = drive(act, args, [(1, rolled_back)], sim)
    assert out["outcome"] == "rolled_back" and out["msg"] == "health check failed" and "failed" not in out
    assert "rolled_back after 1s: health check failed" in lines[-1]
    refused = {"failed": True, "error_kind": "signature", "msg": "does not verify", "events": []}
    out, _device, _lines = drive(act, args, [(1, refused)], sim, step="stage")
    assert out["outcome"] == "refused"


def test_no_ledger_given_is_the_default_ledger(tmp_path, monkeypatch, sim):
    """The collection's one rule: the option, else CHANGEWARD_LEDGER, else the default ledger file - where a
    change this step did not open is not found, so nothing is recorded for it."""
    act, args, _ledger = action(tmp_path, sim)
    monkeypatch.delenv("CHANGEWARD_LEDGER", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    args["ledger"] = None
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerUnavailable

    with pytest.raises(LedgerUnavailable, match=r"state/changeward/ledger\.db does not exist"):
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


def test_a_deadline_or_poll_that_cannot_be_kept_is_an_error(tmp_path, sim):
    for i, bad in enumerate(({"deadline": -1}, {"deadline": float("nan")}, {"poll": 0}, {"poll": float("inf")})):
        act, args, _ledger = action(tmp_path / str(i), sim, **bad)
        with pytest.raises(edge_rollout.EdgeRolloutError, match="deadline must be"):
            act._start_deadline(args)


def test_check_mode_asks_once_without_waiting(tmp_path, sim):
    act, args, ledger = action(tmp_path, sim, check_mode=True)
    out, device, _lines = drive(act, args, [(1, answer("staged"))], sim)
    assert [c["wait"] for c in device.calls] == [0] and out["outcome"] == "staged"
    assert len(events(ledger)) == 1  # only the change opened: check mode records nothing
