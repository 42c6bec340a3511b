"""Wall-time cost of the recorder callback on a lab playbook: every lab host x 30 tasks, over real SSH.

Runs one playbook against every host of the running lab (inventories/lab/generated/hybrid.yml, the hybrid
inventory plugin) alternately without and with ``changeward.hybrid.recorder`` (a fresh SQLite ledger per
run, a JSONL sink shipped during the run unless --no-sinks), after one warm-up run, and prints the wall-time
ratio with/without (target: at most 1.05) from the medians and from the fastest runs, and the ratio of
controller CPU time (ansible-playbook, its workers and the shipper), which a busy machine disturbs less.

The tasks are cheap and write only under /var/tmp/changeward-recorder-bench on the hosts (removed again at
the end, whatever happens). The lab is used as it is: never started, stopped or resized here.

    .venv/bin/python bench/recorder_bench.py [--tasks 30] [--rounds 3] [--forks 12] [--no-sinks]
"""

import argparse
import contextlib
import datetime
import fnmatch
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "lab"))

from cwlab import Lab  # noqa: E402

TARGET = 1.05
INVENTORY = REPO / "inventories" / "lab" / "generated" / "hybrid.yml"
BENCH_DIR = "/var/tmp/changeward-recorder-bench"  # noqa: S108 - on the lab hosts, the one path this bench owns
RUN_TIMEOUT = 900


def write_project(work: Path, tasks: int, forks: int) -> Path:
    # Our own ansible.cfg: the operator's one also enables the window guard callback, which is not measured.
    (work / "ansible.cfg").write_text(
        f"[defaults]\ncollections_path = {REPO / 'collections'}\nforks = {forks}\ntimeout = 30\n"
        "host_key_checking = False\nretry_files_enabled = False\ninterpreter_python = auto_silent\n"
        "[inventory]\nenable_plugins = changeward.hybrid.hybrid, ansible.builtin.yaml\nany_unparsed_is_failed = True\n"
        "[ssh_connection]\npipelining = True\n"
        "ssh_args = -o ControlMaster=auto -o ControlPersist=300s -o ServerAliveInterval=5 -o ConnectTimeout=15\n"
        f"control_path_dir = {work / 'cp'}\n"
    )
    body = [
        "- name: Recorder benchmark",
        "  hosts: all",
        "  gather_facts: false",
        "  tasks:",
        "    - name: bench dir",
        "      ansible.builtin.file:",
        f"        path: {BENCH_DIR}",
        "        state: directory",
        "        mode: '0700'",
    ]
    for t in range(1, tasks):
        if t % 3 == 1:
            body += [
                f"    - name: write {t}",
                f"      ansible.builtin.shell: echo {t} > {BENCH_DIR}/step-{t}",
                "      changed_when: true",
            ]
        elif t % 3 == 2:
            body += [f"    - name: stat {t}", "      ansible.builtin.stat:", f"        path: {BENCH_DIR}/step-{t - 1}"]
        else:
            body += [f"    - name: fact {t}", "      ansible.builtin.set_fact:", f"        step_{t}: {t}"]
    pb = work / "playbook.yml"
    pb.write_text("\n".join(body) + "\n")
    (work / "cleanup.yml").write_text(
        "- name: Remove the recorder benchmark's files\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        f"    - name: remove\n      ansible.builtin.file:\n        path: {BENCH_DIR}\n        state: absent\n"
    )
    return pb


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def base_env(work: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "CHANGEWARD_"))}
    env.update(ANSIBLE_CONFIG=str(work / "ansible.cfg"), ANSIBLE_LOCAL_TEMP=str(work / "tmp"))
    env.pop("PYTHONPATH", None)
    return env


EXCLUDE: list = []  # host name patterns left out (--exclude), passed to ansible-playbook as --limit


def playbook(work: Path, pb: Path, env: dict, limit: bool = True):
    cmd = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(INVENTORY), str(pb)]
    if EXCLUDE and limit:
        cmd += ["--limit", ",".join(["all", *(f"!{p}" for p in EXCLUDE)])]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=work, timeout=RUN_TIMEOUT, check=False)


def run(work: Path, pb: Path, recorder: bool, sinks: bool, n: int) -> tuple:
    env = base_env(work)
    if recorder:
        env.update(
            ANSIBLE_CALLBACKS_ENABLED="changeward.hybrid.recorder",
            CHANGEWARD_LEDGER=str(work / f"ledger-{n}.db"),
            CHANGEWARD_LEDGER_KEY="benchmark-ledger-key-0123456789",
            CHANGEWARD_CHANGE_ID=f"CHG-BENCH-{n}",
        )
        if sinks:
            sink = {"name": "auditor", "type": "jsonl", "path": str(work / f"export-{n}.jsonl")}
            env["CHANGEWARD_SINKS"] = json.dumps([sink])
    cpu, started = cpu_of_children(), time.monotonic()
    out = playbook(work, pb, env)
    elapsed, cpu = time.monotonic() - started, cpu_of_children() - cpu
    if out.returncode == 4:  # a host unreachable: another test's link fault, not the recorder
        return None
    if out.returncode != 0:
        raise SystemExit(f"ansible-playbook failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-2000:]}")
    return elapsed, cpu


def events_in(ledger: Path) -> int:
    import sqlite3

    con = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT count(*) FROM ledger_events").fetchone()[0])
    finally:
        con.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3, help="pairs of runs (without, with), interleaved")
    parser.add_argument("--forks", type=int, default=12)
    parser.add_argument("--no-sinks", action="store_true", help="record only; no shipping")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/recorder_bench.json")
    parser.add_argument("--wait-clean", type=float, default=600, help="seconds to wait for lab faults to clear")
    parser.add_argument(
        "--exclude", action="append", default=[], help="leave out hosts matching this pattern (e.g. 'edge-*')"
    )
    parser.add_argument(
        "--allow-faults", action="store_true", help="measure through loss/rate faults (outages are still waited out)"
    )
    args = parser.parse_args()
    if args.tasks < 2 or args.rounds < 1:
        raise SystemExit("need --tasks >= 2 and --rounds >= 1")
    lab = Lab()
    if not lab.is_up():
        raise SystemExit("the lab is not up: start it first (make lab-up); this benchmark never starts it")
    EXCLUDE.extend(args.exclude)
    hosts = [h.name for h in lab.hosts() if not any(fnmatch.fnmatch(h.name, p) for p in EXCLUDE)]
    if not hosts:
        raise SystemExit("--exclude leaves no host")
    # Other tests share the lab and add link faults (loss, rate limits, outages) that would time SSH, not the
    # recorder: every pair of runs starts on a clean lab, and a pair that saw a fault or an unreachable host
    # is discarded and run again (bounded).
    faults, discarded = set(), 0

    def blocking():
        """Hosts whose faults stop a measurement: any fault, or with --allow-faults only outages."""
        now = {h: f for h, f in lab.faults().items() if h in hosts}
        faults.update(now)
        return sorted(h for h, f in now.items() if not args.allow_faults or "outage" in f)

    def wait_clean():
        deadline = time.monotonic() + args.wait_clean
        while (now := blocking()) and time.monotonic() < deadline:
            print(f"waiting for the lab's faults to clear: {', '.join(now)}", flush=True)
            time.sleep(10)
        if now:
            raise SystemExit(f"lab hosts with link faults after {args.wait_clean:g}s: {', '.join(now)}")

    with tempfile.TemporaryDirectory(prefix="recorder-bench-") as tmp:
        work = Path(tmp)
        pb = write_project(work, args.tasks, args.forks)
        try:
            wait_clean()
            run(work, pb, False, False, 0)  # warm-up: collection loading, pyc, SSH control masters
            without, with_cb, events = [], [], []
            n = 0
            while len(without) < args.rounds:
                n += 1
                if n > 3 * args.rounds:
                    raise SystemExit(f"gave up: {discarded} of {n - 1} pairs were disturbed by lab faults")
                wait_clean()
                pair = run(work, pb, False, False, n), run(work, pb, True, not args.no_sinks, n)
                seen = blocking()
                if None in pair or seen:
                    discarded += 1
                    print(f"pair {n} discarded: faults on {', '.join(seen) or 'an unreachable host'}", flush=True)
                    continue
                without.append(pair[0])
                with_cb.append(pair[1])
                events.append(events_in(work / f"ledger-{n}.db"))
                print(
                    f"round {len(without)}: without {pair[0][0]:.2f}s wall {pair[0][1]:.2f}s cpu, "
                    f"with {pair[1][0]:.2f}s wall {pair[1][1]:.2f}s cpu ({events[-1]} ledger events)",
                    flush=True,
                )
        finally:
            with contextlib.suppress(SystemExit):
                wait_clean()
            cleanup = playbook(work, work / "cleanup.yml", base_env(work), limit=False)  # every host
            if cleanup.returncode != 0:
                print(f"WARNING: cleanup of {BENCH_DIR} failed:\n{cleanup.stdout[-1500:]}", file=sys.stderr)
    wall = [r[0] for r in without], [r[0] for r in with_cb]
    cpu = [r[1] for r in without], [r[1] for r in with_cb]
    base, rec = statistics.median(wall[0]), statistics.median(wall[1])
    ratio = rec / base
    result = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hosts": len(hosts),
        "excluded": EXCLUDE,
        "hosts_with_faults_seen": sorted(faults),
        "pairs_discarded": discarded,
        "tasks": args.tasks,
        "rounds": args.rounds,
        "forks": args.forks,
        "sinks": "none" if args.no_sinks else "jsonl (shipped during the run)",
        "ledger_events_per_run": statistics.median(events),
        "wall_without_s": [round(x, 2) for x in wall[0]],
        "wall_with_s": [round(x, 2) for x in wall[1]],
        "cpu_without_s": [round(x, 2) for x in cpu[0]],
        "cpu_with_s": [round(x, 2) for x in cpu[1]],
        "wall_ratio_median": round(ratio, 3),
        "wall_ratio_fastest": round(min(wall[1]) / min(wall[0]), 3),
        "cpu_ratio_median": round(statistics.median(cpu[1]) / statistics.median(cpu[0]), 3),
        "load_average": round(os.getloadavg()[0], 1),
        "cpus": os.cpu_count(),
        "target": TARGET,
        "target_met": ratio <= TARGET,
    }
    left_out = f" (excluded {', '.join(EXCLUDE)})" if EXCLUDE else ""
    print(
        f"recorder_bench: {len(hosts)} lab hosts{left_out} x {args.tasks} tasks over SSH (forks {args.forks}, "
        f"~{result['ledger_events_per_run']:.0f} ledger events per run), {result['sinks']}, load average "
        f"{result['load_average']} on {result['cpus']} CPUs; {discarded} pair(s) discarded for other tests' faults"
    )
    print(f"median wall time without the recorder: {base:.2f}s, with: {rec:.2f}s")
    verdict = "met" if result["target_met"] else "NOT met"
    print(f"wall-time ratio with/without (medians): {ratio:.3f} (target <= {TARGET}: {verdict})")
    print(f"wall-time ratio of the fastest runs: {result['wall_ratio_fastest']:.3f}")
    print(f"CPU-time ratio (medians): {result['cpu_ratio_median']:.3f}")
    if not args.no_save:
        out = REPO / "bench" / "results" / "recorder_bench.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"written to {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
