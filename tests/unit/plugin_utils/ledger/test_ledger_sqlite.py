"""The ledger API on SQLite: appends, checkpoints, records, cursors, concurrency and bad input."""

import itertools
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ledger_testlib import KEY, append_worker, task_event

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api, model, verify
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.canonical import canonical_text
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.chain import GENESIS_HASH, entry_hash
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.checkpoint import load_keys, verify_checkpoint
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import (
    LedgerConfigError,
    LedgerCorrupt,
    LedgerInvalidInput,
    LedgerKeyError,
    LedgerLocked,
    LedgerUnavailable,
)

COLLECTIONS = str(Path(__file__).resolve().parents[4] / "collections")


@pytest.fixture(autouse=True)
def _no_ledger_env(monkeypatch):
    for name in ("CHANGEWARD_LEDGER", "CHANGEWARD_LEDGER_KEY", "CHANGEWARD_LEDGER_CHECKPOINT_INTERVAL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "state" / "ledger.db")


def test_appends_chain_and_checkpoint(path):
    with api.open_ledger(path, key=KEY, checkpoint_interval=3) as ledger:
        assert ledger.head() == (0, GENESIS_HASH)
        results = [ledger.append(task_event(i)) for i in range(7)]
        assert [r.seq for r in results] == list(range(1, 8))
        assert [r.checkpoint is not None for r in results] == [False, False, True, False, False, True, False]
        entries = ledger.events_after(0)
        prev = GENESIS_HASH
        for e in entries:
            assert e.prev_hash == prev and e.hash == entry_hash(e.seq, prev, canonical_text(e.event))
            prev = e.hash
        assert ledger.head() == (7, prev)
        cps = ledger.checkpoints()
        assert [c["seq"] for c in cps] == [3, 6]
        assert all(verify_checkpoint(c, load_keys(KEY)) is None for c in cps)
        assert cps[1]["hash"] == entries[5].hash and cps[0]["ledger_id"] == ledger.ledger_id
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"


def test_batch_is_one_transaction_and_spans_checkpoints(path):
    with api.open_ledger(path, key=KEY, checkpoint_interval=10) as ledger:
        out = ledger.append_many([task_event(i) for i in range(25)])
        assert [r.seq for r in out if r.checkpoint] == [10, 20]
        bad = task_event(99)
        bad["time"] = "not a time"
        with pytest.raises(LedgerInvalidInput):
            ledger.append_many([task_event(1), bad])
        assert ledger.head()[0] == 25, "nothing of a refused batch is written"
        with pytest.raises(LedgerInvalidInput, match="already recorded"):
            ledger.append_many([task_event(2), ledger.entry(3).event])
        assert ledger.head()[0] == 25


def test_durable_across_reopen_and_on_demand_checkpoint(path):
    with api.open_ledger(path, key=KEY, checkpoint_interval=0) as ledger:
        assert ledger.checkpoint() is None, "an empty ledger has nothing to checkpoint"
        ledger.append(task_event(1))
        ledger.append(task_event(2))
        cp = ledger.checkpoint()
        assert cp["seq"] == 2 and ledger.checkpoint() == cp, "the same head gets the same checkpoint"
        ledger_id = ledger.ledger_id
    with api.open_ledger(path, create=False, readonly=True) as ledger:
        assert ledger.head()[0] == 2 and ledger.ledger_id == ledger_id
        assert ledger.latest_checkpoint() == cp
        with pytest.raises(LedgerUnavailable, match="read-only"):
            ledger.append(task_event(3))
    assert verify.verify(path, key=KEY)["valid"]


def test_change_record_lifecycle(path):
    with api.open_ledger(path, key=KEY) as ledger:
        record = model.new_record("CHG0007", "standard", "rotate logs", "alice", targets=["web1"])
        ledger.open_change(record)
        with pytest.raises(LedgerInvalidInput, match="already in the ledger"):
            ledger.open_change(record)
        ledger.update_change("CHG0007", add={"approvers": [{"name": "bob", "decision": "approved"}]})
        ledger.update_change(
            "CHG0007",
            add={"gate_decisions": [{"gate": "blackout", "decision": "pass"}]},
            event_type="io.changeward.change.gate_decided",
        )
        ledger.close_change("CHG0007", "successful_with_issues", ["one host slow"])
        current = ledger.get_change("CHG0007")
        assert current["status"] == "closed" and current["outcome"] == "successful_with_issues"
        assert current["approvers"][0]["name"] == "bob" and current["gate_decisions"][0]["gate"] == "blackout"
        with pytest.raises(LedgerInvalidInput, match="closed"):
            ledger.update_change("CHG0007", {"summary": "late edit"})
        with pytest.raises(LedgerInvalidInput, match="not in the ledger"):
            ledger.close_change("CHG-NONE", "failed", ["x"])
        assert ledger.get_change("CHG-NONE") is None and ledger.change_ids() == ["CHG0007"]
        types = [e.event["type"] for e in ledger.entries()]
        assert types == [
            "io.changeward.change.opened",
            "io.changeward.change.updated",
            "io.changeward.change.gate_decided",
            "io.changeward.change.closed",
        ]


def test_closing_a_change_seals_it_with_a_signed_checkpoint(path):
    # Interval 100: without the seal, a short change would end with no checkpoint covering it.
    with api.open_ledger(path, key=KEY, checkpoint_interval=100) as ledger:
        ledger.open_change(model.new_record("CHG0008", "standard", "rotate logs", "alice", targets=["web1"]))
        ledger.append(task_event(2, subject="CHG0008"))
        assert ledger.checkpoints() == []
        closed = ledger.close_change("CHG0008", "successful", ["done"])
        cps = ledger.checkpoints()
    assert closed.checkpoint is not None and [c["seq"] for c in cps] == [3] == [closed.seq]
    assert verify_checkpoint(cps[0], load_keys(KEY)) is None
    report = verify.verify(path, key=KEY)
    assert report["valid"] and report["signed_through"] == 3 and report["checkpoints"] == 1


def test_closing_without_a_key_on_an_unsigned_ledger_takes_no_checkpoint(path):
    with api.open_ledger(path, checkpoint_interval=0) as ledger:
        ledger.open_change(model.new_record("CHG0009", "standard", "rotate logs", "alice", targets=["web1"]))
        assert ledger.close_change("CHG0009", "successful", ["done"]).checkpoint is None
        assert ledger.checkpoints() == []


def test_cursors_only_move_forward_and_not_past_the_head(path):
    with api.open_ledger(path, key=KEY) as ledger:
        ledger.append_many([task_event(i) for i in range(5)])
        assert ledger.get_cursor("syslog") == 0
        assert [e.seq for e in ledger.pending("syslog", limit=3)] == [1, 2, 3]
        assert ledger.advance_cursor("syslog", 3) == 3
        assert ledger.advance_cursor("syslog", 2) == 3, "a late, older acknowledgement changes nothing"
        assert [e.seq for e in ledger.pending("syslog")] == [4, 5]
        with pytest.raises(LedgerInvalidInput, match="ends at 5"):
            ledger.advance_cursor("syslog", 6)
        with pytest.raises(LedgerInvalidInput):
            ledger.advance_cursor("", 1)
        assert ledger.cursors() == {"syslog": 3} and ledger.get_cursor("webhook") == 0
        assert ledger.entry_by_event_id(ledger.entry(4).event["id"]).seq == 4


def test_key_is_required_to_append_when_checkpoints_are_due(path):
    with api.open_ledger(path, checkpoint_interval=10) as ledger:
        with pytest.raises(LedgerKeyError, match="CHANGEWARD_LEDGER_KEY"):
            ledger.append(task_event(1))
        assert ledger.head()[0] == 0
    with api.open_ledger(path, key=KEY) as ledger:
        ledger.append_many([task_event(i) for i in range(10)])
    with pytest.raises(LedgerKeyError, match="no verification key"):
        verify.verify(path)


def test_environment_configures_target_key_and_interval(path, monkeypatch):
    monkeypatch.setenv("CHANGEWARD_LEDGER", path)
    monkeypatch.setenv("CHANGEWARD_LEDGER_KEY", KEY)
    monkeypatch.setenv("CHANGEWARD_LEDGER_CHECKPOINT_INTERVAL", "2")
    with api.open_ledger() as ledger:
        assert ledger.target == os.path.abspath(path) and ledger.checkpoint_interval == 2
        assert ledger.append_many([task_event(1), task_event(2)])[1].checkpoint is not None


def test_interval_of_an_existing_ledger_cannot_silently_change(path):
    api.open_ledger(path, key=KEY, checkpoint_interval=5).close()
    with pytest.raises(LedgerConfigError, match="created with checkpoint interval 5"):
        api.open_ledger(path, key=KEY, checkpoint_interval=50)
    with api.open_ledger(path, key=KEY) as ledger:
        assert ledger.checkpoint_interval == 5


def test_refuses_to_append_to_a_damaged_head(path):
    with api.open_ledger(path, key=KEY) as ledger:
        ledger.append_many([task_event(i) for i in range(3)])
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DELETE FROM ledger_events WHERE seq = 3")
    conn.close()
    with api.open_ledger(path, key=KEY) as ledger, pytest.raises(LedgerCorrupt, match="run ledger_verify"):
        ledger.append(task_event(9))


@pytest.mark.parametrize("content", [os.urandom(4096), b"SQLite format 3\x00" + os.urandom(4080)])
def test_corrupt_file_is_a_clear_error(tmp_path, content):
    bad = tmp_path / "ledger.db"
    bad.write_bytes(content)
    with pytest.raises(LedgerCorrupt, match=r"ledger\.db"):
        api.open_ledger(str(bad), key=KEY)
    with pytest.raises(LedgerCorrupt):
        verify.verify(str(bad), key=KEY)


def test_other_sqlite_database_is_not_taken_over(tmp_path):
    other = tmp_path / "app.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE users (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(LedgerCorrupt, match="not a changeward ledger"):
        api.open_ledger(str(other), key=KEY)


def test_missing_ledger_is_not_created_by_readers(tmp_path):
    missing = tmp_path / "nope.db"
    with pytest.raises(LedgerUnavailable, match="does not exist"):
        verify.verify(str(missing), key=KEY)
    with pytest.raises(LedgerUnavailable, match="does not exist"):
        api.open_ledger(str(missing), create=False)
    assert not missing.exists()


def test_unwritable_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LedgerUnavailable, match="cannot create"):
        api.open_ledger(str(blocker / "ledger.db"), key=KEY)


def test_locked_database_gives_up_after_the_timeout(path):
    api.open_ledger(path, key=KEY).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
            path,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with api.open_ledger(path, key=KEY, timeout=1) as ledger:
            started = time.monotonic()
            with pytest.raises(LedgerLocked, match="locked by another process; gave up after 1s"):
                ledger.append(task_event(1))
            assert time.monotonic() - started < 5
            assert ledger.head()[0] == 0, "readers still read (WAL)"
    finally:
        holder.kill()
        holder.wait()


def test_two_processes_appending_at_once_leave_one_valid_chain(path):
    # No ledger yet: the two writers also race to create it.
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=append_worker, args=(path, KEY, w, 500, barrier)) for w in (1, 2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=180)
    assert [p.exitcode for p in workers] == [0, 0]
    report = verify.verify(path, key=KEY)
    assert report["valid"], report["problems"][:5]
    assert report["events"] == 1000 and report["last_seq"] == 1000
    with api.open_ledger(path, create=False, readonly=True) as ledger:
        entries = list(ledger.entries())
    assert [e.seq for e in entries] == list(range(1, 1001))
    assert len({e.event["id"] for e in entries}) == 1000
    for w in (1, 2):
        mine = [e.event["data"]["i"] for e in entries if e.event["subject"] == f"CHG-W{w}"]
        assert mine == list(range(500)), "each writer's events keep their order"
    subjects = [e.event["subject"] for e in entries]
    switches = sum(1 for a, b in itertools.pairwise(subjects) if a != b)
    assert switches > 1, "the writers really ran at the same time"


def test_committed_events_survive_sigkill_of_the_writer(path):
    api.open_ledger(path, key=KEY).close()
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            f"sys.path[:0] = [{COLLECTIONS!r}, {str(Path(__file__).parent)!r}]\n"
            "from ledger_testlib import KEY, task_event\n"
            "from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api\n"
            "ledger = api.open_ledger(sys.argv[1], key=KEY)\n"
            "for i in range(100000):\n"
            "    print(ledger.append(task_event(i)).seq, flush=True)\n",
            path,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    acknowledged = []
    try:
        while len(acknowledged) < 40:
            acknowledged.append(int(child.stdout.readline()))
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    report = verify.verify(path, key=KEY)
    assert report["valid"] and report["last_seq"] >= acknowledged[-1]


def test_unreachable_postgres_is_a_clear_bounded_error():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(
        LedgerUnavailable, match=r"cannot connect to PostgreSQL ledger postgresql://cw:\*\*\*@127\.0\.0\.1"
    ):
        api.open_ledger(f"postgresql://cw:SECRET-PW@127.0.0.1:{port}/changeward", key=KEY, timeout=2)
    assert time.monotonic() - started < 10


def test_hanging_postgres_is_bounded_by_the_timeout():
    import socket

    with socket.socket() as listener:  # accepts TCP (kernel backlog) but never speaks the protocol
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(LedgerUnavailable) as err:
            api.open_ledger(f"postgresql://cw:SECRET-PW@127.0.0.1:{port}/changeward", key=KEY, timeout=2)
        elapsed = time.monotonic() - started
    assert elapsed < 15
    assert "SECRET-PW" not in str(err.value)


def test_bad_targets_are_config_errors():
    with pytest.raises(LedgerConfigError, match="unsupported ledger URL scheme"):
        api.open_ledger("mysql://x/y", key=KEY)
    with pytest.raises(LedgerConfigError):
        api.open_ledger("postgresql://x/y", key=KEY, schema="Bad Schema")
    with pytest.raises(LedgerConfigError, match="interval"):
        api.open_ledger("/tmp/x.db", key=KEY, checkpoint_interval=-1)
