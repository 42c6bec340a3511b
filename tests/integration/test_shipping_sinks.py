"""Shipping against real sinks: a private rsyslogd (plain TCP and TLS) and the test HTTP receiver process
(signed webhook, Splunk HEC with indexer acks), plus the JSONL export.

Every check compares what a sink received with the ledger itself: nothing lost, nothing that is not in the
ledger, first arrivals in ledger order (duplicates from at-least-once delivery are allowed and counted).
"""

import json
import re
import sqlite3
import subprocess
import sys
import time

import pytest
from sinks import fixtures as sink_fixtures
from sinks.fixtures import (
    LEDGER_KEY,
    REPO,
    assert_exactly_once_in_order,
    cursors,
    inventory,
    run_playbook,
    ship_env,
    sink_env,
)

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.verify import verify
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.config import build_sinks
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.outbox import ship_concurrently
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.runner import open_reader

# pytest fixtures of the real sinks (assigned, so linters see them used)
http_sink = sink_fixtures.http_sink
rsyslog = sink_fixtures.rsyslog
rsyslog_tls = sink_fixtures.rsyslog_tls
tinyproxy = sink_fixtures.tinyproxy
PROXY_VARS = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)


@pytest.fixture(autouse=True)
def _sink_secrets(monkeypatch):
    for name, value in sink_env().items():
        monkeypatch.setenv(name, value)


def make_ledger(path, events):
    with open_ledger(str(path), key=LEDGER_KEY, checkpoint_interval=100) as ledger:
        for i in range(events):
            ledger.record("io.changeward.task.result", "CHG-SHIP", {"i": i, "status": "ok"})
        ledger.checkpoint()  # an on-demand checkpoint at the head, as the recorder takes at the end of a run
    return path


def ship(db, raw_sinks, seconds=30.0, **kw):
    return ship_concurrently(lambda: open_reader(str(db)), build_sinks(raw_sinks), time.monotonic() + seconds, **kw)


def timed_ship(db, raw_sinks, seconds=30.0, **kw):
    started = time.monotonic()
    reports = ship(db, raw_sinks, seconds, **kw)
    return reports, time.monotonic() - started


def quick(sinks, **over):
    """Sink configs that give up fast (tests of failure paths)."""
    return [{**s, "timeout": 1, "max_attempts": 2, "backoff": 0.1, **over} for s in sinks]


def test_every_sink_type_gets_everything_once_and_in_order(tmp_path, http_sink, rsyslog):
    db = make_ledger(tmp_path / "ledger.db", 250)
    export = tmp_path / "audit" / "export.jsonl"
    raw = (
        rsyslog.sink_configs() + http_sink.sink_configs() + [{"name": "auditor", "type": "jsonl", "path": str(export)}]
    )
    reports = ship(db, raw)
    assert {n: (r.pending, r.error) for n, r in reports.items()} == {s["name"]: (0, None) for s in raw}
    assert all(r.checkpoints == 3 for r in reports.values())  # seq 100, 200 and the one at the head
    time.sleep(0.5)  # rsyslog writes asynchronously to its file
    assert assert_exactly_once_in_order(rsyslog.items("cw-tcp"), db, "syslog tcp") == 0
    assert assert_exactly_once_in_order(rsyslog.items("cw-tls"), db, "syslog tls") == 0
    assert assert_exactly_once_in_order(http_sink.items("webhook"), db, "webhook") == 0
    assert assert_exactly_once_in_order(http_sink.items("hec"), db, "splunk hec") == 0
    report = verify(str(export), key=LEDGER_KEY)
    assert report["valid"], report["problems"]
    assert report["events"] == 250


def test_sinks_down_keep_everything_pending_until_they_are_back(tmp_path, http_sink, rsyslog):
    db = make_ledger(tmp_path / "ledger.db", 120)
    raw = quick(rsyslog.sink_configs() + http_sink.sink_configs())
    http_sink.stop()
    rsyslog.stop()
    reports, elapsed = timed_ship(db, raw, seconds=10)
    assert elapsed < 8
    for name, rep in reports.items():
        assert rep.pending == 120 and rep.delivered == 0, name
        assert f"sink {name!r}" in rep.error and "connection refused" in rep.error.lower()
    assert cursors(db) == {}
    http_sink.start()
    rsyslog.start()
    reports = ship(db, raw)
    assert all(r.pending == 0 for r in reports.values())
    time.sleep(0.5)
    for received, what in [
        (rsyslog.items("cw-tcp"), "tcp"),
        (rsyslog.items("cw-tls"), "tls"),
        (http_sink.items("webhook"), "webhook"),
        (http_sink.items("hec"), "hec"),
    ]:
        assert_exactly_once_in_order(received, db, what)


def test_server_errors_are_retried_client_errors_are_not(tmp_path, http_sink):
    db = make_ledger(tmp_path / "ledger.db", 10)
    raw = quick(http_sink.sink_configs(), max_attempts=3)
    http_sink.set_mode("error500")
    reports = ship(db, raw)
    for rep in reports.values():
        assert rep.pending == 10 and rep.attempts == 3 and "HTTP 503" in rep.error
    http_sink.set_mode("error400")
    reports = ship(db, raw)
    for rep in reports.values():
        assert rep.pending == 10 and rep.attempts == 1 and "HTTP 400" in rep.error
    http_sink.set_mode("ok")
    reports = ship(db, raw)
    assert all(r.pending == 0 for r in reports.values())
    assert_exactly_once_in_order(http_sink.items("webhook"), db, "webhook")
    assert_exactly_once_in_order(http_sink.items("hec"), db, "hec")


def test_a_hanging_sink_is_abandoned_in_bounded_time_without_holding_up_others(tmp_path, http_sink, rsyslog):
    db = make_ledger(tmp_path / "ledger.db", 30)
    http_sink.set_mode("hang")
    raw = quick(http_sink.sink_configs() + rsyslog.sink_configs(), timeout=1)
    reports, elapsed = timed_ship(db, raw, seconds=2)
    assert elapsed < 6, elapsed
    assert reports["webhook"].pending == 30 and reports["splunk"].pending == 30
    assert "no answer" in reports["webhook"].error
    assert reports["syslog"].pending == 0 and reports["syslog-tls"].pending == 0


def test_splunk_batches_count_only_once_the_indexers_acknowledge(tmp_path, http_sink):
    db = make_ledger(tmp_path / "ledger.db", 20)
    raw = [{**http_sink.sink_configs()[1], "ack_timeout": 1, "max_attempts": 1}]
    http_sink.set_mode("noack")
    reports = ship(db, raw)
    assert reports["splunk"].pending == 20 and "not acknowledged" in reports["splunk"].error
    assert http_sink.items("hec") == []
    http_sink.set_mode("ok")
    reports = ship(db, raw)
    assert reports["splunk"].pending == 0
    assert_exactly_once_in_order(http_sink.items("hec"), db, "hec")


def test_a_webhook_with_the_wrong_secret_is_refused_and_not_retried(tmp_path, http_sink, monkeypatch):
    db = make_ledger(tmp_path / "ledger.db", 5)
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "not-the-receivers-secret-123")
    reports = ship(db, quick(http_sink.sink_configs()[:1], max_attempts=5))
    assert reports["webhook"].pending == 5 and reports["webhook"].attempts == 1
    assert "HTTP 401" in reports["webhook"].error


# -- changeward.hybrid.ledger_ship / playbooks/audit_ship.yml ----------------------------------------------


def audit_ship(db, sinks, *args, **env):
    inv = inventory(db.parent / "ship-inventory.yml")
    return run_playbook(REPO / "playbooks" / "audit_ship.yml", inv, ship_env(db, sinks, **env), args=args)


def test_audit_ship_playbook_delivers_backlog_and_fails_while_a_sink_is_down(tmp_path, http_sink, rsyslog):
    db = make_ledger(tmp_path / "ledger.db", 40)
    sinks = quick(rsyslog.sink_configs()[:1] + http_sink.sink_configs())
    http_sink.stop()
    out = audit_ship(db, sinks, "-e", "changeward_ship_timeout=5")
    assert out.returncode == 2, out.stdout
    assert "webhook: 40 pending" in out.stdout and "splunk: 40 pending" in out.stdout
    assert cursors(db)["syslog"] == 40  # the healthy sink was not held up
    out = audit_ship(db, sinks, "--check")
    assert out.returncode == 0, out.stdout
    assert "80 event(s) pending in all" in out.stdout
    http_sink.start()
    out = audit_ship(db, sinks)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "delivered 80 event(s); nothing pending" in out.stdout
    assert_exactly_once_in_order(http_sink.items("webhook"), db, "webhook")
    assert_exactly_once_in_order(http_sink.items("hec"), db, "hec")


def test_audit_ship_names_the_sink_and_field_of_a_bad_config(tmp_path):
    db = make_ledger(tmp_path / "ledger.db", 1)
    out = audit_ship(db, [{"name": "siem", "type": "syslog", "host": "127.0.0.1", "port": "514"}])
    assert out.returncode == 2
    assert "sink 'siem': port: must be an integer" in out.stdout


def test_audit_ship_with_a_locked_ledger_fails_in_bounded_time_and_redelivers_later(tmp_path, http_sink):
    db = make_ledger(tmp_path / "ledger.db", 10)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(60)\n",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        out = audit_ship(db, http_sink.sink_configs()[:1], CHANGEWARD_LEDGER_TIMEOUT=1)
        assert time.monotonic() - started < 30
        assert out.returncode == 2
        assert "is locked by another process" in out.stdout
    finally:
        holder.kill()
        holder.wait()
    out = audit_ship(db, http_sink.sink_configs()[:1])
    assert out.returncode == 0, out.stdout
    duplicates = assert_exactly_once_in_order(http_sink.items("webhook"), db, "webhook")
    assert duplicates == 11  # 10 events and the checkpoint, sent while the cursor could not move: sent again


def test_jsonl_sink_from_the_playbook_is_verifiable(tmp_path):
    db = make_ledger(tmp_path / "ledger.db", 150)
    export = tmp_path / "export.jsonl"
    out = audit_ship(db, [{"name": "auditor", "type": "jsonl", "path": str(export)}])
    assert out.returncode == 0, out.stdout
    report = verify(str(export), key=LEDGER_KEY)
    assert report["valid"] and report["events"] == 150
    con = sqlite3.connect(db)
    assert json.loads(con.execute("SELECT body FROM ledger_checkpoints ORDER BY seq DESC").fetchone()[0])["seq"] == 150
    assert [json.loads(line)["record"] for line in export.read_text().splitlines()].count("checkpoint") == 2


def _requests_at(http_sink):
    """The head (path and headers) of each request the test receiver logged (its raw log: path, headers, body)."""
    blocks = re.split(rb"(?m)^(?=/(?:webhook|services/collector))", http_sink.raw())
    return [b.split(b"\n\n", 1)[0].decode("utf-8", "replace") for b in blocks if b.strip()]


def test_http_sinks_behind_a_proxy_deliver_only_through_it(tmp_path, http_sink, tinyproxy):
    """HTTP_PROXY from the environment: the playbook's webhook and Splunk HEC deliveries (events, checkpoints,
    ack polls) all pass tinyproxy, and the receiver sees each one with tinyproxy's Via header."""
    db = make_ledger(tmp_path / "ledger.db", 30)
    env = dict.fromkeys(PROXY_VARS, "")
    env.update(HTTP_PROXY=tinyproxy.url, http_proxy=tinyproxy.url)
    out = audit_ship(db, http_sink.sink_configs(), **env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert assert_exactly_once_in_order(http_sink.items("webhook"), db, "webhook") == 0
    assert assert_exactly_once_in_order(http_sink.items("hec"), db, "hec") == 0
    forwarded = tinyproxy.requests()
    webhook = f"POST http://127.0.0.1:{http_sink.port}/webhook HTTP/1.1"
    hec = f"POST http://127.0.0.1:{http_sink.port}/services/collector/event HTTP/1.1"
    acks = f"POST http://127.0.0.1:{http_sink.port}/services/collector/ack?channel="
    assert webhook in forwarded and hec in forwarded and any(r.startswith(acks) for r in forwarded)
    received = _requests_at(http_sink)
    assert len(received) == len(forwarded)  # nothing reached the receiver around the proxy
    assert all(re.search(r"^Via: 1\.1 .*\(tinyproxy/", head, re.M) for head in received)


def test_no_proxy_sends_the_sinks_direct(tmp_path, http_sink, tinyproxy, monkeypatch):
    """The counter-check of the test above: with the receiver in NO_PROXY nothing passes the proxy."""
    db = make_ledger(tmp_path / "ledger.db", 5)
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", tinyproxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    reports = ship(db, http_sink.sink_configs()[:1])
    assert reports["webhook"].pending == 0 and reports["webhook"].error is None
    assert tinyproxy.requests() == []
    received = _requests_at(http_sink)
    assert received and not any("Via:" in head for head in received)
