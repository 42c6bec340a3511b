"""Approvals: identity, recording, signed statements, the check's rules, refusals in the ledger, tampering."""

import sqlite3

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils import approval as ap
from ansible_collections.changeward.hybrid.plugins.plugin_utils.identity import (
    Identity,
    IdentityError,
    awx_job_id,
    resolve_identity,
    same_person,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.checkpoint import generate_ed25519
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import new_record
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import API_VERSION, effective_policy
from ansible_collections.changeward.hybrid.plugins.plugin_utils.risk import normalise_targets

ALICE_PRIVATE, ALICE_PUBLIC = generate_ed25519()
MALLORY_PRIVATE = generate_ed25519()[0]
POLICY_DOC = {
    "api_version": API_VERSION,
    "approval": {
        "approvers": [
            {"name": "alice", "roles": ["peer", "change-manager"], "public_key": ALICE_PUBLIC},
            {"name": "bob", "roles": ["peer"]},
            {"name": "frank", "roles": ["change-manager"]},
            {"name": "carol", "roles": ["peer"]},
            {"name": "svc-release", "roles": ["peer", "change-manager"], "kind": "service"},
            {"name": "deploy-bot", "roles": ["peer"]},
        ],
        "required_approvals": {"low": 1, "medium": 1, "high": 2, "critical": 3},
    },
    "services": {"invoicing": {"tags": ["billing"]}},
}
POLICY = effective_policy(POLICY_DOC)
PLAIN = normalise_targets([{"name": "web1", "env_type": "cloud", "services": ["web"], "rollback_capability": "full"}])
PII = normalise_targets([{"name": "db1", "env_type": "onprem", "data_class": "pii"}])


def who(name, kind="awx"):
    return Identity(name, kind if kind != "env" else "env:CHANGEWARD_IDENTITY", kind, "42" if kind == "awx" else None)


@pytest.fixture
def ledger(tmp_path):
    with open_ledger(str(tmp_path / "ledger.db"), checkpoint_interval=0) as led:
        led.open_change(new_record("CHG-1", "normal", "carol requests", "carol", opened_at="2025-01-01T00:00:00Z"))
        yield led


def events(ledger, event_type=None):
    found = [e.event for e in ledger.entries()]
    return [e for e in found if event_type is None or e["type"] == event_type]


def approve(ledger, name, role="peer", policy=POLICY, **kwargs):
    return ap.record_approval(ledger, policy, "CHG-1", identity=who(name), role=role, **kwargs)


def check(ledger, implementer="dave", risk="low", targets=PLAIN, policy=POLICY, **kwargs):
    return ap.check_approvals(
        ledger, policy, "CHG-1", identity=who(implementer), risk_class=risk, targets=targets, **kwargs
    )


def codes(result):
    return [r["code"] for r in result["refusals"]]


# -- identity -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("extra_vars", "environ", "expected"),
    [
        ({"awx_job_id": 812, "tower_job_id": 9}, {"JOB_ID": "7"}, "812"),  # extra var awx_job_id first
        ({"tower_job_id": 9}, {"JOB_ID": "7"}, "9"),  # then tower_job_id
        ({"awx_job_id": ""}, {"JOB_ID": "7"}, "7"),  # then the environment (AWX sets JOB_ID)
        ({}, {"AWX_JOB_ID": "5"}, None),  # no other variable counts
        ({}, {}, None),  # outside AWX
    ],
)
def test_the_awx_job_id_comes_from_the_documented_sources_in_order(extra_vars, environ, expected):
    assert awx_job_id(extra_vars, environ) == expected


@pytest.mark.parametrize("bad", ["12 34", "x" * 65, "1;rm", "\n"])
def test_an_implausible_awx_job_id_is_an_error_not_dropped(bad):
    with pytest.raises(IdentityError, match="is not a job id"):
        awx_job_id({"awx_job_id": bad}, {})
    with pytest.raises(IdentityError, match="environment variable JOB_ID is not a job id"):
        awx_job_id({}, {"JOB_ID": bad})


def test_every_identity_source_carries_the_same_job_id():
    environ = {"JOB_ID": "31", "CHANGEWARD_IDENTITY": "carol"}
    awx = resolve_identity({"awx_user_name": "alice"}, environ=environ)
    env = resolve_identity({}, sources=("env",), environ=environ)
    osid = resolve_identity({}, sources=("os",), environ=environ, get_os_user=lambda: "dave")
    assert [i.job_id for i in (awx, env, osid)] == ["31", "31", "31"]
    assert resolve_identity({"tower_user_name": "bob", "awx_job_id": 5}, environ=environ).job_id == "5"


def test_identity_sources_in_order_and_their_trust():
    awx = resolve_identity({"awx_user_name": "alice", "awx_job_id": 812}, environ={"CHANGEWARD_IDENTITY": "x"})
    assert (awx.name, awx.source, awx.kind, awx.job_id) == ("alice", "awx", "awx", "812")
    assert "forgeable outside AWX" in awx.trust
    tower = resolve_identity({"tower_user_name": "bob"}, environ={})
    assert (tower.name, tower.source) == ("bob", "tower")
    env = resolve_identity({}, environ={"CHANGEWARD_IDENTITY": "carol"}, get_os_user=lambda: "root")
    assert (env.name, env.source, env.kind) == ("carol", "env:CHANGEWARD_IDENTITY", "env")
    osu = resolve_identity({}, environ={}, get_os_user=lambda: "dave")
    assert (osu.name, osu.kind) == ("dave", "os")


def test_identity_follows_the_policy_sources():
    vars_ = {"awx_user_name": "alice"}
    got = resolve_identity(vars_, sources=["env", "os"], environ={}, get_os_user=lambda: "dave")
    assert got.name == "dave"
    with pytest.raises(IdentityError, match="no identity for this run"):
        resolve_identity({}, sources=["awx", "env"], environ={})
    with pytest.raises(IdentityError, match="1-128 printable"):
        resolve_identity({"awx_user_name": "a\nb"})


def test_same_person_ignores_case_and_space():
    assert same_person("Alice", " alice ")
    assert not same_person("alice", "alicia")
    assert not same_person(None, "alice")


# -- recording ------------------------------------------------------------------------------------------------------
def test_an_approval_is_a_ledger_event_with_the_runs_identity(ledger):
    result = approve(ledger, "alice", comment="looks fine")
    assert result["refused"] is False and result["recorded"] is True
    (event,) = events(ledger, ap.APPROVAL_RECORDED)
    data = event["data"]["approval"]
    assert (data["approver"], data["role"], data["decision"], data["method"]) == ("alice", "peer", "approved", "run")
    assert data["identity"]["source"] == "awx" and data["identity"]["job_id"] == "42"
    assert data["policy"]["digest"] == POLICY.digest
    assert ledger.get_change("CHG-1")["approvers"][0]["name"] == "alice"


def test_recording_the_same_approval_twice_changes_nothing(ledger):
    approve(ledger, "alice")
    again = approve(ledger, "alice")
    assert again["changed"] is False
    assert len(events(ledger, ap.APPROVAL_RECORDED)) == 1


def test_self_approval_is_refused_and_the_refusal_is_in_the_ledger(ledger):
    result = approve(ledger, "Carol")
    assert result["refused"] is True
    assert codes(result) == [ap.SELF_APPROVAL]
    assert "self-approval" in result["msg"]
    (event,) = events(ledger, ap.APPROVAL_REFUSED)
    assert event["subject"] == "CHG-1"
    assert event["data"]["stage"] == "record"
    assert [r["code"] for r in event["data"]["refusals"]] == [ap.SELF_APPROVAL]
    assert events(ledger, ap.APPROVAL_RECORDED) == []


def test_a_requester_may_reject_their_own_change(ledger):
    assert approve(ledger, "carol", decision="reject")["refused"] is False


def test_approval_by_a_named_implementer_is_refused(ledger):
    result = approve(ledger, "bob", implementers=["bob"])
    assert codes(result) == [ap.IMPLEMENTER_APPROVAL]
    assert events(ledger, ap.APPROVAL_REFUSED)[0]["data"]["refusals"][0]["code"] == ap.IMPLEMENTER_APPROVAL


def test_unknown_approvers_and_roles_not_granted_are_refused(ledger):
    assert codes(approve(ledger, "mallory")) == [ap.UNKNOWN_APPROVER]
    assert codes(approve(ledger, "bob", role="change-manager")) == [ap.ROLE_NOT_GRANTED]
    assert len(events(ledger, ap.APPROVAL_REFUSED)) == 2


def test_check_mode_records_nothing(ledger):
    before = ledger.head()
    assert approve(ledger, "alice", check_mode=True)["recorded"] is False
    assert approve(ledger, "carol", check_mode=True)["refused"] is True
    assert check(ledger, check_mode=True)["recorded"] is False
    assert ledger.head() == before


def test_a_closed_or_unknown_change_cannot_be_approved(ledger):
    with pytest.raises(ap.ApprovalInputError, match="not in the ledger"):
        ap.record_approval(ledger, POLICY, "CHG-404", identity=who("alice"), role="peer")
    ledger.close_change("CHG-1", "aborted", ["not needed"])
    with pytest.raises(ap.ApprovalInputError, match="is closed"):
        approve(ledger, "alice")


# -- signed statements ----------------------------------------------------------------------------------------------
def signed(change="CHG-1", approver="alice", key=ALICE_PRIVATE, time="2025-01-02T00:00:00Z", **changes):
    stmt = ap.make_statement(change, approver, "peer", comment="ok", time=time)
    signature = ap.sign_statement(stmt, key)
    stmt.update(changes)
    return {"statement": stmt, "signature": signature}


def test_a_signed_statement_records_the_key_owner_not_the_submitter(ledger):
    result = ap.record_approval(ledger, POLICY, "CHG-1", identity=who("carol"), signed=signed())
    assert result["refused"] is False
    data = events(ledger, ap.APPROVAL_RECORDED)[0]["data"]["approval"]
    assert (data["approver"], data["method"], data["submitted_by"]["name"]) == ("alice", "signature", "carol")
    assert check(ledger)["allowed"] is True


@pytest.mark.parametrize(
    "statement",
    [
        signed(key=MALLORY_PRIVATE),  # someone else's key
        signed(role="change-manager"),  # edited after signing
        signed(approver="bob"),  # signed with alice's key; bob has none, so nothing can verify it
    ],
)
def test_forged_or_edited_statements_are_refused_and_recorded(ledger, statement):
    result = ap.record_approval(ledger, POLICY, "CHG-1", identity=who("carol"), signed=statement)
    assert codes(result) == [ap.SIGNATURE_INVALID]
    assert events(ledger, ap.APPROVAL_REFUSED)[0]["data"]["refusals"][0]["code"] == ap.SIGNATURE_INVALID


def test_statements_for_another_change_or_from_before_it_was_opened_are_errors(ledger):
    ledger.open_change(new_record("CHG-2", "normal", "x", "carol", opened_at="2025-01-01T00:00:00Z"))
    with pytest.raises(ap.ApprovalInputError, match="is for change CHG-2"):
        ap.record_approval(ledger, POLICY, "CHG-1", identity=who("carol"), signed=signed(change="CHG-2"))
    with pytest.raises(ap.ApprovalInputError, match="before change CHG-1 was opened"):
        ap.record_approval(ledger, POLICY, "CHG-1", identity=who("carol"), signed=signed(time="2024-12-31T00:00:00Z"))
    with pytest.raises(ap.ApprovalInputError, match="exactly"):
        ap.record_approval(ledger, POLICY, "CHG-1", identity=who("carol"), signed={"statement": {}, "signature": ""})


def test_require_signature_refuses_run_approvals(ledger):
    strict = effective_policy({**POLICY_DOC, "approval": {**POLICY_DOC["approval"], "require_signature": True}})
    assert codes(approve(ledger, "bob", policy=strict)) == [ap.SIGNATURE_REQUIRED]
    assert ap.record_approval(ledger, strict, "CHG-1", identity=who("carol"), signed=signed())["refused"] is False


# -- checking -------------------------------------------------------------------------------------------------------
def test_enough_valid_approvals_pass_and_the_pass_is_recorded(ledger):
    approve(ledger, "alice")
    result = check(ledger)
    assert result["allowed"] is True and result["refusals"] == []
    assert [a["approver"] for a in result["approvals"]] == ["alice"]
    (event,) = events(ledger, ap.APPROVAL_CHECKED)
    record = ledger.get_change("CHG-1")
    assert record["gate_decisions"][-1]["decision"] == "pass"
    assert record["implementer"] == "dave"
    assert event["data"]["check"]["allowed"] is True


def test_approval_by_the_implementer_does_not_count_and_the_refusal_is_recorded(ledger):
    approve(ledger, "bob")
    result = check(ledger, implementer="bob")
    assert result["allowed"] is False
    assert set(codes(result)) == {ap.TOO_FEW_APPROVALS, ap.IMPLEMENTER_APPROVAL}
    assert result["ignored_approvals"][0]["approver"] == "bob"
    (event,) = events(ledger, ap.APPROVAL_REFUSED)
    assert event["data"]["stage"] == "check"
    assert ap.IMPLEMENTER_APPROVAL in [r["code"] for r in event["data"]["refusals"]]
    gate = ledger.get_change("CHG-1")["gate_decisions"][-1]
    assert (gate["decision"], gate["reason"]) == ("fail", "implementer_approval, too_few_approvals")
    assert ledger.get_change("CHG-1")["implementer"] is None


def test_implementer_approval_is_harmless_when_others_approved(ledger):
    approve(ledger, "bob")
    approve(ledger, "alice")
    result = check(ledger, implementer="bob")
    assert result["allowed"] is True
    assert [a["approver"] for a in result["approvals"]] == ["alice"]


def test_pii_target_needs_a_peer_review(ledger):
    approve(ledger, "frank", role="change-manager")
    result = check(ledger, targets=PII)
    assert codes(result) == [ap.PII_PEER_REVIEW_MISSING]
    assert "db1" in result["msg"]
    assert events(ledger, ap.APPROVAL_REFUSED)[0]["data"]["refusals"][0]["code"] == ap.PII_PEER_REVIEW_MISSING
    approve(ledger, "bob")
    assert check(ledger, targets=PII)["allowed"] is True


@pytest.mark.parametrize(
    ("targets", "services"),
    [
        (normalise_targets([{"name": "pay1", "env_type": "cloud", "services": ["billing"]}]), []),
        (PLAIN, ["invoicing"]),  # tagged billing in the policy
        (normalise_targets([{"name": "idp1", "env_type": "cloud", "tags": ["auth"]}]), []),
    ],
)
def test_billing_or_auth_needs_a_human_approval_whatever_the_risk(ledger, targets, services):
    approve(ledger, "svc-release")  # a service identity
    approve(ledger, "deploy-bot")  # matches the default service account patterns
    result = check(ledger, risk="low", targets=targets, services=services)
    assert result["allowed"] is False
    assert codes(result) == [ap.HUMAN_APPROVAL_MISSING]
    assert events(ledger, ap.APPROVAL_REFUSED)[0]["data"]["refusals"][0]["code"] == ap.HUMAN_APPROVAL_MISSING
    approve(ledger, "bob")
    assert check(ledger, risk="low", targets=targets, services=services)["allowed"] is True


def test_risk_class_sets_the_number_of_approvals(ledger):
    approve(ledger, "alice")
    assert check(ledger, risk="medium")["allowed"] is True
    high = check(ledger, risk="high")
    assert codes(high) == [ap.TOO_FEW_APPROVALS]
    assert high["required_approvals"] == 2
    approve(ledger, "bob")
    assert check(ledger, risk="high")["allowed"] is True
    assert codes(check(ledger, risk="critical")) == [ap.TOO_FEW_APPROVALS]


def test_a_later_rejection_replaces_an_approval_and_blocks(ledger):
    approve(ledger, "alice")
    approve(ledger, "bob")
    approve(ledger, "alice", decision="reject")
    result = check(ledger)
    assert codes(result) == [ap.REJECTED]
    assert [a["approver"] for a in result["approvals"]] == ["bob"]


def test_approvals_are_judged_again_under_the_current_policy(ledger):
    approve(ledger, "bob")
    revoked = effective_policy({**POLICY_DOC, "approval": {"approvers": [{"name": "alice", "roles": ["peer"]}]}})
    result = check(ledger, policy=revoked)
    assert codes(result) == [ap.TOO_FEW_APPROVALS]
    assert result["ignored_approvals"][0]["reasons"][0]["code"] == ap.UNKNOWN_APPROVER
    os_only = effective_policy({**POLICY_DOC, "approval": {**POLICY_DOC["approval"], "identity": {"sources": ["os"]}}})
    ignored = check(ledger, policy=os_only)["ignored_approvals"][0]
    assert ignored["reasons"][0]["code"] == ap.IDENTITY_NOT_ACCEPTED


def test_the_check_needs_a_risk_class_and_targets(ledger):
    with pytest.raises(ap.ApprovalInputError, match="risk class"):
        check(ledger, risk=None)
    with pytest.raises(ap.ApprovalInputError, match="targets are required"):
        check(ledger, targets=[])


def test_an_edited_ledger_is_not_trusted(ledger, tmp_path):
    approve(ledger, "bob")
    assert ap.verify_ledger(ledger)["valid"] is True
    db = sqlite3.connect(str(tmp_path / "ledger.db"))
    with db:
        db.execute(
            "UPDATE ledger_events SET body = replace(body, '\"approver\":\"bob\"', '\"approver\":\"alice\"') "
            "WHERE type = ?",
            (ap.APPROVAL_RECORDED,),
        )
    db.close()
    with pytest.raises(ap.LedgerUntrusted, match="failed verification"):
        ap.verify_ledger(ledger)
