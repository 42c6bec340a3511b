"""Wall-time cost of the recorder callback on a localhost playbook.

Runs the same playbook (N hosts as ``local`` connection aliases x M tasks) alternately without and with
``changeward.hybrid.recorder`` (a fresh SQLite ledger per run, a JSONL sink shipped during the run unless
--no-sinks), and prints the wall-time ratio with/without (target: at most 1.05) from the medians and from
the fastest runs, and the ratio of CPU time used (ansible-playbook, its workers and the shipper), which a
busy machine disturbs less than wall time.

    .venv/bin/python bench/recorder_bench.py [--hosts 12] [--tasks 30] [--rounds 3] [--no-sinks]
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.05


def write_project(work: Path, hosts: int, tasks: int) -> tuple:
    python = sys.executable
    (work / "ansible.cfg").write_text(
        f"[defaults]\ncollections_path = {REPO / 'collections'}\nforks = {max(hosts, 5)}\n"
        "host_key_checking = False\nretry_files_enabled = False\ninterpreter_python = auto_silent\n"
    )
    inv = work / "inventory.yml"
    lines = ["all:", "  hosts:"]
    for i in range(1, hosts + 1):
        lines += [f"    host{i:02d}:", "      ansible_connection: local", f"      ansible_python_interpreter: {python}"]
    inv.write_text("\n".join(lines) + "\n")
    pb = work / "playbook.yml"
    body = ["- name: Recorder benchmark", "  hosts: all", "  gather_facts: false", "  tasks:"]
    for t in range(tasks):
        if t % 3 == 2:
            body += [f"    - name: fact {t}", "      ansible.builtin.set_fact:", f"        step_{t}: {t}"]
        else:
            body += [f"    - name: command {t}", "      ansible.builtin.command: 'true'", "      changed_when: false"]
    pb.write_text("\n".join(body) + "\n")
    return inv, pb


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(work: Path, inv: Path, pb: Path, recorder: bool, sinks: bool, n: int) -> tuple:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "CHANGEWARD_"))}
    env.update(ANSIBLE_CONFIG=str(work / "ansible.cfg"), ANSIBLE_LOCAL_TEMP=str(work / "tmp"))
    if recorder:
        env.update(
            ANSIBLE_CALLBACKS_ENABLED="changeward.hybrid.recorder",
            CHANGEWARD_LEDGER=str(work / f"ledger-{n}.db"),
            CHANGEWARD_LEDGER_KEY="benchmark-ledger-key-0123456789",
            CHANGEWARD_CHANGE_ID=f"CHG-BENCH-{n}",
        )
        if sinks:
            env["CHANGEWARD_SINKS"] = (
                f'[{{"name": "auditor", "type": "jsonl", "path": "{work / f"export-{n}.jsonl"}"}}]'
            )
    cmd = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inv), str(pb)]
    cpu, started = cpu_of_children(), time.monotonic()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=work, check=False)
    elapsed, cpu = time.monotonic() - started, cpu_of_children() - cpu
    if out.returncode != 0:
        raise SystemExit(f"ansible-playbook failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return elapsed, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=12)
    parser.add_argument("--tasks", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3, help="pairs of runs (without, with), interleaved")
    parser.add_argument("--no-sinks", action="store_true", help="record only; no shipping")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recorder-bench-") as tmp:
        work = Path(tmp)
        inv, pb = write_project(work, args.hosts, args.tasks)
        run(work, inv, pb, False, False, 0)  # warm caches (collection loading, pyc)
        without, with_cb = [], []
        for n in range(1, args.rounds + 1):
            without.append(run(work, inv, pb, False, False, n))
            with_cb.append(run(work, inv, pb, True, not args.no_sinks, n))
            print(
                f"round {n}: without {without[-1][0]:.2f}s wall {without[-1][1]:.2f}s cpu, "
                f"with {with_cb[-1][0]:.2f}s wall {with_cb[-1][1]:.2f}s cpu",
                flush=True,
            )
        events = args.hosts * args.tasks + args.tasks + 3
    wall = [run[0] for run in without], [run[0] for run in with_cb]
    cpu = [run[1] for run in without], [run[1] for run in with_cb]
    ratio = statistics.median(wall[1]) / statistics.median(wall[0])
    print(
        f"recorder_bench: {args.hosts} hosts x {args.tasks} tasks (~{events} ledger events per run), "
        f"{'no sinks' if args.no_sinks else 'JSONL sink shipped during the run'}, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    base, rec = statistics.median(wall[0]), statistics.median(wall[1])
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"median wall time without the recorder: {base:.2f}s, with: {rec:.2f}s")
    print(f"wall-time ratio with/without (medians): {ratio:.3f} (target <= {TARGET}: {verdict})")
    print(f"wall-time ratio of the fastest runs: {min(wall[1]) / min(wall[0]):.3f}")
    print(f"CPU-time ratio (medians): {statistics.median(cpu[1]) / statistics.median(cpu[0]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
