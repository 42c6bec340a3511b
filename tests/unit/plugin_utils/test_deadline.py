"""The wait/deadline helper (plugins/plugin_utils/deadline.py), on a simulated clock.

FakeTime is the clock, the sleep and the wait for a call in a worker thread. A call under test either
returns (at once in real time, after moving the simulated clock as far as it "took") or hangs: it says so
with ``hang()`` and blocks until the test releases it; the wait then lets the simulated time run out.
"""

import contextvars
import threading
import time

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.deadline import (
    CallInFlight,
    Deadline,
    DeadlinePassed,
    Progress,
    Reachability,
    progress_every,
)


class FakeTime:
    def __init__(self, start=1000.0):
        self.now = start
        self.slept = []
        self.hanging = threading.Event()
        self.release = threading.Event()

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.slept.append(seconds)
        self.now += seconds

    def wait(self, event, timeout):
        while not event.is_set() and not self.hanging.is_set():
            event.wait(0.01)
        if event.is_set():
            return True
        self.now += timeout
        return False

    def hang(self):
        self.hanging.set()
        self.release.wait(30)

    def deadline(self, seconds):
        return Deadline(seconds, clock=self, sleep=self.sleep, wait=self.wait)


@pytest.fixture
def fake():
    clock = FakeTime()
    yield clock
    clock.release.set()  # let a hung call's thread end


def test_remaining_expired_and_budget(fake):
    d = fake.deadline(35)
    assert d.remaining() == 35 and not d.expired and d.elapsed() == 0
    fake.now += 30
    assert d.remaining() == 5 and d.budget(10) == 5 and d.budget(10, reserve=2) == 3 and d.budget(1) == 1
    fake.now += 5
    assert d.expired and d.remaining() == 0 and d.budget(10) == 0
    fake.now += 5
    assert d.remaining() == 0 and d.elapsed() == 40


def test_sleep_never_passes_the_deadline(fake):
    d = fake.deadline(10)
    assert d.sleep(4) == 4
    assert d.sleep(30) == 6
    assert fake.now == 1010
    assert d.sleep(5) == 0 and fake.slept == [4, 6]  # no sleep at all once it passed


def test_bad_values_are_refused(fake):
    for seconds in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="deadline"):
            fake.deadline(seconds)
    for interval in (0, -5, float("nan")):
        with pytest.raises(ValueError, match="interval"):
            list(fake.deadline(10).ticks(interval))


def test_ticks_begin_every_interval_from_the_previous_start(fake):
    d = fake.deadline(30)
    began = []
    durations = iter([2, 7, 0, 0, 0, 0, 0])
    for _n in d.ticks(5):
        began.append(fake.now - 1000)
        fake.now += next(durations)
    # 0 took 2 s (wait 3), 5 took 7 s (over the interval: next at once), then every 5 s; 27 + 5 > 30: no more
    assert began == [0, 5, 12, 17, 22, 27]
    assert fake.now - 1000 == 27 and max(fake.slept) <= 5


def test_ticks_with_a_last_look_at_the_deadline(fake):
    d = fake.deadline(12)
    began = [fake.now - 1000 for _n in d.ticks(5, last_at_deadline=True)]
    assert began == [0, 5, 10, 12]
    d = fake.deadline(12)
    assert len(list(d.ticks(5))) == 3  # without: no attempt with no time left


def test_ticks_stop_when_an_attempt_ran_past_the_deadline(fake):
    d = fake.deadline(10)
    attempts = []
    for n in d.ticks(5, last_at_deadline=True):
        attempts.append(n)
        fake.now += 11
    assert attempts == [1] and fake.slept == []


def test_an_expired_deadline_yields_nothing(fake):
    d = fake.deadline(0)
    assert list(d.ticks(1)) == []


def test_run_returns_the_result_or_raises_the_calls_error(fake):
    d = fake.deadline(10)

    def takes(seconds, value):
        fake.now += seconds
        return value

    assert d.run(takes, 3, "ok") == "ok" and fake.now == 1003
    with pytest.raises(KeyError):
        d.run(lambda: {}["missing"])


def test_run_stops_waiting_for_a_hung_call_at_the_deadline(fake):
    d = fake.deadline(35)
    fake.now += 5

    with pytest.raises(CallInFlight) as info:
        d.run(fake.hang, what="edge_update state=status")
    assert fake.now == 1035  # exactly the deadline
    assert info.value.began == 1005 and info.value.waited == 30
    assert "edge_update state=status still in flight" in str(info.value)


def test_run_with_no_time_left_does_not_call(fake):
    d = fake.deadline(5)
    fake.now += 5
    called = []
    with pytest.raises(DeadlinePassed) as info:
        d.run(called.append, 1)
    assert not isinstance(info.value, CallInFlight) and called == []


def test_run_on_the_real_clock_returns_at_the_deadline_and_keeps_context():
    """The real thread and wait: a call blocked for minutes does not hold the caller."""
    var = contextvars.ContextVar("task")
    var.set("the task")
    release = threading.Event()
    seen = []

    def blocked():
        seen.append(var.get())
        release.wait(60)

    d = Deadline(0.3)
    started = time.monotonic()
    try:
        with pytest.raises(CallInFlight):
            d.run(blocked)
    finally:
        release.set()
    assert time.monotonic() - started < 5
    assert seen == ["the task"]  # Ansible's task context lives in context variables
    assert Deadline(5).run(var.get) == "the task"


def test_reachability_counts_from_the_start_of_the_first_unanswered_call(fake):
    link = Reachability(fake)
    link.answered(1000)
    assert link.seconds() == 0 and not link.down
    # a call begins at 1005, hangs 30 s (SSH keepalives) and fails; the retry begins at 1035 and fails too
    link.unanswered(1005)
    link.unanswered(1035)
    fake.now = 1084
    assert link.down and link.down_since == 1005 and link.seconds() == 79
    # the link is back: the call that begins at 1090 is answered
    link.answered(1090)
    fake.now = 1200
    assert not link.down and link.seconds() == 85 and link.unanswered_calls == 2
    # an unanswered call reported out of order still moves the start back
    link.unanswered(1300)
    link.unanswered(1290)
    assert link.seconds(now=1310) == 85 + 20


def test_progress_prints_changes_at_once_and_the_rest_a_few_times(fake):
    lines = []
    p = Progress(lines.append, every=15, clock=fake)
    for second in range(60):
        fake.now = 1000 + second
        p.update("down" if 20 <= second < 25 else "ok", f"{second}")
    p.update("end", "done", force=True)
    # start, 15, 20 (down), 25 (back), 40, 55, done
    assert lines == ["0", "15", "20", "25", "40", "55", "done"]
    assert progress_every(600) == 150 and progress_every(30) == 15
