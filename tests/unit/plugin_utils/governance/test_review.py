"""Reviews after failure: which changes need one, opened once, the PIR draft, completion, successful_with_issues."""

import pytest
from test_compliance_report import KEY, approve, at, closed, opened, put

from ansible_collections.changeward.hybrid.plugins.plugin_utils.governance import review
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api

SRC = "changeward.hybrid.review"


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    for name in ("CHANGEWARD_LEDGER", "CHANGEWARD_LEDGER_KEY"):
        monkeypatch.delenv(name, raising=False)
    with api.open_ledger(str(tmp_path / "ledger.db"), key=KEY, checkpoint_interval=5) as led:
        yield led


def rolled_back_change(led, cid="CHG-RB"):
    rec = opened(
        led,
        cid,
        "normal",
        "release 1.5",
        "alice",
        at(5),
        implementer="carol",
        gates=[{"gate": "risk", "decision": "pass", "reason": "low"}],
    )
    rec = approve(led, rec, "bob", "peer", at(5, 11))
    put(
        led,
        "io.changeward.ring.passed",
        cid,
        {"name": "canary", "status": "passed", "hosts": ["h1"], "since": 1794290400.0, "ended": 1794290500.0},
        at(5, 12),
    )
    put(
        led,
        "io.changeward.ring.rolled_back",
        cid,
        {
            "name": "wave1",
            "status": "rolled_back",
            "hosts": ["h2", "h3"],
            "since": 1794290600.0,
            "ended": 1794290800.0,
            "watch": {"verdict": "regressed", "reason": "error ratio 4x baseline"},
            "judge": {"verdict": "fail", "reasons": ["latency p99 up 80%"]},
            "timings": {"visible_ts": 1794290650.0, "detected_ts": 1794290700.0, "rolled_back_ts": 1794290760.0},
        },
        at(5, 13),
    )
    closed(led, rec, "rolled_back", at(5, 14), ["wave1 rolled back: error ratio 4x baseline"])


def test_a_rolled_back_change_opens_one_review_and_only_once(ledger):
    rolled_back_change(ledger)
    first = review.open_reviews(ledger, "CHG-RB", source=SRC)
    assert [(o["kind"], o["detail"]) for o in first] == [("rollback", "rolled back (wave1)")]
    assert review.open_reviews(ledger, "CHG-RB", source=SRC) == []
    events = ledger.events(subject="CHG-RB", types=["io.changeward.review.opened"])
    assert [e.event["data"]["kind"] for e in events] == ["rollback"]


def test_a_good_change_needs_no_review_and_check_mode_records_nothing(ledger):
    rec = opened(ledger, "CHG-OK", "normal", "fine", "alice", at(6))
    closed(ledger, rec, "successful", at(6, 11))
    assert review.open_reviews(ledger, "CHG-OK", source=SRC) == []
    rolled_back_change(ledger, "CHG-RB2")
    assert review.open_reviews(ledger, "CHG-RB2", source=SRC, check_mode=True)[0]["seq"] is None
    assert ledger.events(subject="CHG-RB2", types=["io.changeward.review.opened"]) == []


def test_a_budget_overrun_and_an_override_are_reasons_too_and_an_opened_override_review_is_not_repeated(ledger):
    rec = opened(
        ledger,
        "CHG-EB",
        "emergency",
        "hotfix",
        "dave",
        at(7),
        gates=[{"gate": "error_budget", "decision": "fail", "reason": "budget 0% left"}],
    )
    put(ledger, review.OVERRIDE, "CHG-EB", {"reference": "INC-1", "approver": "erin", "justification": "outage"}, at(7))
    put(ledger, "io.changeward.review.opened", "CHG-EB", {"kind": "emergency_override", "status": "open"}, at(7))
    closed(ledger, rec, "successful", at(7, 12))
    assert [t["kind"] for t in review.triggers([e.event for e in ledger.events(subject="CHG-EB")])] == [
        "error_budget_overrun",
        "emergency_override",
    ]
    assert [o["kind"] for o in review.open_reviews(ledger, "CHG-EB", source=SRC)] == ["error_budget_overrun"]


def test_the_pir_draft_has_the_timeline_rings_rollback_timing_and_blameless_sections(ledger):
    rolled_back_change(ledger)
    text = review.draft_pir("CHG-RB", ledger.events(subject="CHG-RB"))
    assert text.startswith("# Post-incident review: CHG-RB")
    assert "| Requested by / implemented by | alice / carol |" in text and "- bob (peer): approved" in text
    assert "| wave1 | rolled_back | 2 |" in text and "regressed: error ratio 4x baseline" in text
    assert "| wave1 | 2026-11-10 " in text and "| 50 s | 60 s |" in text  # visible->detected, detected->rolled back
    for section in ("## Impact (to fill in)", "## Contributing factors (to fill in)", "## Action items (to fill in)"):
        assert section in text
    assert "Blameless" in text
    with pytest.raises(review.ReviewError, match="not in the ledger"):
        review.draft_pir("CHG-NONE", [])


def test_completing_a_review_needs_it_open_and_happens_once(ledger):
    rolled_back_change(ledger)
    with pytest.raises(review.ReviewError, match="no open rollback review"):
        review.complete_review(ledger, "CHG-RB", kind="rollback", by="sre", summary="done", source=SRC)
    review.open_reviews(ledger, "CHG-RB", source=SRC)
    review.complete_review(ledger, "CHG-RB", kind="rollback", by="sre", summary="2 actions in OPS-1", source=SRC)
    with pytest.raises(review.ReviewError, match="completed already"):
        review.complete_review(ledger, "CHG-RB", kind="rollback", by="sre", summary="again", source=SRC)


@pytest.mark.parametrize(
    ("outcome", "observations", "want"),
    [
        ("successful", ["every ring passed"], "successful"),
        ("successful", [{"text": "checkout was slow for 10 minutes", "by": "carol"}], "successful_with_issues"),
        ("successful", [{"text": "queue lag", "issue": True}], "successful_with_issues"),
        ("successful", ["1 host had an error, retried"], "successful"),  # the job's own words are not a person's
        ("rolled_back", [{"text": "outage", "by": "carol"}], "rolled_back"),
    ],
)
def test_close_outcome(outcome, observations, want):
    assert review.close_outcome(outcome, observations) == want


def test_a_change_not_in_the_ledger_is_an_error(ledger):
    put(ledger, "io.changeward.breaker.opened", "breaker:web", {}, at(8))
    with pytest.raises(review.ReviewError, match="not in the ledger"):
        review.open_reviews(ledger, "CHG-NONE", source=SRC)


def test_the_policy_requires_observations_by_change_type_risk_class_or_outcome():
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import (
        API_VERSION,
        PolicyError,
        effective_policy,
    )

    rule = effective_policy(
        {"api_version": API_VERSION, "review": {"observations_required": ["emergency", "high", "rolled_back"]}}
    )
    required = rule.data["review"]["observations_required"]
    assert review.observations_required(required, "emergency", "low", "successful") == ["emergency"]
    assert review.observations_required(required, "normal", "high", "rolled_back") == ["high", "rolled_back"]
    assert review.observations_required(required, "normal", "low", "successful") == []
    assert review.observations_required([], "emergency", "critical", "failed") == []
    assert "review" not in effective_policy({"api_version": API_VERSION}).data  # no section: the digest is unchanged
    with pytest.raises(PolicyError, match="observations_required"):
        effective_policy({"api_version": API_VERSION, "review": {"observations_required": ["sometimes"]}})
