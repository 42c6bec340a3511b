"""Lab benchmark: start-up time of N hosts, and SSH round-trip per host with and without the flaky
link profile (3% loss each way + 2 mbit/s).

    .venv/bin/python bench/lab_bench.py [--hosts 12] [--runs 5] [--sample 12]

If no lab is running, the benchmark brings one up (timed) and tears it down at the end, whatever
happens. A running lab is reused as it is (start-up is then not measured), only hosts without
faults are measured, and the faults the benchmark adds are cleared again. Every loop is bounded:
runs x sampled hosts x 2 SSH calls, each with a timeout. Results also go to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "lab"))

from cwlab import Lab, LabError  # noqa: E402

SSH_TIMEOUT = 30


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def ssh_round_trips(lab: Lab, hosts: list[str], runs: int) -> dict[str, list[float]]:
    """Wall time of `ssh host true` (a fresh connection each time: handshake + auth + command)."""
    times: dict[str, list[float]] = {h: [] for h in hosts}
    for _run in range(runs):
        for h in hosts:
            t0 = time.monotonic()
            try:
                res = subprocess.run(
                    lab.ssh_argv(h, "true", connect_timeout=20), capture_output=True, timeout=SSH_TIMEOUT, check=False
                )
                ok = res.returncode == 0
            except subprocess.TimeoutExpired:
                ok = False
            # A failed call is recorded as the full timeout: a flaky link must not look fast.
            times[h].append(time.monotonic() - t0 if ok else float(SSH_TIMEOUT))
    return times


def spread_sample(lab: Lab, size: int) -> list[str]:
    faulted = set(lab.faults())
    clean = [h for h in lab.hosts() if h.name not in faulted]
    if not clean:
        raise LabError("every lab host already has a fault; nothing clean to measure")
    by_env: dict[str, list[str]] = {}
    for h in clean:
        by_env.setdefault(h.env_type, []).append(h.name)
    picked: list[str] = []
    while len(picked) < min(size, len(clean)):  # round-robin over env types
        for names in by_env.values():
            if names and len(picked) < size:
                picked.append(names.pop(0))
    return picked


def summarize(times: dict[str, list[float]]) -> dict:
    flat = [t for ts in times.values() for t in ts]
    return {"median": statistics.median(flat), "p95": p95(flat), "samples": len(flat)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=12, help="lab size when the benchmark starts the lab")
    ap.add_argument("--runs", type=int, default=5, help="ssh calls per host and condition (1..50)")
    ap.add_argument("--sample", type=int, default=12, help="how many hosts to measure (spread over env types)")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "lab_bench.json"))
    args = ap.parse_args()
    if not 1 <= args.runs <= 50 or args.sample < 1:
        ap.error("--runs must be 1..50 and --sample at least 1")

    lab = Lab.load()
    started = not lab.is_running()
    result: dict = {"hosts": None, "startup_seconds": None}
    sample: list[str] = []
    try:
        t0 = time.monotonic()
        lab.up(args.hosts if started else None, log=print)
        result["hosts"] = len(lab.hosts())
        if started:
            result["startup_seconds"] = round(time.monotonic() - t0, 2)
            secs = result["startup_seconds"]
            print(f"start-up: {result['hosts']} hosts ready (sshd, demo service, Prometheus) in {secs}s")
        else:
            print(f"a lab of {result['hosts']} hosts was already up: start-up not measured")
        sample = spread_sample(lab, args.sample)
        print(f"ssh round-trip: {len(sample)} hosts x {args.runs} runs, fresh connection each ('ssh host true')")
        base = ssh_round_trips(lab, sample, args.runs)
        lab.fault(",".join(sample), profile="flaky")
        flaky = ssh_round_trips(lab, sample, args.runs)
    finally:
        if sample and not started:
            lab.clear_faults(",".join(sample))
        if started:
            lab.down(log=print)

    print(f"\n{'host':<20} {'clean med':>10} {'clean p95':>10} {'flaky med':>10} {'flaky p95':>10}")
    for h in sample:
        cells = [statistics.median(base[h]), p95(base[h]), statistics.median(flaky[h]), p95(flaky[h])]
        print(f"{h:<20} " + " ".join(f"{c:>9.3f}s" for c in cells))
    b, f = summarize(base), summarize(flaky)
    result.update(
        sample=sample,
        runs=args.runs,
        clean=b,
        flaky=f,
        ratio_median=f["median"] / b["median"],
        ratio_p95=f["p95"] / b["p95"],
        per_host={h: {"clean": base[h], "flaky": flaky[h]} for h in sample},
    )
    print(f"\nclean: median {b['median']:.3f}s  p95 {b['p95']:.3f}s  ({b['samples']} calls)")
    print(f"flaky: median {f['median']:.3f}s  p95 {f['p95']:.3f}s  ({f['samples']} calls)")
    print(f"ratio flaky/clean: median x{result['ratio_median']:.2f}  p95 x{result['ratio_p95']:.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LabError as exc:
        print(f"lab_bench: error: {exc}", file=sys.stderr)
        sys.exit(1)
