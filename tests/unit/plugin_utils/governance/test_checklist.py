"""The learning loop's checklist: a held review's findings become items; a similar change (same service, kind,
labels) is refused until each item is acknowledged by an approver other than its requester or implementer, with
a signed statement verified like an approval. Keys are real OpenSSH keys; ssh-keygen signs and verifies."""

import copy

import pytest
from ssh_signers import Signers
from test_compliance_report import at, closed, opened, put
from test_review import SRC

from ansible_collections.changeward.hybrid.plugins.plugin_utils.approval import statement_text
from ansible_collections.changeward.hybrid.plugins.plugin_utils.control_events import is_reserved
from ansible_collections.changeward.hybrid.plugins.plugin_utils.governance import checklist, review
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import new_record
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import API_VERSION, effective_policy

KEY = "test-ledger-key-0123456789abcdef"
DIGEST = "sha256:" + "a" * 64
POLICY = {
    "api_version": API_VERSION,
    "approval": {
        "approvers": [
            {"name": "alice", "roles": ["peer"]},
            {"name": "bob", "roles": ["peer"]},
            {"name": "dana", "roles": ["peer", "change-manager"]},
        ]
    },
}
LABELS = {"region": ["eu-west"], "env_type": ["cloud"]}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return Signers(tmp_path_factory.mktemp("keys"), ["alice", "bob", "carol", "dana", "mallory"])


@pytest.fixture
def policy(keys):
    doc = copy.deepcopy(POLICY)
    doc["approval"]["allowed_signers"] = str(keys.path)
    return effective_policy(doc)


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    for name in ("CHANGEWARD_LEDGER", "CHANGEWARD_LEDGER_KEY"):
        monkeypatch.delenv(name, raising=False)
    with api.open_ledger(str(tmp_path / "ledger.db"), key=KEY, checkpoint_interval=5) as led:
        # CHG-RB: release 1.5 of payments (a package change), rolled back
        rec = opened(led, "CHG-RB", "normal", "release 1.5", "alice", at(5), "carol", {"service": "payments"})
        rec["risk"] = {"level": "medium", "services": ["payments"], "change_kind": "package"}
        put(led, "io.changeward.ring.rolled_back", "CHG-RB", {"name": "canary", "status": "rolled_back"}, at(5, 12))
        closed(led, rec, "rolled_back", at(5, 13))
        review.open_reviews(led, "CHG-RB", source=SRC)
        yield led


def held(led, findings):
    return review.complete_review(
        led, "CHG-RB", kind="rollback", by="payments SRE", summary="two findings", source=SRC, checklist=findings
    )


def similar(led, cid="CHG-NEXT", requester="alice", implementer="carol"):
    led.open_change(new_record(cid, "normal", "release 1.6", requester, implementer=implementer))
    return {"id": cid, "services": ["payments"], "change_kind": "package", "labels": LABELS}


def ack(keys, item_id, name="bob", change="CHG-NEXT", digest=DIGEST, role="peer"):
    stmt = checklist.ack_statement(change, digest, item_id, name, role, "checked on staging")
    text = statement_text(stmt)
    return {"statement": text, "signature": keys.sign(name, text)}


def gate(led, policy, change, given=()):
    return checklist.check(
        led, policy, change, change_digest=DIGEST, signers=policy.allowed_signers, given=given, source="test"
    )


def test_a_held_review_turns_its_findings_into_items_matching_the_reviewed_change(ledger):
    held(ledger, ["self-test on a staging host first", {"text": "mirror serves it", "labels": {"region": "eu-west"}}])
    items = checklist.all_items(ledger)
    assert [i["text"] for i in items] == ["self-test on a staging host first", "mirror serves it"]
    assert items[0]["match"] == {"service": "payments", "change_kind": "package", "labels": {}}
    assert items[1]["match"]["labels"] == {"region": "eu-west"} and items[1]["from_change"] == "CHG-RB"
    done = ledger.events(subject="CHG-RB", types=[review.REVIEW_COMPLETED])[0].event["data"]
    assert done["checklist_items"] == [i["item_id"] for i in items]


def test_a_finding_that_would_apply_to_everything_or_has_no_text_is_refused(ledger):
    with pytest.raises(checklist.ChecklistError, match="needs its text"):
        held(ledger, [{"service": "payments"}])
    with pytest.raises(checklist.ChecklistError, match="unknown keys: host"):
        held(ledger, [{"text": "x", "host": "web1"}])
    assert checklist.make_items("CHG-X", {}, None, [{"text": "y", "service": "s"}])[0]["match"]["service"] == "s"
    with pytest.raises(checklist.ChecklistError, match="would apply to every change"):
        checklist.make_items("CHG-X", {}, None, ["x"])


@pytest.mark.parametrize(
    ("change", "applies"),
    [
        ({"services": ["payments"], "change_kind": "package", "labels": LABELS}, True),
        ({"services": ["search"], "change_kind": "package", "labels": LABELS}, False),
        ({"services": ["payments"], "change_kind": "config", "labels": LABELS}, False),
        ({"services": ["payments"], "change_kind": "package", "labels": {"region": ["us-east"]}}, False),
        ({"id": "CHG-RB", "services": ["payments"], "change_kind": "package", "labels": LABELS}, False),
    ],
)
def test_an_item_applies_to_the_same_service_kind_and_labels_only(change, applies):
    item = {"from_change": "CHG-RB", "match": {"service": "payments", "change_kind": "package"}}
    item["match"]["labels"] = {"region": "eu-west"}
    assert checklist.applies(item, {"id": "CHG-NEXT", **change}) is applies


def test_a_similar_change_is_refused_until_an_approver_acknowledges_each_item(ledger, policy, keys):
    held(ledger, ["self-test on a staging host first"])
    (item,) = checklist.all_items(ledger)
    change = similar(ledger)
    refused = gate(ledger, policy, change)
    assert refused["decision"] == "fail" and item["item_id"] in refused["reason"] and refused["events"] == []
    assert refused["items"][0]["acknowledged_by"] is None
    passed = gate(ledger, policy, change, [ack(keys, item["item_id"])])
    assert passed["decision"] == "pass" and passed["items"][0]["acknowledged_by"] == "bob"
    (event,) = passed["events"]
    assert event["type"] == checklist.ACKNOWLEDGED and is_reserved(event["type"])
    ledger.append(event)
    # recorded, it is verified again and counts on the next check without being handed in
    assert gate(ledger, policy, change)["decision"] == "pass"
    other = similar(ledger, "CHG-THIRD")  # an acknowledgement counts for its change only
    assert gate(ledger, policy, other)["decision"] == "fail"
    unrelated = {**similar(ledger, "CHG-OTHER"), "services": ["search"]}
    assert gate(ledger, policy, unrelated)["reason"] == "no checklist item applies to this change"


@pytest.mark.parametrize(
    ("who", "kwargs", "code"),
    [
        ("alice", {}, checklist.SELF_ACK),  # the blocked change's requester
        ("carol", {}, "unknown_approver"),  # its implementer is no approver either
        ("mallory", {}, "unknown_approver"),  # a key in the file, no approver in the policy
        ("bob", {"role": "change-manager"}, "role_not_granted"),
        ("bob", {"digest": "sha256:" + "b" * 64}, "other_change_digest"),
        ("bob", {"change": "CHG-OTHER"}, "other_change"),
    ],
)
def test_an_acknowledgement_that_does_not_hold_is_refused_and_the_change_stays_blocked(
    ledger, policy, keys, who, kwargs, code
):
    held(ledger, ["self-test on a staging host first"])
    (item,) = checklist.all_items(ledger)
    result = gate(ledger, policy, similar(ledger), [ack(keys, item["item_id"], who, **kwargs)])
    assert result["decision"] == "fail" and result["events"] == []
    assert code in [r["code"] for r in result["refused"][0]["refusals"]]


def test_the_implementer_cannot_acknowledge_and_a_forged_signature_does_not_count(ledger, policy, keys):
    held(ledger, ["self-test on a staging host first"])
    (item,) = checklist.all_items(ledger)
    change = similar(ledger, implementer="dana")
    result = gate(ledger, policy, change, [ack(keys, item["item_id"], "dana")])
    assert checklist.IMPLEMENTER_ACK in [r["code"] for r in result["refused"][0]["refusals"]]
    forged = ack(keys, item["item_id"], "bob")
    forged["signature"] = keys.sign("mallory", forged["statement"])  # mallory signs, claiming to be bob
    result = gate(ledger, policy, change, [forged])
    assert result["decision"] == "fail" and result["refused"]


def test_a_recorded_acknowledgement_is_verified_again(ledger, policy, keys):
    held(ledger, ["self-test on a staging host first"])
    (item,) = checklist.all_items(ledger)
    change = similar(ledger)
    (event,) = gate(ledger, policy, change, [ack(keys, item["item_id"])])["events"]
    event["data"]["statement_text"] = event["data"]["statement_text"].replace("staging", "prod")
    ledger.append(event)  # someone holding the ledger key wrote an edited acknowledgement
    assert gate(ledger, policy, change)["decision"] == "fail"
