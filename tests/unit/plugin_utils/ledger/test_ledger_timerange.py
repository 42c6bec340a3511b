"""Time-range queries and exports: selected on the hashed time (indexed), exact to the fraction, fail-closed."""

import json
import sqlite3

import pytest
from ledger_testlib import KEY, check_time_queries, fill_for_time_queries

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api, timerange, verify
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import (
    LedgerInvalidInput,
    LedgerRowMismatch,
)


@pytest.fixture(autouse=True)
def _no_ledger_env(monkeypatch):
    for name in ("CHANGEWARD_LEDGER", "CHANGEWARD_LEDGER_KEY", "CHANGEWARD_LEDGER_CHECKPOINT_INTERVAL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def timed(tmp_path):
    path = str(tmp_path / "ledger.db")
    with api.open_ledger(path, key=KEY, checkpoint_interval=50) as ledger:
        fill_for_time_queries(ledger)
        yield ledger


def test_time_range_queries_match_a_by_hand_filter_of_every_event(timed):
    assert check_time_queries(timed) >= 8


def test_the_time_index_serves_the_query(timed):
    con = sqlite3.connect(timed.target)
    try:
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        plan = con.execute(
            "EXPLAIN QUERY PLAN SELECT seq FROM ledger_events WHERE substr(json_extract(body, '$.time'), 1, 19) >= ?",
            ("2026-03-01T04:00:00",),
        ).fetchall()
    finally:
        con.close()
    assert "ledger_events_body_time" in names
    assert "ledger_events_body_time" in str(plan)


def test_a_ledger_made_before_the_time_index_gets_it_when_opened_for_writing(timed):
    target = timed.target
    timed.close()
    con = sqlite3.connect(target)
    con.execute("DROP INDEX ledger_events_body_time")
    con.commit()
    con.close()
    with api.open_ledger(target, key=KEY) as ledger:
        assert len(ledger.events(start_time="2026-03-01T04:00:00Z", end_time="2026-03-01T04:10:00Z")) == 10
    con = sqlite3.connect(target)
    try:
        assert con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'ledger_events_body_time'").fetchone()[0]
    finally:
        con.close()


def test_an_edited_time_column_neither_moves_nor_hides_a_row(timed):
    """The query selects on the hashed body's time; the stored copy disagreeing is refused, not believed."""
    inside = timed.events(start_time="2026-03-01T04:00:00Z", end_time="2026-03-01T04:01:00Z")
    assert len(inside) == 1
    con = sqlite3.connect(timed.target)
    con.execute("UPDATE ledger_events SET event_time = '2020-01-01T00:00:00Z' WHERE seq = ?", (inside[0].seq,))
    con.commit()
    con.close()
    with pytest.raises(LedgerRowMismatch):
        timed.events(start_time="2026-03-01T04:00:00Z", end_time="2026-03-01T04:01:00Z")
    assert timed.events(start_time="2019-12-31T00:00:00Z", end_time="2020-01-02T00:00:00Z") == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start_time": "2026-03-01T04:00:00"}, "has no UTC offset"),
        ({"end_time": "yesterday"}, "end_time must be"),
        ({"start_time": "2026-03-02T00:00:00Z", "end_time": "2026-03-01T00:00:00Z"}, "must be after start_time"),
        ({"start_time": True}, "start_time must be"),
    ],
)
def test_bad_bounds_are_refused_where_the_query_is_made(timed, kwargs, message):
    with pytest.raises(LedgerInvalidInput, match=message):
        timed.iter_events(**kwargs)


def test_window_keys_sort_as_the_instants_do():
    assert timerange.key("2026-03-01T03:16:00Z") < timerange.key("2026-03-01T03:16:00.5Z")
    assert timerange.key("2026-03-01T03:16:00.000000001Z") > timerange.key("2026-03-01T03:16:00Z")
    assert timerange.key("not a time") is None
    span = timerange.window("2026-03-01T05:00:00+02:00", 1772341200)  # 03:00Z and 05:00Z
    assert span.as_dict() == {"start_time": "2026-03-01T03:00:00Z", "end_time": "2026-03-01T05:00:00Z"}
    assert span.holds("2026-03-01T03:00:00Z") and not span.holds("2026-03-01T05:00:00Z")
    assert not span.holds(None)


def test_seq_span_and_an_export_of_a_time_range_verify_on_their_own(timed, tmp_path):
    first, last = timed.seq_span("2026-03-01T04:00:00Z", "2026-03-01T06:00:00Z")
    inside = timed.events(start_time="2026-03-01T04:00:00Z", end_time="2026-03-01T06:00:00Z")
    assert (first, last) == (inside[0].seq, inside[-1].seq) and last - first + 1 > len(inside)  # lagging clocks
    dest = tmp_path / "range.jsonl"
    window = {"start_time": "2026-03-01T04:00:00Z", "end_time": "2026-03-01T06:00:00Z"}
    summary = timed.export_jsonl(dest, after_seq=first - 1, through_seq=last, window=window)
    assert summary["events"] == last - first + 1 and summary["last_seq"] == last
    lines = [json.loads(line) for line in dest.read_text().splitlines()]
    header = lines[0]
    assert header["window"] == window and header["signature"]
    assert (header["start"]["seq"], header["last"]["seq"]) == (first - 1, last)
    assert [x["seq"] for x in lines if x["record"] == "event"] == list(range(first, last + 1))
    assert all(x["checkpoint"]["seq"] <= last for x in lines if x["record"] == "checkpoint")
    report = verify.verify(str(dest), key=KEY)
    assert report["valid"], report["problems"]
    # The export is bound to its header: an event cut from it is reported.
    (tmp_path / "cut.jsonl").write_text("\n".join(json.dumps(x) for x in lines if x.get("seq") != first + 3) + "\n")
    assert not verify.verify(str(tmp_path / "cut.jsonl"), key=KEY)["valid"]
    assert timed.seq_span("2027-01-01T00:00:00Z") is None
