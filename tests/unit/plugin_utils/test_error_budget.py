"""Error budget: burn-rate arithmetic, refusal, and the action end to end against a fake Prometheus
(real HTTP server thread speaking the Prometheus API format)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "judge"))  # the fake server lives beside the judge tests
from fake_prometheus import FakePrometheus, closed_port_url
from playbook_runner import REPO, VENVS, run_playbook

from ansible_collections.changeward.hybrid.plugins.plugin_utils.error_budget import (
    BudgetError,
    collect_ratios,
    evaluate,
    parse_windows,
    render_query,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import (
    PrometheusClient,
    PrometheusEmptyResult,
)

WINDOWS = ("30d", "1h", "5m", "6h", "30m", "3d")


def ratios(**over):
    base = dict.fromkeys(WINDOWS, 0.0005)  # half the budget of a 99.9 % SLO
    base.update({k.replace("_", ""): v for k, v in over.items()})
    return base


@pytest.fixture
def prom():
    with FakePrometheus() as fake:
        yield fake


def test_burn_rate_is_error_ratio_over_budget_and_remaining_is_what_the_period_left():
    r = evaluate(0.999, ratios(_30d=0.00025, _1h=0.0144))
    assert r.burn_rates["1h"] == pytest.approx(14.4)
    assert r.burn_rates["30d"] == pytest.approx(0.25)
    assert r.remaining_budget == pytest.approx(0.75)
    assert not r.budget_spent and r.decision == "allow"


def test_a_window_pair_fires_only_when_both_windows_burn_too_fast():
    long_only = evaluate(0.999, ratios(_1h=0.02, _5m=0.001))
    both = evaluate(0.999, ratios(_1h=0.02, _5m=0.03))
    assert not long_only.windows[0]["firing"] and not long_only.burning
    assert both.windows[0]["firing"] and both.burning
    assert both.decision == "allow"  # burning alone does not refuse unless asked


def test_exactly_the_factor_does_not_fire_and_exactly_the_budget_is_spent():
    # 0.001 / (1 - 0.999) is exactly 1 in decimal: float noise must not tip either decision
    r = evaluate(0.999, ratios(_30d=0.001, _3d=0.001, _6h=0.001))
    assert r.burn_rates["3d"] == 1.0 and not r.windows[2]["firing"]
    assert r.remaining_budget == 0.0 and r.budget_spent and r.decision == "refuse"


def test_spent_budget_refuses_unless_the_change_type_is_exempt():
    spent = ratios(_30d=0.002)
    refused = evaluate(0.999, spent, change_type="normal", exempt_change_types=["emergency"])
    allowed = evaluate(0.999, spent, change_type="emergency", exempt_change_types=["emergency"])
    assert refused.decision == "refuse" and refused.remaining_budget == pytest.approx(-1.0)
    assert "error budget spent: change refused" in refused.reasons
    assert allowed.decision == "allow" and allowed.exempt and allowed.budget_spent


def test_refuse_on_burn():
    r = evaluate(0.999, ratios(_6h=0.01, _30m=0.01), refuse_on_burn=True)
    assert r.windows[1]["firing"] and r.decision == "refuse" and not r.budget_spent


def test_custom_windows_and_period():
    r = evaluate(
        0.99, {"7d": 0.001, "2h": 0.2, "10m": 0.3}, period="7d", windows=[{"long": "2h", "short": "10m", "factor": 10}]
    )
    assert r.period == "7d" and [w["long"] for w in r.windows] == ["2h"] and r.burning


@pytest.mark.parametrize(
    "given, match",
    [
        (ratios(_5m=float("nan")), "over 5m is NaN"),
        (ratios(_1h=1.5), "outside"),
        (ratios(_1h=-0.1), "outside"),
        (ratios(_1h="lots"), "not a number"),
        ({k: v for k, v in ratios().items() if k != "6h"}, "no error ratio for window.*6h"),
    ],
)
def test_unusable_ratios_stop_the_evaluation_naming_the_window(given, match):
    with pytest.raises(BudgetError, match=match):
        evaluate(0.999, given)


@pytest.mark.parametrize(
    "windows, match",
    [
        ([{"long": "5m", "short": "1h", "factor": 2}], "shorter"),
        ([{"long": "1h", "short": "5m", "factor": 0}], "factor"),
        ([{"long": "1h", "short": "5m"}], "needs long, short and factor"),
        ([{"long": "1h", "short": "5m", "factor": 2, "x": 1}], "unknown keys"),
        ([{"long": "an hour", "short": "5m", "factor": 2}], "duration"),
        ([], "at least one"),
    ],
)
def test_bad_windows_are_refused(windows, match):
    with pytest.raises(BudgetError, match=match):
        parse_windows(windows)


@pytest.mark.parametrize("objective", [1, 0, 99.9, "high"])
def test_bad_objective_is_refused(objective):
    with pytest.raises(BudgetError, match="objective"):
        evaluate(objective, ratios())


def test_query_template_fills_the_window_and_refuses_other_placeholders():
    assert render_query("rate(e[${window}])/rate(t[$window])", "5m") == "rate(e[5m])/rate(t[5m])"
    with pytest.raises(BudgetError, match=r"\$job"):
        render_query("rate(e{job='$job'}[${window}])", "5m")


def test_collect_ratios_asks_one_instant_query_per_window(prom):
    for w, v in ratios(_1h=0.01).items():
        prom.on_instant(f"ratio[{w}]", v)
    got = collect_ratios(PrometheusClient(prom.url), "ratio[${window}]", WINDOWS, at=1_700_000_000)
    assert got["1h"] == 0.01 and set(got) == set(WINDOWS)
    assert {r["params"]["query"] for r in prom.requests} == {f"ratio[{w}]" for w in WINDOWS}


def test_collect_ratios_refuses_ambiguous_and_empty_answers(prom):
    prom.on_instant("ratio[5m]", 0.1, 0.2)
    with pytest.raises(BudgetError, match="returned 2 series"):
        collect_ratios(PrometheusClient(prom.url), "ratio[${window}]", ["5m"])
    with pytest.raises(PrometheusEmptyResult):
        collect_ratios(PrometheusClient(prom.url), "ratio[${window}]", ["1h"])
    with pytest.raises(BudgetError, match="placeholder"):
        collect_ratios(PrometheusClient(prom.url), "ratio[5m]", ["1h"])


def budget_task(register, **args):
    return {"changeward.hybrid.error_budget": args, "register": register, "ignore_errors": True}


@pytest.mark.parametrize("venv", VENVS)
def test_error_budget_action_end_to_end(venv, prom, tmp_path):
    for w, v in ratios(_1h=0.02, _5m=0.03).items():
        prom.on_instant(f'good{{job="demo"}}[{w}]', v)
    for w, v in ratios(_30d=0.0015).items():
        prom.on_instant(f'spent{{job="demo"}}[{w}]', v)
    common = {"objective": 0.999, "prometheus_url": prom.url, "prometheus_retries": 0, "change_type": "normal"}
    policy = str(REPO / "docs" / "examples" / "policies" / "demo.yml")
    tasks = [
        budget_task("good", error_ratio_query='good{job="demo"}[${window}]', **common),
        budget_task("spent", error_ratio_query='spent{job="demo"}[${window}]', **common),
        budget_task("spent_report", error_ratio_query='spent{job="demo"}[${window}]', report_only=True, **common),
        budget_task(
            "exempt",
            error_ratio_query='spent{job="demo"}[${window}]',
            exempt_change_types=["emergency"],
            **{**common, "change_type": "emergency"},
        ),
        budget_task(
            "down", error_ratio_query='good{job="demo"}[${window}]', **{**common, "prometheus_url": closed_port_url()}
        ),
        budget_task("empty", error_ratio_query='absent{job="demo"}[${window}]', **common),
        # the policy's SLO (99 %) and exemptions, inline ratios: 2 % over the period is twice the budget
        budget_task("policy_exempt", policy=policy, change_type="emergency", error_ratios=ratios(_30d=0.02)),
        budget_task("policy_refuse", policy=policy, change_type="standard", error_ratios=ratios(_30d=0.02)),
    ]
    names = [t["register"] for t in tasks]
    r, _unused = run_playbook(venv, tmp_path, tasks, names)

    good = r["good"]
    assert not good.get("failed") and good["decision"] == "allow" and good["burning"]
    assert good["burn_rates"]["1h"] == pytest.approx(20.0) and good["remaining_budget"] == pytest.approx(0.5)
    assert good["windows"][0]["firing"] and not good["windows"][1]["firing"]

    assert r["spent"]["failed"] and r["spent"]["decision"] == "refuse" and "change refused" in r["spent"]["msg"]
    assert not r["spent_report"].get("failed") and r["spent_report"]["decision"] == "refuse"
    # an exempt type without a verified override (tests/unit/plugins/action/test_blackout.py has one) is refused
    assert r["exempt"]["failed"] and r["exempt"]["decision"] == "refuse" and not r["exempt"]["exempt"]
    assert "only with an accepted emergency override that exempts error_budget" in r["exempt"]["msg"]

    assert r["down"]["failed"] and "unreachable" in r["down"]["msg"] and "decision" not in r["down"]
    assert r["empty"]["failed"] and "returned no data" in r["empty"]["msg"]

    assert r["policy_exempt"]["decision"] == "refuse" and r["policy_exempt"]["objective"] == 0.99
    assert "emergency override" in r["policy_exempt"]["msg"]
    assert r["policy_refuse"]["failed"] and r["policy_refuse"]["remaining_budget"] == pytest.approx(-1.0)
