"""Accepted drift: approver and expiry required, matching, expiry, the policy's limit."""

import datetime as dt

import pytest
from drift_fixtures import LABELS, NOW, finding, scan

from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift import acceptance as acc
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.errors import AcceptanceError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.report import build_report


def entry(**kw):
    base = {
        "host": "dc-*",
        "class": "sysctl",
        "item": "net.ipv4.ip_forward",
        "approver": "alice",
        "reason": "router test until the migration",
        "expires": "2025-06-30",
    }
    base.update(kw)
    return base


def build(accepted, findings):
    scans = {h: scan() for h in LABELS}
    scans["dc-1"] = scan(findings)
    return build_report(LABELS, detectors=["scan"], run_id="R", scans=scans, accepted=accepted, now=NOW)


SYSCTL = finding("sysctl", "net.ipv4.ip_forward", "value", "0", "1")


def test_active_acceptance_moves_findings_aside_and_the_host_is_in_sync():
    r = build([entry(id="ACC-1")], [SYSCTL])
    h = r["hosts"]["dc-1"]
    assert h["status"] == "in_sync" and h["findings"] == [] and h["accepted"][0]["accepted_by"] == "ACC-1"
    assert r["summary"]["accepted"] == 1 and r["exit_code"] == 0


def test_other_drift_on_the_same_host_is_still_drift():
    r = build([entry()], [SYSCTL, finding()])
    assert r["hosts"]["dc-1"]["status"] == "drifted" and len(r["hosts"]["dc-1"]["findings"]) == 1


def test_pinned_actual_value_accepts_only_that_value():
    assert build([entry(actual="2")], [SYSCTL])["hosts"]["dc-1"]["status"] == "drifted"
    assert build([entry(actual="1")], [SYSCTL])["hosts"]["dc-1"]["status"] == "in_sync"


def test_expired_acceptance_accepts_nothing_and_is_named():
    r = build([entry(id="ACC-OLD", expires="2025-05-31T23:59:59Z")], [SYSCTL])
    h = r["hosts"]["dc-1"]
    assert h["status"] == "drifted" and h["findings"][0]["acceptance_expired"] == ["ACC-OLD"]
    assert r["summary"]["expired_acceptances"] == 1 and r["acceptances"]["expired"][0]["id"] == "ACC-OLD"


def test_expiry_boundary_and_unused_entries():
    at_now = acc.normalise([entry(expires="2025-06-01T12:00:00Z")], NOW)[0]
    assert at_now["active"] is False  # an acceptance ends at its expiry
    r = build([entry(host="cloud-*", id="ACC-C")], [SYSCTL])
    assert r["acceptances"]["unused"] == ["ACC-C"]


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"approver": None}, "approver is required"),
        ({"expires": None}, "expires is required"),
        ({"reason": ""}, "reason is required"),
        ({"expires": "2025-06-30T12:00:00"}, "no UTC offset"),
        ({"expires": "next tuesday"}, "ISO 8601"),
        ({"expires": "2026-06-30"}, "more than 90 days"),
        ({"class": "firewall"}, "class"),
        ({"colour": "red"}, "unknown key"),
    ],
)
def test_malformed_acceptances_are_errors(kw, match):
    with pytest.raises(AcceptanceError, match=match):
        acc.normalise([entry(**kw)], NOW)


def test_duplicate_ids_and_offsets():
    with pytest.raises(AcceptanceError, match="used twice"):
        acc.normalise([entry(id="A"), entry(id="A", item="x")], NOW)
    e = acc.normalise([entry(expires="2025-06-02T02:00:00+02:00")], NOW)[0]
    assert e["expires"] == "2025-06-02T00:00:00Z" and e["active"] is True
    assert acc.normalise([entry(expires=dt.date(2025, 6, 2))], NOW)[0]["expires"] == "2025-06-02T00:00:00Z"
