"""dependency_map and dependency_report as tasks: sources read from files, connection tables from hostvars,
the graph stored, reports written; missing evidence fails instead of passing."""

import json

import yaml
from action_runner import run_action

from ansible_collections.changeward.hybrid.plugins.action.dependency_map import ActionModule as MapAction
from ansible_collections.changeward.hybrid.plugins.action.dependency_report import ActionModule as ReportAction

CATALOGUE = {
    "api_version": "changeward.hybrid/dependencies/v1",
    "services": {
        "auth": {
            "team": "identity",
            "criticality": "critical",
            "endpoints": ["10.0.0.1:8080"],
            "confirmed": "2026-12-01",
        },
        "billing": {
            "team": "payments",
            "criticality": "critical",
            "endpoints": ["10.0.0.2:8080"],
            "confirmed": "2026-12-01",
            "depends_on": ["auth"],
        },
        "checkout": {"team": "shop", "criticality": "high", "endpoints": ["10.0.0.3:8080"], "confirmed": "2026-12-01"},
    },
}
SS_CHECKOUT = (
    'LISTEN 0 128 0.0.0.0:8080 0.0.0.0:* users:(("python3",pid=41,fd=3))\n'
    'ESTAB 0 0 10.0.0.3:40000 10.0.0.1:8080 users:(("python3",pid=41,fd=6))\n'
)
AT = "2026-12-07T10:00:00Z"


def build(tmp_path, **extra):
    (tmp_path / "catalogue.yml").write_text(yaml.safe_dump(CATALOGUE))
    hostvars = {"checkout-01": {"ansible_host": "10.0.0.3", "changeward_connections": {"stdout": SS_CHECKOUT}}}
    args = {
        "store": str(tmp_path / "deps.json"),
        "documented": [{"src": str(tmp_path / "catalogue.yml"), "format": "catalogue"}],
        "connections": {"hosts": ["checkout-01"]},
        "at": AT,
        **extra,
    }
    return run_action(MapAction, "dependency_map", args, {"hostvars": hostvars})


def test_the_map_stores_documented_and_observed_edges(tmp_path):
    result = build(tmp_path, services=["auth"])
    assert not result.get("failed"), result
    stored = json.loads((tmp_path / "deps.json").read_text())
    edges = {(e["consumer"], e["provider"]): e for e in stored["edges"]}
    assert set(edges) == {("billing", "auth"), ("checkout", "auth")}
    assert edges[("checkout", "auth")]["observed"]["connections"]["last_seen"] == AT
    assert edges[("checkout", "auth")]["documented"] == {}
    assert [c["service"] for c in result["blast_radius"]["consumers"]] == ["billing", "checkout"]
    again = build(tmp_path)
    assert again["changed"] is True  # the observation count grew
    assert build(tmp_path, connections=None)["changed"] is False  # the catalogue alone adds nothing new


def test_a_host_without_its_connection_table_fails_the_map(tmp_path):
    (tmp_path / "catalogue.yml").write_text(yaml.safe_dump(CATALOGUE))
    args = {"store": str(tmp_path / "deps.json"), "connections": {"hosts": ["h1"]}}
    result = run_action(MapAction, "dependency_map", args, {"hostvars": {"h1": {}}})
    assert result["failed"]
    assert "h1 has no connection table in changeward_connections" in result["msg"]
    assert not (tmp_path / "deps.json").exists()


def test_check_mode_writes_no_store(tmp_path):
    (tmp_path / "catalogue.yml").write_text(yaml.safe_dump(CATALOGUE))
    args = {"store": str(tmp_path / "deps.json"), "documented": [{"src": str(tmp_path / "catalogue.yml")}]}
    result = run_action(MapAction, "dependency_map", args, check_mode=True)
    assert result["changed"] and result["edges"] == 1
    assert not (tmp_path / "deps.json").exists()


def test_reports_are_written_as_json_and_markdown(tmp_path):
    build(tmp_path)
    out = tmp_path / "out"
    args = {
        "store": str(tmp_path / "deps.json"),
        "kinds": ["hidden", "stale", "impact"],
        "services": ["auth"],
        "output_dir": str(out),
        "at": AT,
    }
    result = run_action(ReportAction, "dependency_report", args)
    assert not result.get("failed"), result
    rows = result["hidden"]["teams"]["shop"]["observed_undocumented"]
    assert [(r["consumer"], r["provider"]) for r in rows] == [("checkout", "auth")]
    assert json.loads((out / "hidden-dependencies.json").read_text()) == result["hidden"]
    assert "| checkout | auth |" in (out / "hidden-dependencies.md").read_text()
    assert result["stale"]["total"] == 0
    assert result["impact"]["teams"] == ["payments", "shop"]


def test_reports_refuse_a_missing_graph_and_an_unknown_service(tmp_path):
    missing = run_action(ReportAction, "dependency_report", {"store": str(tmp_path / "none.json")})
    assert missing["failed"] and "build it with dependency_map first" in missing["msg"]
    build(tmp_path)
    typo = run_action(
        ReportAction,
        "dependency_report",
        {"store": str(tmp_path / "deps.json"), "kinds": ["impact"], "services": ["authh"]},
    )
    assert typo["failed"] and "authh not in the dependency graph" in typo["msg"]


def test_impact_over_the_limit_fails_the_task_and_names_the_consumers_weight(tmp_path):
    build(tmp_path)
    args = {"store": str(tmp_path / "deps.json"), "kinds": ["impact"], "services": ["auth"], "max_weighted": 5}
    result = run_action(ReportAction, "dependency_report", args)
    assert result["failed"]
    assert "touches 2 consumer(s), 5 weighted by criticality, at or over the limit of 5" in result["msg"]
    args["max_weighted"] = 5.5
    assert not run_action(ReportAction, "dependency_report", args).get("failed")


def test_risk_score_takes_the_inventorys_map_and_refuses_one_given_as_an_extra_var(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from ansible_collections.changeward.hybrid.plugins.action.risk_score import ActionModule as RiskAction
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction

    build(tmp_path)
    store = str(tmp_path / "deps.json")
    target = {"env_type": "cloud", "provider": "aws", "region": "r", "az": "r-a", "rollback_capability": "full"}
    hostvars = {"localhost": {"changeward_dependency_map": store}, "h1": target}
    task_vars = {"hostvars": hostvars, "inventory_hostname": "localhost", "changeward_dependency_map": store}
    vm = SimpleNamespace(extra_vars={}, _nonpersistent_fact_cache={}, _vars_cache={}, _fact_cache={})
    monkeypatch.setattr("ansible.playbook.task.Task.get_variable_manager", lambda self: vm)
    monkeypatch.setattr(ControllerAction, "extra_vars", lambda self, cli=False: dict(vm.extra_vars))
    args = {"targets": ["h1"], "change_kind": "config", "services": ["auth"]}
    scored = run_action(RiskAction, "risk_score", args, task_vars)
    assert not scored.get("failed"), scored
    assert [c["service"] for c in scored["blast_radius"]["consumers"]] == ["billing", "checkout"]
    vm.extra_vars = {"changeward_dependency_map": str(tmp_path / "empty.json")}
    refused = run_action(RiskAction, "risk_score", args, {**task_vars, **vm.extra_vars})
    assert refused["failed"] and "changeward_dependency_map" in refused["msg"]
