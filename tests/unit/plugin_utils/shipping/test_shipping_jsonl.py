"""The JSONL export sink: verifiable without the database, and idempotent."""

import shutil

import pytest
from shipping_testlib import KEY, FakeClock, make_ledger

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.verify import verify
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping import config
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.errors import SinkConfigError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.outbox import Outbox


def jsonl_sink(path, **over):
    return config.build_sinks([{"name": "audit", "type": "jsonl", "path": str(path), **over}])[0]


def ship(ledger, sink):
    clock = FakeClock()
    return Outbox(ledger, [sink], clock=clock).ship_sink(sink, clock.now() + 60)


def test_export_verifies_without_the_database(tmp_path):
    out = tmp_path / "audit" / "export.jsonl"
    with make_ledger(tmp_path / "l.db", events=25, interval=10) as ledger:
        sink = jsonl_sink(out, batch_size=7)
        assert ship(ledger, sink).pending == 0
        for i in range(12):  # more events, shipped in a second pass: the file keeps growing
            ledger.record("io.changeward.task.result", "CHG-2", {"i": i})
        ledger.checkpoint()
        assert ship(ledger, sink).pending == 0
    report = verify(str(out), key=KEY)
    assert report["valid"], report["problems"]
    assert report["events"] == 37
    assert (out.stat().st_mode & 0o777) == 0o600


def test_redelivery_after_a_lost_cursor_update_adds_no_line(tmp_path):
    out = tmp_path / "export.jsonl"
    with make_ledger(tmp_path / "l.db", events=25) as ledger:
        ledger.close()
        shutil.copy(tmp_path / "l.db", tmp_path / "before.db")  # the cursor as it was before delivery
    with make_ledger(tmp_path / "l.db") as ledger:
        ship(ledger, jsonl_sink(out))
    lines = out.read_bytes()
    with make_ledger(tmp_path / "before.db") as stale:
        report = ship(stale, jsonl_sink(out))
        assert report.delivered == 25 and stale.get_cursor("audit") == 25  # confirmed, but nothing new written
    assert out.read_bytes() == lines


def test_a_torn_last_line_is_cut_before_appending(tmp_path):
    out = tmp_path / "export.jsonl"
    with make_ledger(tmp_path / "l.db", events=5) as ledger:
        ship(ledger, jsonl_sink(out))
        with open(out, "ab") as fh:
            fh.write(b'{"event":{"data":{"i":5')  # a crash in the middle of a write
        for i in range(3):
            ledger.record("io.changeward.task.result", "CHG-1", {"more": i})
        ship(ledger, jsonl_sink(out))
    report = verify(str(out), key=KEY)
    assert report["valid"], report["problems"]
    assert report["events"] == 8


def test_a_file_of_another_ledger_is_refused(tmp_path):
    out = tmp_path / "export.jsonl"
    with make_ledger(tmp_path / "a.db", events=3) as a:
        ship(a, jsonl_sink(out))
    with make_ledger(tmp_path / "b.db", events=3) as b:
        report = ship(b, jsonl_sink(out))
        assert report.pending == 3 and report.attempts == 1
        assert f"holds ledger {a.ledger_id}" in report.error


def test_ledger_id_in_the_file_name_gives_each_ledger_its_own_export(tmp_path):
    template = tmp_path / "audit" / "{ledger_id}.jsonl"
    with make_ledger(tmp_path / "a.db", events=3) as a, make_ledger(tmp_path / "b.db", events=4) as b:
        for ledger in (a, b):  # one sink setting for both ledgers, as in an ansible.cfg
            assert ship(ledger, jsonl_sink(template)).pending == 0
        ids = (a.ledger_id, b.ledger_id)
    for ledger_id, events in zip(ids, (3, 4), strict=True):
        report = verify(str(tmp_path / "audit" / f"{ledger_id}.jsonl"), key=KEY)
        assert report["valid"] and report["events"] == events, report["problems"]


def test_ledger_id_only_in_the_file_name(tmp_path):
    with pytest.raises(SinkConfigError, match="only appear in the file name"):
        jsonl_sink(tmp_path / "{ledger_id}" / "export.jsonl")


def test_the_export_is_private_and_a_loose_one_is_refused(tmp_path):
    out = tmp_path / "audit" / "export.jsonl"
    with make_ledger(tmp_path / "l.db", events=5) as ledger:
        sink = jsonl_sink(out)
        assert ship(ledger, sink).pending == 0
        assert (out.stat().st_mode & 0o777) == 0o600 and (out.parent.stat().st_mode & 0o777) == 0o700
        size = out.stat().st_size
        out.chmod(0o644)  # someone loosened it: nothing more is written into it, the events stay pending
        ledger.record("io.changeward.task.result", "CHG-2", {"i": 1})
        report = ship(ledger, sink)
        assert report.pending == 1 and "mode 0644" in report.error and "refused" in report.error
        assert out.stat().st_size == size and (out.stat().st_mode & 0o777) == 0o644


def test_a_pre_created_loose_export_or_a_shared_writable_directory_is_refused(tmp_path):
    loose = tmp_path / "pre" / "export.jsonl"
    loose.parent.mkdir()
    loose.touch(mode=0o666)
    loose.chmod(0o666)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with make_ledger(tmp_path / "l.db", events=3) as ledger:
        for path, message in ((loose, "mode 0666"), (shared / "export.jsonl", "writable by group or others")):
            report = ship(ledger, jsonl_sink(path))
            assert report.pending == 3 and message in report.error, report
            assert loose.stat().st_size == 0 and not (shared / "export.jsonl").exists()
