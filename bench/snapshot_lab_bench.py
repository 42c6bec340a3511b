"""Snapshot and rollback on real lab hosts: 1,000 files / 100 MB per host, on one host and on several
hosts at once, and the ratio of rollback time to the time of applying the change (target at most 1.2).

Per host, a tree of N files / M MB is built under /opt/snaplab/bench (untimed). The snapshot and every
rollback run through ansible-playbook and the real modules over SSH; their time is the module's own
measurement on the host (``duration_seconds``: for the rollback, restore + verification + the sync that
makes it durable) and, separately, the wall time seen from the controller (SSH, module transfer, Ansible).
The change - 80% of the files rewritten, 10% deleted, as many added - is applied on the host by a small
Python script, timed there, once written like ansible.builtin.copy writes (temp file + rename, no fsync)
and once durably (fsync per file before the rename, as dpkg unpacks). Before each timed phase the host
is synced (untimed). After every rollback a digest of the tree computed by the benchmark (not by the
modules) must equal the digest before the change, or the run stops.

    .venv/bin/python bench/snapshot_lab_bench.py [--one cloud-euw1a-02] [--hosts h1,h2,...]
        [--files 1000] [--mb 100] [--rounds 3] [--volume btrfs|xfs] [--json]

--volume attaches a fresh loop-backed file system of that type to every host used (the lab's opt-in
volumes, mounted at /opt/snaplab-vol inside the host) and puts both the tree and the snapshot store on
it, so capture and rollback clone (reflink) instead of copying; the volumes are detached at the end,
also when the run fails. The table then shows how the contents were written (method).

The lab must be running (make lab-up); hosts default to those this benchmark may use. Every call has a
timeout and the whole run is bounded; /opt/snaplab/bench is removed from every host at the end. Results
also go to bench/results/snapshot_lab_bench.json. Lab hosts share this machine's disk and CPU, so the
"several hosts at once" numbers show contention, not independent machines.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "lab"))

from cwlab import Lab  # noqa: E402

# The restorable hosts the snapshot tests own (onprem-dc1-legacy is labelled rollback_capability none).
DEFAULT_HOSTS = ["cloud-euw1a-02", "cloud-euw1b-01", "onprem-dc1-01"]
BASE = "/opt/snaplab/bench"
VOLUME_AT = "/opt/snaplab-vol"
VOLUME_BYTES = 2 * 1024**3  # sparse; the snapshot step keeps min_free 1G
PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"
TIME_LIMIT = 1800
SSH_TIMEOUT = 600

# Runs on the host with its python3 (stdlib only).
HOST_SCRIPT = r'''
import hashlib, json, os, sys, time
cmd, tree, files, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rnd = int(sys.argv[5]) if len(sys.argv) > 5 else 0

def path(i):
    return os.path.join(tree, "d%02d" % (i % 50), "f%05d.dat" % i)

def write(p, data, durable):
    tmp = os.path.join(os.path.dirname(p), ".bench_tmp_" + os.path.basename(p))
    with open(tmp, "wb") as fh:
        fh.write(data)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, p)

if cmd == "build":
    for i in range(files):
        os.makedirs(os.path.dirname(path(i)), exist_ok=True)
        with open(path(i), "wb") as fh:
            fh.write(os.urandom(size))
    os.sync()
    print(json.dumps({"built": files}))
elif cmd == "digest":
    h = hashlib.sha256()
    for dirpath, dirs, names in os.walk(tree):
        dirs.sort()
        for name in sorted(names):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            h.update(("%s\0%o\0%d\0%d\0%d\0" % (p, st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns)).encode())
            with open(p, "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
    print(json.dumps({"digest": h.hexdigest()}))
elif cmd in ("apply", "apply-durable"):
    durable = cmd == "apply-durable"
    rewrite = [i for i in range(files) if i % 10 < 8]
    delete = [i for i in range(files) if i % 10 == 8]
    payload = {i: os.urandom(size) for i in rewrite}
    extra = [os.urandom(size) for _ in delete]
    os.sync()
    started = time.perf_counter()
    for i in rewrite:
        write(path(i), payload[i], durable)
    for i in delete:
        os.unlink(path(i))
    for n, data in enumerate(extra):
        write(os.path.join(tree, "d%02d" % (n % 50), "new%d-%05d.dat" % (rnd, n)), data, durable)
    seconds = time.perf_counter() - started
    os.sync()
    print(json.dumps({"apply_seconds": seconds}))
elif cmd == "sync":
    os.sync()
    print(json.dumps({"synced": True}))
'''


def wait_until_reachable(lab: Lab, hosts: list[str], limit: float = 600) -> None:
    """Wait out (bounded) a full outage or a powered-off host - others test those on edge hosts."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        rows = {r["name"]: r for r in lab.status()["hosts"]}
        if all(rows[h]["state"] == "up" and "outage" not in rows[h]["faults"] for h in hosts):
            return
        time.sleep(3)


def host_py(lab: Lab, host: str, *args) -> dict:
    """Run HOST_SCRIPT on a host over SSH; retries connection failures (rc 255) on flaky links."""
    wait_until_reachable(lab, [host])
    for attempt in range(5):
        proc = subprocess.run(
            lab.ssh_argv(host, "python3", "-", *[str(a) for a in args], connect_timeout=20),
            input=HOST_SCRIPT,
            capture_output=True,
            text=True,
            timeout=SSH_TIMEOUT,
            check=False,
        )
        if proc.returncode != 255:
            break
        time.sleep(2 + attempt)
    if proc.returncode != 0:
        raise SystemExit(f"{host}: {args[0]} failed (rc {proc.returncode}): {proc.stderr[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def on_hosts(hosts, fn):
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        return dict(zip(hosts, pool.map(fn, hosts), strict=True))


def module_run(lab: Lab, workdir: Path, hosts: list[str], module: str, args: dict, name: str) -> tuple[dict, float]:
    """Run one module task on hosts through ansible-playbook; ({host: result}, controller wall seconds)."""
    wait_until_reachable(lab, hosts)
    results = workdir / f"{name}.json"
    collect = "{{ {" + ", ".join(f"'{h}': hostvars['{h}']['r'] | default(None)" for h in hosts) + "} | to_json }}"
    book = [
        {
            "name": name,
            "hosts": ",".join(hosts),
            "gather_facts": False,
            "tasks": [{"name": name, module: args, "register": "r", "ignore_errors": True}],
        },
        {
            "name": "collect",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [{"ansible.builtin.copy": {"dest": str(results), "content": collect, "mode": "0600"}}],
        },
    ]
    play = workdir / f"{name}.yml"
    play.write_text(json.dumps(book))
    # More SSH retries than ansible.cfg's, to ride out a short outage (both modules are safe to rerun).
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_SSH_RETRIES="8")
    env.pop("PYTHONPATH", None)
    started = time.monotonic()
    proc = subprocess.run(
        [str(PLAYBOOK), str(play)], cwd=REPO, env=env, capture_output=True, text=True, timeout=SSH_TIMEOUT, check=False
    )
    wall = time.monotonic() - started
    if not results.exists():
        raise SystemExit(f"{name}: ansible-playbook produced no results:\n{proc.stdout[-3000:]}")
    out = json.loads(results.read_text())
    for host, r in out.items():
        if not r or r.get("failed"):
            raise SystemExit(f"{name} failed on {host}: {(r or {}).get('msg')}")
    return out, wall


def bench(
    lab: Lab, workdir: Path, hosts: list[str], files: int, size: int, rounds: int, tag: str, base: str = BASE
) -> dict:
    """Build, snapshot, then `rounds` x (apply, rollback) x (plain, durable) on all hosts at once."""
    store, tree = f"{base}/store", f"{base}/tree"
    on_hosts(
        hosts,
        lambda h: subprocess.run(lab.ssh_argv(h, f"rm -rf {base}"), capture_output=True, timeout=120, check=False),
    )
    on_hosts(hosts, lambda h: host_py(lab, h, "build", tree, files, size))
    before = on_hosts(hosts, lambda h: host_py(lab, h, "digest", tree, files, size)["digest"])
    change_id = f"BENCH-{tag}-{int(time.time())}"
    snap, snap_wall = module_run(
        lab,
        workdir,
        hosts,
        "changeward.hybrid.snapshot",
        {"change_id": change_id, "scope": {"paths": [tree]}, "store": store, "min_free": "1G"},
        f"{tag}-snapshot",
    )
    per_host = {h: {"apply": [], "apply_durable": [], "rollback": [], "rollback_durable": []} for h in hosts}
    methods = {h: {} for h in hosts}  # how the rollbacks wrote contents, summed over the rounds
    walls = []
    for rnd in range(rounds):
        for durable in (False, True):
            cmd = "apply-durable" if durable else "apply"
            applied = on_hosts(hosts, lambda h, c=cmd, r=rnd: host_py(lab, h, c, tree, files, size, r))
            rb, wall = module_run(
                lab,
                workdir,
                hosts,
                "changeward.hybrid.rollback",
                {"change_id": change_id, "store": store},
                f"{tag}-rollback-{rnd}-{cmd}",
            )
            walls.append(wall)
            after = on_hosts(hosts, lambda h: host_py(lab, h, "digest", tree, files, size)["digest"])
            for h in hosts:
                if after[h] != before[h] or not rb[h]["verified"]:
                    raise SystemExit(f"{tag} round {rnd}: rollback on {h} did not restore the tree")
                per_host[h]["apply_durable" if durable else "apply"].append(applied[h]["apply_seconds"])
                per_host[h]["rollback_durable" if durable else "rollback"].append(rb[h]["duration_seconds"])
                for name, n in (rb[h].get("method_counts") or {}).items():
                    methods[h][name] = methods[h].get(name, 0) + n
    idle, _unused = module_run(
        lab, workdir, hosts, "changeward.hybrid.rollback", {"change_id": change_id, "store": store}, f"{tag}-noop"
    )
    med = statistics.median
    hosts_out = {}
    for h in hosts:
        t = per_host[h]
        rollback_all = t["rollback"] + t["rollback_durable"]
        hosts_out[h] = {
            "snapshot_seconds": snap[h]["duration_seconds"],
            "apply_seconds_median": round(med(t["apply"]), 3),
            "apply_durable_seconds_median": round(med(t["apply_durable"]), 3),
            "rollback_seconds_median": round(med(rollback_all), 3),
            "rollback_seconds_all": rollback_all,
            "noop_rollback_seconds": idle[h]["duration_seconds"],
            "noop_rollback_changed": idle[h]["changed"],
            "ratio_rollback_to_apply": round(med(rollback_all) / med(t["apply"]), 2),
            "ratio_rollback_to_durable_apply": round(med(rollback_all) / med(t["apply_durable"]), 2),
            "snapshot_method": snap[h].get("method"),
            "snapshot_method_counts": snap[h].get("method_counts"),
            "rollback_method_counts": methods[h],
        }
    cleanup = f"rm -rf {base}; rmdir {os.path.dirname(base)} 2>/dev/null || true"
    on_hosts(hosts, lambda h: subprocess.run(lab.ssh_argv(h, cleanup), capture_output=True, timeout=120, check=False))
    return {
        "hosts": hosts_out,
        "snapshot_wall_seconds": round(snap_wall, 3),
        "rollback_wall_seconds_median": round(med(walls), 3),
        "ratio_rollback_to_apply_worst": max(v["ratio_rollback_to_apply"] for v in hosts_out.values()),
        "ratio_rollback_to_durable_apply_worst": max(v["ratio_rollback_to_durable_apply"] for v in hosts_out.values()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", default=DEFAULT_HOSTS[0], help="host for the single-host run")
    ap.add_argument("--hosts", default=",".join(DEFAULT_HOSTS), help="comma list for the all-at-once run")
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--volume", choices=["btrfs", "xfs"], help="run on a volume of this file system attached to each host"
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = ap.parse_args()
    hosts = [h for h in args.hosts.split(",") if h]
    if not (1 <= args.files <= 20000 and 1 <= args.mb <= 1024 and 1 <= args.rounds <= 5 and hosts):
        ap.error("bounded to 1..20000 files, 1..1024 MB, 1..5 rounds and at least one host")
    lab = Lab.load()
    if not lab.is_running():
        ap.error("the lab is not running (make lab-up)")
    known = {h.name for h in lab.hosts()}
    unknown = sorted({args.one, *hosts} - known)
    if unknown:
        ap.error(f"not lab hosts: {', '.join(unknown)}")
    signal.alarm(TIME_LIMIT)  # bounded: a stuck run dies instead of hanging the machine
    size = args.mb * 1024 * 1024 // args.files
    base = f"{VOLUME_AT}/bench" if args.volume else BASE
    attached = []
    try:
        if args.volume:
            for h in sorted({args.one, *hosts}):
                lab.attach_volume(h, args.volume, VOLUME_AT, VOLUME_BYTES)
                attached.append(h)
        with tempfile.TemporaryDirectory(prefix="cw-snaplab-bench-") as d:
            workdir = Path(d)
            one = bench(lab, workdir, [args.one], args.files, size, args.rounds, "one", base)
            many = bench(lab, workdir, hosts, args.files, size, max(1, args.rounds - 1), "all", base)
    finally:
        for h in attached:
            lab.detach_volume(h, VOLUME_AT)
    out = {
        "file_system": args.volume or "overlayfs over the machine's ext4",
        "files": args.files,
        "bytes_per_host": args.files * size,
        "rounds": args.rounds,
        "one_host": {"host": args.one, **one},
        "all_hosts": {"hosts": hosts, **many},
        "target_ratio": 1.2,
        "faults": lab.faults(),
        "load_average": os.getloadavg()[0],
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    name = f"snapshot_lab_bench_{args.volume}.json" if args.volume else "snapshot_lab_bench.json"
    (results / name).write_text(json.dumps(out, indent=1) + "\n")
    if args.json:
        print(json.dumps(out))
        return 0
    print(
        f"{args.files} files, {out['bytes_per_host'] / 1e6:.0f} MB per host on {out['file_system']}; "
        f"load average {out['load_average']:.1f}"
    )
    for title, part in (("one host", out["one_host"]), (f"{len(hosts)} hosts at once", out["all_hosts"])):
        print(
            f"\n{title} (controller wall: snapshot {part['snapshot_wall_seconds']:.1f} s, "
            f"rollback median {part['rollback_wall_seconds_median']:.1f} s)"
        )
        print(
            f"{'host':20} {'snapshot':>9} {'apply':>7} {'durable':>8} {'rollback':>9} {'no-op':>6} "
            f"{'ratio':>6} {'ratio/durable':>14}  method (snapshot; rollback files)"
        )
        for h, v in part["hosts"].items():
            print(
                f"{h:20} {v['snapshot_seconds']:9.3f} {v['apply_seconds_median']:7.3f} "
                f"{v['apply_durable_seconds_median']:8.3f} {v['rollback_seconds_median']:9.3f} "
                f"{v['noop_rollback_seconds']:6.3f} {v['ratio_rollback_to_apply']:6.2f} "
                f"{v['ratio_rollback_to_durable_apply']:14.2f}  {v['snapshot_method']}; "
                + ", ".join(f"{k} {n}" for k, n in sorted(v["rollback_method_counts"].items()))
            )
    print(f"\ntarget ratio <= {out['target_ratio']}; faults during the run: {out['faults'] or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
