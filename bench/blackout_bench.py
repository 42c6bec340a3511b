"""Blackout gate benchmark: evaluation time per check for a calendar of 500 recurring windows, once loaded.

    .venv/bin/python bench/blackout_bench.py [--events 500] [--checks 2000] [--seed 7]

Builds one iCalendar file of recurring events (daily, weekday, weekly, monthly with BYSETPOS, quarterly and
yearly rules; zones with DST, half-hour and 30-minute DST offsets; scopes over a few services and
environment types), loads it through the same path as the blackout module, then times the per-check
decision (evaluation, next_allowed_at and result shaping) at random instants over two years and for
random scopes. The first pass includes the lazy expansion of the recurrences; the second pass is the
steady state the target refers to. Target: at most 5 ms per check.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar import gate  # noqa: E402
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.policy import blackout_policy  # noqa: E402

TARGET_MS = 5.0
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC", "America/Chicago"]
SERVICES = ["billing", "ledger", "auth", "search", "db", "web", "reporting", "payments"]
ENV_TYPES = ["cloud", "onprem", "edge"]
RULES = [
    ("FREQ=DAILY", "PT2H"),
    ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "PT1H"),
    ("FREQ=WEEKLY;BYDAY=SA", "PT4H"),
    ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "PT12H"),
    ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-3,-2,-1", "P1D"),
    ("FREQ=MONTHLY;BYMONTH=3,6,9,12;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "P1D"),
    ("FREQ=MONTHLY;BYDAY=2TU", "PT3H"),
    ("FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=24", "P9D"),
]


def build_calendar(events: int, rng: random.Random) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//changeward//bench//EN"]
    for n in range(events):
        rule, duration = rng.choice(RULES)
        zone = rng.choice(ZONES)
        start = datetime(2025, 1, 1) + timedelta(days=rng.randrange(0, 60), hours=rng.randrange(0, 24))
        categories = [f"service={rng.choice(SERVICES)}"]
        if rng.random() < 0.5:
            categories.append(f"env_type={rng.choice(ENV_TYPES)}")
        lines += [
            "BEGIN:VEVENT",
            f"UID:bench-{n}@changeward",
            "DTSTAMP:20250101T000000Z",
            f"SUMMARY:Window {n}",
            f"DTSTART;TZID={zone}:{start:%Y%m%dT%H%M%S}",
            f"DURATION:{duration}",
            f"RRULE:{rule}",
            f"CATEGORIES:{','.join(categories)}",
        ]
        if rng.random() < 0.2:
            lines.append("X-CHANGEWARD-KIND:maintenance")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def timed_checks(loaded, policy, instants, scopes):
    samples = []
    for at, scope in zip(instants, scopes, strict=True):
        began = time.perf_counter()
        gate.decide(loaded, policy, at, scope, "normal", False)
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def summary(samples):
    ordered = sorted(samples)
    return {
        "median": statistics.median(ordered),
        "p95": ordered[max(0, int(len(ordered) * 0.95) - 1)],
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--oneshot", type=int, default=5, help="fresh load + check runs (the action's path)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    base = datetime(2025, 3, 1, tzinfo=UTC)
    span = 2 * 365 * 86400
    instants = [(base + timedelta(seconds=rng.randrange(0, span))).isoformat() for _unused in range(args.checks)]
    scopes = [
        {"service": rng.choice(SERVICES), "env_type": rng.choice(ENV_TYPES)} if rng.random() < 0.9 else {}
        for _unused in range(args.checks)
    ]

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.ics"
        path.write_text(build_calendar(args.events, rng))
        policy = blackout_policy({"blackout": {"calendars": [str(path)]}})

        began = time.perf_counter()
        loaded = gate.load(policy.calendars, policy)
        load_ms = (time.perf_counter() - began) * 1000
        if loaded.errors or len(loaded.calendars) != args.events:
            print(f"calendar did not load as expected: {loaded.errors}", file=sys.stderr)
            return 1
        # "Once loaded": every recurrence expanded over the checked span plus the next_allowed_at horizon.
        began = time.perf_counter()
        until = (base + timedelta(seconds=span, days=policy.horizon_days + 1)).timestamp()
        loaded.calendars.expand_until(until)
        expand_ms = (time.perf_counter() - began) * 1000
        windows = sum(len(t.starts) for t in loaded.calendars.timelines)

        oneshot = []
        for at, scope in list(zip(instants, scopes, strict=True))[: args.oneshot]:
            began = time.perf_counter()
            gate.check(policy={"blackout": {"calendars": [str(path)]}}, at=at, scope=scope, enforce=False)
            oneshot.append((time.perf_counter() - began) * 1000)

    # First pass: each scope's merged windows are built block by block as checks reach them.
    first = summary(timed_checks(loaded, policy, instants, scopes))
    rng.shuffle(instants)
    warm = summary(timed_checks(loaded, policy, instants, scopes))
    blocked = sum(
        gate.decide(loaded, policy, a, s, "normal", False)["blocked"] for a, s in zip(instants, scopes, strict=True)
    )
    print(
        f"calendar: {args.events} recurring events, {args.checks} checks at random times over 2 years, seed {args.seed}"
    )
    print(f"load (read + parse + compile): {load_ms:.0f} ms; expansion to {windows} windows: {expand_ms:.0f} ms")
    print(
        f"first pass (builds per-scope merged windows): median {first['median']:.3f} ms, p95 {first['p95']:.3f} ms, "
        f"max {first['max']:.1f} ms"
    )
    print(
        f"per check, once loaded: median {warm['median']:.3f} ms, p95 {warm['p95']:.3f} ms, "
        f"mean {warm['mean']:.3f} ms, max {warm['max']:.3f} ms ({blocked} of {args.checks} blocked)"
    )
    if oneshot:
        print(
            f"one-shot load + check (what one blackout task pays): median {statistics.median(oneshot):.0f} ms "
            f"over {len(oneshot)} runs"
        )
    ratio = warm["p95"] / TARGET_MS
    print(
        f"target {TARGET_MS:.1f} ms per check: p95 = {ratio:.3f} x target, median = "
        f"{warm['median'] / TARGET_MS:.3f} x target ({'within' if ratio <= 1 else 'OVER'} target)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
