# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bake-time watching: poll the tolerance policy's metrics for one ring while it bakes (docs/rollouts.md).

Every ``interval`` seconds each watched metric (by default those the policy marks critical) is read for
every host of the ring (an instant query) and compared with a reference: the median of the same metric
over the baseline hosts (the hosts the change has not reached yet) read at the same instant, so shared load
cancels; or, when no host is left as a baseline, the ring's own hosts read at ``since`` (before the change).
A host breaches a metric when its value lies beyond the reference plus the metric's allowance in its bad
direction (tightened for the ring's rollback capability). The canary judge decides whether a release is
*better or worse*; the watch decides fast whether it is *clearly broken*, so it compares single readings
against the allowance and asks a breach to persist: one poll for a critical metric, ``polls`` polls for
the others.

The bake's length is a Deadline (plugin_utils/deadline.py, monotonic): polls begin every ``interval`` seconds
and the last one at the end of the bake. Progress lines (the ring's time left and the last poll's result)
go to ``report`` when the state of the watch changes and otherwise a few times per bake.

Outcomes: ``breach`` (returns at once, with the evidence), ``inconclusive`` (Prometheus unreachable or
metrics without data for ``polls`` polls in a row, or at the last poll: a bake that was not watched is never
a pass), or ``pass`` when the bake time ran out with neither.

For a breach the watch also finds when the regression became visible in Prometheus: the first instant, at
one-second resolution since ``since``, at which the breaching metric crossed the threshold (a range query
of the same expression). ``detected_at - visible_at`` is the detection delay.
"""

from __future__ import annotations

import datetime
import math
import re
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ansible_collections.changeward.hybrid.plugins.plugin_utils.deadline import Deadline, Progress, progress_every
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.classify import Allowance
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.errors import JudgeError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.runner import host_selector, render
from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import (
    PrometheusBadQuery,
    PrometheusEmptyResult,
    PrometheusError,
)

AGGREGATE = "*"  # the "host" of a query whose result has no host label


class WatchError(ValueError):
    """The watch is misconfigured (bad query, no metrics, bad times); it cannot run."""


@dataclass(frozen=True)
class WatchMetric:
    name: str
    direction: str
    critical: bool
    allowance: Allowance
    nodata: str
    canary_query: str
    baseline_query: str

    def allowed(self, reference: float) -> float:
        return self.allowance.absolute_for(reference)

    def breaches(self, value: float, reference: float) -> bool:
        allowed = self.allowed(reference)
        if self.direction == "increase":
            return value > reference + allowed
        if self.direction == "decrease":
            return value < reference - allowed
        return abs(value - reference) > allowed

    def threshold(self, reference: float) -> dict:
        allowed = self.allowed(reference)
        out = {"reference": reference, "allowed_shift": allowed}
        if self.direction in ("increase", "either"):
            out["upper"] = reference + allowed
        if self.direction in ("decrease", "either"):
            out["lower"] = reference - allowed
        return out


def watch_metrics(policy, capability: str, names: Sequence[str] | None = None) -> list[WatchMetric]:
    """WatchMetrics, tightened for ``capability``: the ``names`` given, else the metrics the policy marks
    critical (all of them if it marks none). A single reading of a latency percentile over a few seconds is
    too noisy to act on; the canary judge weighs those metrics with statistics over the whole bake."""
    specs = {s.name: s for s in policy.metric_specs(capability)}
    queries = policy.metric_queries()
    if names:
        wanted = list(names)
    else:
        wanted = [m["name"] for m in policy.data["metrics"] if m.get("critical")] or list(specs)
    unknown = [n for n in wanted if n not in specs]
    if unknown:
        raise WatchError(f"metrics not in the policy: {', '.join(unknown)} (has: {', '.join(specs)})")
    out = []
    for name in wanted:
        spec, q = specs[name], queries[name]
        canary_q = q.get("canary_query") or q.get("query")
        baseline_q = q.get("baseline_query") or q.get("query")
        out.append(WatchMetric(name, spec.direction, spec.critical, spec.allowance, spec.nodata, canary_q, baseline_q))
    return out


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


_QUERY_STRING = re.compile(r"\?query=[^\s)\"']*")


def _short(exc: Exception) -> str:
    """The error without the (long, URL-encoded) query string a connection error repeats."""
    return _QUERY_STRING.sub("?query=...", str(exc))


def _host_of(raw: str | None, hosts: Sequence[str]) -> str | None:
    """The inventory host of a series' host label (an ``instance`` label carries a :port)."""
    if raw is None or raw in hosts or ":" not in raw:
        return raw
    return raw.rsplit(":", 1)[0]


def _values(series, host_label: str, hosts: Sequence[str]) -> dict:
    """{host: value} of an instant result; NaN/Inf are dropped (no usable reading)."""
    out = {}
    for s in series:
        host = _host_of(s.labels.get(host_label), hosts)
        value = s.values[-1][1] if s.values else math.nan
        if math.isfinite(value):
            out[host if host is not None else AGGREGATE] = value
    return out


@dataclass
class _Streak:
    breach: int = 0
    nodata: int = 0
    first: float | None = None


@dataclass
class _MetricState:
    metric: WatchMetric
    streaks: dict = field(default_factory=dict)
    last: dict = field(default_factory=dict)
    worst: dict | None = None
    reference: float | None = None
    nodata_polls: int = 0
    baseline_nodata: int = 0

    def streak(self, host: str) -> _Streak:
        return self.streaks.setdefault(host, _Streak())


class Watch:
    """One ring's bake. ``client`` has PrometheusClient's ``instant`` and ``range`` methods."""

    def __init__(
        self,
        client,
        metrics: Sequence[WatchMetric],
        ring_hosts: Sequence[str],
        baseline_hosts: Sequence[str] = (),
        *,
        since: float,
        duration: float,
        interval: float = 5.0,
        polls: int = 3,
        critical_polls: int = 1,
        host_label: str = "host",
        report: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        """``clock`` is wall time (the instants read from Prometheus, the timestamps returned); ``monotonic`` and
        ``sleep`` time the bake itself. ``report(line)`` receives progress lines."""
        if not metrics:
            raise WatchError("no metrics to watch")
        if not ring_hosts:
            raise WatchError("a ring to watch needs hosts")
        for what, value in (("duration", duration), ("interval", interval)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise WatchError(f"{what} must be > 0 seconds, got {value!r}")
        for what, value in (("polls", polls), ("critical_polls", critical_polls)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise WatchError(f"{what} must be an integer >= 1, got {value!r}")
        try:
            self.ring_selector = host_selector(list(ring_hosts), host_label)
            self.baseline_selector = host_selector(list(baseline_hosts), host_label) if baseline_hosts else None
        except JudgeError as exc:
            raise WatchError(str(exc)) from None
        self.client = client
        self.metrics = [_MetricState(m) for m in metrics]
        self.ring_hosts = list(ring_hosts)
        self.baseline_hosts = list(baseline_hosts)
        self.since, self.duration, self.interval = float(since), float(duration), float(interval)
        self.polls, self.critical_polls, self.host_label = polls, critical_polls, host_label
        self.clock, self.monotonic, self.sleep = clock, monotonic, sleep
        self.report = report
        self.errors: list[str] = []
        self.poll_count = 0
        self.unreachable_streak = 0

    # -- queries --------------------------------------------------------------------------------------------
    def _query(self, m: WatchMetric, side: str) -> str:
        try:
            if side == "ring":
                return render(m.canary_query, m.name, "canary", self.ring_selector)
            return render(m.baseline_query, m.name, "baseline", self.baseline_selector)
        except JudgeError as exc:
            raise WatchError(str(exc)) from None

    def _instant(self, query: str, at: float | None, hosts: Sequence[str]) -> dict:
        try:
            return _values(self.client.instant(query, at), self.host_label, hosts)
        except PrometheusEmptyResult:
            return {}
        except PrometheusBadQuery as exc:
            raise WatchError(f"{exc} in {query!r}") from None

    def _reference(self, state: _MetricState, now: float) -> float | None:
        m = state.metric
        if self.baseline_selector is not None:
            values = self._instant(self._query(m, "baseline"), now, self.baseline_hosts)
        else:
            if state.reference is not None:  # the ring's own pre-change values do not change
                return state.reference
            values = self._instant(self._query(m, "ring"), self.since, self.ring_hosts)
        state.reference = statistics.median(values.values()) if values else None
        return state.reference

    # -- one poll -------------------------------------------------------------------------------------------
    def poll(self) -> dict | None:
        """Read every metric once; the breach or inconclusive outcome it leads to, else None."""
        now = self.clock()
        self.poll_count += 1
        try:
            readings = []
            for state in self.metrics:
                reference = self._reference(state, now)
                values = self._instant(self._query(state.metric, "ring"), now, self.ring_hosts)
                readings.append((state, reference, values))
        except PrometheusError as exc:
            self.unreachable_streak += 1
            self.errors.append(f"{_iso(now)}: {_short(exc)}")
            if self.unreachable_streak >= self.polls:
                return self._inconclusive(
                    f"Prometheus unreachable for {self.unreachable_streak} polls in a row: {_short(exc)}"
                )
            return None
        self.unreachable_streak = 0
        for state, reference, values in readings:
            outcome = self._judge(state, reference, values, now)
            if outcome:
                return outcome
        return None

    def _judge(self, state: _MetricState, reference, values: Mapping, now: float) -> dict | None:
        m = state.metric
        expected = self.ring_hosts if AGGREGATE not in values else [AGGREGATE]
        state.last = {h: values.get(h) for h in expected}
        if reference is None:
            # The baseline gave nothing: there is nothing to compare with, which is not the ring's fault.
            state.nodata_polls += 1
            state.baseline_nodata = 0 if m.nodata == "ignore" else state.baseline_nodata + 1
            if state.baseline_nodata >= self.polls:
                return self._inconclusive(f"{m.name}: no reference data for {state.baseline_nodata} polls in a row")
            return None
        state.baseline_nodata = 0
        for h in expected:
            streak = state.streak(h)
            if h not in values:
                state.nodata_polls += 1
                streak.nodata, streak.breach, streak.first = streak.nodata + 1, 0, None
                # No data must persist (a late scrape empties a short rate window once in a while).
                if m.nodata == "fail" and streak.nodata >= self.polls:
                    # the ring's own host stopped reporting: a dead service is as bad as a failing one
                    return self._breach(
                        state,
                        h,
                        None,
                        reference,
                        now,
                        f"{m.name}: no data from {h} for {streak.nodata} polls (nodata: fail)",
                    )
                if m.nodata == "inconclusive" and streak.nodata >= self.polls:
                    return self._inconclusive(f"{m.name}: no data from {h} for {streak.nodata} polls in a row")
                continue
            value = values[h]
            streak.nodata = 0
            if state.worst is None or _worse(m, value, state.worst["value"]):
                state.worst = {"host": h, "value": value, "at": _iso(now), "reference": reference}
            if not m.breaches(value, reference):
                streak.breach, streak.first = 0, None
                continue
            streak.breach += 1
            streak.first = streak.first if streak.first is not None else now
            if streak.breach >= (self.critical_polls if m.critical else self.polls):
                reason = (
                    f"{m.name} of {h} is {value:g}, beyond {_bound(m, reference)} "
                    f"(reference {reference:g}, allowance {m.allowance.as_dict()})"
                )
                return self._breach(state, h, value, reference, now, reason)
        return None

    # -- outcomes -------------------------------------------------------------------------------------------
    def _breach(self, state: _MetricState, host: str, value, reference, now: float, reason: str) -> dict:
        m = state.metric
        streak = state.streak(host)
        visible = self._visible_at(m, host, reference, now)
        evidence = {
            "metric": m.name,
            "host": host,
            "value": value,
            "critical": m.critical,
            "direction": m.direction,
            "allowance": m.allowance.as_dict(),
            **m.threshold(reference),
            "reference_from": "baseline hosts" if self.baseline_hosts else "the ring's hosts before the change",
            "first_breaching_poll_at": _iso(streak.first if streak.first is not None else now),
            "detected_at": _iso(now),
            "detected_ts": now,
            "visible_at": _iso(visible),
            "visible_ts": visible,
            "detection_seconds": round(now - visible, 3) if visible is not None else None,
            "query": self._query(m, "ring"),
        }
        return {"verdict": "breach", "reason": reason, "breach": evidence}

    def _inconclusive(self, reason: str) -> dict:
        return {"verdict": "inconclusive", "reason": reason, "breach": None}

    def _visible_at(self, m: WatchMetric, host: str, reference: float, now: float) -> float | None:
        """First instant (1 s resolution) since the change at which the metric crossed the threshold."""
        if now - self.since < 1:
            return now
        step = max(1.0, math.ceil((now - self.since) / 10000))
        # The grid ends exactly at ``now``, where the poll saw the breach: a grid counted from ``since`` can
        # step over a sample that landed less than one step before the poll and find no crossing at all.
        start = now - math.floor((now - self.since) / step) * step
        hosts = [host] if host != AGGREGATE else self.ring_hosts
        try:
            series = self.client.range(self._query(m, "ring"), start, now, step)
        except PrometheusError as exc:
            self.errors.append(f"visible_at: {_short(exc)}")
            return None
        first = None
        for s in series:
            if host != AGGREGATE and _host_of(s.labels.get(self.host_label), hosts) != host:
                continue
            for ts, value in s.values:
                if math.isfinite(value) and m.breaches(value, reference):
                    first = ts if first is None else min(first, ts)
                    break
        # The poll at ``now`` saw it, so it was visible by then even if the range read disagrees at the edge.
        return now if first is None else first

    # -- the whole bake -------------------------------------------------------------------------------------
    def run(self) -> dict:
        started = self.clock()
        deadline = Deadline(self.duration, clock=self.monotonic, sleep=self.sleep)
        progress = Progress(self.report or (lambda line: None), progress_every(self.duration), clock=self.monotonic)
        progress.update(None, self._start_line())
        outcome = None
        for _poll in deadline.ticks(self.interval, last_at_deadline=True):
            outcome = self.poll()
            if outcome:
                break  # the verdict line below says it
            state, text = self.poll_summary()
            progress.update(state, f"{deadline.remaining():.0f}s left, poll {self.poll_count}: {text}")
        ended = self.clock()
        if outcome is None:
            if self.unreachable_streak:
                outcome = self._inconclusive(
                    f"the last poll could not read Prometheus ({self.errors[-1]}); the bake was not watched to its end"
                )
            else:
                outcome = {
                    "verdict": "pass",
                    "reason": f"no breach in {self.poll_count} polls over {ended - started:.0f}s",
                    "breach": None,
                }
        outcome.update(
            polls=self.poll_count,
            started_at=_iso(started),
            ended_at=_iso(ended),
            since=_iso(self.since),
            since_ts=self.since,
            duration=self.duration,
            interval=self.interval,
            ring_hosts=self.ring_hosts,
            baseline_hosts=self.baseline_hosts,
            errors=self.errors[-10:],
            metrics=[
                {
                    "name": s.metric.name,
                    "critical": s.metric.critical,
                    "direction": s.metric.direction,
                    "allowance": s.metric.allowance.as_dict(),
                    "reference": s.reference,
                    "last": s.last,
                    "worst": s.worst,
                    "nodata_polls": s.nodata_polls,
                }
                for s in self.metrics
            ],
        )
        progress.update(
            outcome["verdict"], f"{outcome['verdict']} after {outcome['polls']} polls: {outcome['reason']}", force=True
        )
        return outcome

    # -- progress -------------------------------------------------------------------------------------------
    def _start_line(self) -> str:
        against = (
            f"against {len(self.baseline_hosts)} baseline host(s)"
            if self.baseline_hosts
            else "against its own values before the change"
        )
        return (
            f"watching {', '.join(s.metric.name for s in self.metrics)} on {len(self.ring_hosts)} host(s) {against}"
            f" for {self.duration:g}s, every {self.interval:g}s"
        )

    def poll_summary(self) -> tuple[str, str]:
        """(state, text) of the last poll: state is ok, breaching, nodata or unreachable (a change of it is worth
        a progress line at once); text names each metric's worst reading against its limit."""
        if self.unreachable_streak:
            return "unreachable", f"Prometheus unreachable ({self.unreachable_streak} poll(s) in a row)"
        state, parts = "ok", []
        for s in self.metrics:
            m = s.metric
            if s.reference is None:
                parts.append(f"{m.name}: no reference data")
                state = "nodata" if state == "ok" else state
                continue
            read = {h: v for h, v in s.last.items() if v is not None}
            missing = sorted(h for h, v in s.last.items() if v is None)
            if any(st.breach for st in s.streaks.values()):
                state = "breaching"
            elif missing and state == "ok":
                state = "nodata"
            text = f"{m.name}: "
            if read:
                host = max(read, key=lambda h: _badness(m, read[h], s.reference))
                bound = _bound(m, s.reference)
                limit = {"increase": "<= " + bound, "decrease": ">= " + bound}.get(m.direction, "in " + bound)
                text += f"worst {host} {read[host]:g} (limit {limit})"
            if missing:
                text += ("; " if read else "") + f"no data from {', '.join(missing)}"
            parts.append(text)
        return state, "; ".join(parts)


def _worse(m: WatchMetric, a: float, b: float) -> bool:
    if m.direction == "increase":
        return a > b
    if m.direction == "decrease":
        return a < b
    return abs(a) > abs(b)


def _badness(m: WatchMetric, value: float, reference: float) -> float:
    if m.direction == "increase":
        return value - reference
    if m.direction == "decrease":
        return reference - value
    return abs(value - reference)


def _bound(m: WatchMetric, reference: float) -> str:
    t = m.threshold(reference)
    if m.direction == "increase":
        return f"{t['upper']:g}"
    if m.direction == "decrease":
        return f"{t['lower']:g}"
    return f"[{t['lower']:g}, {t['upper']:g}]"
