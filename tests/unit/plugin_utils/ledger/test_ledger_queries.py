"""Ledger.events: queries by subject and/or event type on SQLite, indexed, with the same answers as a scan."""

import sqlite3

import pytest
from ledger_testlib import KEY, QUERY_TYPES, check_queries, fill_for_queries, task_event

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api, sqlite_backend
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.backend import ROW
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerInvalidInput


@pytest.fixture(autouse=True)
def _no_ledger_env(monkeypatch):
    for name in ("CHANGEWARD_LEDGER", "CHANGEWARD_LEDGER_KEY", "CHANGEWARD_LEDGER_CHECKPOINT_INTERVAL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def filled(tmp_path):
    path = str(tmp_path / "ledger.db")
    with api.open_ledger(path, key=KEY, checkpoint_interval=100) as ledger:
        fill_for_queries(ledger)
        yield ledger


def indexes(path):
    con = sqlite3.connect(path)
    try:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        con.close()


def test_queries_return_exactly_what_a_full_scan_filtered_by_hand_returns(filled):
    assert check_queries(filled) > 10


def test_a_query_inside_a_snapshot_does_not_see_later_appends(filled, tmp_path):
    with api.open_ledger(filled.target, key=KEY) as other, filled.snapshot():
        first = filled.events(subject="CHG-Q3")
        other.append(task_event(1, subject="CHG-Q3"))
        again = filled.events(subject="CHG-Q3")
    assert first == again == []
    assert [e.event["data"]["i"] for e in filled.events(subject="CHG-Q3")] == [1]


def test_streaming_stops_early_and_keeps_the_order(filled):
    stream = filled.iter_events(types=[QUERY_TYPES[1]], newest_first=True)
    first = [next(stream), next(stream), next(stream)]
    assert [e.seq for e in first] == sorted((e.seq for e in first), reverse=True)
    assert all(e.event["type"] == QUERY_TYPES[1] for e in first)
    assert first[0].seq == max(e.seq for e in filled.events(types=QUERY_TYPES[1]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"types": []}, "types must be an event type or a non-empty list"),
        ({"types": ["ok.type", ""]}, "types must be"),
        ({"types": [3]}, "types must be"),
        ({"subject": ""}, "subject must be a non-empty string"),
        ({"subject": 5}, "subject must be a non-empty string"),
        ({"limit": -1}, "limit must be an integer >= 0"),
        ({"limit": True}, "limit must be an integer"),
        ({"after_seq": -2}, "after_seq must be an integer >= 0"),
        ({"after_seq": None}, "after_seq must be an integer"),
        ({"before_seq": 0}, "before_seq must be an integer >= 1"),
    ],
)
def test_bad_query_arguments_are_refused_when_the_query_is_made(filled, kwargs, message):
    with pytest.raises(LedgerInvalidInput, match=message):
        filled.events(**kwargs)
    with pytest.raises(LedgerInvalidInput, match=message):
        filled.iter_events(**kwargs)  # not deferred to the first next()


# The statements the backend builds (newest first, as the breaker reads), over the hashed body's expressions.
_B = sqlite_backend.SQLiteBackend


def _select(where: str, tail: str) -> str:
    return " ".join(("SELECT", ROW, "FROM ledger_events WHERE", where, tail))


PLANS = {
    "ledger_events_body_subject": _select(f"seq > ? AND seq < ? AND {_B.X_SUBJECT} = ?", "ORDER BY seq DESC LIMIT ?"),
    "ledger_events_body_type": _select(f"seq > ? AND {_B.X_TYPE} IN (?, ?)", "ORDER BY seq ASC LIMIT ?"),
    "ledger_events_body_id": _select(f"{_B.X_ID} = ?", "ORDER BY seq LIMIT 1"),
    "ledger_events_body_record": _select(f"{_B.X_SUBJECT} = ? AND {_B.X_RECORD}", "ORDER BY seq DESC LIMIT 1"),
}


@pytest.mark.parametrize("index", sorted(PLANS))
def test_queries_use_the_indexes_on_the_hashed_body(filled, index):
    statement = PLANS[index]
    con = sqlite3.connect(filled.target)
    try:
        args = ["x"] * statement.count("?")
        plan = " ".join(str(r[-1]) for r in con.execute("EXPLAIN QUERY PLAN " + statement, args))
    finally:
        con.close()
    assert index in plan, plan


def test_a_ledger_made_without_the_type_index_gets_it_when_opened_for_writing(tmp_path):
    path = str(tmp_path / "old.db")
    with api.open_ledger(path, key=KEY) as ledger:
        ledger.append(task_event(1))
    con = sqlite3.connect(path)
    con.execute("DROP INDEX ledger_events_body_type")
    con.close()
    assert "ledger_events_body_type" not in indexes(path)
    with api.open_ledger(path, readonly=True) as ledger:
        assert len(ledger.events(types="io.changeward.run.task_result")) == 1  # works, just unindexed
    assert "ledger_events_body_type" not in indexes(path)  # a read-only open changes nothing
    with api.open_ledger(path, key=KEY) as ledger:
        assert len(ledger.events(types="io.changeward.run.task_result")) == 1
    assert set(PLANS) <= indexes(path)
