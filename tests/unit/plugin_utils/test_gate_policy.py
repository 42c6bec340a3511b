"""The gate policy: schema, errors naming the path, per service/team resolution and the local merge rules."""

import copy
import json
from pathlib import Path

import pytest
import yaml

from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy import gate_policy as gp
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import (
    API_VERSION,
    PolicyError,
    effective_policy,
)

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "docs" / "examples" / "policies" / "gates.yml"
SCHEMA_FILE = REPO / "docs" / "schemas" / "gate-policy.schema.json"

CENTRAL = {
    "api_version": API_VERSION,
    "approval": {
        "approvers": [{"name": "alice", "roles": ["peer"]}, {"name": "frank", "roles": ["change-manager"]}],
        "required_approvals": {"low": 1, "medium": 1, "high": 2, "critical": 3},
    },
    "risk": {"thresholds": {"medium": 25, "high": 50, "critical": 75}},
    "services": {
        "billing": {"team": "payments", "tags": ["billing"], "risk": {"thresholds": {"high": 40}}},
        "batch": {"risk": {"thresholds": {"medium": 40, "high": 70, "critical": 90}}},
    },
    "teams": {"payments": {"approval": {"required_approvals": {"medium": 2}}}},
}


def central(**changes):
    doc = copy.deepcopy(CENTRAL)
    doc.update(changes)
    return doc


def error_of(*args, **kwargs) -> str:
    with pytest.raises(PolicyError) as info:
        effective_policy(*args, **kwargs)
    return str(info.value)


# -- the schema and the documents that go with it ----------------------------------------------------------------
def test_schema_file_is_the_schema_the_code_validates_with():
    assert json.loads(SCHEMA_FILE.read_text()) == gp.schema_document()


def test_example_policy_is_valid_and_usable_by_the_blackout_gate():
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.policy import blackout_policy

    policy = effective_policy(str(EXAMPLE))
    assert policy.thresholds(["billing"]) == {"medium": 25, "high": 40, "critical": 65}
    doc = yaml.safe_load(EXAMPLE.read_text())
    assert blackout_policy(doc).override_roles == ("incident-commander",)


def test_calendar_keys_match_the_calendar_gate():
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar import policy as cal_policy
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar import sources

    assert set(gp.CALENDAR_KEYS) == set(sources.SPEC_KEYS)
    assert set(gp.BLACKOUT_KEYS) == set(cal_policy.KEYS)
    assert set(gp.SCHEMA["properties"]["blackout"]["properties"]) == set(cal_policy.KEYS)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({}, "policy: 'api_version' is a required property"),
        ({"api_version": "v0"}, "policy.api_version:"),
        (central(colour="red"), "policy: Additional properties are not allowed ('colour' was unexpected)"),
        (
            central(approval={"approvers": [{"name": "alice"}]}),
            "policy.approval.approvers[0]: 'roles' is a required property",
        ),
        (
            central(approval={"required_approvals": {"high": -1}}),
            "policy.approval.required_approvals.high: -1 is less than the minimum of 0",
        ),
        (central(risk={"thresholds": {"high": 20}}), "policy.risk.thresholds: medium (25) must be below high (20)"),
        (
            central(services={"billing": {"risk": {"thresholds": {"critical": 10}}}}),
            "policy.services.billing.risk.thresholds: high (50) must be below critical (10)",
        ),
        (central(risk={"weights": {"history": 50}}), "policy.risk.weights: the weights must add up to 100"),
        (central(services={"Bad Name": {}}), "policy.services: 'Bad Name' does not match"),
        (
            central(blackout={"calendars": [{"kind": "blackout"}]}),
            "policy.blackout.calendars[0]:",
        ),
    ],
)
def test_invalid_policies_name_the_path(doc, expected):
    assert expected in error_of(doc)


def test_every_problem_is_reported_not_just_the_first():
    message = error_of(central(approval={"approvers": [{"name": "a"}], "required_approvals": {"low": "one"}}))
    assert "approvers[0]: 'roles' is a required property" in message
    assert "required_approvals.low: 'one' is not of type 'integer'" in message


def test_approvals_are_verified_against_an_allowed_signers_file_not_keys_in_the_policy():
    doc = central(approval={"approvers": [{"name": "alice", "roles": ["peer"], "public_key": "ed25519-pub:x"}]})
    assert "'public_key' was unexpected" in error_of(doc)
    doc = central(approval={"allowed_signers": "keys/allowed_signers", "unsigned_sources": ["awx"]})
    policy = effective_policy(doc)
    assert (policy.allowed_signers, policy.unsigned_sources) == ("keys/allowed_signers", ("awx",))
    defaults = effective_policy(central())
    assert (defaults.allowed_signers, defaults.unsigned_sources) == (None, ())


def test_only_awx_identities_may_be_accepted_unsigned():
    assert "unsigned_sources[0]" in error_of(central(approval={"unsigned_sources": ["os"]}))


def test_override_section_needs_a_valid_incident_pattern():
    policy = effective_policy(central(override={"reference_pattern": "INC-[0-9]+", "exemptions": ["error_budget"]}))
    assert policy.override == {"reference_pattern": "INC-[0-9]+", "exemptions": ["error_budget"]}
    assert effective_policy(central()).override == {"reference_pattern": None, "exemptions": []}
    assert "override.reference_pattern: not a regular expression" in error_of(
        central(override={"reference_pattern": "INC-[0-9"})
    )


def test_policy_file_errors(tmp_path):
    assert "cannot read policy file" in error_of(str(tmp_path / "missing.yml"))
    bad = tmp_path / "bad.yml"
    bad.write_text("api_version: [\n")
    assert "is not valid YAML" in error_of(str(bad))
    listy = tmp_path / "list.yml"
    listy.write_text("- a\n")
    assert "must hold a YAML mapping" in error_of(str(listy))


def test_no_policy_means_documented_defaults_with_no_approvers():
    policy = effective_policy(None)
    assert policy.sources == ["built-in defaults"]
    assert policy.thresholds() == gp.DEFAULTS["risk"]["thresholds"]
    assert policy.approval["approvers"] == []


# -- per service and team -----------------------------------------------------------------------------------------
def test_strictest_thresholds_and_most_approvals_win_across_services_and_teams():
    policy = effective_policy(central())
    assert policy.thresholds() == {"medium": 25, "high": 50, "critical": 75}
    assert policy.thresholds(["billing"]) == {"medium": 25, "high": 40, "critical": 75}
    # A service may be looser than the global default when the central policy says so ...
    assert policy.thresholds(["batch"]) == {"medium": 40, "high": 70, "critical": 90}
    # ... but a change touching it and billing gets the strictest of both.
    assert policy.thresholds(["batch", "billing"]) == {"medium": 25, "high": 40, "critical": 75}
    assert policy.required_approvals(["billing"])["medium"] == 2  # from its team
    assert policy.required_approvals([], ["payments"])["medium"] == 2
    assert policy.required_approvals(["batch"])["medium"] == 1


def test_service_accounts_are_matched_by_pattern_case_insensitively():
    policy = effective_policy(central(approval={"service_accounts": ["svc-*", "root"]}))
    assert policy.is_service_account("SVC-deploy")
    assert policy.is_service_account("root")
    assert not policy.is_service_account("alice")
    assert effective_policy(None).is_service_account("release-bot")
    assert not effective_policy(None).is_service_account("talbot")


# -- local policies -------------------------------------------------------------------------------------------
def test_local_policy_adds_windows_and_approvers_and_tightens():
    local = {
        "blackout": {"calendars": [{"src": "eu-holidays.ics", "kind": "blackout"}]},
        "approval": {
            "approvers": [{"name": "erin", "roles": ["peer"]}],
            "required_approvals": {"low": 2},
            "service_accounts": ["eu-deployer"],
            "human_approval_tags": ["payroll"],
            "peer_review": {"data_classes": ["phi"]},
        },
        "risk": {"thresholds": {"high": 45}},
        "services": {"billing": {"tags": ["sox"], "risk": {"thresholds": {"high": 35}}}},
    }
    doc = central(blackout={"calendars": ["central.ics"]})
    policy = effective_policy(doc, [(local, "group_vars/eu")])
    assert policy.data["blackout"]["calendars"] == ["central.ics", {"src": "eu-holidays.ics", "kind": "blackout"}]
    assert policy.approver("erin")["origin"] == "group_vars/eu"
    assert policy.required_approvals()["low"] == 2
    assert policy.is_service_account("eu-deployer")
    assert "payroll" in policy.approval["human_approval_tags"] and "billing" in policy.approval["human_approval_tags"]
    assert policy.approval["peer_review"]["data_classes"] == ["pii", "phi"]
    assert policy.thresholds()["high"] == 45
    assert policy.thresholds(["billing"])["high"] == 35
    assert policy.service_tags("billing") == ["billing", "sox"]
    assert policy.sources == ["policy", "group_vars/eu"]
    # The central document itself is untouched.
    assert effective_policy(doc).approver("erin") is None


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ({"risk": {"thresholds": {"high": 60}}}, "eu.risk.thresholds.high: 60 would loosen the central policy (50)"),
        (
            {"approval": {"required_approvals": {"high": 1}}},
            "eu.approval.required_approvals.high: 1 would loosen the central policy (2)",
        ),
        (
            {"services": {"billing": {"risk": {"thresholds": {"high": 45}}}}},
            "eu.services.billing.risk.thresholds.high: 45 would loosen the central policy (40)",
        ),
        (
            {"teams": {"payments": {"approval": {"required_approvals": {"medium": 1}}}}},
            "eu.teams.payments.approval.required_approvals.medium: 1 would loosen the central policy (2)",
        ),
        # A service the central policy does not name is measured against the global values.
        (
            {"services": {"newsvc": {"risk": {"thresholds": {"critical": 80}}}}},
            "eu.services.newsvc.risk.thresholds.critical: 80 would loosen the central policy (75)",
        ),
        ({"risk": {"weights": {"history": 10}}}, "eu.risk: a local policy may not set weights"),
        ({"approval": {"identity": {"sources": ["os"]}}}, "eu.approval: a local policy may not set identity"),
        ({"approval": {"allowed_signers": "mine"}}, "eu.approval: a local policy may not set allowed_signers"),
        ({"approval": {"unsigned_sources": ["awx"]}}, "eu.approval: a local policy may not set unsigned_sources"),
        ({"override": {"reference_pattern": ".*"}}, "eu: a local policy may not set override"),
        ({"blackout": {"override_roles": ["anyone"]}}, "eu.blackout: a local policy may not set override_roles"),
        ({"services": {"billing": {"team": "other"}}}, "eu.services.billing: a local policy may not set team"),
        (
            {"approval": {"peer_review": {"roles": ["anyone"]}}},
            "eu.approval.peer_review: a local policy may not set roles",
        ),
        ({"api_version": API_VERSION}, "eu: a local policy may not set api_version"),
        (
            {"approval": {"approvers": [{"name": "Alice", "roles": ["peer", "change-manager"]}]}},
            "approver Alice is defined by the central policy",
        ),
    ],
)
def test_local_policy_may_never_loosen(local, expected):
    assert expected in error_of(central(), [(local, "eu")])


def test_local_may_tighten_a_service_that_is_looser_than_global():
    # batch's central high is 70; 60 is tighter for batch even though it is above the global 50.
    policy = effective_policy(central(), [({"services": {"batch": {"risk": {"thresholds": {"high": 60}}}}}, "eu")])
    assert policy.thresholds(["batch"])["high"] == 60


def test_several_locals_merge_and_identical_ones_count_once():
    eu = {"approval": {"approvers": [{"name": "erin", "roles": ["peer"]}], "required_approvals": {"medium": 2}}}
    us = {"approval": {"approvers": [{"name": "uma", "roles": ["peer"]}], "required_approvals": {"medium": 3}}}
    policy = effective_policy(central(), [(eu, "host eu-1"), (copy.deepcopy(eu), "host eu-2"), (us, "host us-1")])
    assert policy.sources == ["policy", "host eu-1", "host us-1"]
    assert [a["name"] for a in policy.approval["approvers"]] == ["alice", "frank", "erin", "uma"]
    assert policy.required_approvals()["medium"] == 3


def test_two_locals_that_disagree_on_an_approver_are_refused():
    eu = {"approval": {"approvers": [{"name": "erin", "roles": ["peer"]}]}}
    us = {"approval": {"approvers": [{"name": "erin", "roles": ["peer", "change-manager"]}]}}
    assert "two local policies cannot disagree" in error_of(central(), [(eu, "eu"), (us, "us")])


def test_local_policy_read_from_a_file(tmp_path):
    path = tmp_path / "local.yml"
    path.write_text("risk:\n  thresholds: {critical: 70}\n")
    assert effective_policy(central(), [str(path)]).thresholds()["critical"] == 70


def test_digest_changes_with_the_effective_policy():
    a = effective_policy(central())
    b = effective_policy(central(), [({"risk": {"thresholds": {"critical": 70}}}, "eu")])
    assert a.digest != b.digest
    assert a.digest == effective_policy(central()).digest


def test_changeward_policy_is_one_document_with_a_drift_section():
    """changeward_policy means one thing: the gates' policy document, whose drift section drift_report reads."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.policy import drift_policy

    doc = {"api_version": gp.API_VERSION, "drift": {"auto_remediate": {"classes": ["file"]}}}
    assert gp.effective_policy(doc).sources == ["policy"]
    assert drift_policy(doc)["auto_remediate"]["classes"] == ["file"]
    with pytest.raises(gp.PolicyError, match="a local policy may not set drift"):
        gp.effective_policy(doc, [({"drift": {}}, "changeward_policy_local of host h1")])
