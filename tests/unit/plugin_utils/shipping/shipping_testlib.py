"""Shared helpers for the shipping unit tests: a ledger with events and a scriptable in-memory sink."""

import threading

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.base import COMMON_OPTIONS, Sink
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.errors import DeliveryError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.outbox import Clock

KEY = "unit-test-ledger-key-0123456789"


def make_ledger(path, events=0, interval=10):
    ledger = open_ledger(str(path), key=KEY, checkpoint_interval=interval)
    for i in range(events):
        ledger.record("io.changeward.task.result", "CHG-1", {"i": i})
    return ledger


def spec(name="mem", **over):
    values = {k: (o.default if k not in ("name", "type") else None) for k, o in COMMON_OPTIONS.items()}
    values.update(name=name, type="memory", **over)
    return values


class MemorySink(Sink):
    """Keeps what it receives; ``failures`` is a list of DeliveryErrors (or None) consumed per attempt."""

    TYPE = "memory"

    def __init__(self, name="mem", failures=(), hang=0.0, **over):
        super().__init__(spec(name, **over))
        self.received = []  # items, in arrival order
        self.batches = []
        self.failures = list(failures)
        self.hang = hang
        self.calls = 0
        self.release = threading.Event()

    def describe(self):
        return "memory"

    def deliver(self, items, deadline):
        self.calls += 1
        if self.hang:
            self.release.wait(self.hang)
        if self.failures:
            failure = self.failures.pop(0)
            if failure is not None:
                raise failure
        self.batches.append([(i.kind, i.seq) for i in items])
        self.received.extend(items)


class FakeClock(Clock):
    """Time that only moves when the outbox sleeps."""

    def __init__(self):
        self.t = 1000.0
        self.sleeps = []
        super().__init__(now=lambda: self.t, sleep=self._sleep, jitter=lambda: 1.0)

    def _sleep(self, seconds):
        self.sleeps.append(seconds)
        self.t += seconds


def retryable(msg="down"):
    return DeliveryError(msg)


def fatal(msg="HTTP 400"):
    return DeliveryError(msg, retryable=False)
