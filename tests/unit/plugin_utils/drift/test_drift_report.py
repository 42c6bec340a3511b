"""The report: host status from two detectors, no data is never in sync, grouping, exit codes, schema."""

import json
from pathlib import Path

import pytest
from drift_fixtures import LABELS, NOW, UNREACHABLE, check_doc, check_host, finding, scan

from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift import markdown, schema
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.errors import DriftInputError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.report import build_report

REPO = Path(__file__).resolve().parents[4]


def report(scans=None, check=None, detectors=("scan",), **kw):
    return build_report(LABELS, detectors=list(detectors), run_id="DRIFT-T", scans=scans, check=check, now=NOW, **kw)


def all_in_sync():
    return {h: scan() for h in LABELS}


def test_in_sync_fleet_exits_0():
    r = report(all_in_sync())
    assert r["status"] == "in_sync" and r["exit_code"] == 0
    assert {h["status"] for h in r["hosts"].values()} == {"in_sync"}
    assert schema.validate(r) == []


def test_drift_exits_2_and_only_drifted_hosts_have_findings():
    scans = all_in_sync()
    scans["dc-1"] = scan([finding(), finding("service", "svc", "state", "running", "stopped")])
    r = report(scans)
    assert r["exit_code"] == 2 and r["status"] == "drifted"
    assert [n for n, h in r["hosts"].items() if h["findings"]] == ["dc-1"]
    assert r["summary"]["by_class"]["file"] == 1 and r["summary"]["by_class"]["service"] == 1
    assert len({f["id"] for f in r["hosts"]["dc-1"]["findings"]}) == 2
    assert schema.validate(r) == []


@pytest.mark.parametrize(
    "result, reason",
    [
        (None, "no scan result"),
        (UNREACHABLE, "unreachable"),
        ({"failed": True, "msg": "baseline files[0]: bad"}, "scan failed"),
        ({"skipped": True, "skip_reason": "Conditional result was False"}, "scan skipped"),
        ({"changed": False, "stdout": "something else"}, "not a drift_scan result"),
        (scan(items=0), "declared nothing"),
        (scan(unknown=[{"class": "package", "item": "x", "reason": "no package manager"}]), "no package manager"),
    ],
)
def test_no_or_bad_evidence_is_unknown_never_in_sync(result, reason):
    scans = all_in_sync()
    scans["edge-1"] = result
    if result is None:
        del scans["edge-1"]
    r = report(scans)
    h = r["hosts"]["edge-1"]
    assert h["status"] == "unknown" and reason in h["unknown"][0]["reason"]
    assert r["exit_code"] == 1 and r["status"] == "unknown"
    assert schema.validate(r) == []


def test_unreachable_host_is_unknown_and_counted():
    scans = all_in_sync()
    scans["edge-1"] = UNREACHABLE
    r = report(scans)
    assert r["hosts"]["edge-1"]["reachable"] is False and r["summary"]["unreachable"] == 1


def test_drift_known_beats_partly_unknown():
    scans = all_in_sync()
    scans["dc-1"] = scan([finding()], [{"class": "package", "item": "x", "reason": "r"}])
    r = report(scans)
    assert r["hosts"]["dc-1"]["status"] == "drifted" and len(r["hosts"]["dc-1"]["unknown"]) == 1
    assert r["exit_code"] == 2


def test_two_detectors_one_report():
    scans = all_in_sync()
    hosts = {h: check_host() for h in LABELS}
    hosts["cloud-a"] = check_host(
        changed=[
            {
                "class": "file",
                "item": "/etc/x",
                "task": "write",
                "action": "ansible.builtin.copy",
                "diff": "--- a\n",
                "diff_sha256": "0" * 64,
                "diff_hidden": False,
            }
        ]
    )
    hosts["cloud-b"] = check_host(
        unevaluable=[{"class": "task", "item": "raw", "task": "raw", "reason": "not evaluable in check mode: ..."}]
    )
    del hosts["dc-1"]
    r = report(scans, check_doc("DRIFT-T", hosts), detectors=("scan", "check"), check_run_id="DRIFT-T")
    assert r["hosts"]["cloud-a"]["status"] == "drifted" and r["hosts"]["cloud-a"]["detectors"] == {
        "scan": "in_sync",
        "check": "drifted",
    }
    assert r["hosts"]["cloud-b"]["status"] == "unknown"
    assert (
        r["hosts"]["dc-1"]["status"] == "unknown"
        and "no check-mode result" in r["hosts"]["dc-1"]["unknown"][0]["reason"]
    )
    assert r["hosts"]["edge-1"]["status"] == "in_sync"
    assert schema.validate(r) == []
    no_diffs = report(scans, check_doc("DRIFT-T", hosts), detectors=("scan", "check"), include_diffs=False)
    assert no_diffs["hosts"]["cloud-a"]["findings"][0]["diff"] is None


def test_stale_or_foreign_check_evidence_is_refused():
    with pytest.raises(DriftInputError, match="stale"):
        report(check=check_doc("DRIFT-OLD", {}), detectors=("check",), check_run_id="DRIFT-NOW")
    with pytest.raises(DriftInputError, match="not a changeward-drift-check/1"):
        report(check={"hosts": {}}, detectors=("check",))


@pytest.mark.parametrize(
    "kw, match",
    [({"detectors": []}, "detectors"), ({"detectors": ["magic"]}, "detectors"), ({"scans": None}, "no scan results")],
)
def test_bad_requests(kw, match):
    args = {"detectors": ["scan"], "run_id": "R", "scans": {}, "now": NOW}
    args.update(kw)
    with pytest.raises(DriftInputError, match=match):
        build_report(LABELS, **args)
    with pytest.raises(DriftInputError, match="no target hosts"):
        build_report({}, detectors=["scan"], run_id="R", scans={}, now=NOW)


def test_groups_by_env_type_region_and_site():
    scans = all_in_sync()
    scans["cloud-b"] = scan([finding()])
    r = report(scans)
    assert [(g["env_type"], g["region"], g["site"], g["hosts"], g["drifted"]) for g in r["groups"]] == [
        ("cloud", "eu-west-1", "eu-west-1a", ["cloud-a"], 0),
        ("cloud", "eu-west-1", "eu-west-1b", ["cloud-b"], 1),
        ("onprem", "onprem-eu", "dc1", ["dc-1", "dc-legacy"], 0),
        ("edge", "eu-central", "edge-site-1", ["edge-1"], 0),
    ]
    assert r["summary"]["by_env_type"]["cloud"] == {"in_sync": 1, "drifted": 1, "unknown": 0}


def test_markdown_names_every_group_and_drifted_host():
    scans = all_in_sync()
    scans["dc-1"] = scan([finding(item="/etc/a|b")])
    scans["edge-1"] = UNREACHABLE
    text = markdown.render(report(scans))
    for needle in (
        "## cloud",
        "## onprem",
        "## edge",
        "### dc-1 (drifted)",
        "/etc/a\\|b",
        "unreachable",
        "exit code 1",
    ):
        assert needle in text


def test_schema_file_in_docs_is_the_schema_the_code_validates_with():
    on_disk = json.loads((REPO / "docs" / "schemas" / "drift-report.schema.json").read_text())
    assert on_disk == schema.SCHEMA


def test_schema_rejects_what_the_report_never_contains():
    r = report(all_in_sync())
    r["hosts"]["dc-1"]["status"] = "fine"
    r["exit_code"] = 3
    problems = schema.validate(r)
    assert any("hosts/dc-1/status" in p for p in problems) and any(p.startswith("exit_code") for p in problems)
