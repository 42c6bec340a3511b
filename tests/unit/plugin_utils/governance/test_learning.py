"""The learning loop's reports: the risk model's calibration against outcomes (Brier score, reliability by class),
the k-anonymous failure pattern export, and its import into another team's risk history."""

import json

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.governance import learning
from ansible_collections.changeward.hybrid.plugins.plugin_utils.risk import History


def rec(cid, outcome, rate, level="low", system_class="package/cloud", kind="package", targets=("web1",)):
    risk = {"failure_rate": rate, "level": level, "system_class": system_class, "change_kind": kind}
    risk["services"] = ["payments"]
    return {
        "id": cid,
        "status": "closed",
        "outcome": outcome,
        "risk": risk,
        "targets": list(targets),
        "requester": "alice",
        "summary": "secret plan for web1",
        "observations": ["db-7 fell over"],
    }


def test_brier_score_base_rate_and_skill_are_computed_from_estimates_and_outcomes():
    records = [rec("a", "successful", 0.1), rec("b", "rolled_back", 0.6), rec("c", "successful_with_issues", 0.2)]
    records.append(rec("d", "aborted", 0.9))  # never ran: says nothing about the estimate
    records.append({"id": "e", "status": "closed", "outcome": "failed"})  # not scored
    report = learning.calibration(records)
    assert report["changes"] == 3
    assert report["brier"] == pytest.approx(((0.1 - 0) ** 2 + (0.6 - 1) ** 2 + (0.2 - 0.5) ** 2) / 3, abs=1e-4)
    assert report["base_rate"] == 0.5
    assert report["reference_brier"] == pytest.approx((0.25 + 0.25 + 0) / 3, abs=1e-4)
    assert report["skill"] == pytest.approx(1 - report["brier"] / report["reference_brier"], abs=1e-3)


def test_reliability_by_class_names_a_miscalibrated_class_and_classes_that_do_not_rank_risk():
    records = [rec(f"l{i}", "rolled_back" if i < 8 else "successful", 0.05, "low") for i in range(20)]
    records += [rec(f"h{i}", "successful", 0.3, "high") for i in range(20)]
    report = learning.calibration(records)
    low, high = report["by_class"]["low"], report["by_class"]["high"]
    assert (low["changes"], low["observed_rate"], low["calibrated"]) == (20, 0.4, False)
    assert low["interval"][0] > 0.05  # the estimate is below what happened
    assert not high["calibrated"] and list(report["by_class"]) == ["low", "high"]
    assert any(f.startswith("low: estimated 5.0%, observed 40.0%") for f in report["findings"])
    assert "high changes failed less often than low ones: the classes do not rank risk" in report["findings"]
    assert [b["band"] for b in report["bands"]] == [[0.05, 0.1], [0.2, 0.35]]


def test_a_calibrated_model_has_no_findings_and_no_data_is_an_error_not_a_pass():
    records = [rec(f"m{i}", "rolled_back" if i % 5 == 0 else "successful", 0.2, "medium") for i in range(50)]
    report = learning.calibration(records)
    assert report["by_class"]["medium"]["calibrated"] and report["findings"] == []
    with pytest.raises(learning.LearningError, match="nothing to calibrate"):
        learning.calibration([rec("x", "aborted", 0.1)])


def test_jeffreys_interval_widens_with_fewer_changes():
    few, many = learning.jeffreys(1, 5), learning.jeffreys(20, 100)
    assert few[0] < 0.2 < few[1] and many[0] < 0.2 < many[1]
    assert few[1] - few[0] > many[1] - many[0]
    assert learning.jeffreys(0, 10)[0] == 0.0 and learning.jeffreys(10, 10)[1] == 1.0


LABELS = {
    "web1": {"env_type": "cloud", "provider": "aws", "data_class": "none", "criticality": "high", "region": "eu"},
    "web2": {"env_type": "cloud", "provider": "gcp", "data_class": "none", "criticality": "low"},
    "db1": {"env_type": "onprem", "provider": "dc", "data_class": "pii", "criticality": "critical"},
}


def test_the_export_holds_no_host_person_service_change_id_time_or_free_text():
    records = [rec(f"c{i}", "rolled_back" if i % 2 else "successful", 0.1, targets=["web1"]) for i in range(6)]
    export = learning.failure_patterns(records, LABELS, k=3)
    text = json.dumps(export)
    for secret in ("web1", "alice", "payments", "c1", "secret plan", "db-7", "eu"):
        assert secret not in text, secret
    (pattern,) = export["patterns"]
    assert pattern["labels"] == {"env_type": "cloud", "provider": "aws", "data_class": "none", "criticality": "high"}
    assert (pattern["changes"], pattern["failures"], pattern["outcomes"]) == (
        6,
        3.0,
        {"rolled_back": 3, "successful": 3},
    )


def test_small_groups_are_generalised_then_suppressed_so_every_pattern_stands_for_k_changes():
    records = [rec(f"a{i}", "successful", 0.1, targets=["web1"]) for i in range(2)]
    records += [rec(f"b{i}", "rolled_back", 0.1, targets=["web2"]) for i in range(2)]  # differ in provider, criticality
    records += [rec("p1", "failed", 0.3, "high", "package/onprem", targets=["db1"])]  # alone in its class
    export = learning.failure_patterns(records, LABELS, k=3)
    (pattern,) = export["patterns"]
    assert pattern["changes"] == 4 and pattern["labels"] == {"env_type": "cloud", "data_class": "none"}
    assert export["suppressed_changes"] == 1
    assert all(p["changes"] >= 3 for p in export["patterns"])
    with pytest.raises(learning.LearningError, match="at least 2"):
        learning.failure_patterns(records, LABELS, k=1)


def test_an_import_adds_same_class_history_at_half_weight_and_refuses_what_is_not_an_anonymous_export():
    records = [rec(f"c{i}", "rolled_back" if i < 4 else "successful", 0.1, targets=["web1"]) for i in range(8)]
    doc = json.loads(json.dumps(learning.failure_patterns(records, LABELS, k=5)))
    patterns = learning.validate_patterns(doc)
    history = learning.add_imported(History("ledger", 1.0, 9.0), patterns, "package/cloud")
    assert (history.similar, history.failures) == (4.0, 2.0)
    assert history.failure_rate == pytest.approx(3 / 14)
    assert history.matches[0]["similarity"] == "imported"
    other = learning.add_imported(History("ledger", 1.0, 9.0), patterns, "package/edge")
    assert other.similar == 0
    bad = json.loads(json.dumps(doc))
    bad["patterns"][0]["hosts"] = ["web1"]
    with pytest.raises(learning.LearningError, match="fields a failure pattern does not have"):
        learning.validate_patterns(bad)
    small = json.loads(json.dumps(doc))
    small["patterns"][0]["changes"] = 2
    with pytest.raises(learning.LearningError, match="not k-anonymous"):
        learning.validate_patterns(small)
    with pytest.raises(learning.LearningError, match="not a failure pattern export"):
        learning.validate_patterns({"patterns": []})
