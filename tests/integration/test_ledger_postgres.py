"""The ledger on a real PostgreSQL server (Debian's package, started by scripts/services/postgres.sh).

The session fixture starts the private cluster if it is not running and stops it at the end only if it
started it. Every test works in its own schema, dropped afterwards. The DSN carries a password, so it is
never printed.
"""

import itertools
import json
import multiprocessing
import sys
import time
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "collections"), str(REPO / "tests" / "unit" / "plugin_utils" / "ledger")]

from ledger_testlib import (  # noqa: E402
    KEY,
    check_queries,
    check_time_queries,
    fill_for_queries,
    fill_for_time_queries,
    task_event,
)

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api, model, verify  # noqa: E402
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.canonical import canonical_text  # noqa: E402
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import (  # noqa: E402
    LedgerCorrupt,
    LedgerLocked,
    LedgerUnavailable,
)

pytestmark = pytest.mark.reservation("postgres")  # the tests' server, one worker at a time


def pg_worker(dsn, schema, worker, count, barrier):
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api as worker_api

    with worker_api.open_ledger(dsn, key=KEY, schema=schema) as ledger:
        barrier.wait(timeout=60)
        for i in range(count):
            ledger.append(task_event(i, subject=f"CHG-W{worker}"))


def test_append_records_cursors_and_verify(pg_dsn, schema, tmp_path):
    with api.open_ledger(pg_dsn, key=KEY, schema=schema, checkpoint_interval=10) as ledger:
        assert "***" in ledger.target and pg_dsn not in ledger.target
        ledger.open_change(model.new_record("CHG0100", "normal", "upgrade db", "alice"))
        ledger.append_many([task_event(i, "CHG0100") for i in range(48)])
        ledger.close_change("CHG0100", "successful", ["replicas in sync"])
        assert ledger.head()[0] == 50 and [c["seq"] for c in ledger.checkpoints()] == [10, 20, 30, 40, 50]
        assert ledger.get_change("CHG0100")["outcome"] == "successful"
        assert ledger.advance_cursor("splunk", 20) == 20 and ledger.pending("splunk", 5)[0].seq == 21
        export = ledger.export_jsonl(str(tmp_path / "pg.jsonl"))
        assert export["events"] == 50
    report = verify.verify(pg_dsn, key=KEY, schema=schema)
    assert report["valid"] and report["events"] == 50 and report["source_kind"] == "PostgreSQL"
    assert verify.verify(str(tmp_path / "pg.jsonl"), key=KEY)["valid"]


def test_two_processes_appending_at_once_leave_one_valid_chain(pg_dsn, schema):
    # No ledger yet: the two writers also race to create it.
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=pg_worker, args=(pg_dsn, schema, w, 500, barrier)) for w in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0]
    report = verify.verify(pg_dsn, key=KEY, schema=schema)
    assert report["valid"], report["problems"][:5]
    assert report["events"] == 1000 and report["last_seq"] == 1000
    with api.open_ledger(pg_dsn, schema=schema, create=False, readonly=True) as ledger:
        entries = list(ledger.entries())
    assert [e.seq for e in entries] == list(range(1, 1001))
    assert len({e.event["id"] for e in entries}) == 1000
    for w in (1, 2):
        assert [e.event["data"]["i"] for e in entries if e.event["subject"] == f"CHG-W{w}"] == list(range(500))
    subjects = [e.event["subject"] for e in entries]
    assert sum(a != b for a, b in itertools.pairwise(subjects)) > 1, "the writers really interleaved"


def test_tampering_with_rows_is_classified_as_on_sqlite(pg_dsn, schema):
    with api.open_ledger(pg_dsn, key=KEY, schema=schema, checkpoint_interval=10) as ledger:
        ledger.append_many([task_event(i) for i in range(60)])
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        body = conn.execute("SELECT body FROM ledger_events WHERE seq = 12").fetchone()[0]
        event = json.loads(body)
        event["data"]["rc"] = 1
        conn.execute("UPDATE ledger_events SET body = %s WHERE seq = 12", (canonical_text(event),))
        conn.execute("DELETE FROM ledger_events WHERE seq = 33")
        conn.execute("DELETE FROM ledger_checkpoints WHERE seq = 50")
        conn.execute("DELETE FROM ledger_events WHERE seq > 55")
    problems = [(p["kind"], p["seq"]) for p in verify.verify(pg_dsn, key=KEY, schema=schema)["problems"]]
    assert problems == [("modified", 12), ("deleted", 33), ("checkpoint_missing", 50), ("truncated", 56)]


def test_a_held_head_lock_is_waited_for_then_a_clear_error(pg_dsn, schema):
    api.open_ledger(pg_dsn, key=KEY, schema=schema).close()
    with psycopg.connect(pg_dsn) as holder:
        holder.execute(f'SET search_path TO "{schema}"')
        holder.execute("SELECT seq FROM ledger_head WHERE id = 1 FOR UPDATE")  # stays in its transaction
        with api.open_ledger(pg_dsn, key=KEY, schema=schema, timeout=1) as ledger:
            started = time.monotonic()
            with pytest.raises(LedgerLocked, match="gave up waiting after 1s"):
                ledger.append(task_event(1))
            assert time.monotonic() - started < 5
        holder.rollback()
    with api.open_ledger(pg_dsn, key=KEY, schema=schema, timeout=1) as ledger:
        assert ledger.append(task_event(2)).seq == 1, "nothing half-written by the failed attempt"


def test_wrong_password_is_a_clear_error_without_the_secret(pg_dsn):
    user = pg_dsn.split("://", 1)[1].split(":", 1)[0]
    bad = f"postgresql://{user}:wrong-SECRET-pw@{pg_dsn.rsplit('@', 1)[1]}"
    with pytest.raises(LedgerUnavailable) as err:
        api.open_ledger(bad, key=KEY, timeout=3)
    assert "wrong-SECRET-pw" not in str(err.value) and "***" in str(err.value)


def test_time_range_queries_match_a_by_hand_filter_and_use_the_time_index(pg_dsn, schema):
    with api.open_ledger(pg_dsn, key=KEY, schema=schema, checkpoint_interval=100) as ledger:
        fill_for_time_queries(ledger)
        assert check_time_queries(ledger) >= 8
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute("SET enable_seqscan = off")  # whether the index serves the expression, not the cost model
        plan = conn.execute(
            "EXPLAIN SELECT seq FROM ledger_events WHERE substr(((body::json) ->> 'time'), 1, 19) >= %s",
            ("2026-03-01T04:00:00",),
        ).fetchall()
    assert "ledger_events_body_time" in str(plan), plan


def test_verify_does_not_create_a_ledger(pg_dsn, schema):
    with pytest.raises(LedgerCorrupt, match=r"holds no changeward ledger"):
        verify.verify(pg_dsn, key=KEY, schema=schema)


def test_queries_by_subject_and_type_match_a_full_scan_and_use_the_indexes(pg_dsn, schema):
    with api.open_ledger(pg_dsn, key=KEY, schema=schema, checkpoint_interval=100) as ledger:
        fill_for_queries(ledger)
        assert check_queries(ledger) > 10
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        names = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", (schema,))}
        assert {"ledger_events_body_subject", "ledger_events_body_type", "ledger_events_body_id"} <= names
        conn.execute("SET enable_seqscan = off")  # whether the index serves the expression, not the cost model
        plan = conn.execute(
            "EXPLAIN SELECT seq FROM ledger_events WHERE ((body::json) ->> 'subject') = 'CHG-Q1' ORDER BY seq"
        ).fetchall()
        assert "ledger_events_body_subject" in str(plan), plan  # queries select on the hashed body, indexed
        conn.execute("DROP INDEX ledger_events_body_type")
    with api.open_ledger(pg_dsn, schema=schema, readonly=True) as ledger:
        assert len(ledger.events(types="io.changeward.test.beta", limit=3)) == 3  # unindexed, still right
    with api.open_ledger(pg_dsn, key=KEY, schema=schema) as ledger:  # opened for writing: index added back
        assert ledger.events(subject="CHG-Q1", limit=1)[0].seq == 1
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        names = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", (schema,))}
    assert "ledger_events_body_type" in names
