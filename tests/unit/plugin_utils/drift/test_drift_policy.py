"""The drift policy and the remediation plan: automatic only when everything is known and allowed."""

import pytest
from drift_fixtures import LABELS, NOW, UNREACHABLE, finding, scan

from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.errors import DriftPolicyError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.policy import drift_policy, plan, verify
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.report import build_report

POLICY = {"drift": {"auto_remediate": {"classes": ["file", "service", "sysctl"]}}}


def make(scans, accepted=None):
    base = {h: scan() for h in LABELS}
    base.update(scans)
    return build_report(LABELS, detectors=["scan"], run_id="R", scans=base, accepted=accepted, now=NOW)


def test_default_policy_remediates_nothing():
    r = make({"dc-1": scan([finding()])})
    p = plan(r, drift_policy(None))
    assert p["remediate"] == [] and p["manual"][0]["host"] == "dc-1"


def test_plan_sorts_hosts_by_what_happens_to_them():
    r = make(
        {
            "cloud-a": scan([finding(), finding("service", "svc", "state", "running", "stopped")]),
            "cloud-b": scan([finding("package", "nginx", "version", "1", "2")]),
            "dc-legacy": scan([finding()]),
            "dc-1": scan([finding()], [{"class": "service", "item": "x", "reason": "status 4"}]),
            "edge-1": UNREACHABLE,
        }
    )
    p = plan(r, drift_policy(POLICY))
    assert p["remediate"] == ["cloud-a"]
    manual = {m["host"]: " ".join(m["reasons"]) for m in p["manual"]}
    assert "package not allowed" in manual["cloud-b"]
    assert "rollback_capability none" in manual["dc-legacy"]
    assert "not fully evaluated" in manual["dc-1"]
    assert [d["host"] for d in p["deferred"]] == ["edge-1"]
    assert p["in_sync"] == []


def test_unreachable_outside_deferred_env_types_goes_to_a_person():
    p = plan(make({"dc-1": UNREACHABLE}), drift_policy(POLICY))
    assert p["manual"] == [{"host": "dc-1", "reasons": ["unreachable"]}] and p["deferred"] == []


def test_hosts_with_accepted_drift_are_not_remediated_automatically():
    accepted = [
        {"host": "cloud-a", "class": "sysctl", "item": "*", "approver": "a", "reason": "r", "expires": "2025-07-01"}
    ]
    r = make({"cloud-a": scan([finding(), finding("sysctl", "net.ipv4.ip_forward", "value", "0", "1")])}, accepted)
    p = plan(r, drift_policy(POLICY))
    assert p["remediate"] == [] and "accepted drift" in p["manual"][0]["reasons"][0]


def test_max_hosts_sends_everything_to_a_person():
    policy = {"drift": {"auto_remediate": {"classes": ["file"], "max_hosts": 1}}}
    p = plan(make({"cloud-a": scan([finding()]), "cloud-b": scan([finding()])}), drift_policy(policy))
    assert p["remediate"] == [] and {m["host"] for m in p["manual"]} == {"cloud-a", "cloud-b"}


@pytest.mark.parametrize(
    "policy, match",
    [
        ({"drift": {"auto": {}}}, "unknown key"),
        ({"drift": {"auto_remediate": {"classes": ["files"]}}}, "unknown value"),
        ({"drift": {"auto_remediate": {"max_hosts": -1}}}, "max_hosts"),
        ({"drift": {"defer_unreachable": "edge"}}, "list of strings"),
        ({"drift": []}, "must be a mapping"),
    ],
)
def test_policy_errors(policy, match):
    with pytest.raises(DriftPolicyError, match=match):
        drift_policy(policy)


def test_verify_needs_an_in_sync_rescan_and_no_failure():
    v = verify(
        ["a", "b", "c", "d"],
        {"a": scan(), "b": scan([finding()]), "c": UNREACHABLE, "d": scan()},
        {"d": "Restore the declared state: apt failed"},
    )
    assert v["restored"] == ["a"]
    reasons = {n["host"]: n["reason"] for n in v["not_restored"]}
    assert "1 finding" in reasons["b"] and "unreachable" in reasons["c"] and "apt failed" in reasons["d"]
