"""Drift benchmark: cost per host of the two detectors of the same declared state.

    .venv/bin/python bench/drift_bench.py [--hosts all|h1,h2,...] [--sizes 12,24,48] [--rounds 3] [--prepare]

For each fleet size it runs, on that many hosts of the running lab:

- scan:  render the changeward.hybrid.drift_baseline baseline and run changeward.hybrid.drift_scan
         (one module call per host) - the scan play of playbooks/drift_detect.yml;
- check: the drift_baseline role itself with check_mode and diff, with the drift_collector callback
         recording the evidence - the check play of playbooks/drift_detect.yml;

and reports the wall time (median of --rounds), the cost per host (wall time / hosts) and the ratio
check / scan (target: scan at least 5x cheaper per host). Both detectors only read: the benchmark changes
nothing on the hosts unless --prepare is given, which applies the declared state first (do that only on
hosts you own). Hosts not in the declared state are measured as they are; the states seen are printed.

Sizes larger than the running lab are not measured: the lab's size is fixed while it runs and a bigger
lab means taking this one down, which a shared lab must not. The benchmark prints how to measure them on
a lab of your own. Results also go to bench/results/drift_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "lab"))

from cwlab import Lab  # noqa: E402

PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
RUN_TIMEOUT = 1800


def plays(hosts: list[str], out: Path) -> dict[str, Path]:
    pattern = ",".join(hosts)
    scan = [
        {
            "name": "scan",
            "hosts": pattern,
            "gather_facts": False,
            "tasks": [
                {
                    "name": "render",
                    "ansible.builtin.include_role": {
                        "name": "changeward.hybrid.drift_baseline",
                        "tasks_from": "render",
                    },
                },
                {
                    "name": "scan",
                    "changeward.hybrid.drift_scan": {"baseline": "{{ drift_baseline_spec }}"},
                    "register": "drift_scan_result",
                    "ignore_unreachable": True,
                },
                {
                    "name": "keep the status",
                    "ansible.builtin.set_fact": {"bench_status": "{{ drift_scan_result.status | default('unknown') }}"},
                },
            ],
        },
        {
            "name": "collect",
            "hosts": "localhost",
            "gather_facts": False,
            "vars": {"bench_hosts": hosts},
            "tasks": [
                {
                    "name": "write states",
                    "ansible.builtin.copy": {
                        "dest": str(out / "scan-states.json"),
                        "mode": "0600",
                        "content": "{{ dict(bench_hosts | zip(bench_hosts | map('extract', hostvars, 'bench_status')))"
                        " | to_json }}",
                    },
                }
            ],
        },
    ]
    check = [
        {
            "name": "check",
            "hosts": pattern,
            "gather_facts": False,
            "check_mode": True,
            "diff": True,
            "ignore_errors": True,
            "roles": ["changeward.hybrid.drift_baseline"],
        }
    ]
    paths = {}
    for name, book in (("scan", scan), ("check", check)):
        paths[name] = out / f"{name}.yml"
        paths[name].write_text(yaml.safe_dump(book, sort_keys=False))
    return paths


def env(out: Path) -> dict:
    e = dict(os.environ)
    e.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_CALLBACKS_ENABLED="changeward.hybrid.drift_collector",
        CHANGEWARD_DRIFT_OUTPUT_DIR=str(out / "evidence"),
    )
    e.pop("CHANGEWARD_DRIFT_DETAILED_EXITCODE", None)
    return e


def timed(book: Path, out: Path) -> tuple[float, int, str]:
    t0 = time.monotonic()
    proc = subprocess.run(
        [str(PLAYBOOK), str(book)],
        cwd=REPO,
        env=env(out),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    return time.monotonic() - t0, proc.returncode, proc.stdout[-1500:]


def check_states(out: Path) -> dict:
    files = sorted((out / "evidence").glob("check-*.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        return {}
    sys.path.insert(0, str(REPO / "collections"))
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.collect import host_status

    doc = json.loads(files[-1].read_text())
    return {h: host_status(e) for h, e in doc["hosts"].items()}


def measure(hosts: list[str], rounds: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        out = Path(tmp)
        books = plays(hosts, out)
        times: dict[str, list[float]] = {"scan": [], "check": []}
        for _round in range(rounds):
            for name in ("scan", "check"):  # alternate, so load changes hit both alike
                seconds, rc, tail = timed(books[name], out)
                if name == "scan" and rc != 0:
                    raise SystemExit(f"scan run failed (rc {rc}):\n{tail}")
                times[name].append(seconds)
        scan_states = json.loads((out / "scan-states.json").read_text())
        states = {"scan": count(scan_states.values()), "check": count(check_states(out).values())}
    scan, check = statistics.median(times["scan"]), statistics.median(times["check"])
    n = len(hosts)
    return {
        "hosts": n,
        "rounds": rounds,
        "scan_seconds": round(scan, 2),
        "check_seconds": round(check, 2),
        "scan_per_host": round(scan / n, 3),
        "check_per_host": round(check / n, 3),
        "ratio": round(check / scan, 2),
        "runs": {k: [round(v, 2) for v in vs] for k, vs in times.items()},
        "states": states,
    }


def count(values) -> dict:
    out: dict = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", default="all", help="'all' (every running lab host) or a comma list")
    ap.add_argument("--sizes", default="12,24,48", help="fleet sizes to measure (comma list)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prepare", action="store_true", help="apply the declared state to the hosts first")
    args = ap.parse_args()
    if not PLAYBOOK.exists():
        print("needs .venv (make setup)", file=sys.stderr)
        return 2
    lab = Lab.load()
    if not lab.is_running():
        print("the lab is not running: make lab-up (HOSTS=48 for the largest size)", file=sys.stderr)
        return 2
    running = [h.name for h in lab.hosts()]
    pool = running if args.hosts == "all" else [h for h in args.hosts.split(",") if h]
    unknown = sorted(set(pool) - set(running))
    if unknown:
        print(f"not lab hosts: {', '.join(unknown)}", file=sys.stderr)
        return 2
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if args.prepare:
        with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
            book = Path(tmp) / "apply.yml"
            book.write_text(
                yaml.safe_dump(
                    [{"hosts": ",".join(pool), "gather_facts": False, "roles": ["changeward.hybrid.drift_baseline"]}]
                )
            )
            _seconds, rc, tail = timed(book, Path(tmp))
            if rc != 0:
                print(f"--prepare failed (rc {rc}):\n{tail}", file=sys.stderr)
                return 1
    results, skipped = [], []
    for size in sizes:
        if size > len(pool):
            skipped.append(size)
            continue
        hosts = pool[:size]
        print(f"measuring {size} hosts ({args.rounds} rounds)...", flush=True)
        results.append(measure(hosts, args.rounds))
    print()
    print(f"{'hosts':>5} {'scan s':>8} {'check s':>8} {'scan s/host':>12} {'check s/host':>13} {'ratio':>6}  states")
    for r in results:
        print(
            f"{r['hosts']:>5} {r['scan_seconds']:>8} {r['check_seconds']:>8} {r['scan_per_host']:>12} "
            f"{r['check_per_host']:>13} {r['ratio']:>5}x  scan {r['states']['scan']} check {r['states']['check']}"
        )
        verdict = "meets" if r["ratio"] >= 5 else "MISSES"
        print(f"      drift_scan is {r['ratio']}x cheaper per host than the check-mode run: {verdict} the 5x target")
    for size in skipped:
        print(
            f"{size:>5} not measured: {len(pool)} host(s) available. On a lab nobody else uses: make lab-down; "
            f"make lab-up HOSTS={size}; .venv/bin/python bench/drift_bench.py --sizes {size} --prepare"
        )
    results_dir = REPO / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "drift_bench.json").write_text(
        json.dumps({"results": results, "not_measured": skipped, "pool": len(pool)}, indent=2) + "\n"
    )
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
