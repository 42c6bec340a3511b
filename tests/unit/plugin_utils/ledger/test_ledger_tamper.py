"""Every tamper case is detected and classified, in the SQLite file (raw SQL) and in a JSONL export (edited lines).

The ledger under test has 100 events and a signed checkpoint every 10 (conftest.py). Each test tampers the
way an attacker with file access would and asserts the exact (kind, seq) list verification reports.
"""

import json
import sqlite3

import pytest
from ledger_testlib import INTERVAL, KEY, N_EVENTS, task_event

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api, sqlite_backend, verify
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.canonical import canonical_text
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.chain import entry_hash
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerCorrupt
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.export import checkpoint_line, event_line


def found(report):
    return [(p["kind"], p["seq"]) for p in report["problems"]]


def sql(path, *statements):
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            if isinstance(statement, tuple):
                conn.execute(*statement)
            else:
                conn.execute(statement)
    finally:
        conn.close()


def row(path, seq):
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT seq, prev_hash, hash, body FROM ledger_events WHERE seq = ?", (seq,)).fetchone()
    finally:
        conn.close()


def altered_body(body):
    event = json.loads(body)
    event["data"]["host"] = "attacker-box"
    return canonical_text(event)


def shift_seq(path, from_seq, by):
    """Renumber events >= from_seq by ``by`` (via a detour so the primary key never collides)."""
    sql(
        path,
        ("UPDATE ledger_events SET seq = seq + 1000000 WHERE seq >= ?", (from_seq,)),
        ("UPDATE ledger_events SET seq = seq - 1000000 + ? WHERE seq >= 1000000", (by,)),
    )


def check(src, **kw):
    kw.setdefault("key", KEY)
    return verify.verify(src, **kw)


# -- the untampered ledger -------------------------------------------------------------------------------
def test_untampered_ledger_and_its_export_verify(ledger_path, tmp_path):
    report = check(ledger_path)
    assert report["valid"] is True and report["problems"] == []
    assert report["events"] == N_EVENTS and report["checkpoints"] == N_EVENTS // INTERVAL
    assert report["signed_through"] == N_EVENTS
    export = tmp_path / "x.jsonl"
    with api.open_ledger(ledger_path, create=False, readonly=True) as ledger:
        ledger.export_jsonl(str(export))
    assert check(str(export))["valid"] is True


# -- SQLite: raw SQL on the file ---------------------------------------------------------------------------
def test_sqlite_modified_event(ledger_path):
    sql(ledger_path, ("UPDATE ledger_events SET body = ? WHERE seq = 37", (altered_body(row(ledger_path, 37)[3]),)))
    assert found(check(ledger_path)) == [("modified", 37)]


def test_sqlite_modified_event_rehashed(ledger_path):
    prev, body = row(ledger_path, 37)[1::2]
    body = altered_body(body)
    sql(ledger_path, ("UPDATE ledger_events SET body = ?, hash = ? WHERE seq = 37", (body, entry_hash(37, prev, body))))
    assert found(check(ledger_path)) == [("modified", 37)]


def test_sqlite_modified_last_event_rehashed_caught_by_head_row(ledger_path):
    seq, prev, _old_hash, body = row(ledger_path, N_EVENTS)
    body = altered_body(body)
    new = entry_hash(seq, prev, body)
    sql(ledger_path, ("UPDATE ledger_events SET body = ?, hash = ? WHERE seq = ?", (body, new, seq)))
    # The checkpoint at 100 and the head row both still hold the old hash.
    assert found(check(ledger_path)) == [("modified", N_EVENTS)]


def test_sqlite_deleted_event(ledger_path):
    sql(ledger_path, "DELETE FROM ledger_events WHERE seq = 37")
    assert found(check(ledger_path)) == [("deleted", 37)]


def test_sqlite_deleted_range(ledger_path):
    sql(ledger_path, "DELETE FROM ledger_events WHERE seq BETWEEN 41 AND 45")
    report = check(ledger_path)
    assert found(report) == [("deleted", 41)] and "41..45" in report["problems"][0]["detail"]


def test_sqlite_deleted_event_and_renumbered_to_hide_it(ledger_path):
    sql(ledger_path, "DELETE FROM ledger_events WHERE seq = 37")
    shift_seq(ledger_path, 38, -1)
    sql(ledger_path, ("UPDATE ledger_head SET seq = ?", (N_EVENTS - 1,)))
    # Event 37 is gone; the rest still carries its true seq in its hash. The head row was lowered too,
    # but the signed checkpoint at 100 says the chain reached 100.
    assert found(check(ledger_path)) == [("deleted", 37)]


def test_sqlite_inserted_event_with_valid_looking_hash(ledger_path):
    prev_hash = row(ledger_path, 36)[2]
    shift_seq(ledger_path, 37, 1)
    fake = task_event(9999)
    body = canonical_text(fake)
    sql(
        ledger_path,
        (
            "INSERT INTO ledger_events (seq, event_id, type, subject, event_time, is_record, prev_hash, hash, body)"
            " VALUES (37, ?, ?, ?, ?, 0, ?, ?, ?)",
            (fake["id"], fake["type"], fake["subject"], fake["time"], prev_hash, entry_hash(37, prev_hash, body), body),
        ),
        ("UPDATE ledger_head SET seq = ?", (N_EVENTS + 1,)),
    )
    assert found(check(ledger_path)) == [("inserted", 37)]


def test_sqlite_inserted_garbage_event(ledger_path):
    shift_seq(ledger_path, 37, 1)
    fake = task_event(9999)
    sql(
        ledger_path,
        (
            "INSERT INTO ledger_events (seq, event_id, type, subject, event_time, is_record, prev_hash, hash, body)"
            " VALUES (37, ?, ?, ?, ?, 0, ?, ?, ?)",
            (fake["id"], fake["type"], fake["subject"], fake["time"], "00" * 32, "11" * 32, canonical_text(fake)),
        ),
    )
    assert found(check(ledger_path)) == [("inserted", 37)]


def test_sqlite_appended_event_outside_the_api(ledger_path):
    prev_hash = row(ledger_path, N_EVENTS)[2]
    fake = task_event(9999)
    body = canonical_text(fake)
    seq = N_EVENTS + 1
    sql(
        ledger_path,
        (
            "INSERT INTO ledger_events (seq, event_id, type, subject, event_time, is_record, prev_hash, hash, body)"
            " VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)",
            (
                seq,
                fake["id"],
                fake["type"],
                fake["subject"],
                fake["time"],
                prev_hash,
                entry_hash(seq, prev_hash, body),
                body,
            ),
        ),
    )
    assert found(check(ledger_path)) == [("inserted", seq)]


def test_sqlite_reordered_events(ledger_path):
    sql(
        ledger_path,
        "UPDATE ledger_events SET seq = -1 WHERE seq = 37",
        "UPDATE ledger_events SET seq = 37 WHERE seq = 38",
        "UPDATE ledger_events SET seq = 38 WHERE seq = -1",
    )
    assert found(check(ledger_path)) == [("reordered", 37)]


def test_sqlite_truncated_tail(ledger_path):
    sql(ledger_path, "DELETE FROM ledger_events WHERE seq > 90")
    # The checkpoint at 100 and the head row show 100 events existed.
    assert found(check(ledger_path)) == [("truncated", 91)]


def test_sqlite_truncated_and_covered_up_needs_the_anchor(ledger_path):
    with api.open_ledger(ledger_path, create=False, readonly=True) as ledger:
        anchor = ledger.latest_checkpoint()  # what a sink received
    h90 = row(ledger_path, 90)[2]
    sql(
        ledger_path,
        "DELETE FROM ledger_events WHERE seq > 90",
        "DELETE FROM ledger_checkpoints WHERE seq > 90",
        ("UPDATE ledger_head SET seq = 90, hash = ?", (h90,)),
    )
    # Without an outside copy a clean truncation is indistinguishable from a shorter ledger...
    assert check(ledger_path)["valid"] is True
    # ...the checkpoint the sink holds exposes it.
    assert found(check(ledger_path, anchor=anchor)) == [("truncated", 91)]


def test_sqlite_checkpoint_missing(ledger_path):
    sql(ledger_path, "DELETE FROM ledger_checkpoints WHERE seq = 40")
    assert found(check(ledger_path)) == [("checkpoint_missing", 40)]


def test_sqlite_checkpoint_badly_signed(ledger_path):
    conn = sqlite3.connect(ledger_path)
    body = json.loads(conn.execute("SELECT body FROM ledger_checkpoints WHERE seq = 40").fetchone()[0])
    conn.close()
    body["hash"] = "ff" * 32  # claim another chain state, keep the old signature
    sql(ledger_path, ("UPDATE ledger_checkpoints SET body = ? WHERE seq = 40", (canonical_text(body),)))
    assert found(check(ledger_path)) == [("checkpoint_invalid", 40)]


def test_sqlite_checkpoint_forged_with_another_key(ledger_path):
    other = "another-key-that-the-auditor-does-not-trust"
    with api.open_ledger(ledger_path, create=False, key=other) as ledger:
        ledger.append(task_event(1000))
        forged = ledger.checkpoint()  # an on-demand checkpoint at 101, signed by the wrong key
    assert forged["seq"] == N_EVENTS + 1
    assert found(check(ledger_path)) == [("checkpoint_invalid", N_EVENTS + 1)]


def test_sqlite_gap_from_renumbering(ledger_path):
    shift_seq(ledger_path, 37, 3)
    assert found(check(ledger_path)) == [("gap", 37)]


def test_sqlite_chain_rewritten_and_rehashed_caught_by_checkpoint(ledger_path):
    """The attacker rewrites event 37 and re-hashes everything after it (but cannot sign)."""
    conn = sqlite3.connect(ledger_path, isolation_level=None)
    rows = conn.execute("SELECT seq, prev_hash, body FROM ledger_events WHERE seq >= 37 ORDER BY seq").fetchall()
    prev = conn.execute("SELECT hash FROM ledger_events WHERE seq = 36").fetchone()[0]
    conn.execute("BEGIN")
    for seq, _old_prev, body in rows:
        body = altered_body(body) if seq == 37 else body
        h = entry_hash(seq, prev, body)
        conn.execute("UPDATE ledger_events SET prev_hash = ?, hash = ?, body = ? WHERE seq = ?", (prev, h, body, seq))
        prev = h
    conn.execute("UPDATE ledger_head SET hash = ?", (prev,))
    conn.execute("COMMIT")
    conn.close()
    report = check(ledger_path)
    assert found(report) == [("modified", 40)]
    assert "31..40" in report["problems"][0]["detail"]


# -- JSONL export: edited lines ----------------------------------------------------------------------------
@pytest.fixture
def export_lines(ledger_path, tmp_path):
    path = tmp_path / "ledger.jsonl"
    with api.open_ledger(ledger_path, create=False, readonly=True) as ledger:
        ledger.export_jsonl(str(path))
    lines = path.read_text().splitlines()

    def write(new_lines):
        path.write_text("\n".join(new_lines) + "\n")
        return str(path)

    return lines, write


def index_of(lines, seq):
    return next(i for i, line in enumerate(lines) if line.startswith('{"event":') and json.loads(line)["seq"] == seq)


def cp_index(lines, seq):
    return next(
        i
        for i, line in enumerate(lines)
        if line.startswith('{"checkpoint":') and json.loads(line)["checkpoint"]["seq"] == seq
    )


def test_jsonl_modified_event(export_lines):
    lines, write = export_lines
    i = index_of(lines, 37)
    lines[i] = lines[i].replace('"host":"web', '"host":"evil')
    assert found(check(write(lines))) == [("modified", 37)]


def test_jsonl_unreadable_line(export_lines):
    lines, write = export_lines
    i = index_of(lines, 37)
    lines[i] = lines[i][:50]
    assert found(check(write(lines))) == [("modified", 37)]


def test_jsonl_duplicate_member_cannot_hide_a_change(export_lines):
    lines, write = export_lines
    i = index_of(lines, 37)
    lines[i] = lines[i].replace('"host":"web', '"host":"evil","host":"web', 1)
    assert found(check(write(lines))) == [("modified", 37)]


def test_jsonl_deleted_event(export_lines):
    lines, write = export_lines
    del lines[index_of(lines, 37)]
    assert found(check(write(lines))) == [("deleted", 37)]


def test_jsonl_inserted_forged_event(export_lines):
    lines, write = export_lines
    prev = json.loads(lines[index_of(lines, 37)])["hash"]
    body = canonical_text(task_event(9999))
    forged = event_line(38, prev, entry_hash(38, prev, body), body)
    lines.insert(index_of(lines, 37) + 1, forged)
    assert found(check(write(lines))) == [("inserted", 38)]


def test_jsonl_duplicated_line(export_lines):
    lines, write = export_lines
    i = index_of(lines, 37)
    lines.insert(i + 1, lines[i])
    report = check(write(lines))
    assert found(report) == [("inserted", 37)] and "second copy" in report["problems"][0]["detail"]


def test_jsonl_reordered_events(export_lines):
    lines, write = export_lines
    i, j = index_of(lines, 37), index_of(lines, 38)
    lines[i], lines[j] = lines[j], lines[i]
    assert found(check(write(lines))) == [("reordered", 37)]


def test_jsonl_event_moved_far(export_lines):
    lines, write = export_lines
    moved = lines.pop(index_of(lines, 12))
    lines.insert(index_of(lines, 77) + 1, moved)
    assert found(check(write(lines))) == [("reordered", 12)]


def test_jsonl_truncated_tail(export_lines):
    lines, write = export_lines
    cut = index_of(lines, 91)
    assert found(check(write(lines[:cut]))) == [("truncated", 91)]


def test_jsonl_truncated_with_header_edited_needs_anchor(export_lines):
    lines, write = export_lines
    anchor = json.loads(lines[cp_index(lines, 100)])["checkpoint"]
    cut = index_of(lines, 91)
    kept = lines[:cut]
    header = json.loads(kept[0])
    last = json.loads(kept[-2])  # event 90 (the checkpoint line for 90 follows it)
    header["last"] = {"seq": last["seq"], "hash": last["hash"]}
    kept[0] = canonical_text(header)
    path = write(kept)
    assert check(path)["valid"] is True
    assert found(check(path, anchor=anchor)) == [("truncated", 91)]


def test_jsonl_checkpoint_missing(export_lines):
    lines, write = export_lines
    del lines[cp_index(lines, 40)]
    assert found(check(write(lines))) == [("checkpoint_missing", 40)]


def test_jsonl_checkpoint_badly_signed(export_lines):
    lines, write = export_lines
    i = cp_index(lines, 40)
    cp = json.loads(lines[i])["checkpoint"]
    cp["sig"] = cp["sig"][:-4] + ("AAA=" if not cp["sig"].endswith("AAA=") else "BBB=")
    lines[i] = checkpoint_line(cp)
    assert found(check(write(lines))) == [("checkpoint_invalid", 40)]


def test_jsonl_gap_from_renumbering(export_lines):
    lines, write = export_lines
    for i, line in enumerate(lines):
        if line.startswith('{"event":'):
            obj = json.loads(line)
            if obj["seq"] >= 37:
                obj["seq"] += 3
                lines[i] = canonical_text(obj)
    assert found(check(write(lines))) == [("gap", 37)]


def test_jsonl_single_seq_field_edited(export_lines):
    lines, write = export_lines
    i = index_of(lines, 37)
    obj = json.loads(lines[i])
    obj["seq"] = 52
    lines[i] = canonical_text(obj)
    assert found(check(write(lines))) == [("modified", 37)]


def test_export_of_a_tampered_database_reports_the_same(ledger_path, tmp_path):
    sql(ledger_path, "DELETE FROM ledger_events WHERE seq = 37", "DELETE FROM ledger_checkpoints WHERE seq = 60")
    expected = [("deleted", 37), ("checkpoint_missing", 60)]
    assert found(check(ledger_path)) == expected
    with api.open_ledger(ledger_path, create=False, readonly=True) as ledger:
        ledger.export_jsonl(str(tmp_path / "t.jsonl"))
    assert found(check(str(tmp_path / "t.jsonl"))) == expected


def test_unreadable_stored_checkpoint_is_invalid_in_the_database_and_its_export(ledger_path, tmp_path):
    sql(ledger_path, "UPDATE ledger_checkpoints SET body = '{not json' WHERE seq = 40")
    assert found(check(ledger_path)) == [("checkpoint_invalid", 40)]
    with api.open_ledger(ledger_path, create=False, readonly=True) as ledger:
        ledger.export_jsonl(str(tmp_path / "t.jsonl"))
    assert found(check(str(tmp_path / "t.jsonl"))) == [("checkpoint_invalid", 40)]


def test_unreadable_stored_event_is_a_typed_error_for_readers(ledger_path):
    # The indexes on the body refuse a body that is not JSON: whoever edits the file drops them first.
    with pytest.raises(sqlite3.OperationalError, match="malformed JSON"):
        sql(ledger_path, "UPDATE ledger_events SET body = '{broken' WHERE seq = 5")
    sql(ledger_path, *(f"DROP INDEX {name}" for name, _statement in sqlite_backend.INDEXES))
    sql(ledger_path, "UPDATE ledger_events SET body = '{broken' WHERE seq = 5")
    with api.open_ledger(ledger_path, create=False, readonly=True) as ledger:
        with pytest.raises(LedgerCorrupt, match="seq 5"):
            ledger.events_after(0, 10)
        with pytest.raises(LedgerCorrupt, match="not valid JSON"):
            ledger.events(subject="CHG0001")
    assert found(check(ledger_path)) == [("modified", 5)]
