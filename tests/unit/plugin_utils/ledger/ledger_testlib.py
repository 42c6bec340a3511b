"""Constants and builders shared by the ledger tests (imported by name: the test dir is on sys.path)."""

from datetime import UTC

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model

KEY = "test-ledger-key-0123456789abcdef"  # HMAC secret (tests only)
N_EVENTS = 100
INTERVAL = 10


def task_event(i, subject="CHG0001"):
    return model.new_event(
        "io.changeward.run.task_result",
        subject,
        {"i": i, "host": f"web{i % 7}", "task": "install nginx", "changed": i % 3 == 0, "rc": 0, "ratio": i / 8},
        source="urn:changeward:test",
    )


def append_worker(path, key, worker, count, barrier, pause=0.001):
    """Append ``count`` events one transaction at a time (run in a separate process).

    The short pause between appends stands for the work a playbook does between two events; without it
    one tight loop can hold SQLite's (unfair) lock for its whole run and nothing would interleave.
    """
    import time

    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api

    with api.open_ledger(path, key=key) as ledger:
        barrier.wait(timeout=60)
        for i in range(count):
            ledger.append(task_event(i, subject=f"CHG-W{worker}"))
            time.sleep(pause)


QUERY_SUBJECTS = ("CHG-Q1", "CHG-Q2", "breaker:db")
QUERY_TYPES = ("io.changeward.test.alpha", "io.changeward.test.beta", "io.changeward.test.gamma")
QUERY_EVENTS = 1200  # more than one batch of Ledger.events' keyset paging (500)


def fill_for_queries(ledger):
    """Append QUERY_EVENTS events spread over three subjects and three types (deterministic pattern)."""
    events = [
        model.new_event(QUERY_TYPES[(i // 3) % 3], QUERY_SUBJECTS[i % 3], {"i": i}, source="urn:changeward:test")
        for i in range(QUERY_EVENTS)
    ]
    ledger.append_many(events)


def check_queries(ledger):
    """Ledger.events against a brute-force filter of every entry; returns how many queries were compared."""
    everything = list(ledger.entries())
    assert len(everything) >= QUERY_EVENTS

    def reference(subject=None, types=None, after_seq=0, before_seq=None, limit=None, newest_first=False):
        if isinstance(types, str):
            types = [types]
        found = [
            e
            for e in everything
            if (subject is None or e.event["subject"] == subject)
            and (types is None or e.event["type"] in types)
            and e.seq > after_seq
            and (before_seq is None or e.seq < before_seq)
        ]
        if newest_first:
            found.reverse()
        return found if limit is None else found[:limit]

    cases = [
        {"subject": "CHG-Q2"},
        {"types": [QUERY_TYPES[0]]},
        {"types": QUERY_TYPES[1]},
        {"types": [QUERY_TYPES[0], QUERY_TYPES[2], QUERY_TYPES[0]]},
        {"subject": "breaker:db", "types": [QUERY_TYPES[1]]},
        {"subject": "CHG-Q1", "after_seq": 300, "before_seq": 900},
        {"types": [QUERY_TYPES[2]], "limit": 7},
        {"subject": "CHG-Q1", "newest_first": True},
        {"subject": "CHG-Q1", "types": [QUERY_TYPES[0]], "newest_first": True, "limit": 5},
        {"subject": "CHG-Q2", "after_seq": 600, "limit": 450},
        {"after_seq": 1190},
        {"types": [QUERY_TYPES[0], QUERY_TYPES[1]], "newest_first": True},  # pages backwards past a batch
        {"newest_first": True, "limit": 1100},
        {"subject": "no-such-change"},
        {"types": ["io.changeward.test.none"]},
    ]
    for case in cases:
        got = ledger.events(**case)
        want = reference(**case)
        assert [(e.seq, e.hash) for e in got] == [(e.seq, e.hash) for e in want], case
        assert all(g.event == w.event for g, w in zip(got, want, strict=True)), case
    # Not vacuous: the filtered queries do find something, and each only what they asked for.
    assert len(ledger.events(subject="CHG-Q2")) == QUERY_EVENTS // 3
    assert len(ledger.events(types=[QUERY_TYPES[0]])) == 402  # i // 3 = 0, 3, ..., 399: 134 triples
    assert len(ledger.events(subject="CHG-Q1", types=[QUERY_TYPES[0]], newest_first=True, limit=5)) == 5
    return len(cases)


# -- stored columns bound to the hashed body (SQLite unit tests and the PostgreSQL integration test) ---------
TWO_CHANGES_INTERVAL = 5
# (case, table, column, seq, value written over the stored copy)
COLUMN_CASES = (
    ("subject", "ledger_events", "subject", 13, "CHG-B"),
    ("is_record", "ledger_events", "is_record", 13, 0),
    ("type", "ledger_events", "type", 13, "io.changeward.change.updated"),
    ("event_id", "ledger_events", "event_id", 7, "00000000-0000-4000-8000-000000000000"),
    ("event_time", "ledger_events", "event_time", 7, "2000-01-01T00:00:00Z"),
    ("checkpoint_hash", "ledger_checkpoints", "hash", 10, "0" * 64),
    ("checkpoint_time", "ledger_checkpoints", "cp_time", 10, "2000-01-01T00:00:00Z"),
)


def fill_two_changes(ledger):
    """CHG-A and CHG-B opened (seq 1, 2), ten results of CHG-A (3..12), CHG-A closed as failed (13, sealed)."""
    ledger.open_change(model.new_record("CHG-A", "normal", "upgrade nginx", "alice", targets=["web1"]))
    ledger.open_change(model.new_record("CHG-B", "normal", "rotate certs", "bob", targets=["web2"]))
    ledger.append_many([task_event(i, subject="CHG-A") for i in range(3, 13)])
    ledger.close_change("CHG-A", "failed", ["nginx did not start"])


def check_readers_refuse(ledger, case, original_event_id):
    """Every read that would answer from the edited row raises LedgerRowMismatch naming its seq."""
    import pytest

    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerRowMismatch

    name, table, _column, seq, _value = case
    if table != "ledger_events":
        assert ledger.get_change("CHG-A")["status"] == "closed"  # checkpoints are not read by queries
        return
    reads = [lambda: ledger.entry(seq), lambda: list(ledger.entries()), lambda: ledger.events(subject="CHG-A")]
    if seq == 13:
        reads += [lambda: ledger.get_change("CHG-A"), lambda: ledger.events(types=[model.CHANGE_CLOSED])]
    if name == "event_id":
        reads.append(lambda: ledger.entry_by_event_id(original_event_id))
    for read in reads:
        with pytest.raises(LedgerRowMismatch, match=f"seq {seq}\\b") as err:
            read()
        assert err.value.seq == seq
    # The other change reads as itself, never as the change whose row was edited.
    record = ledger.get_change("CHG-B")
    assert record["id"] == "CHG-B" and record["status"] == "open"
    assert [e.seq for e in ledger.events(subject="CHG-B")] == [2]


# -- time-range queries (SQLite unit tests and the PostgreSQL integration test) -----------------------------
def _time_of(i):
    """Event i's time: a minute apart from 03:00 on, every 17th with a clock 2 h behind (so it shares its second
    with event i - 120), fractions of 0, 1, 3 or 9 digits ("...:00Z" sorts after "...:00.5Z" as text)."""
    lagging = i % 17 == 0
    minute = 180 + i - (120 if lagging else 0)
    fraction = ("", ".5", ".250", ".000000001")[(i + lagging) % 4]
    return f"2026-03-01T{minute // 60:02d}:{minute % 60:02d}:00{fraction}Z"


TIME_EVENTS = 700  # a little more than one batch of keyset paging


def fill_for_time_queries(ledger):
    """Append TIME_EVENTS events with explicit times, some out of order and with varying fraction digits."""
    ledger.append_many(
        model.new_event(
            QUERY_TYPES[i % 3], QUERY_SUBJECTS[i % 3], {"i": i}, source="urn:changeward:test", time=_time_of(i)
        )
        for i in range(TIME_EVENTS)
    )


def check_time_queries(ledger):
    """Time-range queries against a by-hand filter of every entry (exact instants, not text order)."""
    import re
    from datetime import datetime

    def instant(text):  # (UTC second, fraction to nine digits): sorts as the instant does
        m = re.match(r"\A(.{19})(\.\d+)?(Z|[+-]\d\d:\d\d)\Z", text)
        second = datetime.fromisoformat(m[1] + ("+00:00" if m[3] == "Z" else m[3])).astimezone(UTC)
        return second, (m[2] or ".")[1:].ljust(9, "0")

    everything = list(ledger.entries())
    cases = [
        {"start_time": "2026-03-01T02:00:00Z", "end_time": "2026-03-01T05:00:00Z"},
        {"start_time": "2026-03-01T03:33:00.3Z", "end_time": "2026-03-01T03:40:00Z"},  # edges inside a second
        {"start_time": "2026-03-01T03:10:00Z", "end_time": "2026-03-01T03:16:00.2Z"},
        {"start_time": "2026-03-01T03:03:00.5Z"},
        {"end_time": "2026-03-01T00:30:00+00:00"},
        {"start_time": "2026-03-01T06:00:00+02:00", "end_time": "2026-03-01T06:00:00Z", "types": QUERY_TYPES[1]},
        {"start_time": "2026-03-01T01:00:00Z", "end_time": "2026-03-01T09:00:00Z", "subject": "CHG-Q2", "limit": 9},
        {"start_time": "2026-03-01T01:00:00Z", "newest_first": True, "limit": 600},
        {"start_time": "2026-04-01T00:00:00Z"},
    ]
    for case in cases:
        low = instant(case["start_time"]) if "start_time" in case else None
        high = instant(case["end_time"]) if "end_time" in case else None
        want = [
            e
            for e in everything
            if (low is None or instant(e.event["time"]) >= low)
            and (high is None or instant(e.event["time"]) < high)
            and ("subject" not in case or e.event["subject"] == case["subject"])
            and ("types" not in case or e.event["type"] == case["types"])
        ]
        if case.get("newest_first"):
            want.reverse()
        if "limit" in case:
            want = want[: case["limit"]]
        got = ledger.events(**case)
        assert [(e.seq, e.hash) for e in got] == [(e.seq, e.hash) for e in want], case
    # Not vacuous: the windows find events, and the edges cut inside a second by the instant, not the text.
    assert len(ledger.events(start_time="2026-03-01T02:00:00Z", end_time="2026-03-01T05:00:00Z")) > 100
    first = ledger.events(start_time="2026-03-01T03:33:00.3Z", end_time="2026-03-01T03:40:00Z")
    assert [e.event["data"]["i"] for e in first][:1] == [33]  # 03:33:00.5 is in; 153's 03:33:00.250 is not
    last = ledger.events(start_time="2026-03-01T03:10:00Z", end_time="2026-03-01T03:16:00.2Z")
    assert [e.event["data"]["i"] for e in last][-1:] == [16]  # 03:16:00 is in; 136's 03:16:00.5 is not
    assert ledger.events(start_time="2026-04-01T00:00:00Z") == []
    return len(cases)
