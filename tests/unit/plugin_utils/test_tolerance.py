"""Tolerance policy: schema validation with located errors, meaning checks and rollback tightening."""

import copy
from pathlib import Path

import pytest
import yaml

from ansible_collections.changeward.hybrid.plugins.plugin_utils.judge.classify import Allowance
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy import tolerance
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.tolerance import PolicyError

DEMO = Path(__file__).resolve().parents[3] / "docs" / "examples" / "policies" / "demo.yml"


@pytest.fixture
def demo():
    return yaml.safe_load(DEMO.read_text())


def problems(data):
    return tolerance.validate(data)


def test_the_documented_demo_policy_is_valid(demo):
    assert problems(demo) == []
    policy = tolerance.load(str(DEMO))
    assert policy.service == "demo"
    assert [s.name for s in policy.metric_specs()] == [m["name"] for m in demo["metrics"]]


def test_digest_is_stable_and_changes_with_the_policy(demo):
    a, b = tolerance.load(demo), tolerance.load(copy.deepcopy(demo))
    assert a.digest == b.digest and len(a.digest) == 64
    demo["metrics"][0]["allowance"] = {"absolute": 0.01}
    assert tolerance.load(demo).digest != a.digest


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d.pop("sign_off"), "(top level): 'sign_off' is a required property"),
        (lambda d: d["sign_off"].pop("product_owner"), "sign_off: 'product_owner' is a required property"),
        (lambda d: d["metrics"][1].update(allowance={"relative": 0.2, "absolute": 1}), "metrics[1].allowance:"),
        (lambda d: d["metrics"][0].update(direction="up"), "metrics[0].direction: 'up' is not one of"),
        (lambda d: d["metrics"][0].update(critcal=True), "metrics[0]: Additional properties are not allowed"),
        (lambda d: d["canary"].update(lookback="5 minutes"), "canary.lookback: '5 minutes' does not match"),
        (lambda d: d["slos"][0].update(objective=99.9), "slos[0].objective: 99.9 is greater than or equal to"),
        (lambda d: d["bake_times"].pop("default"), "bake_times: 'default' is a required property"),
        (lambda d: d["bake_times"].update(ring_1="soon"), "bake_times.ring_1: 'soon' does not match"),
        (lambda d: d.update(owners=[]), "owners: [] should be non-empty"),
        (lambda d: d.update(api_version="v0"), "api_version: 'changeward.hybrid/v1' was expected"),
    ],
)
def test_schema_errors_name_the_location(demo, mutate, expected):
    mutate(demo)
    found = problems(demo)
    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d["metrics"].append(dict(d["metrics"][0])), "metrics: name 'error_ratio' is used more than once"),
        (lambda d: d["error_budget"].update(slo="latency"), "error_budget.slo: no SLO named 'latency'"),
        (lambda d: d["canary"].update(pass_score=70, marginal_score=80), "canary: marginal_score (80) must not"),
        (lambda d: d["metrics"][0].update(query="rate(x[1m])"), "metrics[0].query: needs a ${selector}"),
        (lambda d: d["metrics"][0].pop("query"), "metrics[0] (error_ratio): give either query or both"),
        (
            lambda d: d["metrics"][0].update(canary_query="a"),
            "metrics[0] (error_ratio): give either query or both",
        ),
        (
            lambda d: (d["metrics"][0].pop("query"), d["metrics"][0].update(canary_query="q", baseline_query="q")),
            "metrics[0]: canary_query and baseline_query are identical",
        ),
        (lambda d: d["slos"][0].update(error_ratio_query="rate($x[5m])"), "slos[0].error_ratio_query: needs a"),
        (lambda d: d["sign_off"].update(signed_at="last tuesday"), "sign_off.signed_at: 'last tuesday' is not"),
        (
            lambda d: d["rollback_tightening"].update(none={"allowance_factor": 0.9}),
            "rollback_tightening: none must be at least as tight as partial",
        ),
    ],
)
def test_meaning_errors_name_the_location(demo, mutate, expected):
    mutate(demo)
    found = problems(demo)
    assert any(p.startswith(expected) for p in found), found


def test_load_reports_every_problem_at_once(demo):
    demo.pop("owners")
    demo["metrics"][0]["direction"] = "sideways"
    with pytest.raises(PolicyError) as err:
        tolerance.load(demo)
    assert "owners" in str(err.value) and "sideways" in str(err.value)


def test_unquoted_yaml_timestamp_is_accepted(tmp_path):
    text = DEMO.read_text().replace('signed_at: "2025-01-15T09:00:00Z"', "signed_at: 2025-01-15 09:00:00")
    path = tmp_path / "p.yml"
    path.write_text(text)
    assert tolerance.load(str(path)).data["sign_off"]["signed_at"].startswith("2025-01-15")


def test_unreadable_and_invalid_files_are_named(tmp_path):
    with pytest.raises(PolicyError, match="cannot read"):
        tolerance.load(str(tmp_path / "missing.yml"))
    bad = tmp_path / "bad.yml"
    bad.write_text("a: [1,\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        tolerance.load(str(bad))
    with pytest.raises(PolicyError, match="a mapping"):
        tolerance.load(["not", "a", "policy"])


def test_tightening_by_rollback_capability(demo):
    policy = tolerance.load(demo)
    full = {s.name: s for s in policy.metric_specs("full")}
    partial = {s.name: s for s in policy.metric_specs("partial")}
    none = {s.name: s for s in policy.metric_specs("none")}
    assert full["mean_latency_seconds"].allowance == Allowance("relative", 0.2)
    assert partial["mean_latency_seconds"].allowance == Allowance("relative", 0.1)
    assert none["mean_latency_seconds"].allowance == Allowance("relative", 0.05)
    assert not partial["mean_latency_seconds"].critical and none["mean_latency_seconds"].critical
    assert none["error_ratio"].allowance == Allowance("absolute", 0.00125)


def test_tightening_factors_can_be_set_by_the_policy_and_ignore_becomes_inconclusive(demo):
    demo["rollback_tightening"] = {"partial": {"allowance_factor": 0.8}, "none": {"allowance_factor": 0.0}}
    demo["metrics"][1]["nodata"] = "ignore"
    policy = tolerance.load(demo)
    assert policy.metric_specs("partial")[1].allowance.value == pytest.approx(0.16)
    none = policy.metric_specs("none")[1]
    assert none.allowance.value == 0.0 and none.nodata == "inconclusive"
    assert policy.metric_specs("partial")[1].nodata == "ignore"
    with pytest.raises(PolicyError, match="rollback_capability"):
        policy.metric_specs("some")


def test_metrics_inherit_the_canary_defaults(demo):
    demo["canary"].update(alpha=0.001, min_points=20, default_allowance={"absolute": 2.0}, nodata="fail")
    own = {s.name: s for s in tolerance.load(demo).metric_specs()}["p99_latency_seconds"]
    assert own.allowance == Allowance("relative", 0.2)  # its own allowance wins
    demo["metrics"][2].pop("allowance")
    spec = {s.name: s for s in tolerance.load(demo).metric_specs()}["p99_latency_seconds"]
    assert (spec.alpha, spec.min_points, spec.allowance, spec.nodata) == (0.001, 20, Allowance("absolute", 2.0), "fail")


def test_strictest_capability_and_missing_label_counts_as_none():
    assert tolerance.strictest_capability(["full", "partial", "full"]) == "partial"
    assert tolerance.strictest_capability(["full", None]) == "none"
    assert tolerance.strictest_capability(["full", "bogus"]) == "none"
    with pytest.raises(PolicyError, match="no targets"):
        tolerance.strictest_capability([])


def test_slo_and_bake_time_lookup(demo):
    policy = tolerance.load(demo)
    assert policy.slo()["objective"] == 0.99
    assert policy.bake_time("canary") == "3m" and policy.bake_time("ring_9") == "2m" and policy.bake_time() == "2m"
    with pytest.raises(PolicyError, match="no SLO named 'x'"):
        policy.slo("x")
