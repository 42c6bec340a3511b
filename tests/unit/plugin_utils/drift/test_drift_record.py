"""Drift in a real (temporary SQLite) ledger: findings, the remediation record, refusal, close."""

import json

import pytest
from drift_fixtures import LABELS, NOW, UNREACHABLE, finding, scan

from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift import record
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.policy import drift_policy, plan, verify
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.report import build_report
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

POLICY = drift_policy({"drift": {"auto_remediate": {"classes": ["file"]}}})
OPEN = {"blocked": False, "msg": "Change allowed"}


@pytest.fixture
def ledger(tmp_path):
    with open_ledger(str(tmp_path / "ledger.db"), checkpoint_interval=0) as lg:
        yield lg


def drifted_report():
    scans = {h: scan() for h in LABELS}
    diffed = dict(finding(), diff="--- before\n+password = hunter2hunter2\n")
    scans["cloud-a"] = scan([finding(item=f"/etc/f{i}") for i in range(450)])
    scans["dc-1"] = scan([finding("service", "svc", "state", "running", "stopped")])
    scans["edge-1"] = UNREACHABLE
    r = build_report(LABELS, detectors=["scan"], run_id="DRIFT-1", scans=scans, now=NOW)
    r["hosts"]["dc-1"]["findings"][0].update(diff=diffed["diff"])
    return r


def events(ledger):
    return [e.event for e in ledger.entries()]


def test_every_finding_is_recorded_without_diffs(ledger):
    r = drifted_report()
    record.record_report(ledger, r)
    evs = events(ledger)
    detected = [e for e in evs if e["type"] == record.DETECTED]
    recorded = [f["item"] for e in detected if e["data"]["host"] == "cloud-a" for f in e["data"]["findings"]]
    assert sorted(recorded) == sorted(f"/etc/f{i}" for i in range(450))  # split over parts, none lost
    assert {e["data"]["parts"] for e in detected if e["data"]["host"] == "cloud-a"} == {3}
    assert {e["data"]["host"] for e in detected} == {"cloud-a", "dc-1", "edge-1"}
    assert "hunter2" not in json.dumps(evs)
    summary = evs[-1]
    assert summary["type"] == record.REPORTED and summary["data"]["exit_code"] == 1
    assert "cloud-b" in summary["data"]["hosts"]["in_sync"]


def test_remediation_record_lifecycle(ledger):
    r = drifted_report()
    p = plan(r, POLICY)
    assert p["remediate"] == ["cloud-a"]
    opened = record.open_remediation(ledger, "DRM-1", r, p, {"blackout": OPEN}, "alice")
    assert opened["refused"] is False and opened["review_id"] == "DRIFT-REVIEW-dc-1"
    rec = ledger.get_change("DRM-1")
    assert rec["status"] == "open" and rec["type"] == "standard" and rec["targets"] == ["cloud-a"]
    assert {g["gate"]: g["decision"] for g in rec["gate_decisions"]} == {"drift_policy": "pass", "blackout": "pass"}
    review = ledger.get_change("DRIFT-REVIEW-dc-1")
    assert review["status"] == "open" and review["targets"] == ["dc-1"] and review["type"] == "normal"
    assert any(e["type"] == record.DEFERRED and e["data"]["hosts"][0]["host"] == "edge-1" for e in events(ledger))
    v = verify(["cloud-a"], {"cloud-a": scan()})
    record.close_remediation(ledger, "DRM-1", v, [{"host": "cloud-a", "id": "snap-1"}])
    rec = ledger.get_change("DRM-1")
    assert (
        rec["status"] == "closed"
        and rec["outcome"] == "successful"
        and rec["snapshots"] == [{"host": "cloud-a", "id": "snap-1"}]
    )


def test_failed_verification_closes_failed(ledger):
    r = drifted_report()
    p = plan(r, POLICY)
    record.open_remediation(ledger, "DRM-2", r, p, {"blackout": OPEN}, "alice")
    record.close_remediation(ledger, "DRM-2", verify(["cloud-a"], {"cloud-a": scan([finding()])}), [])
    rec = ledger.get_change("DRM-2")
    assert rec["outcome"] == "failed" and any("not restored" in o for o in rec["observations"])


@pytest.mark.parametrize(
    "gate",
    [
        {"blocked": True, "msg": "Change blocked: blackout 'freeze'"},
        {"failed": True, "msg": "blackout: no calendars"},
        {"skipped": True},
        {"msg": "no decision at all"},
        "not a result",
    ],
)
def test_a_gate_that_blocks_or_cannot_decide_refuses_and_closes_aborted(ledger, gate):
    r = drifted_report()
    opened = record.open_remediation(ledger, "DRM-3", r, plan(r, POLICY), {"blackout": gate}, "alice")
    assert opened["refused"] is True
    rec = ledger.get_change("DRM-3")
    assert rec["status"] == "closed" and rec["outcome"] == "aborted"
    assert rec["observations"][0].startswith("refused before any host was touched: blackout")
    assert any(e["type"] == record.REFUSED for e in events(ledger))


def reviews_of(ledger):
    return sorted(cid for cid in ledger.change_ids() if cid.startswith(record.REVIEW_PREFIX))


def test_every_run_refused_or_not_opens_at_most_one_review_per_host_and_finding(ledger):
    r = drifted_report()
    p = plan(r, POLICY)
    first = record.open_remediation(ledger, "DRM-10", r, p, {"blackout": OPEN}, "alice")
    assert first["reviews"]["opened"] == ["DRIFT-REVIEW-dc-1"]
    # the next nights: the same drift, once refused by the freeze, once allowed - no new review, no new event
    refused = {"blocked": True, "msg": "Change blocked: blackout 'freeze'"}
    for change_id, gate in (("DRM-11", refused), ("DRM-12", OPEN)):
        again = record.open_remediation(ledger, change_id, r, p, {"blackout": gate}, "alice")
        assert again["reviews"] == {"opened": [], "updated": [], "unchanged": ["DRIFT-REVIEW-dc-1"], "seq": None}
        assert again["review_id"] is None
    assert reviews_of(ledger) == ["DRIFT-REVIEW-dc-1"]
    assert len(ledger.events(subject="DRIFT-REVIEW-dc-1")) == 1


def test_a_new_finding_is_added_to_the_open_review_once(ledger):
    r = drifted_report()
    record.open_remediation(ledger, "DRM-20", r, plan(r, POLICY), {"blackout": OPEN}, "alice")
    scans = {h: scan() for h in LABELS}
    scans["dc-1"] = scan(
        [finding("service", "svc", "state", "running", "stopped"), finding("user", "bob", "uid", "1001", "1002")]
    )
    r2 = build_report(LABELS, detectors=["scan"], run_id="DRIFT-2", scans=scans, now=NOW)
    p2 = plan(r2, POLICY)
    for change_id in ("DRM-21", "DRM-22"):
        out = record.open_remediation(ledger, change_id, r2, p2, {"blackout": OPEN}, "alice")
    assert out["reviews"]["unchanged"] == ["DRIFT-REVIEW-dc-1"]  # the second run adds nothing
    updates = [e.event for e in ledger.events(subject="DRIFT-REVIEW-dc-1", types=record.REVIEW_UPDATED)]
    assert len(updates) == 1
    assert updates[0]["data"]["items"] == ["user bob (uid, scan)"]
    assert ledger.get_change("DRIFT-REVIEW-dc-1")["status"] == "open"
    assert reviews_of(ledger) == ["DRIFT-REVIEW-dc-1"]


def test_after_a_person_closes_the_review_a_drift_that_is_still_there_gets_a_new_one(ledger):
    r = drifted_report()
    p = plan(r, POLICY)
    record.open_remediation(ledger, "DRM-30", r, p, {"blackout": OPEN}, "alice")
    ledger.close_change("DRIFT-REVIEW-dc-1", "successful", ["looked at it; the service stays stopped for now"])
    out = record.open_remediation(ledger, "DRM-31", r, p, {"blackout": OPEN}, "alice")
    assert out["reviews"]["opened"] == ["DRIFT-REVIEW-dc-1.2"]
    record.open_remediation(ledger, "DRM-32", r, p, {"blackout": OPEN}, "alice")
    assert reviews_of(ledger) == ["DRIFT-REVIEW-dc-1", "DRIFT-REVIEW-dc-1.2"]


def test_review_ids_of_host_names_no_change_id_may_hold():
    assert record.review_base("web-01.example.com") == "DRIFT-REVIEW-web-01.example.com"
    odd = record.review_base("host with spaces/and slashes")
    assert odd.startswith("DRIFT-REVIEW-") and " " not in odd and "/" not in odd
    assert odd != record.review_base("host with spaces/and slashes2")
