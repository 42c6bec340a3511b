"""Retention: the policy's periods, archives that verify on their own (directory and S3 with Object Lock, on moto's
S3 server), pruning only what a verified archive holds, legal holds that stop it, and a pruned ledger that still
verifies - and is caught when its front is cut outside the control."""

import datetime
import glob
import os
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ledger"))
from ledger_testlib import KEY, task_event
from ssh_signers import Signers

from ansible_collections.changeward.hybrid.plugins.plugin_utils import control_events
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api, model, series, verify
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import (
    LedgerInvalidInput,
    LedgerKeyError,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.retention import archive, holds, store
from ansible_collections.changeward.hybrid.plugins.plugin_utils.retention.policy import (
    RetentionError,
    RetentionPolicy,
    RetentionRefused,
)

NEW_KEY = "second-ledger-key-0123456789abcdef"
DOC = {"api_version": "changeward.hybrid/v1", "default": {"live": "1h", "archive": "30d"}}
LATER = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)


def policy(**extra):
    return RetentionPolicy({**DOC, **extra})


def build(path, n=38, close=True):
    """A ledger with a change (targets web1), its task events and, when close, its closing (checkpoint every 10)."""
    with api.open_ledger(str(path), key=KEY, checkpoint_interval=10) as led:
        led.open_change(model.new_record("CHG1", "normal", "upgrade", "alice", targets=["web1"]), {"service": "shop"})
        led.append_many([task_event(i, "CHG1") for i in range(n)])
        if close:
            led.close_change("CHG1", "successful", ["ok"])
    return str(path)


def subjects(led, classes=frozenset()):
    return archive.Subjects(led, lambda targets: set(classes))


@pytest.fixture
def ledger_path(tmp_path):
    return build(tmp_path / "ledger.db")


# -- the policy ---------------------------------------------------------------------------------------------------
def test_the_longest_applicable_period_wins_and_unknown_classes_get_the_longest_of_all():
    p = policy(
        data_classes={"pii": {"live": "90d", "archive": "6y"}},
        record_types={"io.changeward.run.*": {"live": "30d"}, "io.changeward.approval.*": {"archive": "10y"}},
    )
    day, year = 86400.0, 31536000.0
    assert p.periods("io.changeward.change.opened", set()) == {"live": 3600.0, "archive": 30 * day}
    assert p.periods("io.changeward.run.task_result", set()) == {"live": 30 * day, "archive": 30 * day}
    assert p.periods("io.changeward.change.closed", {"pii"}) == {"live": 90 * day, "archive": 6 * year}
    assert p.periods("io.changeward.approval.recorded", {"none"})["archive"] == 10 * year
    assert p.periods("io.changeward.change.opened", None) == {"live": 90 * day, "archive": 10 * year}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (None, "no retention policy"),
        ({"api_version": "changeward.hybrid/v1", "default": {"live": "1d"}}, "default must set archive"),
        ({**DOC, "archive": {"lock_mode": "NONE"}}, "lock_mode must be one of"),
        ({**DOC, "keep": "forever"}, "unknown key"),
        ({**DOC, "record_types": {"*": {"live": "1d"}}}, "io.changeward"),
        ({**DOC, "data_classes": {"pii": {"live": "soon"}}}, "data_classes.pii.live"),
    ],
)
def test_a_policy_that_cannot_be_read_is_refused(doc, message):
    with pytest.raises(RetentionError, match=message):
        RetentionPolicy(doc)


def test_retention_events_are_reserved_control_events():
    for event_type in (
        control_events.HOLD_PLACED,
        control_events.HOLD_RELEASED,
        control_events.LEDGER_ARCHIVED,
        control_events.LEDGER_PRUNED,
    ):
        assert control_events.is_reserved(event_type)


# -- archive and prune (directory) ----------------------------------------------------------------------------------
def test_an_archived_range_verifies_on_its_own_after_the_live_ledger_was_pruned(ledger_path, tmp_path):
    st = store.DirectoryStore(str(tmp_path / "archive"))
    with api.open_ledger(ledger_path, key=KEY) as led:
        head_before = led.head()
        made = archive.archive(led, st, policy(), subjects(led), now=LATER)
        assert made["changed"] and made["archive"]["first_seq"] == 1 and made["archive"]["last_seq"] == 40
        path = made["archive"]["location"]
        assert oct(os.stat(path).st_mode & 0o777) == "0o400"
        pruned = archive.prune(led, lambda rec: st, policy(), subjects(led), now=LATER)
        assert pruned["changed"], pruned
        assert pruned["pruned"] == {
            "from_seq": 1,
            "through_seq": 40,
            "through_hash": made["archive"]["last_hash"],
            "deleted": 40,
        }
        assert led.entry(1) is None and led.entry(40) is None and led.start() == (40, made["archive"]["last_hash"])
        assert led.get_change("CHG1") is None  # its record went with the range
        # the prune is recorded: the range, the archive that holds it and its digests
        (event,) = led.events(types=[control_events.LEDGER_PRUNED])
        assert event.event["data"]["archives"][0]["sha256"] == made["archive"]["sha256"]
        assert event.event["data"]["archives"][0]["header_digest"] == made["archive"]["header_digest"]
        assert event.event["data"]["through_seq"] == 40
        # the live ledger still verifies, from its signed start
        live = led.verify()
        assert live["valid"], live["problems"]
        assert live["signed_through"] == led.head()[0] > head_before[0]
        later = led.export_jsonl(str(tmp_path / "next.jsonl"), previous=path)
        assert later["first_seq"] == 41
    # the archive alone, without the database: valid, signed, and the series with the next export is unbroken
    alone = verify.verify(path, key=KEY)
    assert alone["valid"] and alone["events"] == 40 and alone["signed_through"] == 40
    assert series.validate_exports([path, str(tmp_path / "next.jsonl")], key=KEY)["valid"]
    assert verify.verify(ledger_path, key=KEY)["valid"]


def test_nothing_is_pruned_without_an_archive_or_before_live_retention_ends(ledger_path, tmp_path):
    st = store.DirectoryStore(str(tmp_path / "archive"))
    with api.open_ledger(ledger_path, key=KEY) as led:
        out = archive.prune(led, lambda rec: st, policy(), subjects(led), now=LATER)
        assert not out["changed"] and "no archive" in out["msg"]
        assert led.entry(1) is not None
        # within the live period (1h), nothing may be archived or pruned
        now = datetime.datetime.now(datetime.UTC)
        assert archive.plan(led, policy(), subjects(led), now=now)["through_seq"] is None
        assert not archive.archive(led, st, policy(), subjects(led), now=now)["changed"]
        # a PII host's change keeps its events for 90 days
        pii = policy(data_classes={"pii": {"live": "90d"}})
        assert archive.plan(led, pii, subjects(led, {"pii"}), now=LATER)["through_seq"] is None
        assert archive.plan(led, pii, subjects(led, {"none"}), now=LATER)["through_seq"] == 40


def test_an_open_change_stops_the_plan(tmp_path):
    path = build(tmp_path / "open.db", close=False)
    with api.open_ledger(path, key=KEY) as led:
        found = archive.plan(led, policy(), subjects(led), now=LATER)
        assert found["through_seq"] is None and "still open" in found["stop"]


def test_events_a_sink_has_not_received_and_an_open_review_stay_live(ledger_path):
    with api.open_ledger(ledger_path, key=KEY) as led:
        led.advance_cursor("siem", 12)
        found = archive.plan(led, policy(), subjects(led), now=LATER)
        assert found["through_seq"] == 10 and "not yet delivered to audit sink siem" in found["stop"]
        led.advance_cursor("siem", 40)
        led.record(control_events.REVIEW_OPENED, "CHG1", {"kind": "rollback"})
        found = archive.plan(led, policy(), subjects(led), now=LATER)
        assert found["through_seq"] is None and "rollback review is open" in found["stop"]
        led.record(archive.REVIEW_COMPLETED, "CHG1", {"kind": "rollback", "by": "sre"})
        led.advance_cursor("siem", led.head()[0])
        assert archive.plan(led, policy(), subjects(led), now=LATER)["through_seq"] == 40


def test_a_pruned_ledger_keeps_refusing_a_retired_key(tmp_path):
    path = build(tmp_path / "rot.db")
    st = store.DirectoryStore(str(tmp_path / "archive"))
    with api.open_ledger(path, key=KEY) as led:
        led.rotate_key(NEW_KEY)  # seq 41, sealed
        led.append_many([task_event(i, "CHG2") for i in range(9)])  # 42..50, checkpoint at 50
    ring = [KEY, NEW_KEY]
    with api.open_ledger(path, key=NEW_KEY) as led:
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.checkpoint import load_keys

        keys = load_keys(ring)
        assert archive.archive(led, st, policy(), subjects(led), keys=keys, now=LATER)["archive"]["last_seq"] == 50
        assert archive.prune(led, lambda rec: st, policy(), subjects(led), keys=keys, now=LATER)["changed"]
        assert not led.events(types=[control_events.KEY_ROTATED])  # the rotation itself was pruned
    with api.open_ledger(path, key=KEY) as old, pytest.raises(LedgerKeyError, match="retired"):
        old.append(task_event(99, "CHG3"))
    assert verify.verify(path, key=ring)["valid"]


def test_an_archive_changed_in_its_store_is_never_the_basis_of_a_prune(ledger_path, tmp_path):
    st = store.DirectoryStore(str(tmp_path / "archive"))
    with api.open_ledger(ledger_path, key=KEY) as led:
        made = archive.archive(led, st, policy(), subjects(led), now=LATER)
        path = made["archive"]["location"]
        os.chmod(path, 0o600)
        Path(path).write_text(Path(path).read_text().replace('"i":3,', '"i":4,'))
        with pytest.raises(RetentionRefused, match="SHA-256 differs"):
            archive.prune(led, lambda rec: st, policy(), subjects(led), now=LATER)
        assert led.start()[0] == 0 and led.entry(1) is not None


def test_a_store_never_replaces_an_archive(tmp_path):
    st = store.DirectoryStore(str(tmp_path / "a"))
    src = tmp_path / "x.jsonl"
    src.write_text("one\n")
    st.put("l/1.jsonl", str(src), store.sha256_file(str(src)), LATER, "COMPLIANCE")
    src.write_text("two\n")
    with pytest.raises(RetentionError, match="never replaced"):
        st.put("l/1.jsonl", str(src), store.sha256_file(str(src)), LATER, "COMPLIANCE")


# -- legal holds ------------------------------------------------------------------------------------------------
def test_a_legal_hold_prevents_pruning_until_a_signed_release(ledger_path, tmp_path):
    st = store.DirectoryStore(str(tmp_path / "archive"))
    signers = Signers(tmp_path / "keys", ["counsel", "mallory"])
    legal = policy(legal_hold={"allowed_signers": str(signers.path), "release_by": ["counsel"]})
    with api.open_ledger(ledger_path, key=KEY) as led:
        assert archive.archive(led, st, legal, subjects(led), now=LATER)["changed"]
        placed = archive.place_hold(
            led, "LH-1", holds.scope_of(change="CHG1"), matter="Doe v. Shop", by="legal", reason="litigation"
        )
        assert placed["changed"]
        found = archive.plan(led, legal, subjects(led), now=LATER)
        assert found["through_seq"] is None and "legal hold LH-1" in found["stop"]
        assert not archive.prune(led, lambda rec: st, legal, subjects(led), now=LATER)["changed"]
        assert led.entry(1) is not None
        hold = holds.active(led)[0]
        # a release by someone the policy does not list, or signed over another statement, is refused
        text = holds.release_statement(led.ledger_id, hold, "mallory")
        with pytest.raises(RetentionRefused, match="may not release"):
            archive.release_hold(
                led, legal, str(signers.path), "LH-1", by="mallory", signature=signers.sign("mallory", text)
            )
        other = holds.release_statement(led.ledger_id, {**hold, "event_id": "another"}, "counsel")
        with pytest.raises(RetentionRefused, match="not counsel's"):
            archive.release_hold(
                led,
                legal,
                str(signers.path),
                "LH-1",
                by="counsel",
                signature=signers.sign("counsel", other, namespace=holds.NAMESPACE),
            )
        assert holds.active(led)
        good = holds.release_statement(led.ledger_id, hold, "counsel")
        released = archive.release_hold(
            led,
            legal,
            str(signers.path),
            "LH-1",
            by="counsel",
            signature=signers.sign("counsel", good, namespace=holds.NAMESPACE),
        )
        assert released["changed"] and not holds.active(led)
        assert archive.prune(led, lambda rec: st, legal, subjects(led), now=LATER)["changed"]


@pytest.mark.parametrize(
    "scope",
    [
        {"service": "shop"},
        {"from_seq": 5, "through_seq": 6},
        {"start_time": "2000-01-01T00:00:00Z"},
    ],
)
def test_a_hold_placed_while_pruning_is_seen_under_the_write_lock(ledger_path, tmp_path, monkeypatch, scope):
    st = store.DirectoryStore(str(tmp_path / "archive"))
    with api.open_ledger(ledger_path, key=KEY) as led:
        archive.archive(led, st, policy(), subjects(led), now=LATER)
        planned = archive.plan(led, policy(), subjects(led), now=LATER)
        archive.place_hold(led, "LH-2", holds.scope_of(**scope), matter="audit", by="legal", reason="inquiry")
        monkeypatch.setattr(archive, "plan", lambda *a, **k: planned)  # the plan was made before the hold
        with pytest.raises(RetentionRefused, match="legal hold LH-2"):
            archive.prune(led, lambda rec: st, policy(), subjects(led), now=LATER)
        assert led.entry(1) is not None and led.start()[0] == 0
        refused = led.events(types=[control_events.CONTROL_REFUSED])
        assert refused and "LH-2" in refused[-1].event["data"]["reason"]


def test_a_hold_needs_one_scope():
    with pytest.raises(RetentionError, match="exactly one"):
        holds.scope_of(change="CHG1", service="shop")
    with pytest.raises(RetentionError, match="exactly one"):
        holds.scope_of()


# -- the pruned ledger's start is bound to the chain ------------------------------------------------------------------
def test_cutting_the_front_of_a_pruned_ledger_outside_the_control_is_reported(ledger_path, tmp_path):
    st = store.DirectoryStore(str(tmp_path / "archive"))
    with api.open_ledger(ledger_path, key=KEY) as led:
        archive.archive(led, st, policy(), subjects(led), now=LATER)
        archive.prune(led, lambda rec: st, policy(), subjects(led), now=LATER)
        led.append_many([task_event(i, "CHG9") for i in range(20)])
        cut = next(cp for cp in led.checkpoints() if cp["seq"] > 50)
    db = sqlite3.connect(ledger_path)
    db.execute("DELETE FROM ledger_events WHERE seq <= ?", (cut["seq"],))
    db.execute("UPDATE ledger_meta SET value = ? WHERE key = 'pruned_through_seq'", (str(cut["seq"]),))
    db.execute("UPDATE ledger_meta SET value = ? WHERE key = 'pruned_through_hash'", (cut["hash"],))
    db.commit()
    db.close()
    report = verify.verify(ledger_path, key=KEY)
    assert not report["valid"]
    assert any(
        p["kind"] == "prune_invalid" and "no io.changeward.ledger.pruned" in p["detail"] for p in report["problems"]
    )


def test_prune_only_through_a_checkpointed_seq(ledger_path):
    with api.open_ledger(ledger_path, key=KEY) as led:
        with pytest.raises(LedgerInvalidInput, match="no signed checkpoint of event 7"):
            led.prune(7, {})
        with pytest.raises(LedgerInvalidInput, match=r"live chain holds seqs 1\.\.40"):
            led.prune(41, {})


# -- S3 with Object Lock (moto's standalone server) -----------------------------------------------------------------
@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    import boto3

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3", endpoint_url=s3_server)
    for bucket in ("cw-archive", "cw-no-lock"):
        if bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
            client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=bucket == "cw-archive")
    return s3_server, client


def test_an_s3_archive_is_write_once_and_verifies_on_its_own_after_pruning(ledger_path, tmp_path, s3):
    url, client = s3
    st = store.S3Store("cw-archive", "ledgers", endpoint_url=url)
    governance = policy(archive={"lock_mode": "GOVERNANCE"})
    with api.open_ledger(ledger_path, key=KEY) as led:
        with pytest.raises(RetentionError, match="does not have Object Lock"):
            archive.archive(led, store.S3Store("cw-no-lock", endpoint_url=url), policy(), subjects(led), now=LATER)
        made = archive.archive(led, st, governance, subjects(led), now=LATER)["archive"]
        assert made["location"].startswith("s3://cw-archive/ledgers/") and made["lock_mode"] == "GOVERNANCE"
        key = made["location"][len("s3://cw-archive/") :]
        head = client.head_object(Bucket="cw-archive", Key=key)
        assert head["ObjectLockMode"] == "GOVERNANCE"
        assert head["ObjectLockRetainUntilDate"] >= datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=29)
        with pytest.raises(Exception, match="AccessDenied"):
            client.delete_object(Bucket="cw-archive", Key=key, VersionId=made["version_id"])
        out = archive.prune(led, lambda rec: st, governance, subjects(led), now=LATER)
        assert out["changed"] and out["archives"][0]["lock_mode"] == "GOVERNANCE"
        assert out["verified"]["valid"]
    body = client.get_object(Bucket="cw-archive", Key=key)["Body"].read()
    (tmp_path / "copy.jsonl").write_bytes(body)
    assert verify.verify(str(tmp_path / "copy.jsonl"), key=KEY)["valid"]
    assert verify.verify(ledger_path, key=KEY)["valid"]
    assert not glob.glob(str(tmp_path / "cw-archive-*"))
