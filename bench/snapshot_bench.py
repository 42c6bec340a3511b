"""Snapshot and rollback time for a tree of N files / M MB on this machine, and the ratio of rollback
time to the time of applying the change (target: at most 1.2).

"Applying the change" is the same change the rollback undoes, done by this script: 80% of the files
rewritten (new content, same size), 10% deleted, as many new files added - 90% of the bytes written.
It is timed twice per round:
- apply (the realistic one, the target's reference): each file written the way ansible.builtin.copy and
  template write it - a temp file in the same directory, then rename over the target, no fsync;
- apply, durable: the same with an fsync per file before its rename (as dpkg unpacks).
Content is generated before the clock starts. Rollback is the real core (plugins/module_utils/snapshot):
compare with the manifest, copy back from the snapshot with hashing, the fdatasync of every temp before
its rename and the fsync of every changed directory after, then verification. Before each timed phase
the machine is synced (untimed), so neither phase pays for the other's write-back. Each round applies
the change and rolls it back, once per apply variant; medians are reported, and the ratio is the median
rollback over the median apply. --profile adds one round with the rollback under cProfile. Works in a
temp dir that is removed at the end. Put --dir on a btrfs (or XFS reflink=1) mount to measure the
reflink path: the store is created beside the tree, so capture and rollback clone instead of copying.

    .venv/bin/python bench/snapshot_bench.py [--files 1000] [--mb 100] [--rounds 5] [--dir /var/tmp]
        [--json] [--profile]
"""

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collections"))

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot import capture, restore

MAX_FILES = 20000
MAX_MB = 2048
TIME_LIMIT = 900


def tree_digest(root):
    """Content, mode and presence of every file, computed here (not by the core)."""
    h = hashlib.sha256()
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            h.update(f"{path}\0{st.st_mode}\0{st.st_uid}\0{st.st_gid}\0".encode())
            with open(path, "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


def fstype(path):
    """File system type of the mount holding path, from /proc/self/mounts (longest matching mount point)."""
    path = os.path.realpath(path)
    best = ("", "unknown")
    try:
        with open("/proc/self/mounts") as fh:
            for line in fh:
                fields = line.split()
                mnt = fields[1].replace("\\040", " ")
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best[0]):
                    best = (mnt, fields[2])
    except OSError:
        pass
    return best[1]


def build(root, files, size):
    for i in range(files):
        d = os.path.join(root, f"d{i % 50:02d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i:05d}.dat"), "wb") as fh:
            fh.write(os.urandom(size))


def write_like_ansible(path, data, durable=False):
    tmp = os.path.join(os.path.dirname(path), f".ansible_tmp_{os.path.basename(path)}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def apply_change(root, files, size, round_no, durable=False):
    """Returns (wall, CPU) seconds spent applying the change (content generated beforehand, not timed).

    durable=True fsyncs every file before its rename, as dpkg does when it unpacks a package.
    """
    rewrite = [i for i in range(files) if i % 10 < 8]
    delete = [i for i in range(files) if i % 10 == 8]
    payload = {i: os.urandom(size) for i in rewrite}
    extra = [os.urandom(size) for _unused in delete]
    started = time.perf_counter()
    cpu = time.process_time()
    for i in rewrite:
        write_like_ansible(os.path.join(root, f"d{i % 50:02d}", f"f{i:05d}.dat"), payload[i], durable)
    for i in delete:
        os.unlink(os.path.join(root, f"d{i % 50:02d}", f"f{i:05d}.dat"))
    for n, data in enumerate(extra):
        write_like_ansible(os.path.join(root, f"d{n % 50:02d}", f"new{round_no}-{n:05d}.dat"), data, durable)
    return time.perf_counter() - started, time.process_time() - cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--dir",
        default="/var/tmp",  # noqa: S108 - the tree goes into a mkdtemp directory below it
        help="where the temp tree goes (a disk, not a tmpfs)",
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    ap.add_argument("--profile", action="store_true", help="one more round with the rollback under cProfile")
    args = ap.parse_args()
    if not (1 <= args.files <= MAX_FILES and 1 <= args.mb <= MAX_MB and 1 <= args.rounds <= 10):
        ap.error(f"bounded to 1..{MAX_FILES} files, 1..{MAX_MB} MB, 1..10 rounds")
    st = os.statvfs(args.dir)
    if st.f_bavail * st.f_frsize < 4 * args.mb * 1024 * 1024:
        ap.error(f"{args.dir} needs {4 * args.mb} MB free")
    signal.alarm(TIME_LIMIT)  # bounded: a stuck run dies instead of hanging the machine

    size = args.mb * 1024 * 1024 // args.files
    work = tempfile.mkdtemp(prefix="cw-snapshot-bench-", dir=args.dir)
    try:
        tree = os.path.join(work, "tree")
        store = os.path.join(work, "store")
        build(tree, args.files, size)
        before = tree_digest(tree)
        os.sync()
        # Files younger than restore's RACY_NS margin are hashed, never trusted by identity; real scopes
        # are older than that when their snapshot is taken.
        time.sleep(1.2)

        started = time.perf_counter()
        snap = capture.take("CHG-BENCH", {"paths": [tree]}, store=store, min_free=0)
        snapshot_s = time.perf_counter() - started

        apply_s, durable_s, rollback_s, apply_cpu, rollback_cpu = [], [], [], [], []
        methods = {}
        for r in range(args.rounds):
            for durable, times in ((False, apply_s), (True, durable_s)):
                os.sync()
                wall, cpu = apply_change(tree, args.files, size, r, durable)
                times.append(wall)
                if not durable:
                    apply_cpu.append(cpu)
                os.sync()
                started = time.perf_counter()
                cpu = time.process_time()
                result = restore.rollback(store=store, change_id="CHG-BENCH")
                rollback_s.append(time.perf_counter() - started)
                rollback_cpu.append(time.process_time() - cpu)
                for name, n in result["method_counts"].items():
                    methods[name] = methods.get(name, 0) + n
                if not result["verified"] or tree_digest(tree) != before:
                    raise SystemExit(f"round {r}: rollback did not restore the tree")
        idle = restore.rollback(store=store, change_id="CHG-BENCH")
        profile = None
        if args.profile:
            os.sync()
            apply_change(tree, args.files, size, args.rounds, False)
            os.sync()
            prof = cProfile.Profile()
            prof.runcall(restore.rollback, store=store, change_id="CHG-BENCH")
            text = io.StringIO()
            pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(15)
            profile = text.getvalue()
        out = {
            "files": args.files,
            "bytes": args.files * size,
            "rounds": args.rounds,
            "snapshot_seconds": round(snapshot_s, 3),
            "snapshot_bytes_stored": snap["bytes"],
            "dir_fstype": fstype(args.dir),
            # How contents were written: cloned (reflink, where the store and tree share btrfs/XFS) or copied.
            "snapshot_method": snap["method"],
            "snapshot_method_counts": snap["method_counts"],
            "rollback_method_counts": methods,
            "apply_seconds_median": round(statistics.median(apply_s), 3),
            "rollback_seconds_median": round(statistics.median(rollback_s), 3),
            "rollback_seconds_all": [round(x, 3) for x in rollback_s],
            "apply_seconds_all": [round(x, 3) for x in apply_s],
            "apply_durable_seconds_median": round(statistics.median(durable_s), 3),
            "apply_durable_seconds_all": [round(x, 3) for x in durable_s],
            "ratio_rollback_to_apply": round(statistics.median(rollback_s) / statistics.median(apply_s), 2),
            "ratio_rollback_to_durable_apply": round(statistics.median(rollback_s) / statistics.median(durable_s), 2),
            "noop_rollback_seconds": idle["duration_seconds"],
            # CPU time (user + system) of this process: the work done, less bent by other load than wall time.
            "apply_cpu_seconds_median": round(statistics.median(apply_cpu), 3),
            "rollback_cpu_seconds_median": round(statistics.median(rollback_cpu), 3),
            "target_ratio": 1.2,
            "load_average": os.getloadavg()[0],
        }
        out["meets_target"] = out["ratio_rollback_to_apply"] <= out["target_ratio"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if profile:
        print(profile, file=sys.stderr)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"tree: {out['files']} files, {out['bytes'] / 1e6:.0f} MB  (load average {out['load_average']:.1f})")
        print(f"file system:         {out['dir_fstype']} ({args.dir})")
        print(
            f"snapshot:            {out['snapshot_seconds']:.3f} s (method {out['snapshot_method']} "
            f"{out['snapshot_method_counts']})"
        )
        print(f"apply change:        {out['apply_seconds_median']:.3f} s (median of {args.rounds}; temp + rename)")
        print(f"apply, durable:      {out['apply_durable_seconds_median']:.3f} s (fsync per file, like dpkg)")
        print(f"rollback + verify:   {out['rollback_seconds_median']:.3f} s (median of {2 * args.rounds})")
        print(f"no-op rollback:      {out['noop_rollback_seconds']:.3f} s")
        print(f"rollback methods:    {out['rollback_method_counts']} (files, all rounds)")
        print(
            f"CPU time (medians):  apply {out['apply_cpu_seconds_median']:.3f} s, "
            f"rollback {out['rollback_cpu_seconds_median']:.3f} s"
        )
        print(
            f"ratio rollback/apply {out['ratio_rollback_to_apply']:.2f} (target <= 1.2: "
            f"{'met' if out['meets_target'] else 'NOT met'}); "
            f"against the durable apply {out['ratio_rollback_to_durable_apply']:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
