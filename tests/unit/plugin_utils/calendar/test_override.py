"""Emergency overrides are verified like approvals: a statement signed with the approver's ssh key, checked
against the policy's allowed-signers file, by an approver holding an override role, under an incident id the
policy's pattern accepts, with a justification; exemptions only those the policy allows. Each refusal says why."""

import copy

import pytest
from ssh_signers import Signers

from ansible_collections.changeward.hybrid.plugins.plugin_utils.approval import statement_text
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar import override as ov
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.errors import GateInputError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.control_events import change_digest
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import new_record
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import API_VERSION, effective_policy

DIGEST = change_digest("CHG-9", ["web1"], {"role": "fix"}, "sha256:" + "3" * 64)
OTHER = change_digest("CHG-9", ["web1", "web2"], {"role": "fix"}, "sha256:" + "3" * 64)
ROLES = ("incident-commander",)
DOC = {
    "api_version": API_VERSION,
    "blackout": {"override_roles": list(ROLES)},
    "override": {"reference_pattern": "INC-[0-9]{4,}", "exemptions": ["error_budget"]},
    "approval": {
        "approvers": [
            {"name": "dana", "roles": ["incident-commander"]},
            {"name": "bob", "roles": ["peer"]},
        ]
    },
}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return Signers(tmp_path_factory.mktemp("keys"), ["dana", "bob", "mallory"])


def policy_with(keys, **override):
    doc = copy.deepcopy(DOC)
    doc["approval"]["allowed_signers"] = str(keys.path)
    doc["override"].update(override)
    return effective_policy(doc)


def signed(keys, approver="dana", role="incident-commander", reference="INC-4711", **kwargs):
    sign_as = kwargs.pop("key", None)
    namespace = kwargs.pop("namespace", "changeward-approval")
    stmt = ov.override_statement(
        kwargs.pop("change_id", "CHG-9"),
        kwargs.pop("digest", DIGEST),
        approver,
        role,
        reference,
        kwargs.pop("justification", "payments are down; the fix cannot wait for the freeze"),
        kwargs.pop("exemptions", []),
    )
    text = statement_text(stmt)
    return {"statement": text, "signature": keys.sign(approver, text, namespace, key=sign_as)}


def check(keys, raw, policy=None, change_id="CHG-9", digest=DIGEST, **kwargs):
    policy = policy or policy_with(keys)
    return ov.check_override(
        raw,
        policy=policy,
        change_id=change_id,
        change_digest=digest,
        signers=policy.allowed_signers,
        override_roles=ROLES,
        **kwargs,
    )


def test_a_signed_override_by_an_incident_commander_is_verified(keys):
    checked = check(keys, signed(keys, exemptions=["error_budget"]))
    assert checked.problem is None
    assert checked.values["approver"] == "dana" and checked.values["exemptions"] == ["error_budget"]
    applied = ov.normalise_override(checked)
    assert ov.refusal(applied, "emergency", ROLES) is None
    assert "only for change_type emergency" in ov.refusal(applied, "normal", ROLES)


@pytest.mark.parametrize(
    ("raw_changes", "reason"),
    [
        ({"key": "mallory"}, "does not list for dana"),  # dana's name, mallory's key
        ({"namespace": "git"}, "namespace 'git'"),
        ({"approver": "bob", "role": "peer"}, "role 'peer' may not override"),
        ({"approver": "mallory"}, "mallory is not an approver in the policy"),
        ({"reference": "whatever"}, "reference 'whatever' is not an incident id"),
        ({"justification": "because"}, "needs a justification"),
        ({"exemptions": ["circuit_breaker"]}, "allows no exemption from circuit_breaker"),
        ({"digest": OTHER}, "other targets, another payload or another policy"),
        ({"change_id": "CHG-8"}, "is for change CHG-8, not CHG-9"),
    ],
)
def test_an_override_that_does_not_verify_is_refused_with_the_reason(keys, raw_changes, reason):
    checked = check(keys, signed(keys, **raw_changes))
    assert checked.problem and reason in checked.problem
    assert reason in ov.refusal(ov.normalise_override(checked), "emergency", ROLES)


def test_an_unverified_approver_is_refused(keys):
    typed = {"reference": "INC-4711", "approver": "dana", "role": "incident-commander"}
    assert "self-declared approver (dana) cannot be verified" in check(keys, typed).problem
    assert "cannot be verified" in ov.refusal(ov.normalise_override(typed), "emergency", ROLES)


def test_an_expired_signer_cannot_override(keys, tmp_path):
    later = Signers(tmp_path, [])
    later.root = keys.root
    path = later.write(["dana"], {"dana": 'valid-before="20200101"'})
    doc = copy.deepcopy(DOC)
    doc["approval"]["allowed_signers"] = str(path)
    assert "expired" in check(keys, signed(keys), policy=effective_policy(doc)).problem


def test_no_incident_pattern_in_the_policy_means_no_override(keys):
    doc = copy.deepcopy(DOC)
    doc["approval"]["allowed_signers"] = str(keys.path)
    del doc["override"]
    assert "sets no incident-id pattern" in check(keys, signed(keys), policy=effective_policy(doc)).problem


def test_the_action_must_name_the_change_but_the_guard_need_not(keys):
    assert "give change_id" in check(keys, signed(keys), change_id=None, digest=None).problem
    assert check(keys, signed(keys), change_id=None, digest=None, bind=False).problem is None


def test_a_malformed_statement_is_an_error(keys):
    with pytest.raises(GateInputError, match="exactly statement and signature"):
        check(keys, {"statement": "{}"})
    with pytest.raises(GateInputError, match="the override statement must have exactly"):
        check(keys, {"statement": "{}", "signature": "x"})


def test_an_accepted_override_opens_a_review_and_its_exemption_is_verified_again(keys, tmp_path):
    policy = policy_with(keys)
    checked = check(keys, signed(keys, exemptions=["error_budget"]), policy=policy)
    applied = ov.normalise_override(checked)
    result = {"active_windows": [], "reasons": ["freeze"], "errors": [], "next_allowed_at": None}
    event = ov.override_event(
        "changeward.hybrid.blackout", "2025-01-01T00:00:00Z", applied, "emergency", {}, result, "CHG-9"
    )
    review = ov.review_event("changeward.hybrid.blackout", event)
    assert review["type"] == "io.changeward.review.opened"
    assert review["data"]["exempted_from"] == ["blackout", "error_budget"]
    assert review["data"]["justification"] == applied["justification"]
    with open_ledger(str(tmp_path / "ledger.db"), checkpoint_interval=0) as ledger:
        ledger.open_change(new_record("CHG-9", "emergency", "fix", "erin"))
        ledger.append_many([event, review])
        found = ov.verified_exemption(
            ledger,
            "CHG-9",
            "error_budget",
            policy=policy,
            change_digest=DIGEST,
            signers=policy.allowed_signers,
            override_roles=ROLES,
        )
        assert found["reference"] == "INC-4711" and found["approver"] == "dana"
        assert (
            ov.verified_exemption(
                ledger,
                "CHG-9",
                "error_budget",
                policy=policy,
                change_digest=OTHER,
                signers=policy.allowed_signers,
                override_roles=ROLES,
            )
            is None
        )
        assert (
            ov.verified_exemption(
                ledger,
                "CHG-9",
                "risk",
                policy=policy,
                change_digest=DIGEST,
                signers=policy.allowed_signers,
                override_roles=ROLES,
            )
            is None
        )
