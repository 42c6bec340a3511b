# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting with a deadline: the one helper every controller action that polls uses.

- Deadline: a monotonic deadline with ``remaining()``, ``expired``, a ``sleep`` that never sleeps past it,
  ``ticks(interval)``, the poll loop, and ``run(fn)``, which stops waiting for a call at the deadline
  even when the call itself is stuck (a link that drops mid-call), raising CallInFlight.
- Reachability: how long a peer did not answer, counted from when the first unanswered call *began*.
- Progress: a throttle for progress lines, so a person can follow a wait without one line per poll.

The clock, the sleep and the wait for a running call are injected, so the logic is unit-tested without
real time. Only controller code (action plugins, plugin_utils) uses this: targets do not run it.
"""

from __future__ import annotations

import contextvars
import math
import threading
import time
from collections.abc import Callable, Iterator


class DeadlinePassed(Exception):
    """The deadline passed before a call could begin: it was not made."""


class CallInFlight(DeadlinePassed):
    """A call was still running when the deadline passed; nobody waits for it any more.

    Its effect is unknown: it may never have reached the peer, or reached it and be acting there.
    """

    def __init__(self, what: str, began: float, waited: float):
        super().__init__(f"{what} still in flight at the deadline, {waited:.1f}s after it began")
        self.what, self.began, self.waited = what, began, waited


def _wait_event(event: threading.Event, timeout: float) -> bool:
    return event.wait(timeout)


class Deadline:
    """``seconds`` from now on ``clock`` (monotonic by default, so wall-clock steps do not move it).

    ``sleep(s)`` sleeps; ``wait(event, timeout) -> bool`` waits for a threading.Event (what ``run`` uses to
    wait for a call in a worker thread). Tests inject all three.
    """

    def __init__(
        self,
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wait: Callable[[threading.Event, float], bool] = _wait_event,
    ):
        seconds = float(seconds)
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"a deadline needs a finite number of seconds >= 0, got {seconds!r}")
        self.clock, self._sleep, self._wait = clock, sleep, wait
        self.seconds = seconds
        self.started = clock()
        self.at = self.started + seconds

    def now(self) -> float:
        return self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock())

    @property
    def expired(self) -> bool:
        return self.clock() >= self.at

    def budget(self, want: float, reserve: float = 0.0) -> float:
        """``want`` seconds, cut so that ``reserve`` seconds are left before the deadline (never < 0)."""
        return max(0.0, min(float(want), self.remaining() - reserve))

    def sleep(self, seconds: float) -> float:
        """Sleep ``seconds``, or only until the deadline; returns the seconds asked of the sleep."""
        pause = self.budget(seconds)
        if pause > 0:
            self._sleep(pause)
        return pause

    def ticks(self, interval: float, *, last_at_deadline: bool = False) -> Iterator[int]:
        """The poll loop: yields 1, 2, ... - the first attempt at once, each next one ``interval`` seconds after
        the previous one *began* (at once when it took longer), never sleeping past the deadline.

        Ends when the deadline has passed, or when the next attempt would begin after it. With
        ``last_at_deadline`` the loop then sleeps until the deadline and yields once more at it (a watch whose
        last look must be at the end of its time); without, an attempt never begins with no time left to run.
        The caller breaks out when it has its answer.
        """
        interval = float(interval)
        if not math.isfinite(interval) or interval <= 0:
            raise ValueError(f"a poll interval must be > 0 seconds, got {interval!r}")
        attempt = 0
        while True:
            if self.expired:
                return
            attempt += 1
            began = self.clock()
            yield attempt
            after = self.clock()
            if after >= self.at:
                return
            next_at = began + interval
            if next_at >= self.at:
                if not last_at_deadline:
                    return
                self.sleep(self.at - after)
                yield attempt + 1
                return
            if next_at > after:
                self.sleep(next_at - after)

    def run(self, fn: Callable, *args, what: str = "call", **kwargs):
        """fn(*args, **kwargs) if it returns before the deadline, else CallInFlight at the deadline.

        The call runs in a daemon thread (with the caller's context variables, which Ansible's task context
        lives in) so a call stuck in I/O cannot hold the caller past the deadline. A call left in flight keeps
        running until it ends by itself or its process exits; its outcome is never seen. The caller decides
        what that means (record it as unknown, cut the connection under it). fn's own exceptions are raised.
        With no time left, fn is not called at all (DeadlinePassed).
        """
        if self.expired:
            raise DeadlinePassed(f"no time left for {what}")
        began = self.clock()
        done = threading.Event()
        box: dict = {}
        ctx = contextvars.copy_context()

        def target():
            try:
                box["result"] = ctx.run(fn, *args, **kwargs)
            except BaseException as exc:  # handed back to the waiting caller, raised there
                box["error"] = exc
            finally:
                done.set()

        thread = threading.Thread(target=target, name=f"deadline-{what}", daemon=True)
        thread.start()
        if not self._wait(done, self.remaining()) and not done.is_set():
            raise CallInFlight(what, began, self.clock() - began)
        if "error" in box:
            raise box["error"]
        return box.get("result")


class Reachability:
    """Seconds a peer did not answer, counted from when the first unanswered call began.

    A call that fails after hanging for a minute shows the link was down for that minute, not from the moment
    the failure was reported. An outage ends when a call that began later is answered; the time from its
    begin to its answer is not counted (the link was back at some point of it).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.down_since: float | None = None
        self.closed = 0.0  # seconds of outages that have ended
        self.unanswered_calls = 0

    def answered(self, began: float) -> None:
        if self.down_since is not None:
            self.closed += max(0.0, began - self.down_since)
            self.down_since = None

    def unanswered(self, began: float) -> None:
        self.unanswered_calls += 1
        if self.down_since is None or began < self.down_since:
            self.down_since = began

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def seconds(self, now: float | None = None) -> float:
        """Unanswered time so far (an outage still open counts until ``now``)."""
        if self.down_since is None:
            return self.closed
        return self.closed + max(0.0, (self.clock() if now is None else now) - self.down_since)


class Progress:
    """Emits a progress line when its ``state`` changes, else at most every ``every`` seconds."""

    def __init__(self, emit: Callable[[str], None], every: float, clock: Callable[[], float] = time.monotonic):
        self.emit, self.every, self.clock = emit, float(every), clock
        self._state: object = None
        self._last: float | None = None
        self.lines = 0

    def update(self, state: object, line: str, force: bool = False) -> bool:
        now = self.clock()
        if force or state != self._state or self._last is None or now - self._last >= self.every:
            self._state, self._last = state, now
            self.lines += 1
            self.emit(line)
            return True
        return False


def progress_every(total: float, lines: int = 4, floor: float = 15.0) -> float:
    """Seconds between routine progress lines for a wait of ``total`` seconds: about ``lines`` of them, never
    more often than every ``floor`` seconds."""
    return max(floor, float(total) / max(1, lines))
