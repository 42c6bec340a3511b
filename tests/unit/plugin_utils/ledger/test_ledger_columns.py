"""Every stored column is bound to the hashed body: verification reports an edited one with its seq, and
readers answer only from the body, refusing a row whose columns disagree with it (SQLite; the PostgreSQL
cases are in tests/integration/test_ledger_integrity.py)."""

import sqlite3

import pytest
from ledger_testlib import COLUMN_CASES, KEY, TWO_CHANGES_INTERVAL, check_readers_refuse, fill_two_changes

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api, sqlite_backend, verify
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerRowMismatch


@pytest.fixture
def two_changes(tmp_path):
    path = str(tmp_path / "ledger.db")
    with api.open_ledger(path, key=KEY, checkpoint_interval=TWO_CHANGES_INTERVAL) as ledger:
        fill_two_changes(ledger)
    return path


def edit(path, statement, args=()):
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(statement, args)
    finally:
        conn.close()


def problems(path):
    return [(p["kind"], p["seq"]) for p in verify.verify(path, key=KEY)["problems"]]


def test_the_untouched_ledger_verifies_and_reads(two_changes):
    assert problems(two_changes) == []
    with api.open_ledger(two_changes, readonly=True) as ledger:
        assert ledger.get_change("CHG-A")["outcome"] == "failed"
        assert ledger.get_change("CHG-B")["status"] == "open"


@pytest.mark.parametrize("case", COLUMN_CASES, ids=[c[0] for c in COLUMN_CASES])
def test_an_edited_column_is_reported_with_its_seq_and_refused_by_readers(two_changes, case):
    _name, table, column, seq, value = case
    with api.open_ledger(two_changes, readonly=True) as ledger:
        original_id = ledger.entry(7).event["id"]
    edit(two_changes, f"UPDATE {table} SET {column} = ? WHERE seq = ?", (value, seq))  # noqa: S608 - test names
    report = verify.verify(two_changes, key=KEY)
    assert [(p["kind"], p["seq"]) for p in report["problems"]] == [("column_modified", seq)]
    assert column.replace("cp_time", "hash/cp_time") in report["problems"][0]["detail"]
    with api.open_ledger(two_changes, readonly=True) as ledger:
        check_readers_refuse(ledger, case, original_id)


def test_moving_the_failed_close_to_another_change_neither_reopens_nor_lends_it(two_changes):
    # The attack of the issue: the closed (failed) event's subject column made another change's, so a
    # column-based "latest record of CHG-A" would answer with its opened state.
    edit(two_changes, "UPDATE ledger_events SET subject = 'CHG-B', is_record = 0 WHERE seq = 13")
    with api.open_ledger(two_changes, readonly=True) as ledger:
        with pytest.raises(LedgerRowMismatch, match="seq 13"):
            ledger.get_change("CHG-A")
        assert ledger.get_change("CHG-B")["id"] == "CHG-B"
    assert problems(two_changes) == [("column_modified", 13)]


def test_queries_still_answer_from_the_body_when_the_indexes_are_dropped(two_changes):
    edit(two_changes, "UPDATE ledger_events SET subject = 'CHG-B' WHERE seq = 5")
    for name, _statement in sqlite_backend.INDEXES:
        edit(two_changes, f"DROP INDEX {name}")
    with api.open_ledger(two_changes, readonly=True) as ledger:
        assert [e.seq for e in ledger.events(subject="CHG-B")] == [2]  # the edited row is not CHG-B's
        with pytest.raises(LedgerRowMismatch, match="seq 5"):
            ledger.events(subject="CHG-A")


def test_an_edited_checkpoint_interval_in_the_metadata_is_reported(two_changes):
    edit(two_changes, "UPDATE ledger_meta SET value = '7' WHERE key = 'checkpoint_interval'")
    report = verify.verify(two_changes, key=KEY)
    assert [(p["kind"], p["seq"]) for p in report["problems"]] == [("column_modified", None)]
    assert "checkpoint_interval" in report["problems"][0]["detail"]


def test_columns_of_a_renumbered_ledger_are_reported_at_their_chain_seq(two_changes):
    # The analysis pass (not the fast one) runs when the chain is also damaged; columns are still checked.
    edit(two_changes, "UPDATE ledger_events SET subject = 'CHG-B' WHERE seq = 9")
    edit(two_changes, "DELETE FROM ledger_events WHERE seq = 4")
    assert problems(two_changes) == [("deleted", 4), ("column_modified", 9)]
