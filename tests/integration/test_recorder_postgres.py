"""Two ansible-playbook runs with the recorder write to ONE PostgreSQL ledger at the same time.

The server is the project's private cluster (scripts/services/postgres.sh, Debian's package): started here
if it is not running and stopped at the end only if this session started it. The test works in its own
schema (CHANGEWARD_LEDGER_PG_SCHEMA), dropped afterwards. The DSN carries a password: it is never printed,
and the test checks it appears in no playbook output.
"""

import itertools
import json
import subprocess
from collections import Counter

import psycopg
import pytest
from sinks import fixtures as sink_fixtures
from sinks.fixtures import LEDGER_KEY, REPO, VENV, inventory, playbook, recorder_env, run_playbook, ship_env, wait_for

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.verify import verify
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.base import checkpoint_id

TASKS = 25
HOSTS = ("localhost", "alias-a", "alias-b")

pytestmark = pytest.mark.reservation("postgres")  # the tests' server, one worker at a time

http_sink = sink_fixtures.http_sink
rsyslog = sink_fixtures.rsyslog
rsyslog_tls = sink_fixtures.rsyslog_tls


def pg_rows(dsn, schema, statement):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        return conn.execute(statement).fetchall()


def pg_events(dsn, schema):
    return [json.loads(r[0]) for r in pg_rows(dsn, schema, "SELECT body FROM ledger_events ORDER BY seq")]


def pg_items(dsn, schema):
    """Every event and checkpoint of the ledger as {id: (seq, kind)}, read with plain psycopg."""
    ledger_id = pg_rows(dsn, schema, "SELECT value FROM ledger_meta WHERE key = 'ledger_id'")[0][0]
    items = {r[0]: (r[1], "event") for r in pg_rows(dsn, schema, "SELECT event_id, seq FROM ledger_events")}
    for (seq,) in pg_rows(dsn, schema, "SELECT seq FROM ledger_checkpoints"):
        items[checkpoint_id(ledger_id, seq)] = (seq, "checkpoint")
    return items


def assert_exactly_once(received, expected, what):
    """Nothing lost, nothing foreign, and after dedupe by id each item once, events in ledger order."""
    seen, first = set(), []
    for item in received:
        assert item["id"] in expected, f"{what}: received {item} which is not in the ledger"
        if item["id"] not in seen:
            seen.add(item["id"])
            first.append(expected[item["id"]])
    missing = sorted(expected[i] for i in set(expected) - seen)
    assert not missing, f"{what}: {len(missing)} item(s) never delivered, first {missing[:5]}"
    event_seqs = [seq for seq, kind in first if kind == "event"]
    assert event_seqs == sorted(event_seqs), f"{what}: events arrived out of order"
    return len(received) - len(first)


def pg_env(tmp_path, dsn, schema, sinks, **extra):
    # recorder_env takes a path to find a work dir; the DSN replaces it afterwards.
    env = recorder_env(tmp_path / "unused.db", sinks, **extra)
    env.update(CHANGEWARD_LEDGER=dsn, CHANGEWARD_LEDGER_PG_SCHEMA=schema)
    return env


def test_two_playbooks_write_to_one_postgresql_ledger_at_once(tmp_path, pg_dsn, schema, rsyslog, http_sink):
    password = pg_dsn.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    inv = inventory(tmp_path / "inv.yml", hosts=HOSTS)
    tasks = [
        {"name": f"step {i}", "ansible.builtin.command": "sleep 0.02", "changed_when": i % 2 == 0} for i in range(TASKS)
    ]
    pb = playbook(tmp_path / "pb.yml", tasks)
    sinks = [
        *rsyslog.sink_configs(),
        *http_sink.sink_configs(),
        {"name": "auditor", "type": "jsonl", "path": str(tmp_path / "export.jsonl")},
    ]
    # No ledger exists yet in the schema: the two runs also race to create it.
    procs = [
        subprocess.Popen(
            [str(VENV / "bin" / "ansible-playbook"), "-i", str(inv), str(pb), "-f", "3"],
            env=pg_env(tmp_path, pg_dsn, schema, sinks, CHANGEWARD_CHANGE_ID=f"CHG-PGPAR-{n}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(REPO),
        )
        for n in (1, 2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for out, err in outputs:
        assert password not in out + err, "the ledger DSN's password reached the playbook output"
    assert [p.returncode for p in procs] == [0, 0], [out[1][-3000:] for out in outputs]

    events = pg_events(pg_dsn, schema)
    assert len({e["id"] for e in events}) == len(events)
    for n in (1, 2):
        mine = [e for e in events if e["subject"] == f"CHG-PGPAR-{n}"]
        counts = Counter(e["type"] for e in mine)
        assert counts["io.changeward.run.started"] == counts["io.changeward.run.finished"] == 1
        assert counts["io.changeward.task.started"] == TASKS
        results = Counter(
            (e["data"]["task"], e["data"]["host"]) for e in mine if e["type"] == "io.changeward.task.result"
        )
        # every task x host result of this run, each exactly once
        assert results == Counter({(f"step {i}", h): 1 for i in range(TASKS) for h in HOSTS})
        statuses = Counter(e["data"]["status"] for e in mine if e["type"] == "io.changeward.task.result")
        assert statuses == {"changed": len(HOSTS) * ((TASKS + 1) // 2), "ok": len(HOSTS) * (TASKS // 2)}
    subjects = [e["subject"] for e in events]
    switches = sum(a != b for a, b in itertools.pairwise(subjects))
    assert switches > 2, "the two runs really interleaved in the one chain"

    report = verify(pg_dsn, key=LEDGER_KEY, schema=schema)
    assert report["valid"], report["problems"][:5]
    assert report["events"] == len(events) and report["checkpoints"] >= 2  # each run's closing checkpoint

    ship = run_playbook(REPO / "playbooks" / "audit_ship.yml", inv, pg_env_ship(tmp_path, pg_dsn, schema, sinks))
    assert password not in ship.stdout + ship.stderr
    assert ship.returncode == 0, ship.stdout[-3000:]
    expected = pg_items(pg_dsn, schema)
    for stream in ("cw-tcp", "cw-tls"):  # rsyslog writes its files asynchronously
        wait_for(lambda s=stream: len({i["id"] for i in rsyslog.items(s)}) >= len(expected), what=f"rsyslog {stream}")
    dups = {}
    for what, received in (
        ("syslog tcp", rsyslog.items("cw-tcp")),
        ("syslog tls", rsyslog.items("cw-tls")),
        ("webhook", http_sink.items("webhook")),
        ("splunk hec", http_sink.items("hec")),
    ):
        dups[what] = assert_exactly_once(received, expected, what)
    export = verify(str(tmp_path / "export.jsonl"), key=LEDGER_KEY)
    assert export["valid"], export["problems"][:5]
    assert export["events"] == len(events)
    cursors = dict(pg_rows(pg_dsn, schema, "SELECT sink, seq FROM ledger_cursors"))
    assert set(cursors.values()) == {len(events)}, cursors


def pg_env_ship(tmp_path, dsn, schema, sinks):
    env = ship_env(tmp_path / "unused.db", sinks)
    env.update(CHANGEWARD_LEDGER=dsn, CHANGEWARD_LEDGER_PG_SCHEMA=schema)
    return env
