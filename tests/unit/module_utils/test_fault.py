"""Faults: each kind is planned as the commands that apply it and the exact commands that undo it; bad inputs are
refused; the detached sleeper undoes a fault on time by itself, after the process that armed it is gone."""

import json
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.changeward.hybrid.plugins.module_utils import fault


def run(argv):
    """AnsibleModule.run_command's shape."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def test_a_partition_drops_each_peer_both_ways_and_its_undo_deletes_the_same_rules():
    apply, undo = fault.plan("partition", "f1", 30, peers=["198.18.31.10", "10.0.0.0/8"])
    assert apply[0] == [
        "iptables",
        "-w",
        "-I",
        "INPUT",
        "-s",
        "198.18.31.10",
        "-m",
        "comment",
        "--comment",
        "changeward-fault-f1",
        "-j",
        "DROP",
    ]
    assert len(apply) == len(undo) == 4
    assert [a[3:] for a in apply] == [u[3:] for u in undo]
    assert {u[2] for u in undo} == {"-D"}


def test_loss_latency_kill_and_stop_are_planned_with_their_undo():
    apply, undo = fault.plan("loss", "f2", 10, probability=0.25)
    assert "0.25" in apply[0] and undo[0][2] == "-D"
    apply, undo = fault.plan("latency", "f3", 10, delay_ms=300, rate="512kbit", interface="eth0")
    assert apply[0][:6] == ["tc", "qdisc", "replace", "dev", "eth0", "root"] and "300ms" in apply[0]
    assert undo == [["tc", "qdisc", "del", "dev", "eth0", "root"]]
    apply, undo = fault.plan(
        "kill", "f4", 10, process="demo", signal="TERM", restart_command=["service", "demo", "start"]
    )
    assert apply == [["pkill", "-TERM", "-x", "demo"]] and undo == [["service", "demo", "start"]]
    apply, undo = fault.plan("stop", "f5", 10, service="demo-service")
    assert apply == [["service", "demo-service", "stop"]] and undo == [["service", "demo-service", "start"]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "partition", "peers": []}, "partition needs peers"),
        ({"kind": "partition", "peers": ["x; rm -rf /"]}, "partition needs peers"),
        ({"kind": "loss", "probability": 0}, "loss needs probability"),
        ({"kind": "latency"}, "latency needs delay_ms"),
        ({"kind": "kill", "process": ""}, "kill needs process"),
        ({"kind": "stop"}, "stop needs service"),
        ({"kind": "loss", "probability": 0.1, "duration": 0}, "duration must be more than 0"),
        ({"kind": "loss", "probability": 0.1, "duration": 90000}, "at most 86400"),
        ({"kind": "flood"}, "kind must be one of"),
    ],
)
def test_a_fault_that_cannot_be_bounded_or_aimed_is_refused(kwargs, message):
    kwargs = {"duration": 10, **kwargs}
    kind, duration = kwargs.pop("kind"), kwargs.pop("duration")
    with pytest.raises(fault.FaultError, match=message):
        fault.plan(kind, "f", duration, **kwargs)


def test_the_sleeper_undoes_the_fault_on_time_after_whoever_armed_it_is_gone(tmp_path):
    marker = tmp_path / "undone"
    record = {"id": "t1", "ends_at": time.time() + 2, "undo": [["touch", str(marker)]]}
    # arm from a child process that exits at once: the sleeper must not depend on it
    code = (
        f"import json, sys; sys.path[:0] = {sys.path!r}\n"
        "from ansible_collections.changeward.hybrid.plugins.module_utils import fault\n"
        "print(fault.arm(json.loads(sys.argv[1]), state_dir=sys.argv[2]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(record), str(tmp_path)], capture_output=True, text=True, check=True
    )
    pid = int(proc.stdout.strip())
    assert os.getsid(pid) == pid  # its own session: no terminal or connection to lose
    assert not marker.exists()
    deadline = time.time() + 10
    while time.time() < deadline and not marker.exists():
        time.sleep(0.2)
    assert marker.exists()
    assert not (tmp_path / "t1.json").exists()


def test_undoing_early_leaves_the_sleeper_nothing_to_do(tmp_path):
    marker = tmp_path / "count"
    record = {"id": "t2", "ends_at": time.time() + 1.5, "undo": [["sh", "-c", f"echo x >> {marker}"]]}
    fault.arm(record, state_dir=str(tmp_path))
    fault.undo(fault.record_path("t2", str(tmp_path)), run)
    time.sleep(3)
    assert marker.read_text() == "x\n"  # once, by the early undo
