"""Scale benchmark: the main job at 12, 48 and 96 hosts as concurrent AWX-style slices on one PostgreSQL ledger.

    nice -n 10 .venv/bin/python bench/scale_bench.py [--sizes 12,48,96] [--slice 12]

Needs the lab up and nothing else using it (it changes every lab host), and the tests' PostgreSQL server
(scripts/services/postgres.sh; started here if it is down and stopped again at the end). Not part of make test.

Each fleet size is run once as AWX job slicing runs a template: size / slice ansible-runner jobs of
playbooks/change.yml, all at once, each on its slice (one inventory name of every lab host, see
tests/integration/scale_lab.py), each a change of its own (its rings as the planner makes them), judge off,
3 s bakes, on one fresh PostgreSQL schema. Measured per size, in one run, and printed with the ratio to the
smallest size:

- controller CPU seconds per host: user + system time of every job's ansible-runner, ansible-playbook and its
  workers, summed and divided by the hosts (the ledger server and ssh's multiplexers are not counted);
- wall seconds per host: from the first job's start to the last job's end, divided by the hosts;
- ledger appends per second: events the jobs appended (the schema's head seq at the end) over that wall time;
- the ledger's verification after the run (must be valid) and its time.

The lab has 12 hosts, so 48 and 96 hosts are 4 and 8 inventory names per lab host: what grows is Ansible's and
the ledger's work per target, not the number of machines (docs/awx.md). Results also go to bench/results/.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "integration"), str(REPO / "tests" / "lab"), str(REPO / "collections")]

import scale_lab  # noqa: E402
import yaml  # noqa: E402
from test_rollout import concurrent_changes_allowed  # noqa: E402

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger  # noqa: E402

KEY = "hmac:scale-bench-key-0123456789abcdef"
POSTGRES = REPO / "scripts" / "services" / "postgres.sh"
BAKE = {"canary": "3s", "default": "3s"}


def postgres(action):
    return subprocess.run(["bash", str(POSTGRES), action], capture_output=True, text=True, timeout=600, check=False)


def drop_schema(dsn, schema):
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run_size(size, slice_size, dsn, work, bindir):
    per_host = size // 12
    hosts = scale_lab.fleet(per_host)
    count = size // slice_size
    concurrent_changes_allowed(work)
    gate_policy = yaml.safe_load((work / "concurrent" / "group_vars" / "all.yml").read_text())["changeward_policy"]
    group_vars = scale_lab.group_vars(gate_policy, scale_lab.tolerance_policy(work))
    schema = "bench_" + uuid.uuid4().hex[:10]
    env = {"CHANGEWARD_LEDGER": dsn, "CHANGEWARD_LEDGER_KEY": KEY, "CHANGEWARD_LEDGER_PG_SCHEMA": schema}
    stamp = f"{int(time.time())}"
    change = scale_lab.spec("scale bench", f"b{stamp}", BAKE)
    jobs = [
        scale_lab.Job(work, f"bench{size}-{i}-{stamp}", part, f"CHG-BENCH{size}-{i}-{stamp}", change, group_vars, env)
        for i, part in enumerate(scale_lab.slices(hosts, count), 1)
    ]
    try:
        with scale_lab.published_host_series(hosts, f"bench{size}-{stamp}"):
            t0 = time.monotonic()
            scale_lab.run_jobs(jobs, bindir, timeout=3600)
            wall = time.monotonic() - t0
        failed = [(j.ident, j.status()) for j in jobs if j.status() != "successful"]
        if failed:
            raise SystemExit(f"{size} hosts: jobs did not succeed: {failed}\n{jobs[0].stdout()}")
        os.environ["CHANGEWARD_LEDGER_PG_SCHEMA"] = schema
        with open_ledger(dsn, create=False, readonly=True) as led:
            seq, _unused = led.head()
            v0 = time.monotonic()
            verdict = led.verify(key=KEY)
            verify_s = time.monotonic() - v0
        if not verdict["valid"]:
            raise SystemExit(f"{size} hosts: the ledger does not verify: {verdict['problems'][:3]}")
        cpu = sum(j.cpu for j in jobs)
        return {
            "hosts": size,
            "jobs": count,
            "names_per_lab_host": per_host,
            "wall_s": round(wall, 1),
            "controller_cpu_s": round(cpu, 1),
            "cpu_s_per_host": round(cpu / size, 2),
            "wall_s_per_host": round(wall / size, 2),
            "ledger_events": seq,
            "events_per_host": round(seq / size, 1),
            "appends_per_s": round(seq / wall, 2),
            "verify_s": round(verify_s, 2),
            "job_wall_s": [round(j.wall, 1) for j in jobs],
        }
    finally:
        scale_lab.clean_state(hosts, jobs)
        drop_schema(dsn, schema)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--sizes", default="12,48,96", help="fleet sizes, multiples of 12 (the lab's hosts)")
    ap.add_argument("--slice", type=int, default=12, help="hosts per job (AWX job slicing)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if any(s % 12 or s % args.slice or args.slice > 12 for s in sizes) or 12 % args.slice:
        raise SystemExit("sizes must be multiples of 12 and of --slice, and --slice must divide 12")
    started = postgres("status").returncode != 0
    if started and postgres("start").returncode != 0:
        raise SystemExit("could not start the tests' PostgreSQL server")
    rows = []
    try:
        dsn = postgres("dsn").stdout.strip()
        bindir = REPO / ".venv" / "bin"
        for size in sizes:
            with tempfile.TemporaryDirectory(prefix="scale-bench-") as work:
                row = run_size(size, args.slice, dsn, Path(work), bindir)
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        if started:
            postgres("stop")
    base = rows[0]
    print(
        f"\n{'hosts':>5} {'jobs':>4} {'wall s':>7} {'cpu s/host':>10} {'wall s/host':>11} {'events':>6}"
        f" {'appends/s':>9} {'cpu/host x':>10} {'appends/s x':>11}"
    )
    for r in rows:
        cpu_x, appends_x = r["cpu_s_per_host"] / base["cpu_s_per_host"], r["appends_per_s"] / base["appends_per_s"]
        print(
            f"{r['hosts']:>5} {r['jobs']:>4} {r['wall_s']:>7} {r['cpu_s_per_host']:>10} {r['wall_s_per_host']:>11}"
            f" {r['ledger_events']:>6} {r['appends_per_s']:>9} {cpu_x:>10.2f} {appends_x:>11.2f}"
        )
    out = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "rows": rows,
    }
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    path = results / f"scale-{datetime.datetime.now(datetime.UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"\nwritten to {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
