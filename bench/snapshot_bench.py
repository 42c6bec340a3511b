"""Snapshot and rollback time for a tree of N files / M MB on this machine, and the ratio of rollback
time to the time of applying the change (target: at most 1.2).

The change rewrites 80% of the files (new content, same size), deletes 10% and adds as many new ones,
written the way ansible.builtin.copy writes (temp file in the same directory, then rename, no fsync),
and once more with an fsync per file (as dpkg unpacks); both are rolled back. Rollback is
the real core (plugins/module_utils/snapshot) including its verification pass and the sync that makes
the restored files durable. Before each timed phase the machine is synced (untimed), so neither phase
pays for the other's write-back. Each round applies the change again and rolls it back; medians are
reported. Works in a temp dir that is removed at the end.

    .venv/bin/python bench/snapshot_bench.py [--files 1000] [--mb 100] [--rounds 5] [--dir /var/tmp] [--json]
"""

import argparse
import hashlib
import json
import os
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
    """Returns seconds spent applying the change (content generated beforehand, not timed).

    durable=True fsyncs every file before its rename, as dpkg does when it unpacks a package.
    """
    rewrite = [i for i in range(files) if i % 10 < 8]
    delete = [i for i in range(files) if i % 10 == 8]
    payload = {i: os.urandom(size) for i in rewrite}
    extra = [os.urandom(size) for _unused in delete]
    started = time.perf_counter()
    for i in rewrite:
        write_like_ansible(os.path.join(root, f"d{i % 50:02d}", f"f{i:05d}.dat"), payload[i], durable)
    for i in delete:
        os.unlink(os.path.join(root, f"d{i % 50:02d}", f"f{i:05d}.dat"))
    for n, data in enumerate(extra):
        write_like_ansible(os.path.join(root, f"d{n % 50:02d}", f"new{round_no}-{n:05d}.dat"), data, durable)
    return time.perf_counter() - started


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

        started = time.perf_counter()
        snap = capture.take("CHG-BENCH", {"paths": [tree]}, store=store, min_free=0)
        snapshot_s = time.perf_counter() - started

        apply_s, durable_s, rollback_s = [], [], []
        for r in range(args.rounds):
            for durable, times in ((False, apply_s), (True, durable_s)):
                os.sync()
                times.append(apply_change(tree, args.files, size, r, durable))
                os.sync()
                started = time.perf_counter()
                result = restore.rollback(store=store, change_id="CHG-BENCH")
                rollback_s.append(time.perf_counter() - started)
                if not result["verified"] or tree_digest(tree) != before:
                    raise SystemExit(f"round {r}: rollback did not restore the tree")
        idle = restore.rollback(store=store, change_id="CHG-BENCH")
        out = {
            "files": args.files,
            "bytes": args.files * size,
            "rounds": args.rounds,
            "snapshot_seconds": round(snapshot_s, 3),
            "snapshot_bytes_stored": snap["bytes"],
            "apply_seconds_median": round(statistics.median(apply_s), 3),
            "rollback_seconds_median": round(statistics.median(rollback_s), 3),
            "rollback_seconds_all": [round(x, 3) for x in rollback_s],
            "apply_seconds_all": [round(x, 3) for x in apply_s],
            "apply_durable_seconds_median": round(statistics.median(durable_s), 3),
            "apply_durable_seconds_all": [round(x, 3) for x in durable_s],
            "ratio_rollback_to_apply": round(statistics.median(rollback_s) / statistics.median(apply_s), 2),
            "ratio_rollback_to_durable_apply": round(statistics.median(rollback_s) / statistics.median(durable_s), 2),
            "noop_rollback_seconds": idle["duration_seconds"],
            "target_ratio": 1.2,
            "load_average": os.getloadavg()[0],
        }
        out["meets_target"] = out["ratio_rollback_to_apply"] <= out["target_ratio"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"tree: {out['files']} files, {out['bytes'] / 1e6:.0f} MB  (load average {out['load_average']:.1f})")
        print(f"snapshot:            {out['snapshot_seconds']:.3f} s")
        print(f"apply change:        {out['apply_seconds_median']:.3f} s (median of {args.rounds}; temp + rename)")
        print(f"apply, durable:      {out['apply_durable_seconds_median']:.3f} s (fsync per file, like dpkg)")
        print(f"rollback + verify:   {out['rollback_seconds_median']:.3f} s (median of {2 * args.rounds})")
        print(f"no-op rollback:      {out['noop_rollback_seconds']:.3f} s")
        print(
            f"ratio rollback/apply {out['ratio_rollback_to_apply']:.2f} (target <= 1.2: "
            f"{'met' if out['meets_target'] else 'NOT met'}); "
            f"against the durable apply {out['ratio_rollback_to_durable_apply']:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
