# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The background shipper the recorder callback starts beside ansible-playbook.

It runs as its own process (not a thread in the controller, which forks workers all the time) and talks
over its stdin/stdout:

- first stdin line: JSON ``{"ledger", "sinks", "interval", "ledger_timeout", "lock_dir"}``;
- while the play runs, one thread per sink ships whatever is pending every ``interval`` seconds, backing
  off on failures, so events reach the sinks during the run and a slow sink never holds up another;
- ``{"cmd": "drain", "budget": seconds, "attempts": n}`` asks for a last pass bounded by ``budget``;
  it then writes one JSON report line to stdout and exits 0;
- end of stdin without a drain (the controller died, e.g. SIGKILL) makes it exit at once: what is not
  delivered stays pending for the next run.

Run it with ``python -m ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.runner``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

from ..http import backoff_delay
from ..ledger.api import Ledger, open_backend
from ..ledger.errors import LedgerError
from .config import build_sinks
from .errors import ShippingError
from .outbox import Outbox, SinkReport

RUN_PASS_SECONDS = 20.0  # longest single pass while the play runs (a drain request cuts it short)
MAX_RUN_BACKOFF = 30.0


def open_reader(target: str, timeout: float | None = None) -> Ledger:
    """The ledger opened for shipping: reads and cursor updates only, so no signing key is needed."""
    backend = open_backend(target, create=False, timeout=timeout)
    try:
        meta = backend.check_schema()
    except BaseException:
        backend.close()
        raise
    return Ledger(backend, meta)


class Control:
    """What the controller asked for, read from stdin by a thread."""

    def __init__(self, stream):
        self.stream = stream
        self.stopping = threading.Event()  # drain requested or controller gone
        self.drain = threading.Event()
        self.deadline = 0.0
        self.attempts = 2

    def read(self):
        try:
            for line in self.stream:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if isinstance(msg, dict) and msg.get("cmd") == "drain":
                    self.deadline = time.monotonic() + max(0.0, float(msg.get("budget", 5.0)))
                    self.attempts = max(1, int(msg.get("attempts", 2)))
                    self.drain.set()
                    break
        except (OSError, ValueError):
            pass
        self.stopping.set()


class SinkWorker(threading.Thread):
    """Ships one sink for the whole run, with its own ledger connection."""

    def __init__(self, sink, open_ledger, control: Control, interval: float, lock_dir=None):
        super().__init__(name=f"ship-{sink.name}", daemon=True)
        self.sink = sink
        self.open_ledger = open_ledger
        self.control = control
        self.interval = interval
        self.lock_dir = lock_dir
        self.report = SinkReport(sink.name, sink.describe())
        self.done = threading.Event()
        self._ledger = None
        self._outbox = None

    def _box(self) -> Outbox:
        if self._outbox is None:
            self._ledger = self.open_ledger()
            self._outbox = Outbox(self._ledger, [self.sink], lock_dir=self.lock_dir)
        return self._outbox

    def _reset(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
        self._ledger = self._outbox = None

    def _pass(self, deadline, **kw) -> bool:
        """One pass; True when it ended without error."""
        try:
            self.report = self._box().ship_sink(self.sink, deadline, **kw)
            return not self.report.error or self.report.busy
        except LedgerError as exc:
            pending = self._outbox.pending_or_unknown(self.sink.name) if self._outbox is not None else -1
            self.report = SinkReport(self.sink.name, self.sink.describe(), pending=pending, error=str(exc))
            self._reset()
            return False

    def run(self):
        control, failures = self.control, 0
        try:
            while not control.stopping.is_set():
                ok = self._pass(time.monotonic() + RUN_PASS_SECONDS, stop=control.stopping.is_set)
                failures = 0 if ok else failures + 1
                # between passes of a failing sink: the collection's one back-off (jittered), up to 30 s
                wait = (
                    self.interval if ok else backoff_delay(failures + 1, max(self.sink.backoff, 0.5), MAX_RUN_BACKOFF)
                )
                control.stopping.wait(wait)
            if control.drain.is_set():
                self._pass(control.deadline, max_attempts=control.attempts, wait_lock=True)
        finally:
            self._reset()
            self.done.set()


def serve(config: dict, control: Control, out) -> int:
    interval = float(config.get("interval") or 2.0)
    target, timeout = config["ledger"], config.get("ledger_timeout")
    report: dict = {"sinks": {}, "error": None}
    workers = []
    try:
        sinks = build_sinks(config.get("sinks") or [])
        open_reader(target, timeout).close()  # fail early on a missing or broken ledger
    except (ShippingError, LedgerError, OSError) as exc:
        report["error"] = str(exc)
        sinks = []
    for sink in sinks:
        worker = SinkWorker(sink, lambda: open_reader(target, timeout), control, interval, config.get("lock_dir"))
        worker.start()
        workers.append(worker)
    parent = os.getppid()
    while not control.stopping.wait(1.0):
        if os.getppid() != parent:  # the controller died and we were re-parented
            control.stopping.set()
    if not control.drain.is_set():
        return 0  # nobody is listening; pending events wait for the next run
    for worker in workers:
        worker.done.wait(max(0.0, control.deadline - time.monotonic()))
    late = [w for w in workers if not w.done.is_set()]
    for worker in workers:
        report["sinks"][worker.sink.name] = worker.report.as_dict()
    if late:
        try:
            ledger = open_reader(target, timeout)
            try:
                head = ledger.head()[0]
                for worker in late:
                    rep = report["sinks"][worker.sink.name]
                    rep["cursor"] = ledger.get_cursor(worker.sink.name)
                    rep["pending"] = max(0, head - rep["cursor"])
                    rep["error"] = "still delivering when the time ran out; the batch stays pending"
            finally:
                ledger.close()
        except LedgerError as exc:
            report["error"] = str(exc)
    try:
        out.write(json.dumps(report, sort_keys=True) + "\n")
        out.flush()
    except OSError:
        pass
    return 0


def main() -> int:
    first = sys.stdin.readline()
    if not first:
        return 0
    try:
        config = json.loads(first)
    except ValueError:
        sys.stdout.write(json.dumps({"sinks": {}, "error": "shipper: the first input line is not JSON"}) + "\n")
        return 2
    control = Control(sys.stdin)
    threading.Thread(target=control.read, name="control", daemon=True).start()
    code = serve(config, control, sys.stdout)
    # Workers still inside a delivery are abandoned: their batch was not confirmed, so it stays pending.
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
