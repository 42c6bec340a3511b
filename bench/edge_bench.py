"""Edge update benchmark on the lab's edge hosts: the issue's full fault schedule (run by hand).

    scripts/services/nginx.sh start            # (the benchmark starts it too)
    .venv/bin/python bench/edge_bench.py [--size-mb 50] [--rate 4mbit] [--loss 0.05] [--skip-copy]

Phases, on edge-s1-01, edge-s2-01 and edge-s3-01 at once (each host has its own link):
  1. baseline: the edge transfer of a SIZE artifact over the rate-limited link, no loss, no outage;
  2. faults:   another SIZE artifact under loss + rate, a 30 s outage every 120 s and one 5-minute outage;
               completion time per host, bytes served by nginx (access log), restarts from zero;
  3. copy:     ansible.builtin.copy of the same file under the same schedule, retried until it lands or
               the time limit passes (each retry starts from zero);
  4. ansible.posix.synchronize, only when the collection is installed (it is not on Galaxy here).
Targets: faults time <= 1.3 x baseline + outage time during the transfer; bytes served <= 1.05 x size + one
chunk per outage. Results are printed and written to bench/results/edge_bench.json.
"""

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "lab"))

import test_edge_update as h  # noqa: E402  (the integration test's helpers: nginx, publisher, ansible)

from cwlab import Lab  # noqa: E402

HOSTS = h.HOSTS


class Schedule:
    """Outages on the hosts' links: `every` s apart from `first`, and one `long` outage at `long_at`.

    A regular outage that would start inside the long one is skipped (setting it would cut the long one short).
    """

    def __init__(self, lab, every, seconds, long_at, long_seconds, first=20):
        self.lab, self.every, self.seconds = lab, every, seconds
        self.long_at, self.long_seconds, self.first = long_at, long_seconds, first
        self.applied = []
        self.stop = threading.Event()
        self.thread = None

    def plan(self, horizon):
        events = [(self.long_at, self.long_seconds)]
        t = self.first
        while t < horizon:
            overlaps = self.long_at - self.seconds <= t < self.long_at + self.long_seconds + 10
            if not overlaps:
                events.append((t, self.seconds))
            t += self.every
        return sorted(events)

    def start(self, horizon=7200):
        t0 = time.time()
        targets = ",".join(HOSTS)

        def run():
            for at, seconds in self.plan(horizon):
                if self.stop.wait(max(0.0, t0 + at - time.time())):
                    return
                self.lab.fault(targets, outage=seconds)
                self.applied.append((time.time(), time.time() + seconds))

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        return t0

    def finish(self):
        self.stop.set()
        self.thread.join()
        self.lab.clear_faults(",".join(HOSTS))

    def overlap(self, begin, end):
        return sum(max(0.0, min(end, b) - max(begin, a)) for a, b in self.applied)


def device_status(lab, host):
    proc = lab.ssh(host, f"cat {h.ROOT_DIR}/{h.APP}/state.json", timeout=20)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)


def stage_and_wait(lab, pub, rel, change, limit):
    """Start staging on every host (one call), then wait for the devices on their own; times from device events."""
    args = {
        "state": "staged",
        "change_id": change,
        "manifest": rel["manifest"],
        "signature": rel["signature"],
        "public_key": pub.public_pem,
        "url": rel["url"],
        "transfer": {"read_timeout": 8, "retry_max_delay": 3},
    }
    h.edge_update(HOSTS, **args)
    done = {}
    deadline = time.time() + limit
    while len(done) < len(HOSTS) and time.time() < deadline:
        for host in HOSTS:
            if host in done:
                continue
            try:
                state = device_status(lab, host)
            except (subprocess.SubprocessError, ValueError):
                state = None
            stg = (state or {}).get("staging") or {}
            if stg.get("release") == rel["release"] and stg.get("status") in ("staged", "failed"):
                done[host] = stg["status"]
        time.sleep(5)
    results = {}
    for host in HOSTS:
        events = h.edge_update([host], state="status", change_id=change, release=rel["release"])[host]["events"]
        start = next((e for e in events if e["type"] == "staging_started"), None)
        end = next((e for e in events if e["type"] in ("staged", "staging_failed")), None)
        results[host] = {
            "status": done.get(host, "timeout"),
            "begin": h.parse_time(start["time"]) if start else None,
            "end": h.parse_time(end["time"]) if end else None,
            "stats": (end or {}).get("data", {}),
        }
        if results[host]["begin"] and results[host]["end"]:
            results[host]["seconds"] = round(results[host]["end"] - results[host]["begin"], 1)
    return results


def served_report(since, addr, rel, outages):
    reqs = h.served(since, addr, rel["path"])
    body = sum(r["body"] for r in reqs)
    limit = 1.05 * rel["size"] + h.CHUNK * outages
    return {
        "requests": len(reqs),
        "bytes_served": body,
        "limit": int(limit),
        "within": body <= limit,
        "restarts_from_zero": max(0, [r["start"] for r in reqs].count(0) - 1),
    }


def copy_phase(lab, rel, schedule_args, loss, rate, limit):
    """ansible.builtin.copy of the artifact to every host under the schedule, rerun until it lands."""
    sched = Schedule(lab, **schedule_args)
    lab.fault(",".join(HOSTS), loss=loss, rate=rate)
    play = REPO / "build" / "edge-bench-copy.yml"
    play.parent.mkdir(exist_ok=True)
    play.write_text(
        json.dumps(
            [
                {
                    "hosts": "{{ targets }}",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "ansible.builtin.copy": {
                                "src": str(rel["artifact"]),
                                "dest": "/var/lib/changeward/edge/.bench-copy.tar",
                                "mode": "0600",
                            }
                        }
                    ],
                }
            ]
        )
    )
    t0 = sched.start()
    pending = list(HOSTS)
    attempts = dict.fromkeys(HOSTS, 0)
    landed = {}
    try:
        while pending and time.time() - t0 < limit:
            for host in pending:
                attempts[host] += 1
            proc = subprocess.run(
                [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(play), "-e", "targets=" + ",".join(pending)],
                cwd=REPO,
                env=h.ansible_env(),
                capture_output=True,
                text=True,
                timeout=max(60, limit - (time.time() - t0) + 120),
                check=False,
            )
            for host in list(pending):
                if _host_ok(proc.stdout, host):
                    landed[host] = round(time.time() - t0, 1)
                    pending.remove(host)
            if pending:
                time.sleep(5)
    finally:
        sched.finish()
    for host in HOSTS:
        lab.ssh(host, "rm -f /var/lib/changeward/edge/.bench-copy.tar", timeout=30)
    return {
        host: {
            "landed_after": landed.get(host),
            "attempts": attempts[host],
            "gave_up_after": None if host in landed else round(time.time() - t0, 1),
        }
        for host in HOSTS
    }


def _host_ok(stdout, host):
    for line in stdout.splitlines():
        if line.startswith(host + " ") and ":" in line and "ok=" in line:
            return "failed=0" in line and "unreachable=0" in line
    return False


def synchronize_available():
    """ansible-doc exits 0 even for a module it cannot find; its JSON output is empty then."""
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-doc"), "-t", "module", "-j", "ansible.posix.synchronize"],
        cwd=REPO,
        env=h.ansible_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return proc.returncode == 0 and bool(json.loads(proc.stdout or "{}"))
    except ValueError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=50)
    ap.add_argument("--rate", default="4mbit")
    ap.add_argument("--loss", type=float, default=0.05)
    ap.add_argument("--every", type=float, default=120, help="seconds between the regular outages")
    ap.add_argument("--outage", type=float, default=30, help="length of the regular outages")
    ap.add_argument("--long-at", type=float, default=70, help="when the long outage starts (s after staging)")
    ap.add_argument("--long", type=float, default=300, help="length of the long outage")
    ap.add_argument("--skip-copy", action="store_true")
    ap.add_argument("--time-limit", type=float, default=3600, help="per edge phase")
    ap.add_argument("--copy-limit", type=float, default=900, help="for the copy phase (it may never land)")
    args = ap.parse_args()
    lab = Lab.load()
    if not lab.is_up():
        sys.exit("the lab is not up: make lab-up")
    import tempfile

    h.start_nginx()
    for host in HOSTS:
        h.reset_device(lab, host)
    lab.clear_faults(",".join(HOSTS))
    work = Path(tempfile.mkdtemp(prefix="edge-bench-"))
    pub = h.Publisher(work)
    size = int(args.size_mb * 1000 * 1000)
    addr = {host: lab.host(host).address for host in HOSTS}
    report = {
        "size": size,
        "rate": args.rate,
        "loss": args.loss,
        "chunk": h.CHUNK,
        "schedule": {"every": args.every, "outage": args.outage, "long_at": args.long_at, "long": args.long},
    }

    print(f"edge bench: {args.size_mb:g} MB to {', '.join(HOSTS)} over {args.rate}", flush=True)
    base_rel = pub.release("9.0.0", size)
    lab.fault(",".join(HOSTS), rate=args.rate)
    since = h.log_position()
    base = stage_and_wait(lab, pub, base_rel, "BENCH-EDGE-BASE", args.time_limit)
    lab.clear_faults(",".join(HOSTS))
    for host in HOSTS:
        base[host]["served"] = served_report(since, addr[host], base_rel, 0)
    report["baseline"] = base
    print("baseline: " + ", ".join(f"{k} {v.get('seconds')}s" for k, v in base.items()), flush=True)

    # The faulted transfer goes into the other slot: activate nothing, so reset and stage a new release.
    for host in HOSTS:
        h.reset_device(lab, host)
    rel = pub.release("9.1.0", size)
    sched_args = {"every": args.every, "seconds": args.outage, "long_at": args.long_at, "long_seconds": args.long}
    sched = Schedule(lab, **sched_args)
    lab.fault(",".join(HOSTS), loss=args.loss, rate=args.rate)
    since = h.log_position()
    sched.start()
    try:
        faulted = stage_and_wait(lab, pub, rel, "BENCH-EDGE-FAULTS", args.time_limit)
    finally:
        sched.finish()
    for host, res in faulted.items():
        if res.get("begin") and res.get("end"):
            down = sched.overlap(res["begin"], res["end"])
            hits = sum(1 for a, _b in sched.applied if res["begin"] < a < res["end"])
            res["outage_seconds"] = round(down, 1)
            res["outages"] = hits
            res["target_seconds"] = round(1.3 * base[host]["seconds"] + down, 1)
            res["within_target"] = res["seconds"] <= res["target_seconds"]
            res["served"] = served_report(since, addr[host], rel, hits)
    report["faults"] = faulted
    report["outages_applied"] = sched.applied
    for host, res in faulted.items():
        print(
            f"faults {host}: {res.get('status')} in {res.get('seconds')}s (outage {res.get('outage_seconds')}s, "
            f"target {res.get('target_seconds')}s, within {res.get('within_target')}); served {res.get('served')}",
            flush=True,
        )

    if args.skip_copy:
        report["copy"] = "skipped"
    else:
        for host in HOSTS:
            h.reset_device(lab, host)
        report["copy"] = copy_phase(lab, rel, sched_args, args.loss, args.rate, args.copy_limit)
        print(f"ansible.builtin.copy: {report['copy']}", flush=True)
    report["synchronize"] = (
        "ansible.posix is installed but this benchmark does not drive synchronize yet"
        if synchronize_available()
        else "not run: the ansible.posix collection is not installed and Galaxy is not reachable from here"
    )
    print(f"ansible.posix.synchronize: {report['synchronize']}", flush=True)
    out = REPO / "bench" / "results" / "edge_bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"results: {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
