"""Bake-time watch on the real demo tolerance policy, against a simulated Prometheus with a simulated clock,
and against real HTTP (a closed port) for the outage case."""

import random
import re
from pathlib import Path

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.tolerance import load
from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import (
    PrometheusBadQuery,
    PrometheusClient,
    PrometheusEmptyResult,
    PrometheusUnreachable,
    Series,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.watch import Watch, WatchError, watch_metrics

REPO = Path(__file__).resolve().parents[3]
POLICY = load(str(REPO / "docs/examples/policies/demo.yml"))
RING = ("c1",)
BASELINE = ("b1", "b2", "b3")
T0 = 1_800_000_000.0


class Clock:
    def __init__(self, start=T0):
        self.now = start

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def hosts_of(query):
    match = re.search(r'host=~"\(\?:([^)]*)\)', query)
    return [h.replace("\\\\", "") for h in match.group(1).split("|")]


def metric_of(query):
    if 'code=~\\"5..\\"' in query or 'code=~"5.."' in query:
        return "error_ratio"
    if "duration_seconds_sum" in query:
        return "mean_latency_seconds"
    if "histogram_quantile" in query:
        return "p99_latency_seconds"
    if "demo_config_valid" in query:
        return "config_valid"
    raise AssertionError(query)


class SimProm:
    """Values from ``value(metric, host, t)``; None means the host has no series at t."""

    def __init__(self, value, clock):
        self.value = value
        self.clock = clock
        self.down_from = None
        self.down_until = None
        self.bad_query = False
        self.calls = 0

    def _down(self):
        now = self.clock()
        return (
            self.down_from is not None and now >= self.down_from and (self.down_until is None or now < self.down_until)
        )

    def instant(self, query, at=None):
        self.calls += 1
        if self.bad_query:
            raise PrometheusBadQuery("Prometheus rejected the query (HTTP 400)")
        if self._down():
            raise PrometheusUnreachable("Prometheus at http://sim unreachable after 3 attempt(s): refused")
        t = self.clock() if at is None else at
        metric = metric_of(query)
        out = []
        for h in hosts_of(query):
            v = self.value(metric, h, t)
            if v is not None:
                out.append(Series({"host": h}, [(t, v)]))
        if not out:
            raise PrometheusEmptyResult(f"query {query!r} returned no data")
        return out

    def range(self, query, start, end, step):
        if self._down():
            raise PrometheusUnreachable("down")
        metric = metric_of(query)
        out = []
        for h in hosts_of(query):
            points = []
            t = start
            while t <= end:
                v = self.value(metric, h, t)
                if v is not None:
                    points.append((t, v))
                t += step
            out.append(Series({"host": h}, points))
        return out


NOISE = random.Random(1)


def healthy(metric, host, t):
    return {
        "error_ratio": 0.0,
        "mean_latency_seconds": 0.020 * (1 + NOISE.gauss(0, 0.02)),
        "p99_latency_seconds": 0.024 * (1 + NOISE.gauss(0, 0.03)),
        "config_valid": 1.0,
    }[metric]


ALL = ("error_ratio", "mean_latency_seconds", "p99_latency_seconds", "config_valid")


def make(value, clock, ring=RING, baseline=BASELINE, capability="full", names=ALL, **kw):
    kw.setdefault("duration", 60)
    kw.setdefault("interval", 5)
    prom = SimProm(value, clock)
    w = Watch(
        prom,
        watch_metrics(POLICY, capability, names),
        ring,
        baseline,
        since=kw.pop("since", T0),
        clock=clock,
        monotonic=clock,
        sleep=clock.sleep,
        **kw,
    )
    return w, prom


def test_a_healthy_ring_passes_after_the_whole_bake():
    clock = Clock()
    w = make(healthy, clock)[0]
    out = w.run()
    assert out["verdict"] == "pass", out["reason"]
    assert out["polls"] == 13  # t = 0, 5, ..., 60
    assert clock.now == T0 + 60
    ratio = next(m for m in out["metrics"] if m["name"] == "error_ratio")
    assert ratio["reference"] == 0.0 and ratio["last"] == {"c1": 0.0}


def test_a_bad_canary_is_caught_at_the_first_poll_that_sees_it():
    clock = Clock()
    shows = T0 + 12.0  # the first scrape with 5xx lands 12 s after the change

    def bad(metric, host, t):
        if metric == "error_ratio" and host == "c1" and t >= shows:
            return 0.3
        return healthy(metric, host, t)

    w = make(bad, clock)[0]
    out = w.run()
    assert out["verdict"] == "breach"
    ev = out["breach"]
    assert (ev["metric"], ev["host"], ev["value"], ev["critical"]) == ("error_ratio", "c1", 0.3, True)
    assert ev["upper"] == pytest.approx(0.005)
    assert ev["detected_ts"] == T0 + 15  # the poll after the regression showed
    assert ev["visible_ts"] == shows  # found at 1 s resolution
    assert 0 <= ev["detection_seconds"] <= 5
    assert clock.now == T0 + 15  # the watch returned at once, it did not sit out the bake


def test_a_non_critical_blip_needs_to_persist():
    clock = Clock()

    def blip(metric, host, t):
        if metric == "p99_latency_seconds" and host == "c1" and T0 + 10 <= t < T0 + 20:
            return 0.2  # two polls
        return healthy(metric, host, t)

    assert make(blip, clock)[0].run()["verdict"] == "pass"

    clock = Clock()

    def slow(metric, host, t):
        if metric == "p99_latency_seconds" and host == "c1" and t >= T0 + 10:
            return 0.2
        return healthy(metric, host, t)

    out = make(slow, clock)[0].run()
    assert out["verdict"] == "breach" and out["breach"]["metric"] == "p99_latency_seconds"
    assert out["breach"]["detected_ts"] == T0 + 20  # third poll in breach (10, 15, 20)
    assert out["breach"]["first_breaching_poll_at"].startswith("2027-01-15T08:00:10")


def test_by_default_only_the_critical_metrics_are_watched():
    assert [m.name for m in watch_metrics(POLICY, "full")] == ["error_ratio", "config_valid"]
    clock = Clock()

    def slow(metric, host, t):
        if metric == "p99_latency_seconds" and host == "c1":
            return 0.2  # far beyond its allowance, for the whole bake
        return healthy(metric, host, t)

    assert make(slow, clock, names=None)[0].run()["verdict"] == "pass"  # the judge weighs latency, not the watch


def test_decrease_metrics_breach_downwards():
    clock = Clock()

    def invalid(metric, host, t):
        if metric == "config_valid" and host == "c1" and t >= T0 + 5:
            return 0.0
        return healthy(metric, host, t)

    out = make(invalid, clock)[0].run()
    assert out["breach"]["metric"] == "config_valid" and out["breach"]["lower"] == 1.0


def test_prometheus_outage_mid_bake_is_inconclusive_never_a_pass():
    clock = Clock()
    w, prom = make(healthy, clock)
    prom.down_from = T0 + 20
    out = w.run()
    assert out["verdict"] == "inconclusive"
    assert "unreachable for 3 polls" in out["reason"]
    assert clock.now == T0 + 30  # polls at 20, 25, 30 failed
    assert out["errors"]


def test_an_outage_at_the_last_poll_is_inconclusive_too():
    clock = Clock()
    w, prom = make(healthy, clock)
    prom.down_from = T0 + 60
    out = w.run()
    assert out["verdict"] == "inconclusive" and "not watched to its end" in out["reason"]


def test_a_short_outage_in_the_middle_is_ridden_out():
    clock = Clock()
    w, prom = make(healthy, clock)
    prom.down_from, prom.down_until = T0 + 20, T0 + 28  # polls at 20 and 25 fail
    out = w.run()
    assert out["verdict"] == "pass" and len(out["errors"]) == 2


@pytest.mark.parametrize(("strategy", "verdict"), [("fail", "breach"), ("inconclusive", "inconclusive")])
def test_a_ring_host_without_data(strategy, verdict):
    clock = Clock()

    def silent(metric, host, t):
        if host == "c1" and t >= T0 + 10 and metric == "error_ratio":
            return None
        return healthy(metric, host, t)

    w = make(silent, clock)[0]
    w.metrics[0].metric = w.metrics[0].metric.__class__(**{**w.metrics[0].metric.__dict__, "nodata": strategy})
    out = w.run()
    assert out["verdict"] == verdict
    assert "no data from c1" in out["reason"]
    assert clock.now == T0 + 20  # three polls without data


def test_nodata_ignore_is_left_out():
    clock = Clock()

    def silent(metric, host, t):
        return None if metric == "p99_latency_seconds" else healthy(metric, host, t)

    w = make(silent, clock)[0]
    w.metrics[2].metric = w.metrics[2].metric.__class__(**{**w.metrics[2].metric.__dict__, "nodata": "ignore"})
    assert w.run()["verdict"] == "pass"


def test_without_baseline_hosts_the_ring_is_compared_with_itself_before_the_change():
    clock = Clock()
    change = T0

    def later(metric, host, t):
        if metric == "mean_latency_seconds":
            return 0.020 if t <= change else 0.030  # +50 % after the change
        return healthy(metric, host, t)

    out = make(later, clock, baseline=[])[0].run()
    assert out["verdict"] == "breach" and out["breach"]["metric"] == "mean_latency_seconds"
    assert out["breach"]["reference"] == 0.020
    assert out["breach"]["reference_from"] == "the ring's hosts before the change"


def test_a_ring_that_cannot_roll_back_is_judged_more_tightly():
    clock = Clock()

    def slightly_slower(metric, host, t):
        if metric == "mean_latency_seconds" and host == "c1":
            return 0.0235  # +17.5 %: inside 20 %, outside 5 % (none: x0.25)
        if metric == "mean_latency_seconds":
            return 0.020
        return healthy(metric, host, t)

    assert make(slightly_slower, clock)[0].run()["verdict"] == "pass"
    clock = Clock()
    out = make(slightly_slower, clock, capability="none")[0].run()
    assert out["verdict"] == "breach" and out["breach"]["critical"] is True  # none: every metric critical
    assert out["breach"]["detected_ts"] == T0  # critical: one poll


def test_misconfiguration_is_an_error_not_a_verdict():
    clock = Clock()
    w, prom = make(healthy, clock)
    prom.bad_query = True
    with pytest.raises(WatchError, match="rejected"):
        w.run()
    with pytest.raises(WatchError, match="not in the policy"):
        watch_metrics(POLICY, "full", ["error_rate"])
    with pytest.raises(WatchError, match="needs hosts"):
        make(healthy, clock, ring=[])
    with pytest.raises(WatchError, match="duration"):
        make(healthy, clock, duration=0)


def test_a_dead_prometheus_over_real_http_is_inconclusive(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = PrometheusClient(f"http://127.0.0.1:{port}", timeout=0.5, retries=0)
    w = Watch(client, watch_metrics(POLICY, "full"), RING, BASELINE, since=T0, duration=1.0, interval=0.2)
    out = w.run()
    assert out["verdict"] == "inconclusive"
    assert out["errors"] and out["polls"] >= 1
    assert "unreachable" in out["reason"] or "not watched" in out["reason"]


def test_visible_time_is_found_when_the_poll_comes_less_than_a_step_after_the_sample():
    # The change began at a fractional second, so a 1 s grid counted from it (T0-0.5, ..., T0+14.5, T0+15.5)
    # has no point between the sample (T0+14.8) and the poll that sees it (T0+15); the grid must end at the poll.
    clock = Clock()
    shows = T0 + 14.8

    def bad(metric, host, t):
        if metric == "error_ratio" and host == "c1" and t >= shows:
            return 0.3
        return healthy(metric, host, t)

    out = make(bad, clock, since=T0 - 0.5)[0].run()
    ev = out["breach"]
    assert ev["detected_ts"] == T0 + 15
    assert ev["visible_ts"] is not None and shows <= ev["visible_ts"] <= ev["detected_ts"]
    assert ev["detection_seconds"] is not None and ev["detection_seconds"] < 1


def test_progress_is_a_few_lines_per_ring_as_the_bake_runs():
    """A healthy 60 s bake polled every 5 s (13 polls): the start, a line about every 15 s with the time left and
    the last poll's readings, the verdict; a change of state (Prometheus down, then back) is printed at once."""
    clock = Clock()
    lines = []
    w, prom = make(healthy, clock, report=lambda line: lines.append((clock.now - T0, line)))
    prom.down_from, prom.down_until = T0 + 22, T0 + 28  # the poll at 25 fails
    out = w.run()
    assert out["verdict"] == "pass" and out["polls"] == 13
    at = [t for t, _line in lines]
    assert at == [0, 0, 15, 25, 30, 45, 60, 60], lines
    assert lines[0][1].startswith("watching error_ratio, mean_latency_seconds") and "for 60s, every 5s" in lines[0][1]
    assert lines[2][1].startswith("45s left, poll 4: error_ratio: worst c1 0 (limit <= 0.005)")
    assert "config_valid: worst c1 1 (limit >= 1)" in lines[2][1]
    assert "Prometheus unreachable (1 poll(s) in a row)" in lines[3][1]
    assert lines[4][1].startswith("30s left, poll 7: error_ratio")  # back: printed at once
    assert lines[-1][1].startswith("pass after 13 polls")


def test_progress_shows_a_breach_building_up():
    clock = Clock()
    lines = []

    def slow(metric, host, t):
        if metric == "p99_latency_seconds" and host == "c1" and t >= T0 + 10:
            return 0.2
        return healthy(metric, host, t)

    make(slow, clock, report=lines.append)[0].run()
    assert any(line.startswith("50s left, poll 3:") and "p99_latency_seconds: worst c1 0.2" in line for line in lines)
    assert lines[-1].startswith("breach after 5 polls: p99_latency_seconds of c1 is 0.2")
    assert len(lines) <= 4
