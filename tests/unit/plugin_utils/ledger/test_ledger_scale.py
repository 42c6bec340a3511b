"""A 100,000-event ledger verifies (streaming), exports and still pinpoints one altered event."""

import sqlite3
import time

import pytest
from ledger_testlib import KEY, task_event

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api, verify

N = 100_000
BATCH = 10_000


@pytest.fixture(scope="module")
def big_ledger(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("big") / "ledger.db")
    with api.open_ledger(path, key=KEY, checkpoint_interval=100) as ledger:
        for start in range(0, N, BATCH):
            ledger.append_many([task_event(i) for i in range(start, start + BATCH)])
    return path


def test_100k_events_verify(big_ledger):
    started = time.monotonic()
    report = verify.verify(big_ledger, key=KEY)
    elapsed = time.monotonic() - started
    assert report["valid"] is True, report["problems"][:3]
    assert report["events"] == N and report["checkpoints"] == N // 100 and report["signed_through"] == N
    assert elapsed < 60


def test_100k_export_verifies_without_the_database(big_ledger, tmp_path):
    export = tmp_path / "big.jsonl"
    with api.open_ledger(big_ledger, create=False, readonly=True) as ledger:
        summary = ledger.export_jsonl(str(export))
    assert summary["events"] == N and summary["checkpoints"] == N // 100
    report = verify.verify(str(export), key=KEY)
    assert report["valid"] is True and report["events"] == N


def test_one_altered_event_among_100k_is_pinpointed(big_ledger, tmp_path):
    copy = tmp_path / "copy.db"
    src = sqlite3.connect(big_ledger)
    dst = sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.execute("UPDATE ledger_events SET body = replace(body, '\"rc\":0', '\"rc\":1') WHERE seq = 54321")
    dst.commit()
    dst.close()
    report = verify.verify(str(copy), key=KEY)
    assert [(p["kind"], p["seq"]) for p in report["problems"]] == [("modified", 54321)]


def test_partial_export_verifies_from_where_it_starts(big_ledger, tmp_path):
    part = tmp_path / "part.jsonl"
    with api.open_ledger(big_ledger, create=False, readonly=True) as ledger:
        summary = ledger.export_jsonl(str(part), after_seq=N - 250)
    assert summary["events"] == 250 and summary["first_seq"] == N - 249
    report = verify.verify(str(part), key=KEY)
    assert report["valid"] is True and report["events"] == 250 and report["checkpoints"] == 3
    lines = part.read_text().splitlines()
    del lines[10]
    part.write_text("\n".join(lines) + "\n")
    assert [(p["kind"], p["seq"]) for p in verify.verify(str(part), key=KEY)["problems"]] == [("deleted", N - 240)]
