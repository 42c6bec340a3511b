"""Key rotation (a ledger event both keys sign), key rings with validity ranges, and the list-as-key trap."""

import json
import sqlite3

import pytest
from ledger_testlib import KEY, task_event

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api, checkpoint, model, verify
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.canonical import canonical_text
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerConfigError, LedgerKeyError

PRIV, PUB = checkpoint.generate_ed25519()
KEY_ID = checkpoint.load_key(KEY).key_id
NEW_ID = checkpoint.load_key(PUB).key_id


def problems(path, key):
    return [(p["kind"], p["seq"]) for p in verify.verify(path, key=key)["problems"]]


@pytest.fixture
def rotated(tmp_path):
    """12 events under the HMAC key, the rotation at seq 13 (sealed by it), 12 more under the Ed25519 key."""
    path = str(tmp_path / "ledger.db")
    with api.open_ledger(path, key=KEY, checkpoint_interval=5) as ledger:
        ledger.append_many([task_event(i) for i in range(12)])
        out = ledger.rotate_key(PRIV, reason="yearly")
        ledger.append_many([task_event(i) for i in range(12)])
    assert (out["seq"], out["previous_key_id"], out["key_id"]) == (13, KEY_ID, NEW_ID)
    assert out["checkpoint"]["key_id"] == KEY_ID and out["checkpoint"]["seq"] == 13
    return path


def test_a_ledger_signed_across_a_rotation_verifies_with_both_keys(rotated):
    report = verify.verify(rotated, key=[KEY, PUB])
    assert report["valid"] and report["signed_through"] == 25 and report["checkpoints"] == 6
    with api.open_ledger(rotated, readonly=True) as ledger:
        event = ledger.events(types=["io.changeward.ledger.key_rotated"])[0].event
    assert event["data"]["public_key"] == PUB and event["data"]["reason"] == "yearly"
    assert KEY not in json.dumps(event)  # an HMAC secret is never recorded, only its key id


def test_with_only_the_old_key_the_later_checkpoints_do_not_verify(rotated):
    assert problems(rotated, KEY) == [
        ("checkpoint_invalid", 15),
        ("checkpoint_invalid", 20),
        ("checkpoint_invalid", 25),
    ]


def test_the_retired_key_is_refused_for_appends_checkpoints_and_export_headers(rotated, tmp_path):
    with api.open_ledger(rotated, key=KEY) as ledger:
        for attempt in (
            lambda: ledger.append(task_event(99)),
            ledger.checkpoint,
            lambda: ledger.export_jsonl(str(tmp_path / "x.jsonl")),
        ):
            with pytest.raises(LedgerKeyError, match=f"rotated its checkpoint key to {NEW_ID} at seq 13"):
                attempt()
    with api.open_ledger(rotated, key=PRIV) as ledger:
        assert ledger.append(task_event(99)).seq == 26


def test_a_checkpoint_the_retired_key_signs_after_the_rotation_is_invalid(rotated):
    # Someone who kept the old key signs the head: valid signature, wrong key for that part of the chain.
    conn = sqlite3.connect(rotated, isolation_level=None)
    seq, h = conn.execute("SELECT seq, hash FROM ledger_events WHERE seq = 20").fetchone()
    ledger_id = conn.execute("SELECT value FROM ledger_meta WHERE key = 'ledger_id'").fetchone()[0]
    forged = checkpoint.make_checkpoint(KEY, ledger_id=ledger_id, seq=seq, entry_hash=h, interval=5)
    conn.execute("UPDATE ledger_checkpoints SET body = ? WHERE seq = 20", (canonical_text(forged),))
    conn.close()
    report = verify.verify(rotated, key=[KEY, PUB])
    assert [(p["kind"], p["seq"]) for p in report["problems"]] == [("checkpoint_invalid", 20)]
    assert f"the ledger's key is {NEW_ID} (key rotation at seq 13)" in report["problems"][0]["detail"]


def test_a_rotation_event_not_endorsed_by_the_previous_key_is_reported(tmp_path):
    # Written around the plugin (the type is reserved; here straight into the chain with the API's append).
    path = str(tmp_path / "ledger.db")
    other_priv, other_pub = checkpoint.generate_ed25519()
    with api.open_ledger(path, key=KEY, checkpoint_interval=0) as ledger:
        ledger.append(task_event(1))
        data = {
            "ledger_id": ledger.ledger_id,
            "previous_key_id": KEY_ID,
            "key_id": checkpoint.load_key(other_pub).key_id,
            "alg": "Ed25519",
            "public_key": other_pub,
            "time": model.utc_now(),
        }
        statement = checkpoint.rotation_statement(data)
        data["endorsement"] = checkpoint.sign_object(other_priv, statement)  # not the previous key's
        data["acceptance"] = checkpoint.sign_object(other_priv, statement)
        ledger.append(model.new_event("io.changeward.ledger.key_rotated", f"ledger:{ledger.ledger_id}", data))
    report = verify.verify(path, key=[KEY, other_pub])
    assert [(p["kind"], p["seq"]) for p in report["problems"]] == [("rotation_invalid", 2)]
    assert "not endorsed by the previous key" in report["problems"][0]["detail"]


def test_rotating_needs_a_signing_key_and_a_different_one(tmp_path):
    path = str(tmp_path / "ledger.db")
    with api.open_ledger(path, key=KEY) as ledger:
        with pytest.raises(LedgerKeyError, match="can only verify"):
            ledger.rotate_key(PUB)
        with pytest.raises(Exception, match="nothing to rotate"):
            ledger.rotate_key(KEY)
    with api.open_ledger(path) as ledger, pytest.raises(LedgerKeyError, match="needs the current signing key"):
        ledger.rotate_key(PRIV)


# -- key rings with validity ranges -----------------------------------------------------------------------------
def test_validity_ranges_decide_which_signatures_count(rotated):
    with api.open_ledger(rotated, readonly=True) as ledger:
        rotated_at = ledger.entry(13).event["time"]
    ring = [{"key": KEY, "not_after": rotated_at}, {"public_key": PUB, "not_before": rotated_at}]
    assert verify.verify(rotated, key=checkpoint.load_keys(ring))["valid"]
    expired = [{"key": KEY, "not_after": "2000-01-01T00:00:00Z"}, {"public_key": PUB}]
    found = problems(rotated, checkpoint.load_keys(expired))
    assert found[:3] == [("checkpoint_invalid", 5), ("checkpoint_invalid", 10), ("checkpoint_invalid", 13)]
    assert ("rotation_invalid", 13) in found  # the endorsement too was made after the old key expired


def test_a_key_ring_entry_can_name_a_file(tmp_path):
    (tmp_path / "new.pub").write_text(PUB + "\n")
    ring = checkpoint.load_keys([KEY, {"path": str(tmp_path / "new.pub"), "not_before": "2026-01-01T00:00:00Z"}])
    assert set(ring) == {KEY_ID, NEW_ID} and ring[NEW_ID].not_before == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("ring", "message"),
    [
        ([{"key": KEY, "public_key": PUB}], "exactly one of key, public_key or path"),
        ([{"not_before": "2026-01-01T00:00:00Z"}], "exactly one of key, public_key or path"),
        ([{"key": KEY, "not_after": "yesterday"}], "not_after must be an RFC 3339 UTC time"),
        ([{"key": KEY, "not_before": "2026-02-01T00:00:00Z", "not_after": "2026-01-01T00:00:00Z"}], "is before"),
        ([{"key": KEY, "valid": True}], "unknown field"),
        ([KEY, KEY], "given twice"),
        ([{"path": "/nonexistent/ledger.pub"}], "cannot read key file"),
    ],
)
def test_bad_key_rings_are_refused(ring, message):
    with pytest.raises(LedgerConfigError, match=message):
        checkpoint.load_keys(ring)


def test_a_list_turned_into_text_is_never_an_hmac_secret():
    # What Ansible makes of a list passed to a string option.
    for as_text in (str([KEY, PUB]), str([{"key": KEY}]), '["' + KEY + '"]'):
        with pytest.raises(LedgerConfigError, match="looks like a list of keys"):
            checkpoint.load_key(as_text)
    assert checkpoint.load_key("hmac:[" + KEY + "]").alg == "HMAC-SHA256"  # a bracketed secret, said so


def test_fractional_times_compare_as_times_not_as_text():
    key = checkpoint.load_keys([{"key": KEY, "not_after": "2026-01-01T00:00:00Z"}])[KEY_ID]
    assert checkpoint.key_valid_at(key, "2026-01-01T00:00:00.5Z") is not None  # half a second too late
    assert checkpoint.key_valid_at(key, "2025-12-31T23:59:59.999999Z") is None
