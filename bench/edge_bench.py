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

import edge_lab as h  # noqa: E402  (shared with the integration test: nginx, publisher, ansible)

from cwlab import Lab  # noqa: E402

HOSTS = h.HOSTS
BENCH_DEST = "/var/lib/changeward/edge/.bench-transfer.tar"


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
    args = h.stage_args(pub, rel, change, transfer={"read_timeout": 8, "retry_max_delay": 3})
    sent0 = {host: link_bytes(lab, host) for host in HOSTS}
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
    sent = {host: link_bytes(lab, host) - sent0[host] for host in HOSTS}
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
            "link_bytes": sent[host],
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


def link_bytes(lab, host):
    """Bytes the controller has sent on the host's link (its veth's tx counter: payload, headers, resends)."""
    return int(Path(f"/sys/class/net/{lab.host(host).veth}/statistics/tx_bytes").read_text())


def retry_phase(lab, rel, task, sched_args, loss, rate, limit, env):
    """One task that puts the artifact at BENCH_DEST on a host, rerun per host until it lands or `limit` passes.

    Each host has its own loop (its own ansible-playbook runs), so its completion time is its own; whether a
    rerun starts from zero or resumes is up to the task. A host has landed when its run succeeded and the file
    on it has the artifact's sha256.
    """
    import hashlib

    digest = hashlib.sha256(rel["artifact"].read_bytes()).hexdigest()
    name = next(iter(task))
    play = REPO / "build" / f"edge-bench-{name.rsplit('.', 1)[1]}.yml"
    play.parent.mkdir(exist_ok=True)
    play.write_text(json.dumps([{"hosts": "{{ targets }}", "gather_facts": False, "tasks": [task]}]))
    for host in HOSTS:
        lab.ssh(host, f"mkdir -p {Path(BENCH_DEST).parent} && rm -f {BENCH_DEST}", timeout=30)
    sched = Schedule(lab, **sched_args)
    lab.fault(",".join(HOSTS), loss=loss, rate=rate)
    sent0 = {host: link_bytes(lab, host) for host in HOSTS}
    t0 = sched.start()
    out = {host: {"landed_after": None, "attempts": 0, "failures": []} for host in HOSTS}

    def loop(host):
        res = out[host]
        while time.time() - t0 < limit:
            res["attempts"] += 1
            try:
                proc = subprocess.run(
                    [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(play), "-e", "targets=" + host],
                    cwd=REPO,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=max(30, limit - (time.time() - t0)),
                    check=False,
                )
            except subprocess.TimeoutExpired:
                res["failures"].append(round(time.time() - t0, 1))
                break
            if _host_ok(proc.stdout, host) and on_host_sha256(lab, host) == digest:
                res["landed_after"] = round(time.time() - t0, 1)
                return
            res["failures"].append(round(time.time() - t0, 1))
            time.sleep(5)
        res["gave_up_after"] = round(time.time() - t0, 1)

    threads = [threading.Thread(target=loop, args=(host,), daemon=True) for host in HOSTS]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sched.finish()
    for host in HOSTS:
        res = out[host]
        res["link_bytes"] = link_bytes(lab, host) - sent0[host]
        if res["landed_after"] is not None:
            res["outage_seconds"] = round(sched.overlap(t0, t0 + res["landed_after"]), 1)
        lab.ssh(host, f"rm -f {BENCH_DEST}", timeout=30)
    return out


def on_host_sha256(lab, host):
    try:
        proc = lab.ssh(host, f"sha256sum {BENCH_DEST}", timeout=60)
    except subprocess.SubprocessError:
        return None
    return proc.stdout.split()[0] if proc.returncode == 0 and proc.stdout else None


def copy_task(rel):
    return {"ansible.builtin.copy": {"src": str(rel["artifact"]), "dest": BENCH_DEST, "mode": "0600"}}


def synchronize_task(rel):
    # partial: rsync --partial keeps what arrived, so a rerun sends only the rest (the kept file is the delta
    # basis). delay_updates off: with it rsync would keep the partial file in its .~tmp~ holding dir instead of
    # at dest. rsync_timeout and the SSH options (ConnectTimeout, ServerAlive from ansible.cfg) end a run that
    # an outage stalls, so the loop can start the next one.
    return {
        "ansible.posix.synchronize": {
            "src": str(rel["artifact"]),
            "dest": BENCH_DEST,
            "partial": True,
            "delay_updates": False,
            "checksum": False,
            "rsync_timeout": 20,
            "use_ssh_args": True,
        }
    }


def _host_ok(stdout, host):
    for line in stdout.splitlines():
        if line.startswith(host + " ") and ":" in line and "ok=" in line:
            return "failed=0" in line and "unreachable=0" in line
    return False


# -- ansible.posix for the benchmark only ------------------------------------------------------------------
# ansible.posix is not on PyPI by itself; the `ansible` package bundles it. The collection itself does not
# depend on it (requirements.yml stays empty): the benchmark extracts it into build/ and points only its own
# playbook runs there.
POSIX_FROM = "ansible==12.3.0"  # bundles ansible.posix 2.1.0; made for ansible-core 2.19
POSIX_WHEEL = "ansible-12.3.0-py3-none-any.whl"
POSIX_WHEEL_SHA256 = "cd156f82fa87f7a899212b0efa9f7ca3a24d609212de9f78428a572eb01e5414"
POSIX_VERSION = "2.1.0"
BENCH_COLLECTIONS = REPO / "build" / "bench-collections"


def ensure_posix():
    """Put ansible.posix POSIX_VERSION under BENCH_COLLECTIONS (a 54 MB download the first time)."""
    import hashlib
    import zipfile

    manifest = BENCH_COLLECTIONS / "ansible_collections" / "ansible" / "posix" / "MANIFEST.json"
    if manifest.exists() and json.loads(manifest.read_text())["collection_info"]["version"] == POSIX_VERSION:
        return
    downloads = REPO / "build" / "bench-downloads"
    pip = str(REPO / ".venv" / "bin" / "pip")
    wheel = downloads / POSIX_WHEEL
    if not wheel.exists():
        proc = subprocess.run(
            [pip, "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(downloads), POSIX_FROM],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not wheel.exists():
            sys.exit(f"cannot download {POSIX_FROM} for ansible.posix: {proc.stderr.strip()[-2000:]}")
    got = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if got != POSIX_WHEEL_SHA256:
        sys.exit(f"{wheel.name} has sha256 {got}, expected {POSIX_WHEEL_SHA256}: not using it")
    prefix = "ansible_collections/ansible/posix/"
    target = BENCH_COLLECTIONS / prefix
    if target.exists():
        import shutil

        shutil.rmtree(target)
    with zipfile.ZipFile(wheel) as zf:
        members = [m for m in zf.namelist() if m.startswith(prefix) and ".." not in m.split("/")]
        zf.extractall(BENCH_COLLECTIONS, members)
    if json.loads(manifest.read_text())["collection_info"]["version"] != POSIX_VERSION:
        sys.exit(f"{wheel.name} does not hold ansible.posix {POSIX_VERSION}")


def bench_env():
    """The playbooks' environment: the repo's collections plus ansible.posix from build/ (benchmark only)."""
    return h.ansible_env(ANSIBLE_COLLECTIONS_PATH=f"{BENCH_COLLECTIONS}:{REPO / 'collections'}")


def synchronize_available(env):
    """ansible-doc exits 0 even for a module it cannot find; its JSON output is empty then."""
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-doc"), "-t", "module", "-j", "ansible.posix.synchronize"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return proc.returncode == 0 and bool(json.loads(proc.stdout or "{}"))
    except ValueError:
        return False


def summary(report):
    """Per host and method: seconds from the schedule's start until the file was complete, and link bytes."""
    rows, lines = {}, []
    for host in HOSTS:
        edge = report["faults"][host]
        row = {"edge_update": {"seconds": edge.get("landed_after"), "link_bytes": edge.get("link_bytes")}}
        for name in ("copy", "synchronize"):
            res = report.get(name)
            if isinstance(res, dict):
                row[name] = {"seconds": res[host]["landed_after"], "link_bytes": res[host]["link_bytes"]}
        base = row["edge_update"]["seconds"]
        for cell in row.values():
            cell["x_edge"] = round(cell["seconds"] / base, 2) if cell["seconds"] and base else None
            cell["x_size"] = round(cell["link_bytes"] / report["size"], 3) if cell["link_bytes"] else None
        rows[host] = row
        lines.append(
            f"{host}: "
            + "; ".join(
                f"{name} {'did not land' if cell['seconds'] is None else str(cell['seconds']) + ' s'}"
                f" ({cell['x_edge']} x edge), {cell['x_size']} x size on the link"
                for name, cell in row.items()
            )
        )
    return {"hosts": rows, "lines": lines}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=50)
    ap.add_argument("--rate", default="4mbit")
    ap.add_argument("--loss", type=float, default=0.05)
    ap.add_argument("--every", type=float, default=120, help="seconds between the regular outages")
    ap.add_argument("--outage", type=float, default=30, help="length of the regular outages")
    ap.add_argument("--long-at", type=float, default=70, help="when the long outage starts (s after staging)")
    ap.add_argument("--long", type=float, default=300, help="length of the long outage")
    ap.add_argument("--out", default="edge_bench.json", help="file name under bench/results/")
    ap.add_argument("--skip-copy", action="store_true")
    ap.add_argument("--skip-synchronize", action="store_true")
    ap.add_argument("--time-limit", type=float, default=3600, help="per edge phase")
    ap.add_argument("--retry-limit", type=float, default=1200, help="per copy/synchronize phase (they may never land)")
    args = ap.parse_args()
    lab = Lab.load()
    if not lab.is_up():
        sys.exit("the lab is not up: make lab-up")
    import tempfile

    env = bench_env()
    if not args.skip_synchronize:
        ensure_posix()  # before any lab phase: a missing collection should not cost a 20-minute run
        if not synchronize_available(env):
            sys.exit(f"ansible.posix.synchronize is not found under {BENCH_COLLECTIONS}")
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
    t0 = sched.start()
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
            res["landed_after"] = round(res["end"] - t0, 1)  # from the schedule's start, as for copy/synchronize
    report["faults"] = faulted
    report["outages_applied"] = sched.applied
    for host, res in faulted.items():
        print(
            f"faults {host}: {res.get('status')} in {res.get('seconds')}s (outage {res.get('outage_seconds')}s, "
            f"target {res.get('target_seconds')}s, within {res.get('within_target')}); served {res.get('served')}",
            flush=True,
        )

    phases = [("copy", copy_task, args.skip_copy), ("synchronize", synchronize_task, args.skip_synchronize)]
    for name, task, skip in phases:
        if skip:
            report[name] = "skipped"
            continue
        for host in HOSTS:
            h.reset_device(lab, host)
        save(report, args.out)  # what is done so far, in case a later phase is cut short
        report[name] = retry_phase(lab, rel, task(rel), sched_args, args.loss, args.rate, args.retry_limit, env)
        print(f"{task(rel).popitem()[0]}: {report[name]}", flush=True)
    report["summary"] = summary(report)
    for line in report["summary"]["lines"]:
        print(line, flush=True)
    print(f"results: {save(report, args.out).relative_to(REPO)}")


def save(report, name):
    out = REPO / "bench" / "results" / name
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
