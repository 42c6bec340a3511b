"""Ledger throughput: append (single and batched) and verify, on SQLite and PostgreSQL.

    .venv/bin/python bench/ledger_bench.py [--single 1000] [--batched 20000] [--batch-size 1000]
                                           [--pg auto|off|<dsn>] [--time-limit 30]

PostgreSQL: a DSN, or "auto" (default) to use the private cluster of scripts/services/postgres.sh when it is
running (it is never started here; run `scripts/services/postgres.sh start` first). Every phase stops at
--time-limit seconds, so the run is bounded. Results are printed and written to bench/results/.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api, model, verify  # noqa: E402

KEY = "bench-ledger-key-" + uuid.uuid4().hex  # throwaway HMAC key


def event(i):
    return model.new_event(
        "io.changeward.run.task_result",
        f"CHG{i // 1000:05d}",
        {"host": f"web{i % 48}", "task": f"task {i % 30}", "changed": i % 3 == 0, "rc": 0, "duration": i % 97 / 10},
        source="urn:changeward:bench",
    )


def timed_appends(ledger, count, batch_size, limit):
    """(events appended, seconds); single appends when batch_size == 1. Stops at ``limit`` seconds."""
    done, started = 0, time.perf_counter()
    while done < count and time.perf_counter() - started < limit:
        n = min(batch_size, count - done)
        if n == 1:
            ledger.append(event(done))
        else:
            ledger.append_many([event(done + k) for k in range(n)])
        done += n
    return done, time.perf_counter() - started


def run_backend(name, target, args, schema=None):
    out = {"backend": name}
    with api.open_ledger(target, key=KEY, checkpoint_interval=100, schema=schema) as ledger:
        n, s = timed_appends(ledger, args.single, 1, args.time_limit)
        out["single"] = {"events": n, "seconds": round(s, 3), "events_per_s": round(n / s, 1)}
        n, s = timed_appends(ledger, args.batched, args.batch_size, args.time_limit)
        out["batched"] = {
            "events": n,
            "seconds": round(s, 3),
            "events_per_s": round(n / s, 1),
            "batch": args.batch_size,
        }
        started = time.perf_counter()
        report = ledger.verify()
        s = time.perf_counter() - started
        assert report["valid"], report["problems"][:3]
        out["verify"] = {
            "events": report["events"],
            "seconds": round(s, 3),
            "events_per_s": round(report["events"] / s, 1),
        }
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "export.jsonl")
            started = time.perf_counter()
            ledger.export_jsonl(path)
            exported = time.perf_counter() - started
            started = time.perf_counter()
            jreport = verify.verify(path, key=KEY)
            s = time.perf_counter() - started
            assert jreport["valid"]
            out["export"] = {"seconds": round(exported, 3), "events_per_s": round(jreport["events"] / exported, 1)}
            out["verify_jsonl"] = {"seconds": round(s, 3), "events_per_s": round(jreport["events"] / s, 1)}
    out["batched_over_single"] = round(out["batched"]["events_per_s"] / out["single"]["events_per_s"], 1)
    return out


def pg_target(choice):
    if choice == "off":
        return None
    if choice != "auto":
        return choice
    if os.environ.get("CHANGEWARD_BENCH_PG_DSN"):
        return os.environ["CHANGEWARD_BENCH_PG_DSN"]
    service = REPO / "scripts" / "services" / "postgres.sh"
    if subprocess.run(["bash", str(service), "status"], capture_output=True, check=False).returncode != 0:
        return None
    return subprocess.run(["bash", str(service), "dsn"], capture_output=True, text=True, check=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=1000, help="events appended one transaction each")
    parser.add_argument("--batched", type=int, default=20000, help="events appended with append_many")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--pg", default="auto", help="auto | off | a postgresql:// DSN")
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per phase at most")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(run_backend("SQLite", os.path.join(tmp, "ledger.db"), args))
    dsn = pg_target(args.pg)
    if dsn:
        import psycopg

        schema = "bench_" + uuid.uuid4().hex[:10]
        try:
            results.append(run_backend("PostgreSQL", dsn, args, schema=schema))
        finally:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    else:
        print("PostgreSQL: skipped (no DSN; start scripts/services/postgres.sh or pass --pg <dsn>)")

    cols = ("single ev/s", 12), ("batched ev/s", 13), ("x", 6), ("verify ev/s", 12), ("jsonl verify ev/s", 18)
    print(f"{'backend':<11} " + " ".join(f"{name:>{width}}" for name, width in cols))
    for r in results:
        print(
            f"{r['backend']:<11} {r['single']['events_per_s']:>12} {r['batched']['events_per_s']:>13} "
            f"{r['batched_over_single']:>6} {r['verify']['events_per_s']:>12} {r['verify_jsonl']['events_per_s']:>18}"
        )
    if len(results) == 2:
        sq, pg = results
        print(
            "PostgreSQL / SQLite: single "
            f"{pg['single']['events_per_s'] / sq['single']['events_per_s']:.2f}, batched "
            f"{pg['batched']['events_per_s'] / sq['batched']['events_per_s']:.2f}, verify "
            f"{pg['verify']['events_per_s'] / sq['verify']['events_per_s']:.2f}"
        )
    outdir = REPO / "bench" / "results"
    outdir.mkdir(parents=True, exist_ok=True)
    dest = outdir / f"ledger-{time.strftime('%Y%m%dT%H%M%S')}.json"
    dest.write_text(json.dumps({"args": vars(args), "results": results}, indent=2) + "\n")
    print(f"results: {dest.relative_to(REPO)}")


if __name__ == "__main__":
    main()
