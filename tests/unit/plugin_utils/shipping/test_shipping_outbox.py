"""The outbox: order, batching, checkpoints, retries, cursors, locking."""

import threading
import time

import pytest
from shipping_testlib import FakeClock, MemorySink, fatal, make_ledger, retryable

from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.base import checkpoint_id
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.outbox import (
    CHECKPOINT_CURSOR_SUFFIX,
    Outbox,
    ship_concurrently,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.runner import open_reader


@pytest.fixture
def ledger(tmp_path):
    led = make_ledger(tmp_path / "ledger.db", events=25, interval=10)
    yield led
    led.close()


def ship(ledger, sink, clock=None, deadline=60.0, **kw):
    clock = clock or FakeClock()
    box = Outbox(ledger, [sink], clock=clock)
    return box.ship_sink(sink, clock.now() + deadline, **kw)


def test_delivers_everything_in_order_in_batches_with_checkpoints_after_their_event(ledger):
    sink = MemorySink(batch_size=10)
    report = ship(ledger, sink)
    assert [i.seq for i in sink.received if i.kind == "event"] == list(range(1, 26))
    assert sink.batches[0][-2:] == [("event", 10), ("checkpoint", 10)]
    assert [len([k for k in b if k[0] == "event"]) for b in sink.batches] == [10, 10, 5]
    assert (report.delivered, report.checkpoints, report.pending, report.cursor) == (25, 2, 0, 25)
    assert ledger.get_cursor("mem") == 25
    assert ledger.get_cursor("mem" + CHECKPOINT_CURSOR_SUFFIX) == 20


def test_item_ids_are_event_ids_and_stable_checkpoint_ids(ledger):
    sink = MemorySink()
    ship(ledger, sink)
    events = {e.seq: e.event["id"] for e in ledger.events_after(0, 100)}
    for item in sink.received:
        if item.kind == "event":
            assert item.id == events[item.seq] == item.body["event"]["id"]
            assert item.body["hash"] == ledger.entry(item.seq).hash
        else:
            assert item.id == checkpoint_id(ledger.ledger_id, item.seq)
            assert item.body["checkpoint"]["seq"] == item.seq


def test_nothing_pending_sends_nothing(ledger):
    sink = MemorySink()
    ship(ledger, sink)
    calls = sink.calls
    report = ship(ledger, sink)
    assert sink.calls == calls and report.delivered == 0 and report.error is None


def test_a_checkpoint_taken_after_delivery_is_shipped_on_its_own(ledger):
    sink = MemorySink()
    ship(ledger, sink)
    cp = ledger.checkpoint()  # on demand, at seq 25, whose event was delivered already
    ship(ledger, sink)
    assert sink.batches[-1] == [("checkpoint", 25)]
    assert sink.received[-1].body["checkpoint"] == cp


def test_retryable_failures_back_off_exponentially_then_deliver(ledger):
    sink = MemorySink(failures=[retryable(), retryable(), retryable(), None], backoff=0.5, max_backoff=10.0)
    clock = FakeClock()
    report = ship(ledger, sink, clock)
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert report.pending == 0 and report.error is None and report.attempts == 3


def test_backoff_is_capped(ledger):
    sink = MemorySink(failures=[retryable()] * 6 + [None], backoff=1.0, max_backoff=3.0, max_attempts=10)
    clock = FakeClock()
    ship(ledger, sink, clock)
    assert clock.sleeps == [1.0, 2.0, 3.0, 3.0, 3.0, 3.0]


def test_gives_up_after_max_attempts_and_keeps_everything_pending(ledger):
    sink = MemorySink(failures=[retryable("connection refused")] * 10, max_attempts=3)
    report = ship(ledger, sink)
    assert sink.calls == 3
    assert report.pending == 25 and report.cursor == 0
    assert report.error == "connection refused"
    assert ledger.get_cursor("mem") == 0


def test_non_retryable_failure_stops_at_once_but_drops_nothing(ledger):
    sink = MemorySink(failures=[fatal()])
    report = ship(ledger, sink)
    assert sink.calls == 1 and report.pending == 25 and "HTTP 400" in report.error


def test_failure_midway_keeps_what_was_confirmed(ledger):
    sink = MemorySink(failures=[None, fatal()], batch_size=10)
    report = ship(ledger, sink)
    assert report.cursor == 10 and report.pending == 15
    sink.failures = []
    ship(ledger, sink)
    assert [i.seq for i in sink.received if i.kind == "event"] == list(range(1, 26))


def test_deadline_bounds_the_retries(ledger):
    sink = MemorySink(failures=[retryable()] * 100, backoff=1.0, max_backoff=1.0, max_attempts=100)
    clock = FakeClock()
    report = ship(ledger, sink, clock, deadline=5.0)
    assert sum(clock.sleeps) < 5.0
    assert report.pending == 25


def test_a_sink_bug_is_reported_not_raised(ledger):
    sink = MemorySink(failures=[KeyError("boom")])
    report = ship(ledger, sink)
    assert "KeyError" in report.error and report.pending == 25


def test_stop_callable_ends_the_pass_between_batches(ledger):
    sink = MemorySink(batch_size=5)
    report = ship(ledger, sink, stop=lambda: sink.calls >= 2)
    assert sink.calls == 2 and report.cursor == 10


def test_cursors_are_per_sink(ledger):
    a, b = MemorySink("a"), MemorySink("b", failures=[fatal()])
    box = Outbox(ledger, [a, b], clock=FakeClock())
    reports = box.ship(box.clock.now() + 10)
    assert reports["a"].pending == 0 and reports["b"].pending == 25
    assert ledger.cursors()["a"] == 25 and "b" not in ledger.cursors()


def test_a_second_shipper_leaves_a_busy_sink_alone(ledger, tmp_path):
    sink = MemorySink(hang=5.0)

    def first_shipper():
        other = make_ledger(tmp_path / "ledger.db")  # its own connection, as another process would have
        try:
            ship(other, sink, deadline=30)
        finally:
            other.close()

    first = threading.Thread(target=first_shipper)
    first.start()
    try:
        deadline = time.monotonic() + 5
        while sink.calls == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        report = ship(ledger, MemorySink())
        assert report.busy and report.delivered == 0 and report.pending == 25
        assert "another shipper" in report.error
    finally:
        sink.release.set()
        first.join()
    assert ledger.get_cursor("mem") == 25  # the first shipper finished its delivery


def test_ship_concurrently_does_not_let_a_hanging_sink_hold_up_the_others(tmp_path, ledger):
    slow = MemorySink("slow", hang=30.0, timeout=0.2)
    fast = MemorySink("fast")
    started = time.monotonic()
    reports = ship_concurrently(lambda: open_reader(str(tmp_path / "ledger.db")), [slow, fast], time.monotonic() + 1.0)
    elapsed = time.monotonic() - started
    slow.release.set()
    assert elapsed < 5.0
    assert reports["fast"].pending == 0 and reports["fast"].delivered == 25
    assert reports["slow"].pending == 25 and "still delivering" in reports["slow"].error
