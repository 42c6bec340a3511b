"""Signed export headers and the continuity of successive exports over a time range (like validate-logs),
and the modes of the files the ledger creates."""

import json
import os
import stat

import pytest
from ledger_testlib import KEY, task_event

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api, checkpoint, series, verify
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.canonical import canonical_text
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import (
    LedgerEmpty,
    LedgerInvalidInput,
    LedgerKeyError,
    LedgerUnavailable,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.export import read_header

PRIV, PUB = checkpoint.generate_ed25519()
KEYS = [KEY, PUB]


@pytest.fixture
def three(tmp_path):
    """Three monthly exports, each continuing the one before; the key is rotated during the second month."""
    path = str(tmp_path / "ledger.db")
    files = []
    with api.open_ledger(path, key=KEY, checkpoint_interval=5) as ledger:
        previous = None
        for month in (1, 2, 3):
            ledger.append_many([task_event(i) for i in range(7)])
            if month == 2:
                ledger.rotate_key(PRIV)
            dest = str(tmp_path / "audit" / f"ledger-2026-0{month}.jsonl")
            ledger.export_jsonl(dest, previous=previous)
            files.append(dest)
            previous = dest
    return files


def kinds(report):
    return [(p["kind"], os.path.basename(p["export"] or "")) for p in report["problems"]]


def rewrite(path, dest, change):
    lines = open(path, encoding="utf-8").read().splitlines()
    lines = change(lines)
    with open(dest, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return dest


def test_successive_exports_chain_and_validate(three):
    headers = [read_header(f) for f in three]
    assert [h["sequence"] for h in headers] == [1, 2, 3]
    assert [(h["range"]["first_seq"], h["range"]["last_seq"]) for h in headers] == [(1, 7), (8, 15), (16, 22)]
    assert headers[1]["previous"]["last_hash"] == headers[0]["last"]["hash"] == headers[1]["start"]["hash"]
    assert headers[0]["signature"]["key_id"] != headers[2]["signature"]["key_id"]  # signed before/after rotation
    for f in three:
        assert verify.verify(f, key=KEYS)["valid"]
    report = series.validate_exports(three, key=KEYS)
    assert report["valid"], report["problems"]
    assert (report["first_seq"], report["last_seq"], report["events"]) == (1, 22, 22)


def test_a_glob_is_expanded_in_sorted_order(three):
    pattern = os.path.join(os.path.dirname(three[0]), "ledger-2026-*.jsonl")
    assert [e["path"] for e in series.validate_exports(pattern, key=KEYS)["exports"]] == three


def test_a_dropped_export_is_named(three):
    report = series.validate_exports([three[0], three[2]], key=KEYS)
    assert kinds(report) == [("dropped", "ledger-2026-03.jsonl")]
    assert (
        "export(s) 2..2 between ledger-2026-01.jsonl and ledger-2026-03.jsonl are missing (events 8..15)"
        in (report["problems"][0]["detail"])
    )


def test_a_dropped_first_export_is_named(three):
    report = series.validate_exports(three[1:], key=KEYS)
    assert kinds(report) == [("dropped", "ledger-2026-02.jsonl")]
    assert "export 1, ending at seq 7" in report["problems"][0]["detail"]


def test_reordered_exports_are_named(three):
    report = series.validate_exports([three[1], three[0], three[2]], key=KEYS)
    assert kinds(report) == [("reordered", "ledger-2026-01.jsonl")]


def test_an_export_with_an_altered_event_is_named(three, tmp_path):
    def change(lines):
        line = json.loads(lines[3])
        line["event"]["data"]["host"] = "attacker-box"
        return [*lines[:3], canonical_text(line), *lines[4:]]

    altered = rewrite(three[1], str(tmp_path / "audit" / "ledger-2026-02b.jsonl"), change)
    report = series.validate_exports([three[0], altered, three[2]], key=KEYS)
    assert kinds(report) == [("altered", "ledger-2026-02b.jsonl")]
    assert "modified at seq 10" in report["problems"][0]["detail"]


def test_an_export_with_an_altered_header_is_named(three, tmp_path):
    def change(lines):
        header = json.loads(lines[0])
        header["exported_at"] = "2020-01-01T00:00:00Z"
        return [canonical_text(header), *lines[1:]]

    altered = rewrite(three[1], str(tmp_path / "audit" / "ledger-2026-02b.jsonl"), change)
    report = series.validate_exports([three[0], altered, three[2]], key=KEYS)
    assert kinds(report) == [("altered", "ledger-2026-02b.jsonl"), ("altered", "ledger-2026-02b.jsonl")]
    assert "header_invalid" in report["problems"][0]["detail"]
    assert "is not the export ledger-2026-03.jsonl follows" in report["problems"][1]["detail"]


def test_a_verify_only_key_exports_unsigned_even_after_a_rotation(three, tmp_path):
    other_public = checkpoint.generate_ed25519()[1]  # not the ledger's key: it can sign nothing anyway
    with api.open_ledger(str(tmp_path / "ledger.db"), key=other_public, readonly=True) as ledger:
        summary = ledger.export_jsonl(str(tmp_path / "by-auditor.jsonl"))
    assert summary["signed_by"] is None and summary["events"] == 22


def test_an_unsigned_export_cannot_carry_continuity(tmp_path):
    path = str(tmp_path / "ledger.db")
    with api.open_ledger(path, key=KEY, checkpoint_interval=0) as ledger:
        ledger.append(task_event(1))
        ledger.export_jsonl(str(tmp_path / "e.jsonl"), sign=False)
    assert "signature" not in read_header(str(tmp_path / "e.jsonl"))
    assert kinds(series.validate_exports([str(tmp_path / "e.jsonl")], key=KEY)) == [("unsigned", "e.jsonl")]


def test_a_time_range_selects_the_exports_and_must_be_covered(three):
    h = [read_header(f) for f in three]
    # From the middle of the second export's events on: the first export is not needed.
    mid = h[1]["range"]["last_time"]
    report = series.validate_exports(three[1:], key=KEYS, start_time=mid)
    assert report["valid"] and [e["path"] for e in report["exports"]] == three[1:]
    # The range starts before the second export's first event: the first export is missing from it.
    early = series.validate_exports(three[1:], key=KEYS, start_time=h[0]["range"]["last_time"])
    assert kinds(early) == [("dropped", "ledger-2026-02.jsonl")]
    # Up to a time after the last export was taken: events after it are in no export given.
    late = series.validate_exports(three, key=KEYS, end_time="2999-01-01T00:00:00Z")
    assert kinds(late) == [("not_covered", "ledger-2026-03.jsonl")]
    # Up to the end of the second month: the third export is not needed, the first two suffice.
    upto = series.validate_exports(three[:2], key=KEYS, end_time=h[1]["exported_at"])
    assert upto["valid"]


def test_validation_fails_closed_without_keys_or_exports(three, tmp_path):
    with pytest.raises(LedgerKeyError):
        series.validate_exports(three, key=None)
    with pytest.raises(LedgerEmpty):
        series.validate_exports(str(tmp_path / "none-*.jsonl"), key=KEYS)
    with pytest.raises(LedgerInvalidInput, match="before start_time"):
        series.validate_exports(three, key=KEYS, start_time="2026-02-01T00:00:00Z", end_time="2026-01-01T00:00:00Z")


def test_an_export_must_continue_an_export_of_this_chain(three, tmp_path):
    other = str(tmp_path / "other.db")
    with api.open_ledger(other, key=KEY) as ledger:
        ledger.append(task_event(1))
        with pytest.raises(LedgerInvalidInput, match="is of ledger"):
            ledger.export_jsonl(str(tmp_path / "o.jsonl"), previous=three[0])
    with api.open_ledger(str(tmp_path / "ledger.db"), key=PRIV) as ledger:
        with pytest.raises(LedgerInvalidInput, match="does not continue the previous export"):
            ledger.export_jsonl(str(tmp_path / "o.jsonl"), previous=three[0], after_seq=3)


# -- file modes --------------------------------------------------------------------------------------------------
def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_ledger_and_export_files_are_private(tmp_path):
    path = tmp_path / "state" / "ledger.db"
    with api.open_ledger(str(path), key=KEY) as ledger:
        ledger.append(task_event(1))
        ledger.export_jsonl(str(tmp_path / "audit" / "e.jsonl"))
        assert ledger.warnings == []
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert mode(tmp_path / "audit" / "e.jsonl") == 0o600 and mode(tmp_path / "audit") == 0o700


def test_a_loose_existing_ledger_is_tightened_with_a_warning(tmp_path):
    path = str(tmp_path / "ledger.db")
    with api.open_ledger(path, key=KEY) as ledger:
        ledger.append(task_event(1))
    os.chmod(path, 0o644)
    with api.open_ledger(path, readonly=True) as ledger:  # a reader changes nothing
        assert ledger.warnings == []
    assert mode(path) == 0o644
    with api.open_ledger(path, key=KEY) as ledger:
        assert ledger.warnings[0] == f"SQLite ledger file {path} had mode 0644; it was tightened to 0600"
    for name in (path, path + "-wal", path + "-shm"):  # the journal files too (SQLite copied the loose mode)
        assert not os.path.exists(name) or mode(name) == 0o600


def test_a_loose_ledger_that_cannot_be_tightened_is_refused(tmp_path, monkeypatch):
    path = str(tmp_path / "ledger.db")
    with api.open_ledger(path, key=KEY) as ledger:
        ledger.append(task_event(1))
    os.chmod(path, 0o666)  # noqa: S103 - the loose mode under test

    def not_owner(*_args, **_kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", not_owner)
    with pytest.raises(LedgerUnavailable, match=r"has mode 0666 .* cannot be made 0600 \(Operation not permitted\)"):
        api.open_ledger(path, key=KEY)
