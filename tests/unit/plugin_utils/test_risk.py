"""Risk score: factors move the score the way they are documented, history uses a Beta prior, determinism."""

import copy

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import close_record, new_record
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import (
    API_VERSION,
    effective_policy,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.risk import (
    RiskInputError,
    classify,
    closed_records,
    downstream_consumers,
    history_from_records,
    ledger_risk,
    normalise_targets,
    score_change,
    seconds_until,
)

POLICY = effective_policy(None)
PRIOR = POLICY.risk["prior"]


def host(name, **labels):
    base = {"name": name, "env_type": "cloud", "provider": "aws", "region": "eu-west-1", "az": "eu-west-1a"}
    base.update(labels)
    return base


def score(targets, kind="config", **kwargs):
    return score_change(copy.deepcopy(targets), kind, kwargs.pop("policy", POLICY), **kwargs)


def factor(result, name):
    return next(f for f in result["factors"] if f["name"] == name)


SAFE = [host("web1", rollback_capability="full", services=["web"])]


# -- determinism and shape -------------------------------------------------------------------------------------
def test_same_inputs_give_the_same_score_and_order_does_not_matter():
    targets = [
        host("a", rollback_capability="partial", data_class="pii", services=["billing"]),
        host("b", env_type="onprem", site="dc1", az=None, services="web, billing"),
        host("c", env_type="edge", site="e1", az=None),
    ]
    kwargs = {"dependency_map": {"billing": ["invoicing"]}, "next_blackout_in": 3600}
    first = score(targets, "package", **kwargs)
    again = score(targets, "package", **kwargs)
    shuffled = score(list(reversed(targets)), "package", **kwargs)
    assert first == again == shuffled


def test_factors_list_weights_that_make_100_and_points_that_make_the_score():
    result = score(SAFE)
    names = [f["name"] for f in result["factors"]]
    assert names == [
        "hosts",
        "services",
        "env_types",
        "change_kind",
        "rollback",
        "downstream",
        "data_class",
        "blackout",
        "history",
    ]
    assert sum(f["weight"] for f in result["factors"]) == 100
    assert result["score"] == round(sum(f["points"] for f in result["factors"]))
    for f in result["factors"]:
        assert f["points"] == pytest.approx(f["value"] * f["weight"], abs=1e-3)
        assert f["detail"]


def test_a_new_system_without_history_is_not_zero_risk():
    result = score(SAFE)
    history = factor(result, "history")
    assert result["history"]["source"] == "prior only: no ledger given"
    assert result["history"]["failure_rate"] == pytest.approx(PRIOR["alpha"] / (PRIOR["alpha"] + PRIOR["beta"]))
    assert history["points"] > 0
    assert history["assessed"] is False
    assert result["score"] > 0


# -- each factor moves the score the documented way ------------------------------------------------------------
@pytest.mark.parametrize(
    ("low", "high", "name"),
    [
        ({"targets": SAFE}, {"targets": [host(f"h{i}", rollback_capability="full") for i in range(40)]}, "hosts"),
        ({"targets": SAFE, "kind": "config"}, {"targets": SAFE, "kind": "schema"}, "change_kind"),
        ({"targets": SAFE}, {"targets": [host("web1", rollback_capability="none")]}, "rollback"),
        ({"targets": SAFE}, {"targets": [host("web1", rollback_capability="full", data_class="pii")]}, "data_class"),
        (
            {"targets": SAFE},
            {"targets": [*SAFE, host("edge1", env_type="edge", site="s1", az=None, rollback_capability="full")]},
            "env_types",
        ),
        ({"targets": SAFE, "services": ["web"]}, {"targets": SAFE, "services": ["a", "b", "c", "d", "e"]}, "services"),
        ({"targets": SAFE, "next_blackout_in": 20 * 3600}, {"targets": SAFE, "next_blackout_in": 600}, "blackout"),
        (
            {"targets": SAFE, "services": ["web"], "dependency_map": {"web": []}},
            {"targets": SAFE, "services": ["web"], "dependency_map": {"web": ["a", "b", "c"], "a": ["d"]}},
            "downstream",
        ),
    ],
)
def test_each_factor_raises_the_score(low, high, name):
    def run(spec):
        spec = dict(spec)
        return score(spec.pop("targets"), spec.pop("kind", "config"), **spec)

    lo, hi = run(low), run(high)
    assert factor(hi, name)["value"] > factor(lo, name)["value"]
    assert hi["score"] > lo["score"]


def test_missing_rollback_capability_counts_as_none():
    result = score([host("x")])
    assert factor(result, "rollback")["value"] == 1.0
    assert "none" in factor(result, "rollback")["detail"]


def test_no_dependency_map_is_an_assumed_moderate_value_and_says_so():
    result = score(SAFE)
    downstream = factor(result, "downstream")
    assert downstream["assessed"] is False
    assert downstream["value"] == 0.5
    assert "no dependency map" in downstream["detail"]


def test_downstream_consumers_are_transitive_and_survive_cycles():
    graph = {"db": ["api"], "api": ["web", "batch"], "web": ["api"], "batch": ["db"]}
    assert downstream_consumers(graph, ["db"]) == ["api", "batch", "web"]
    assert downstream_consumers(graph, ["web"]) == ["api", "batch", "db"]
    with pytest.raises(RiskInputError, match=r"dependency_map\.db must be a list"):
        downstream_consumers({"db": "api"}, ["db"])


def test_services_default_to_the_targets_labels():
    result = score([host("a", services=["billing"]), host("b", services=["web"])])
    assert result["services"] == ["billing", "web"]
    assert "from the targets' services labels" in factor(result, "services")["detail"]
    assert score(SAFE, services=["Billing"])["services"] == ["billing"]


def test_next_blackout_as_time_or_seconds():
    assert seconds_until(90) == 90.0
    assert seconds_until("90") == 90.0
    assert seconds_until("2025-03-31T22:00:00Z", at="2025-03-31T20:00:00+00:00") == 7200.0
    assert seconds_until(None) is None
    with pytest.raises(RiskInputError, match="no UTC offset"):
        seconds_until("2025-03-31T22:00:00", at="2025-03-31T20:00:00Z")
    with pytest.raises(RiskInputError, match="the time of the change"):
        seconds_until("2025-03-31T22:00:00Z")
    inside = score(SAFE, next_blackout_in=0)
    assert factor(inside, "blackout")["value"] == 1.0


# -- classes and thresholds ----------------------------------------------------------------------------------------
def test_classify_boundaries():
    thresholds = {"medium": 25, "high": 50, "critical": 75}
    assert [classify(s, thresholds) for s in (0, 24, 25, 49, 50, 74, 75, 100)] == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
        "critical",
        "critical",
    ]


def test_service_thresholds_change_the_class_not_the_score():
    policy = effective_policy(
        {"api_version": API_VERSION, "services": {"billing": {"risk": {"thresholds": {"medium": 5, "high": 10}}}}}
    )
    plain = score(SAFE, services=["web"], policy=policy)
    billing = score(SAFE, services=["billing"], policy=policy)
    assert plain["score"] == billing["score"]
    assert plain["class"] == "low"
    assert billing["class"] == "high"
    assert billing["thresholds"]["high"] == 10


def test_team_thresholds_from_owner_team_label():
    policy = effective_policy(
        {"api_version": API_VERSION, "teams": {"payments": {"risk": {"thresholds": {"medium": 1}}}}}
    )
    result = score([host("a", rollback_capability="full", owner_team="payments")], policy=policy)
    assert result["teams"] == ["payments"]
    assert result["class"] == "medium"


# -- history ------------------------------------------------------------------------------------------------------
def closed(cid, outcome, services=(), system_class=None, scored=True):
    record = new_record(cid, "normal", "x", "carol", opened_at="2025-01-01T00:00:00Z")
    if scored:
        record["risk"] = {"level": "low", "score": 10, "services": list(services), "system_class": system_class}
    return close_record(record, outcome, ["done"], closed_at="2025-01-01T01:00:00Z")


def test_history_is_a_beta_posterior_over_similar_changes():
    records = [
        closed("c1", "failed", ["billing"]),
        closed("c2", "rolled_back", ["billing"]),
        closed("c3", "successful", ["billing"]),
        closed("c4", "successful_with_issues", ["billing"]),
        closed("c5", "aborted", ["billing"]),  # stopped before it ran: no evidence
        closed("c6", "failed", ["web"], system_class="config/cloud"),  # same class only: half weight
        closed("c7", "failed", ["web"], system_class="package/edge"),  # not similar
        closed("c8", "failed", scored=False),  # never scored: cannot be compared
    ]
    hist = history_from_records(records, ["billing"], "config/cloud", PRIOR, "test")
    similar = 4 + 0.5
    failures = 1 + 1 + 0.5 + 0.5
    assert hist.similar == similar
    assert hist.failures == failures
    assert hist.unclassified == 1
    expected = (PRIOR["alpha"] + failures) / (PRIOR["alpha"] + PRIOR["beta"] + similar)
    assert hist.failure_rate == pytest.approx(expected)
    assert {m["change"] for m in hist.matches} == {"c1", "c2", "c3", "c4", "c6"}


def test_failing_history_raises_the_score_and_good_history_lowers_it():
    bad = history_from_records([closed(f"b{i}", "failed", ["web"]) for i in range(10)], ["web"], None, PRIOR, "t")
    good = history_from_records([closed(f"g{i}", "successful", ["web"]) for i in range(30)], ["web"], None, PRIOR, "t")
    prior_only = score(SAFE, services=["web"])
    assert score(SAFE, services=["web"], history=bad)["score"] > prior_only["score"]
    assert score(SAFE, services=["web"], history=good)["score"] < prior_only["score"]
    assert score(SAFE, services=["web"], history=good)["score"] > 0


def test_history_read_from_a_ledger_leaves_out_the_change_itself(tmp_path):
    path = str(tmp_path / "ledger.db")
    with open_ledger(path, checkpoint_interval=0) as ledger:
        for cid, outcome in (("CHG-1", "failed"), ("CHG-2", "successful")):
            ledger.open_change(new_record(cid, "normal", "x", "carol"))
            ledger.update_change(cid, {"risk": {"level": "low", "services": ["web"], "system_class": "config/cloud"}})
            ledger.close_change(cid, outcome, ["done"])
        ledger.open_change(new_record("CHG-3", "normal", "x", "carol"))
        records = closed_records(ledger)
    assert sorted(r["id"] for r in records) == ["CHG-1", "CHG-2"]
    hist = history_from_records(records, ["web"], None, PRIOR, "ledger", exclude="CHG-1")
    assert [m["change"] for m in hist.matches] == ["CHG-2"]


def test_ledger_risk_keeps_what_similarity_needs():
    result = score(SAFE, services=["web"])
    kept = ledger_risk(result, "2025-01-01T00:00:00Z")
    assert kept["level"] == result["class"]
    assert kept["services"] == ["web"]
    assert kept["system_class"] == "config/cloud"


# -- bad input fails closed ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        ([], "no targets"),
        ({}, "no targets"),
        ([host("a", rollback_capability="maybe")], "rollback_capability"),
        ([host("a"), host("a")], "named more than once: a"),
        (["web1"], "host name"),
        ("web1", "must be a list"),
    ],
)
def test_bad_targets_are_refused(targets, expected):
    with pytest.raises(RiskInputError, match=expected):
        score_change(targets, "config", POLICY)


def test_unknown_change_kind_is_refused():
    with pytest.raises(RiskInputError, match="change_kind must be one of"):
        score(SAFE, kind="firmware")


def test_targets_from_hostvars_prefer_changeward_labels_and_carry_tags():
    targets = normalise_targets(
        {
            "db1": {"changeward_labels": {"env_type": "onprem", "data_class": "pii", "tenant": None}, "tags": "auth"},
            "web1": {"env_type": "cloud", "ansible_host": "198.18.0.2"},
        }
    )
    assert [t.name for t in targets] == ["db1", "web1"]
    assert targets[0].labels["data_class"] == "pii"
    assert targets[0].tags == ("auth",)
    assert targets[1].labels["rollback_capability"] == "none"
