"""Retention on a real PostgreSQL ledger (the SQLite side is in tests/unit/plugin_utils/retention): an archived
range verifies on its own after the live ledger was pruned, the pruned ledger verifies from its signed start and
exports continue from it, a legal hold stops the prune under the write lock, and a front cut by SQL outside the
control is reported. The DSN carries a password, so it is never printed."""

import datetime
import sys
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "collections"), str(REPO / "tests" / "unit" / "plugin_utils" / "ledger")]

from ledger_testlib import KEY, task_event  # noqa: E402

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api, model, series, verify  # noqa: E402
from ansible_collections.changeward.hybrid.plugins.plugin_utils.retention import archive, holds, store  # noqa: E402
from ansible_collections.changeward.hybrid.plugins.plugin_utils.retention.policy import (  # noqa: E402
    RetentionPolicy,
    RetentionRefused,
)

pytestmark = pytest.mark.reservation("postgres")  # the tests' server, one worker at a time

POLICY = RetentionPolicy({"api_version": "changeward.hybrid/v1", "default": {"live": "1h", "archive": "30d"}})
LATER = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)


def fill(led, n=38):
    led.open_change(model.new_record("CHG1", "normal", "upgrade", "alice", targets=["web1"]), {"service": "shop"})
    led.append_many([task_event(i, "CHG1") for i in range(n)])
    led.close_change("CHG1", "successful", ["ok"])


def test_a_legal_hold_stops_pruning_a_postgresql_ledger_under_the_write_lock(pg_dsn, schema, tmp_path, monkeypatch):
    st = store.DirectoryStore(str(tmp_path / "worm"))
    with api.open_ledger(pg_dsn, key=KEY, schema=schema, checkpoint_interval=10) as led:
        fill(led)
        subjects = archive.Subjects(led, lambda targets: set())
        made = archive.archive(led, st, POLICY, subjects, now=LATER)["archive"]
        stale = archive.plan(led, POLICY, subjects, now=LATER)  # made before the hold
        archive.place_hold(led, "LH-1", holds.scope_of(from_seq=3, through_seq=4), matter="m", by="legal", reason="r")
        planned = archive.plan(led, POLICY, subjects, now=LATER)
        assert planned["through_seq"] is None and "legal hold LH-1" in planned["stop"]
        monkeypatch.setattr(archive, "plan", lambda *a, **k: stale)
        with pytest.raises(RetentionRefused, match="legal hold LH-1"):
            archive.prune(led, lambda rec: st, POLICY, subjects, now=LATER)
        assert led.start()[0] == 0 and led.entry(1) is not None
    assert verify.verify(pg_dsn, key=KEY, schema=schema)["valid"]
    assert verify.verify(made["location"], key=KEY)["valid"]


def test_a_pruned_postgresql_ledger_verifies_from_its_signed_start(pg_dsn, schema, tmp_path):
    st = store.DirectoryStore(str(tmp_path / "worm"))
    with api.open_ledger(pg_dsn, key=KEY, schema=schema, checkpoint_interval=10) as led:
        fill(led)
        subjects = archive.Subjects(led, lambda targets: set())
        made = archive.archive(led, st, POLICY, subjects, now=LATER)["archive"]
        out = archive.prune(led, lambda rec: st, POLICY, subjects, now=LATER)
        assert out["pruned"]["through_seq"] == 40 and out["verified"]["valid"]
        assert led.entry(40) is None and led.start() == (40, made["last_hash"])
        led.append_many([task_event(i, "CHG2") for i in range(25)])
        nxt = led.export_jsonl(str(tmp_path / "next.jsonl"), previous=made["location"])
        assert nxt["first_seq"] == 41
        cut = next(cp for cp in led.checkpoints() if cp["seq"] > 50)
    assert verify.verify(pg_dsn, key=KEY, schema=schema)["valid"]
    assert verify.verify(made["location"], key=KEY)["valid"]
    assert series.validate_exports([made["location"], str(tmp_path / "next.jsonl")], key=KEY)["valid"]
    # cutting the front by SQL, with the metadata moved along, is caught by the chain's prune record
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute("DELETE FROM ledger_events WHERE seq <= %s", (cut["seq"],))
        conn.execute("UPDATE ledger_meta SET value = %s WHERE key = 'pruned_through_seq'", (str(cut["seq"]),))
        conn.execute("UPDATE ledger_meta SET value = %s WHERE key = 'pruned_through_hash'", (cut["hash"],))
    report = verify.verify(pg_dsn, key=KEY, schema=schema)
    assert [p["kind"] for p in report["problems"]] == ["prune_invalid"]
