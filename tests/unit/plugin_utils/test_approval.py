"""Approvals: identity, signed statements verified against an allowed-signers file, every refusal class, the
check's rules, refusals in the ledger, tampering. Keys are real OpenSSH keys; ssh-keygen signs and verifies."""

import copy
import sqlite3

import pytest
from ssh_signers import Signers

from ansible_collections.changeward.hybrid.plugins.plugin_utils import approval as ap
from ansible_collections.changeward.hybrid.plugins.plugin_utils.control_events import APPROVAL_RECORDED, change_digest
from ansible_collections.changeward.hybrid.plugins.plugin_utils.identity import (
    Identity,
    IdentityError,
    awx_job_id,
    resolve_identity,
    same_person,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import new_record
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import (
    API_VERSION,
    PolicyError,
    effective_policy,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.risk import normalise_targets

POLICY_DIGEST = "sha256:" + "1" * 64
DIGEST = change_digest("CHG-1", ["web1"], {"role": "web", "vars": {"v": 1}}, POLICY_DIGEST)
OTHER_TARGETS = change_digest("CHG-1", ["web1", "db1"], {"role": "web", "vars": {"v": 1}}, POLICY_DIGEST)
OTHER_PAYLOAD = change_digest("CHG-1", ["web1"], {"role": "web", "vars": {"v": 2}}, POLICY_DIGEST)
OTHER_POLICY = change_digest("CHG-1", ["web1"], {"role": "web", "vars": {"v": 1}}, "sha256:" + "2" * 64)
# Everyone with a key in the allowed-signers file; mallory has one but is no approver in the policy, and
# gina is an approver in the policy without a key in the file.
KEYED = ["alice", "bob", "frank", "carol", "svc-release", "deploy-bot", "mallory"]
POLICY_DOC = {
    "api_version": API_VERSION,
    "approval": {
        "approvers": [
            {"name": "alice", "roles": ["peer", "change-manager"]},
            {"name": "bob", "roles": ["peer"]},
            {"name": "frank", "roles": ["change-manager"]},
            {"name": "carol", "roles": ["peer"]},
            {"name": "gina", "roles": ["peer"]},
            {"name": "svc-release", "roles": ["peer", "change-manager"], "kind": "service"},
            {"name": "deploy-bot", "roles": ["peer"]},
        ],
        "required_approvals": {"low": 1, "medium": 1, "high": 2, "critical": 3},
    },
    "services": {"invoicing": {"tags": ["billing"]}},
}
PLAIN = normalise_targets([{"name": "web1", "env_type": "cloud", "services": ["web"], "rollback_capability": "full"}])
PII = normalise_targets([{"name": "db1", "env_type": "onprem", "data_class": "pii"}])


def who(name, kind="awx"):
    return Identity(name, kind if kind != "env" else "env:CHANGEWARD_IDENTITY", kind, "42" if kind == "awx" else None)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return Signers(tmp_path_factory.mktemp("keys"), KEYED)


def make_policy(keys, path=None, **approval):
    doc = copy.deepcopy(POLICY_DOC)
    doc["approval"].update(allowed_signers=str(path or keys.path), **approval)
    return effective_policy(doc)


@pytest.fixture
def ledger(tmp_path):
    with open_ledger(str(tmp_path / "ledger.db"), checkpoint_interval=0) as led:
        led.open_change(new_record("CHG-1", "normal", "carol requests", "carol", opened_at="2025-01-01T00:00:00Z"))
        yield led


class Gate:
    """The approval gate of one change (CHG-1, requested by carol) with signed approvals."""

    def __init__(self, ledger, keys):
        self.ledger, self.keys = ledger, keys
        self.policy = make_policy(keys)

    def signed(self, name, role="peer", decision="approve", digest=DIGEST, change="CHG-1", **kwargs):
        return self.keys.approval(change, digest, name, role, decision, comment="ok", **kwargs)

    def approve(self, name, role="peer", decision="approve", *, digest=DIGEST, known_digest=DIGEST, **kwargs):
        policy = kwargs.pop("policy", self.policy)
        implementers = kwargs.pop("implementers", ())
        check_mode = kwargs.pop("check_mode", False)
        signed = self.signed(name, role, decision, digest, **kwargs)
        return ap.record_approval(
            self.ledger,
            policy,
            "CHG-1",
            identity=who("carol"),
            signed=signed,
            implementers=implementers,
            change_digest=known_digest,
            signers=policy.allowed_signers,
            check_mode=check_mode,
        )

    def check(self, implementer="dave", risk="low", targets=PLAIN, digest=DIGEST, policy=None, **kwargs):
        policy = policy or self.policy
        return ap.check_approvals(
            self.ledger,
            policy,
            "CHG-1",
            identity=who(implementer),
            risk_class=risk,
            targets=targets,
            change_digest=digest,
            signers=policy.allowed_signers,
            **kwargs,
        )


@pytest.fixture
def gate(ledger, keys):
    return Gate(ledger, keys)


def events(ledger, event_type=None):
    found = [e.event for e in ledger.entries()]
    return [e for e in found if event_type is None or e["type"] == event_type]


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


# -- recording a signed approval ------------------------------------------------------------------------------------
def test_a_signed_approval_is_recorded_with_its_statement_and_the_key_owner(gate):
    result = gate.approve("alice")
    assert result["refused"] is False and result["recorded"] is True
    (event,) = events(gate.ledger, APPROVAL_RECORDED)
    data = event["data"]["approval"]
    assert (data["approver"], data["role"], data["decision"], data["method"]) == (
        "alice",
        "peer",
        "approved",
        "signature",
    )
    assert data["change_digest"] == DIGEST and data["submitted_by"]["name"] == "carol"
    assert ap.parse_statement(data["statement_text"])["approver"] == "alice"
    assert data["key_fingerprint"].startswith("SHA256:")
    assert gate.ledger.get_change("CHG-1")["approvers"][0]["name"] == "alice"


def test_the_statement_text_verifies_with_or_without_a_trailing_newline(gate):
    signed = gate.signed("alice")
    signed["statement"] += "\n"  # the approver's editor added one after signing
    result = ap.record_approval(
        gate.ledger, gate.policy, "CHG-1", identity=who("carol"), signed=signed, signers=gate.policy.allowed_signers
    )
    assert result["refused"] is False


def test_recording_the_same_approval_twice_changes_nothing(gate):
    signed = gate.signed("alice")
    for expected in (True, False):
        result = ap.record_approval(
            gate.ledger, gate.policy, "CHG-1", identity=who("carol"), signed=signed, signers=gate.policy.allowed_signers
        )
        assert result["changed"] is expected
    assert len(events(gate.ledger, APPROVAL_RECORDED)) == 1


def assert_refused_and_recorded(gate, result, code, words):
    assert result["refused"] is True
    assert code in codes(result), result["refusals"]
    assert words in result["msg"]
    refusal = events(gate.ledger, ap.APPROVAL_REFUSED)[-1]
    assert refusal["data"]["stage"] == "record"
    assert code in [r["code"] for r in refusal["data"]["refusals"]]
    assert events(gate.ledger, APPROVAL_RECORDED) == []


@pytest.mark.parametrize(
    ("digest", "what"),
    [(OTHER_TARGETS, "other targets"), (OTHER_PAYLOAD, "another payload"), (OTHER_POLICY, "another policy")],
)
def test_an_approval_for_other_targets_payload_or_policy_is_refused(gate, digest, what):
    result = gate.approve("alice", digest=digest)
    assert_refused_and_recorded(gate, result, ap.OTHER_DIGEST, what)


def test_an_approval_for_another_change_is_refused(gate):
    result = gate.approve("alice", change="CHG-2")
    assert_refused_and_recorded(gate, result, ap.OTHER_CHANGE, "is for change CHG-2, not CHG-1")


def test_self_approval_is_refused_and_recorded(gate):
    result = gate.approve("carol")
    assert_refused_and_recorded(gate, result, ap.SELF_APPROVAL, "self-approval")


def test_a_requester_may_reject_their_own_change(gate):
    assert gate.approve("carol", decision="reject")["refused"] is False


def test_approval_by_a_named_implementer_is_refused(gate):
    result = gate.approve("bob", implementers=["bob"])
    assert_refused_and_recorded(gate, result, ap.IMPLEMENTER_APPROVAL, "implements change CHG-1")


def test_an_unknown_principal_is_refused(gate):
    # mallory signs with her own, listed key but is no approver; gina is an approver without a key in the file
    assert_refused_and_recorded(gate, gate.approve("mallory"), ap.UNKNOWN_APPROVER, "not an approver in the policy")
    gina = gate.approve("gina", key="mallory")
    assert gina["refused"] is True and ap.UNKNOWN_SIGNER in codes(gina)
    assert "gina is not a principal of the allowed-signers file" in gina["msg"]


def test_a_role_the_policy_does_not_grant_is_refused(gate):
    result = gate.approve("bob", role="change-manager")
    assert_refused_and_recorded(gate, result, ap.ROLE_NOT_GRANTED, "bob has no role change-manager")


def test_a_signature_in_another_namespace_is_refused(gate):
    result = gate.approve("alice", namespace="git")
    assert_refused_and_recorded(gate, result, ap.WRONG_NAMESPACE, "namespace 'git'")


def test_a_statement_signed_with_someone_elses_key_is_refused(gate):
    result = gate.approve("alice", key="mallory")
    assert_refused_and_recorded(gate, result, ap.SIGNATURE_INVALID, "does not list for alice")


def test_a_statement_edited_after_signing_is_refused(gate):
    signed = gate.signed("bob")
    signed["statement"] = signed["statement"].replace('"decision":"approve"', '"decision":"reject"')
    result = ap.record_approval(
        gate.ledger, gate.policy, "CHG-1", identity=who("carol"), signed=signed, signers=gate.policy.allowed_signers
    )
    assert_refused_and_recorded(gate, result, ap.SIGNATURE_INVALID, "ssh-keygen -Y verify refused")


def test_an_expired_signer_is_refused(gate, keys, tmp_path):
    expired = Signers(tmp_path / "file", [])
    expired.root = keys.root
    path = expired.write(["alice", "bob"], {"alice": 'valid-before="20200101"', "bob": 'valid-after="29990101"'})
    policy = make_policy(keys, path=path)
    result = gate.approve("alice", policy=policy)
    assert_refused_and_recorded(gate, result, ap.SIGNER_EXPIRED, "expired")
    assert ap.SIGNER_NOT_YET_VALID in codes(gate.approve("bob", policy=policy))


def test_no_allowed_signers_file_means_no_signature_can_count(gate, keys):
    doc = copy.deepcopy(POLICY_DOC)
    result = gate.approve("alice", policy=effective_policy(doc))
    assert_refused_and_recorded(gate, result, ap.NO_ALLOWED_SIGNERS, "names no allowed-signers file")


def test_a_malformed_statement_is_an_error_naming_what_is_wrong(gate):
    with pytest.raises(ap.ApprovalInputError, match="exactly statement and signature"):
        ap.record_approval(gate.ledger, gate.policy, "CHG-1", identity=who("carol"), signed={"statement": "{}"})
    with pytest.raises(ap.ApprovalInputError, match="missing type, change_id, change_digest"):
        ap.record_approval(
            gate.ledger, gate.policy, "CHG-1", identity=who("carol"), signed={"statement": "{}", "signature": "x"}
        )


# -- unsigned approvals: the fail-closed rule -----------------------------------------------------------------------
def test_unsigned_approvals_are_refused_unless_the_policy_accepts_awx(gate, keys):
    for kind in ("awx", "env", "os"):
        result = ap.record_approval(
            gate.ledger, gate.policy, "CHG-1", identity=who("alice", kind), role="peer", change_digest=DIGEST
        )
        assert codes(result) == [ap.SIGNATURE_REQUIRED], kind
    awx = make_policy(keys, unsigned_sources=["awx"])
    env = ap.record_approval(gate.ledger, awx, "CHG-1", identity=who("alice", "env"), role="peer", change_digest=DIGEST)
    assert codes(env) == [ap.SIGNATURE_REQUIRED]
    ok = ap.record_approval(gate.ledger, awx, "CHG-1", identity=who("alice"), role="peer", change_digest=DIGEST)
    assert ok["refused"] is False
    assert gate.check(policy=awx)["allowed"] is True
    assert gate.check(policy=awx, digest=OTHER_PAYLOAD)["allowed"] is False  # bound to its digest too


def test_only_awx_may_be_accepted_unsigned():
    with pytest.raises(PolicyError, match="unsigned_sources"):
        effective_policy({**POLICY_DOC, "approval": {**POLICY_DOC["approval"], "unsigned_sources": ["env"]}})


def test_check_mode_records_nothing(gate):
    before = gate.ledger.head()
    assert gate.approve("alice", check_mode=True)["recorded"] is False
    assert gate.approve("carol", check_mode=True)["refused"] is True
    assert gate.check(check_mode=True)["recorded"] is False
    assert gate.ledger.head() == before


def test_check_mode_judges_a_change_the_run_did_not_open_as_a_new_one(gate):
    # a run in check mode opened no change: nothing is recorded for it, so approvals the policy requires are missing
    kwargs = {
        "identity": who("dave"),
        "targets": PLAIN,
        "change_digest": DIGEST,
        "signers": gate.policy.allowed_signers,
    }
    out = ap.check_approvals(gate.ledger, gate.policy, "CHG-NEW", risk_class="low", check_mode=True, **kwargs)
    assert out["recorded"] is False and out["requester"] is None and "opens none" in out["warnings"][0]
    assert out["allowed"] is (gate.policy.required_approvals([], [])["low"] == 0)
    with pytest.raises(ap.ApprovalInputError, match="CHG-NEW is not in the ledger"):
        ap.check_approvals(gate.ledger, gate.policy, "CHG-NEW", risk_class="low", **kwargs)


def test_a_closed_or_unknown_change_cannot_be_approved(gate):
    with pytest.raises(ap.ApprovalInputError, match="not in the ledger"):
        ap.record_approval(gate.ledger, gate.policy, "CHG-404", identity=who("alice"), role="peer")
    gate.ledger.close_change("CHG-1", "aborted", ["not needed"])
    with pytest.raises(ap.ApprovalInputError, match="is closed"):
        gate.approve("alice")


# -- checking: evidence is verified again ---------------------------------------------------------------------------
def test_enough_valid_approvals_pass_and_the_pass_is_recorded(gate):
    gate.approve("alice")
    result = gate.check()
    assert result["allowed"] is True and result["refusals"] == []
    assert [a["approver"] for a in result["approvals"]] == ["alice"]
    assert result["change_digest"] == DIGEST
    assert result["allowed_signers"]["digest"].startswith("sha256:")
    (event,) = events(gate.ledger, ap.APPROVAL_CHECKED)
    record = gate.ledger.get_change("CHG-1")
    assert record["gate_decisions"][-1]["decision"] == "pass"
    assert record["implementer"] == "dave"
    assert event["data"]["check"]["allowed"] is True


def test_a_forged_approval_event_in_the_ledger_does_not_count(gate):
    # Written past every tool (the ledger API itself): no statement, or bob's statement under alice's name.
    gate.ledger.record(
        APPROVAL_RECORDED,
        "CHG-1",
        {
            "approval": {
                "approver": "alice",
                "role": "peer",
                "decision": "approved",
                "method": "run",
                "identity": {"kind": "awx"},
            }
        },
    )
    bob = gate.signed("bob")
    forged = {
        "approver": "frank",
        "role": "change-manager",
        "decision": "approved",
        "method": "signature",
        "statement_text": bob["statement"],
        "signature": bob["signature"],
    }
    gate.ledger.record(APPROVAL_RECORDED, "CHG-1", {"approval": forged})
    gate.ledger.record(APPROVAL_RECORDED, "CHG-1", {"nothing": True})
    result = gate.check()
    assert result["allowed"] is False and result["approvals"] == []
    reasons = {r["code"] for item in result["ignored_approvals"] for r in item["reasons"]}
    assert {ap.SIGNATURE_REQUIRED, ap.NO_EVIDENCE} <= reasons
    assert "does not match its signed statement" in result["msg"]


def test_an_approval_recorded_before_the_digest_was_known_counts_only_for_that_digest(gate):
    gate.approve("alice", digest=OTHER_TARGETS, known_digest=None)  # recorded: the digest is checked later
    result = gate.check()
    assert result["allowed"] is False
    assert ap.OTHER_DIGEST in codes(result)
    assert "other targets, another payload or another policy" in result["msg"]
    assert gate.check(digest=OTHER_TARGETS)["allowed"] is True


def test_without_a_change_digest_no_approval_counts(gate):
    gate.approve("alice")
    result = gate.check(digest=None)
    assert result["allowed"] is False
    assert ap.CHANGE_DIGEST_MISSING in codes(result)


def test_a_key_removed_or_expired_after_recording_no_longer_counts(gate, keys, tmp_path):
    gate.approve("alice")
    later = Signers(tmp_path / "later", [])
    later.root = keys.root
    path = later.write(["alice"], {"alice": 'valid-before="20200101"'})
    result = gate.check(policy=make_policy(keys, path=path))
    assert result["allowed"] is False and ap.SIGNER_EXPIRED in codes(result)
    removed = later.write(["bob"])
    assert ap.UNKNOWN_SIGNER in codes(gate.check(policy=make_policy(keys, path=removed)))


def test_approval_by_the_implementer_does_not_count_and_the_refusal_is_recorded(gate):
    gate.approve("bob")
    result = gate.check(implementer="bob")
    assert result["allowed"] is False
    assert set(codes(result)) == {ap.TOO_FEW_APPROVALS, ap.IMPLEMENTER_APPROVAL}
    assert result["ignored_approvals"][0]["approver"] == "bob"
    (event,) = events(gate.ledger, ap.APPROVAL_REFUSED)
    assert event["data"]["stage"] == "check"
    gate_entry = gate.ledger.get_change("CHG-1")["gate_decisions"][-1]
    assert (gate_entry["decision"], gate_entry["reason"]) == ("fail", "implementer_approval, too_few_approvals")
    assert gate.ledger.get_change("CHG-1")["implementer"] is None


def test_implementer_approval_is_harmless_when_others_approved(gate):
    gate.approve("bob")
    gate.approve("alice")
    result = gate.check(implementer="bob")
    assert result["allowed"] is True
    assert [a["approver"] for a in result["approvals"]] == ["alice"]


def test_pii_target_needs_a_peer_review(gate):
    gate.approve("frank", role="change-manager")
    result = gate.check(targets=PII)
    assert codes(result) == [ap.PII_PEER_REVIEW_MISSING]
    assert "db1" in result["msg"]
    gate.approve("bob")
    assert gate.check(targets=PII)["allowed"] is True


@pytest.mark.parametrize(
    ("targets", "services"),
    [
        (normalise_targets([{"name": "pay1", "env_type": "cloud", "services": ["billing"]}]), []),
        (PLAIN, ["invoicing"]),  # tagged billing in the policy
        (normalise_targets([{"name": "idp1", "env_type": "cloud", "tags": ["auth"]}]), []),
    ],
)
def test_billing_or_auth_needs_a_human_approval_whatever_the_risk(gate, targets, services):
    gate.approve("svc-release")  # a service identity
    gate.approve("deploy-bot")  # matches the default service account patterns
    result = gate.check(risk="low", targets=targets, services=services)
    assert codes(result) == [ap.HUMAN_APPROVAL_MISSING]
    gate.approve("bob")
    assert gate.check(risk="low", targets=targets, services=services)["allowed"] is True


def test_risk_class_sets_the_number_of_approvals(gate):
    gate.approve("alice")
    assert gate.check(risk="medium")["allowed"] is True
    high = gate.check(risk="high")
    assert codes(high) == [ap.TOO_FEW_APPROVALS] and high["required_approvals"] == 2
    gate.approve("bob")
    assert gate.check(risk="high")["allowed"] is True
    assert codes(gate.check(risk="critical")) == [ap.TOO_FEW_APPROVALS]


def test_a_later_rejection_replaces_an_approval_and_blocks(gate):
    gate.approve("alice")
    gate.approve("bob")
    gate.approve("alice", decision="reject")
    result = gate.check()
    assert codes(result) == [ap.REJECTED]
    assert [a["approver"] for a in result["approvals"]] == ["bob"]


def test_approvals_are_judged_again_under_the_current_policy(gate, keys):
    gate.approve("bob")
    revoked = effective_policy(
        {
            **POLICY_DOC,
            "approval": {"approvers": [{"name": "alice", "roles": ["peer"]}], "allowed_signers": str(keys.path)},
        }
    )
    result = gate.check(policy=revoked)
    assert codes(result)[0] == ap.TOO_FEW_APPROVALS
    assert result["ignored_approvals"][0]["reasons"][0]["code"] == ap.UNKNOWN_APPROVER


def test_the_check_needs_a_risk_class_and_targets(gate):
    with pytest.raises(ap.ApprovalInputError, match="risk class"):
        gate.check(risk=None)
    with pytest.raises(ap.ApprovalInputError, match="targets are required"):
        gate.check(targets=[])


def test_an_edited_ledger_is_not_trusted(gate, tmp_path):
    gate.approve("bob")
    assert ap.verify_ledger(gate.ledger)["valid"] is True
    db = sqlite3.connect(str(tmp_path / "ledger.db"))
    with db:
        db.execute(
            "UPDATE ledger_events SET body = replace(body, '\"approver\":\"bob\"', '\"approver\":\"alice\"') "
            "WHERE type = ?",
            (APPROVAL_RECORDED,),
        )
    db.close()
    with pytest.raises(ap.LedgerUntrusted, match="failed verification"):
        ap.verify_ledger(gate.ledger)


# -- the requester's signed request ---------------------------------------------------------------------------------
def request(gate, name, *, requester=None, digest=DIGEST, change="CHG-1", namespace=ap.REQUEST_NAMESPACE):
    """name signs a request of change for requester (default: themselves)."""
    text = ap.statement_text(ap.make_request(change, digest, requester or name))
    return {"statement": text, "signature": gate.keys.sign(name, text, namespace)}


def test_a_policy_that_requires_a_signed_request_refuses_a_change_without_one(gate):
    policy = make_policy(gate.keys, require_signed_request=True)
    gate.approve("alice", policy=policy)
    result = gate.check(policy=policy)
    assert not result["allowed"] and codes(result) == [ap.REQUEST_SIGNATURE_REQUIRED]
    # without the policy asking, the same change passes on its approval alone
    assert gate.check()["allowed"]


def test_the_requesters_signed_request_lets_the_change_proceed(gate):
    policy = make_policy(gate.keys, require_signed_request=True)
    gate.approve("alice", policy=policy)
    assert gate.check(policy=policy, request=request(gate, "carol"))["allowed"]


@pytest.mark.parametrize(
    "kwargs, code",
    [
        # bob signs a request as carol with his own key
        ({"name": "bob", "requester": "carol"}, None),
        # bob's own, valid request - but the change was opened with carol as its requester
        ({"name": "bob"}, ap.REQUESTER_MISMATCH),
        # carol's approval-namespace signature passed off as a request
        ({"name": "carol", "namespace": "changeward-approval"}, ap.WRONG_NAMESPACE),
        ({"name": "carol", "digest": "sha256:" + "7" * 64}, ap.OTHER_DIGEST),
        ({"name": "carol", "change": "CHG-2"}, ap.OTHER_CHANGE),
    ],
)
def test_a_request_that_does_not_hold_is_refused(gate, kwargs, code):
    policy = make_policy(gate.keys, require_signed_request=True)
    gate.approve("alice", policy=policy)
    result = gate.check(policy=policy, request=request(gate, **kwargs))
    assert not result["allowed"]
    (found,) = codes(result)
    assert found == code if code else found in (ap.UNKNOWN_SIGNER, ap.SIGNATURE_INVALID)
    assert events(gate.ledger, ap.APPROVAL_REFUSED)  # the refusal is recorded
