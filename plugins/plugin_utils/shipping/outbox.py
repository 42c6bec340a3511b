# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The outbox: deliver to each sink, in order, what its cursor in the ledger says it has not received.

Per sink there are two cursors in the ledger: ``<sink>`` (the last event seq delivered) and
``<sink>#checkpoints`` (the last checkpoint seq delivered). A batch is the next ``batch_size`` events
after the cursor plus the checkpoints they cover (each right after its event); checkpoints taken later at
an already delivered seq (on-demand ones at the end of a run) go out on their own. Cursors move only after
the sink confirmed the whole batch, so a crash, a timeout or a lost answer means the batch is sent again:
at-least-once, with the item id for deduplication.

Failures are retried with exponential backoff (with jitter) within the pass's deadline and at most
``max_attempts`` times; nothing is ever dropped - what is not delivered stays pending for the next pass.
Two shippers on one controller (two ansible-playbook runs, a run and ledger_ship) take a per-sink lock
file so batches are not interleaved; the one that does not get it leaves that sink to the other.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import random
import threading
import time
from dataclasses import asdict, dataclass, field

from ..http import backoff_delay
from ..ledger.errors import LedgerError
from .base import checkpoint_item, event_item
from .errors import DeliveryError

CHECKPOINT_CURSOR_SUFFIX = "#checkpoints"


@dataclass
class SinkReport:
    name: str
    target: str
    delivered: int = 0  # events
    checkpoints: int = 0
    batches: int = 0
    attempts: int = 0  # failed attempts
    pending: int = 0  # events still not delivered (-1: unknown, the ledger could not be read)
    cursor: int = 0
    error: str | None = None
    busy: bool = False  # another shipper held this sink's lock

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Clock:
    now: object = time.monotonic
    sleep: object = time.sleep
    jitter: object = field(default=random.random)


def lock_dir_for(target: str) -> str:
    """Where the per-sink lock files of a ledger live: beside a SQLite file, else in the state dir."""
    if "://" not in target:
        return os.path.dirname(os.path.abspath(os.path.expanduser(target)))
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "changeward", "ship-locks")


class Outbox:
    """Delivers pending ledger events and checkpoints to sinks. One per thread (the ledger is not thread-safe)."""

    def __init__(self, ledger, sinks, *, lock_dir: str | None = None, clock: Clock | None = None):
        self.ledger = ledger
        self.sinks = list(sinks)
        self.clock = clock or Clock()
        self.lock_dir = lock_dir or lock_dir_for(ledger.target)
        self._lock_prefix = hashlib.sha256(ledger.target.encode("utf-8")).hexdigest()[:12]
        for sink in self.sinks:
            sink.bind(ledger.ledger_id, ledger.checkpoint_interval)

    # -- state ------------------------------------------------------------------------------------
    def pending(self, sink_name: str) -> int:
        head = self.ledger.head()[0]
        return max(0, head - self.ledger.get_cursor(sink_name))

    def pending_or_unknown(self, sink_name: str) -> int:
        """pending(), or -1 when the ledger cannot even be read (a report must never claim 0 then)."""
        try:
            return self.pending(sink_name)
        except LedgerError:
            return -1

    def next_batch(self, sink) -> tuple:
        """(items, last event seq or None, last checkpoint seq or None) of the next batch for ``sink``."""
        ledger = self.ledger
        with ledger.snapshot():
            cursor = ledger.get_cursor(sink.name)
            cp_cursor = ledger.get_cursor(sink.name + CHECKPOINT_CURSOR_SUFFIX)
            entries = ledger.events_after(cursor, sink.batch_size)
            upto = entries[-1].seq if entries else cursor
            cps = [c for c in ledger.checkpoints(cp_cursor) if c.get("seq", 0) <= upto] if upto > cp_cursor else []
        by_seq: dict = {}
        for cp in cps:
            by_seq.setdefault(cp["seq"], []).append(cp)
        items = []
        for entry in entries:
            items.append(event_item(ledger.ledger_id, entry))
            items.extend(checkpoint_item(ledger.ledger_id, cp) for cp in by_seq.pop(entry.seq, ()))
        for seq in sorted(by_seq):  # checkpoints at seqs delivered earlier
            items.extend(checkpoint_item(ledger.ledger_id, cp) for cp in by_seq[seq])
        last_event = entries[-1].seq if entries else None
        last_cp = max((c["seq"] for c in cps), default=None)
        return items, last_event, last_cp

    # -- locking ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _sink_lock(self, sink, deadline: float, wait: bool):
        os.makedirs(self.lock_dir, mode=0o700, exist_ok=True)
        path = os.path.join(self.lock_dir, f".changeward-ship-{self._lock_prefix}-{sink.name}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not wait or self.clock.now() + 0.05 >= deadline:
                        yield False
                        return
                    self.clock.sleep(0.05)
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # -- shipping ------------------------------------------------------------------------------------
    def ship(self, deadline: float, *, max_attempts=None, wait_lock=False, only=None, stop=None) -> dict:
        """One pass over every sink until each is caught up, failing, or the deadline passes.

        only: names of the sinks to ship (default all); stop: a callable checked between batches.
        """
        reports = {}
        for sink in self.sinks:
            if only is not None and sink.name not in only:
                continue
            reports[sink.name] = self.ship_sink(
                sink, deadline, max_attempts=max_attempts, wait_lock=wait_lock, stop=stop
            )
        return reports

    def ship_sink(self, sink, deadline: float, *, max_attempts=None, wait_lock=False, stop=None) -> SinkReport:
        report = SinkReport(sink.name, sink.describe())
        limit = max_attempts or sink.max_attempts
        with self._sink_lock(sink, deadline, wait_lock) as locked:
            if not locked:
                report.busy = True
            else:
                self._deliver_all(sink, deadline, limit, report, stop or (lambda: False))
        report.cursor = self.ledger.get_cursor(sink.name)
        report.pending = self.pending(sink.name)
        if report.busy and report.pending:
            report.error = report.error or "another shipper is delivering to this sink"
        return report

    def _deliver_all(self, sink, deadline, limit, report, stop) -> None:
        failures = 0
        while not stop():
            if self.clock.now() >= deadline:
                if self.pending(sink.name):
                    report.error = report.error or "time budget used up; the rest stays pending"
                return
            items, last_event, last_cp = self.next_batch(sink)
            if not items:
                return
            try:
                sink.deliver(items, deadline)
            except Exception as exc:
                # Anything a sink raises means "not delivered"; a bug in a sink must not stop the others.
                if not isinstance(exc, DeliveryError):
                    exc = DeliveryError(f"sink {sink.name!r}: {type(exc).__name__}: {exc}", retryable=False)
                failures += 1
                report.attempts += 1
                report.error = str(exc)
                if not exc.retryable or failures >= limit:
                    return
                delay = backoff_delay(failures, sink.backoff, sink.max_backoff, self.clock.jitter)
                if self.clock.now() + delay >= deadline:
                    return
                self.clock.sleep(delay)
                continue
            if last_event is not None:
                self.ledger.advance_cursor(sink.name, last_event)
            if last_cp is not None:
                self.ledger.advance_cursor(sink.name + CHECKPOINT_CURSOR_SUFFIX, last_cp)
            report.delivered += sum(1 for i in items if i.kind == "event")
            report.checkpoints += sum(1 for i in items if i.kind == "checkpoint")
            report.batches += 1
            report.error = None
            failures = 0

    def close(self) -> None:
        for sink in self.sinks:
            with contextlib.suppress(Exception):
                sink.close()


def ship_concurrently(open_reader, sinks, deadline: float, *, max_attempts=None, wait_lock=False, lock_dir=None):
    """Ship every sink in its own thread with its own ledger connection (``open_reader()`` opens one).

    A slow or hanging sink then never holds up the others. Returns {sink name: SinkReport}; a sink still
    busy when the deadline (plus its timeout) has passed is reported as such and its batch stays pending.
    """
    reports: dict = {}

    def work(sink):
        try:
            ledger = open_reader()
        except LedgerError as exc:
            reports[sink.name] = SinkReport(sink.name, sink.describe(), pending=-1, error=str(exc))
            return
        box = Outbox(ledger, [sink], lock_dir=lock_dir)
        try:
            reports[sink.name] = box.ship_sink(sink, deadline, max_attempts=max_attempts, wait_lock=wait_lock)
        except LedgerError as exc:  # e.g. the cursor could not move: what was sent is sent again later
            pending = box.pending_or_unknown(sink.name)
            reports[sink.name] = SinkReport(sink.name, sink.describe(), pending=pending, error=str(exc))
        finally:
            ledger.close()

    threads = []
    for sink in sinks:
        thread = threading.Thread(target=work, args=(sink,), name=f"ship-{sink.name}", daemon=True)
        thread.start()
        threads.append((thread, sink))
    for thread, sink in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + sink.timeout + 1.0)
    late = [sink for thread, sink in threads if thread.is_alive()]
    if late:
        ledger = open_reader()
        try:
            head = ledger.head()[0]
            for sink in late:
                cursor = ledger.get_cursor(sink.name)
                reports[sink.name] = SinkReport(
                    sink.name,
                    sink.describe(),
                    cursor=cursor,
                    pending=max(0, head - cursor),
                    error="still delivering when the time ran out; the batch stays pending",
                )
        finally:
            ledger.close()
    return reports
