"""Measure the canary judge on generated data with known truth: A/A false-fail rate and power.

Done-when targets (issue 8): A/A false-fail <= 1 % and a one-noise-sd shift in the bad direction caught with
>= 95 % power, at 50 points per metric, over 1000 seeded trials. Also prints skewed, outlier-laden and
multi-metric cases so the defaults are judged on more than textbook data. Exits 1 when a target is missed.

Usage: .venv/bin/python bench/judge_power.py [--trials 1000] [--points 50] [--seed 2025]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collections"))

from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.classify import (
    DEFAULT_ALPHA,
    DEFAULT_RELATIVE_ALLOWANCE,
    MetricSpec,
    classify,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.verdict import aggregate


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def normal(rng, n, shift_sd):
    return rng.normal(100, 10, n), rng.normal(100 + 10 * shift_sd, 10, n)


def lognormal(rng, n, shift_sd):
    # latency-like: median 100, sd ~10 % per point; the shift is multiplicative
    return 100 * rng.lognormal(0, 0.1, n), 100 * (1 + 0.1 * shift_sd) * rng.lognormal(0, 0.1, n)


def with_outliers(rng, n, shift_sd):
    b, c = normal(rng, n, shift_sd)
    for x in (b, c):
        idx = rng.choice(n, size=max(1, n // 25), replace=False)  # 4 % of points 10-1000x off
        x[idx] *= rng.uniform(10, 1000, idx.size)
    return b, c


def autocorrelated(rng, n, shift_sd, rho=0.8):
    # AR(1) noise, like overlapping rate() windows: the points are not independent
    def series(mean):
        e = rng.normal(0, 1, n)
        x = np.empty(n)
        x[0] = e[0]
        for i in range(1, n):
            x[i] = rho * x[i - 1] + math.sqrt(1 - rho * rho) * e[i]
        return mean + 10 * x

    return series(100), series(100 + 10 * shift_sd)


def ar1_half(rng, n, shift_sd):
    return autocorrelated(rng, n, shift_sd, rho=0.5)


def failure_rate(gen, direction, shift_sd, trials, points, rng):
    spec = MetricSpec("m", direction=direction)
    fails = sum(classify(spec, *gen(rng, points, shift_sd)).failed for _unused in range(trials))
    return fails


def verdict_fail_rate(metrics, trials, points, rng):
    """A/A with several non-critical metrics: how often the verdict is not pass."""
    specs = [MetricSpec(f"m{i}") for i in range(metrics)]
    bad = 0
    for _unused in range(trials):
        results = [classify(s, *normal(rng, points, 0.0)) for s in specs]
        bad += aggregate(results).verdict != "pass"
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--points", type=int, default=50)
    ap.add_argument("--seed", type=int, default=2025)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    n, t = args.points, args.trials
    allowance = f"{DEFAULT_RELATIVE_ALLOWANCE:.0%}"
    print(f"canary judge: alpha {DEFAULT_ALPHA}, default allowance {allowance} of the baseline median")
    print(f"{t} trials, {n} points per side, seed {args.seed}; noise sd 10 % of the mean; shift in noise sd\n")
    rows = [
        # (label, generator, direction, shift in sd, kind, target)
        ("A/A normal, direction increase", normal, "increase", 0.0, "false-fail", 0.01),
        ("A/A normal, direction decrease", normal, "decrease", 0.0, "false-fail", 0.01),
        ("A/A normal, direction either", normal, "either", 0.0, "false-fail", 0.01),
        ("+1 sd normal, direction increase", normal, "increase", 1.0, "power", 0.95),
        ("-1 sd normal, direction decrease", normal, "decrease", -1.0, "power", 0.95),
        ("+1 sd normal, direction either", normal, "either", 1.0, "power", None),
        ("-1 sd normal, direction increase (good way)", normal, "increase", -1.0, "false-fail", None),
        ("A/A lognormal, increase", lognormal, "increase", 0.0, "false-fail", None),
        ("+1 sd lognormal, increase", lognormal, "increase", 1.0, "power", None),
        ("A/A 4 % wild outliers, increase", with_outliers, "increase", 0.0, "false-fail", None),
        ("+1 sd 4 % wild outliers, increase", with_outliers, "increase", 1.0, "power", None),
        ("A/A AR(1) rho 0.8 (overlapping windows), increase", autocorrelated, "increase", 0.0, "false-fail", 0.01),
        ("A/A AR(1) rho 0.5, increase", ar1_half, "increase", 0.0, "false-fail", 0.01),
        ("+1 sd AR(1) rho 0.8, increase", autocorrelated, "increase", 1.0, "power", None),
        ("+1 sd AR(1) rho 0.5, increase", ar1_half, "increase", 1.0, "power", None),
        ("+0.3 sd normal, increase (inside the allowance)", normal, "increase", 0.3, "power", None),
        ("+0.5 sd normal, increase (at the allowance)", normal, "increase", 0.5, "power", None),
    ]
    missed = []
    print(f"{'case':50} {'measure':10} {'rate':>7}  {'95% CI':>17}  target")
    for label, gen, direction, shift, kind, target in rows:
        t0 = time.perf_counter()
        k = failure_rate(gen, direction, shift, t, n, rng)
        rate = k / t
        lo, hi = wilson(k, t)
        verdict = ""
        if target is not None:
            ok = rate <= target if kind == "false-fail" else rate >= target
            verdict = f"{'<=' if kind == 'false-fail' else '>='} {target:.0%} {'ok' if ok else 'MISSED'}"
            if not ok:
                missed.append(label)
        print(f"{label:50} {kind:10} {rate:7.1%}  [{lo:6.1%}, {hi:6.1%}]  {verdict}  ({time.perf_counter() - t0:.1f}s)")
    print()
    for metrics in (5, 20):
        k = verdict_fail_rate(metrics, t // 4, n, rng)
        print(
            f"A/A verdict not pass with {metrics:2d} non-critical metrics: {k / (t // 4):6.1%} of {t // 4} judgements"
        )
    print("\nall targets met" if not missed else f"\ntargets MISSED: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
