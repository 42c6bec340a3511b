"""The ledger bound whole to its chain on a real PostgreSQL server: every stored column edited by SQL is
reported with its seq and refused by readers; a key rotation and chained exports verify (the SQLite side of
the same cases is in tests/unit/plugin_utils/ledger). The DSN carries a password, so it is never printed."""

import sys
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "collections"), str(REPO / "tests" / "unit" / "plugin_utils" / "ledger")]

from ledger_testlib import (  # noqa: E402
    COLUMN_CASES,
    KEY,
    TWO_CHANGES_INTERVAL,
    check_readers_refuse,
    fill_two_changes,
    task_event,
)

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import (  # noqa: E402
    api,
    checkpoint,
    series,
    verify,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import (  # noqa: E402
    LedgerKeyError,
    LedgerRowMismatch,
)

pytestmark = pytest.mark.reservation("postgres")  # the tests' server, one worker at a time


def sql(dsn, schema, statement, args=()):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute(statement, args)


@pytest.mark.parametrize("case", COLUMN_CASES, ids=[c[0] for c in COLUMN_CASES])
def test_an_edited_column_is_reported_and_refused_on_postgresql(pg_dsn, schema, case):
    _name, table, column, seq, value = case
    with api.open_ledger(pg_dsn, key=KEY, schema=schema, checkpoint_interval=TWO_CHANGES_INTERVAL) as ledger:
        fill_two_changes(ledger)
        original_id = ledger.entry(7).event["id"]
    assert verify.verify(pg_dsn, key=KEY, schema=schema)["valid"]
    sql(pg_dsn, schema, f"UPDATE {table} SET {column} = %s WHERE seq = %s", (value, seq))  # noqa: S608 - test names
    report = verify.verify(pg_dsn, key=KEY, schema=schema)
    assert [(p["kind"], p["seq"]) for p in report["problems"]] == [("column_modified", seq)]
    with api.open_ledger(pg_dsn, schema=schema, readonly=True) as ledger:
        check_readers_refuse(ledger, case, original_id)


def test_moving_the_failed_close_to_another_change_is_refused_on_postgresql(pg_dsn, schema):
    with api.open_ledger(pg_dsn, key=KEY, schema=schema, checkpoint_interval=TWO_CHANGES_INTERVAL) as ledger:
        fill_two_changes(ledger)
    sql(pg_dsn, schema, "UPDATE ledger_events SET subject = 'CHG-B', is_record = 0 WHERE seq = 13")
    with api.open_ledger(pg_dsn, schema=schema, readonly=True) as ledger:
        with pytest.raises(LedgerRowMismatch, match="seq 13"):
            ledger.get_change("CHG-A")
        assert ledger.get_change("CHG-B")["id"] == "CHG-B"
    # The body indexes dropped too: the queries still select on the body (unindexed).
    for name in ("ledger_events_body_subject", "ledger_events_body_record"):
        sql(pg_dsn, schema, f"DROP INDEX {name}")
    with api.open_ledger(pg_dsn, schema=schema, readonly=True) as ledger:
        assert [e.seq for e in ledger.events(subject="CHG-B")] == [2]
        with pytest.raises(LedgerRowMismatch, match="seq 13"):
            ledger.get_change("CHG-A")


def test_a_body_that_is_not_json_is_reported_not_an_error_on_postgresql(pg_dsn, schema):
    with api.open_ledger(pg_dsn, key=KEY, schema=schema, checkpoint_interval=TWO_CHANGES_INTERVAL) as ledger:
        fill_two_changes(ledger)
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):  # the body indexes refuse it...
        sql(pg_dsn, schema, "UPDATE ledger_events SET body = '{broken' WHERE seq = 7")
    for name in ("subject", "type", "id", "record", "time"):  # ...so whoever edits the table drops them first
        sql(pg_dsn, schema, f"DROP INDEX ledger_events_body_{name}")
    sql(pg_dsn, schema, "UPDATE ledger_events SET body = '{broken' WHERE seq = 7")
    problems = verify.verify(pg_dsn, key=KEY, schema=schema)["problems"]
    assert [(p["kind"], p["seq"]) for p in problems] == [("modified", 7)]


def test_a_rotation_and_chained_exports_verify_on_postgresql(pg_dsn, schema, tmp_path):
    priv, pub = checkpoint.generate_ed25519()
    with api.open_ledger(pg_dsn, key=KEY, schema=schema, checkpoint_interval=10) as ledger:
        ledger.append_many([task_event(i) for i in range(15)])
        first = ledger.export_jsonl(str(tmp_path / "e1.jsonl"))
        rotated = ledger.rotate_key(priv, reason="integration")
        assert rotated["seq"] == 16 and rotated["checkpoint"]["key_id"] == first["signed_by"]
    with api.open_ledger(pg_dsn, key=KEY, schema=schema) as stale, pytest.raises(LedgerKeyError, match="retired"):
        stale.append(task_event(99))
    with api.open_ledger(pg_dsn, key=priv, schema=schema) as ledger:
        ledger.append_many([task_event(i) for i in range(14)])
        second = ledger.export_jsonl(str(tmp_path / "e2.jsonl"), previous=str(tmp_path / "e1.jsonl"))
    assert (second["sequence"], second["first_seq"], second["last_seq"]) == (2, 16, 30)
    report = verify.verify(pg_dsn, key=[KEY, pub], schema=schema)
    assert report["valid"] and report["signed_through"] == 30, report["problems"]
    assert [p["seq"] for p in verify.verify(pg_dsn, key=KEY, schema=schema)["problems"]] == [20, 30]
    files = [str(tmp_path / "e1.jsonl"), str(tmp_path / "e2.jsonl")]
    assert series.validate_exports(files, key=[KEY, pub])["valid"]
    assert [p["kind"] for p in series.validate_exports(files[::-1], key=[KEY, pub])["problems"]] == ["reordered"]
