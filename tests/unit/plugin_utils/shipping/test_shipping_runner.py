"""The background shipper process: ships during the run, drains on request, dies with its controller."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from shipping_testlib import make_ledger

COLLECTIONS = Path(__file__).resolve().parents[4] / "collections"
MODULE = "ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.runner"


def start(config):
    env = {**os.environ, "PYTHONPATH": str(COLLECTIONS)}
    proc = subprocess.Popen(
        [sys.executable, "-m", MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    proc.stdin.write(json.dumps(config) + "\n")
    proc.stdin.flush()
    return proc


def lines(path):
    return path.read_text().splitlines() if path.exists() else []


def wait_for(predicate, timeout=15.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_ships_while_running_and_reports_on_drain(tmp_path):
    out = tmp_path / "out.jsonl"
    ledger = make_ledger(tmp_path / "l.db", events=5)
    sinks = [{"name": "f", "type": "jsonl", "path": str(out)}]
    proc = start({"ledger": str(tmp_path / "l.db"), "sinks": sinks, "interval": 0.1})
    try:
        assert wait_for(lambda: sum('"record":"event"' in line for line in lines(out)) == 5)
        for i in range(3):
            ledger.record("io.changeward.task.result", "CHG-1", {"late": i})
        proc.stdin.write(json.dumps({"cmd": "drain", "budget": 5}) + "\n")
        proc.stdin.flush()
        stdout = proc.communicate(timeout=10)[0]
    finally:
        ledger.close()
        if proc.poll() is None:
            proc.kill()
    report = json.loads(stdout)
    assert report["error"] is None
    assert report["sinks"]["f"]["pending"] == 0 and report["sinks"]["f"]["cursor"] == 8
    assert sum('"record":"event"' in line for line in lines(out)) == 8


def test_exits_quietly_when_its_controller_goes_away(tmp_path):
    make_ledger(tmp_path / "l.db", events=1).close()
    sinks = [{"name": "w", "type": "webhook", "url": "http://127.0.0.1:9/x", "secret": "s" * 16}]
    proc = start({"ledger": str(tmp_path / "l.db"), "sinks": sinks, "interval": 0.1})
    time.sleep(0.3)
    started = time.monotonic()
    proc.stdin.close()  # what a SIGKILLed controller leaves behind
    assert proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 5
    assert proc.stdout.read() == ""


def test_reports_configuration_and_ledger_errors(tmp_path):
    proc = start({"ledger": str(tmp_path / "missing.db"), "sinks": [], "interval": 0.1})
    stdout = proc.communicate(json.dumps({"cmd": "drain", "budget": 1}) + "\n", timeout=10)[0]
    assert "does not exist" in json.loads(stdout)["error"]
    make_ledger(tmp_path / "l.db").close()
    proc = start({"ledger": str(tmp_path / "l.db"), "sinks": [{"name": "x", "type": "nope"}]})
    stdout = proc.communicate(json.dumps({"cmd": "drain", "budget": 1}) + "\n", timeout=10)[0]
    assert "sink 'x': type" in json.loads(stdout)["error"]


def test_drain_is_bounded_by_its_budget_when_a_sink_is_down(tmp_path):
    make_ledger(tmp_path / "l.db", events=3).close()
    sinks = [{"name": "w", "type": "webhook", "url": "http://127.0.0.1:9/x", "secret": "s" * 16, "backoff": 0.2}]
    proc = start({"ledger": str(tmp_path / "l.db"), "sinks": sinks, "interval": 5})
    started = time.monotonic()
    stdout = proc.communicate(json.dumps({"cmd": "drain", "budget": 1.5, "attempts": 50}) + "\n", timeout=15)[0]
    assert time.monotonic() - started < 4
    rep = json.loads(stdout)["sinks"]["w"]
    assert rep["pending"] == 3 and "cannot deliver to http://127.0.0.1:9/x: connection refused" in rep["error"]
