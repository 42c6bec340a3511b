"""The declared state of a host (which roles, with which vars), what each detector covers of it, where reports
go, and the plan's rule that remediation only runs roles whose changes can be snapshotted first."""

import pytest
from drift_fixtures import LABELS, NOW, check_doc, check_host, finding, scan

from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.errors import DriftInputError, DriftPolicyError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.paths import report_dir
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.policy import drift_policy, plan, verify
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.report import build_report, check_segment
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.state import declared_state, unscanned

SYSCTL = {"role": "sysctl_setting", "vars": {"sysctl_setting_values": {"net.core.somaxconn": 4096}}}


def test_the_inventory_declares_roles_with_vars_per_host():
    state = declared_state([SYSCTL, "nginx_site"])
    assert state["roles"] == ["sysctl_setting", "nginx_site"]
    assert state["vars"] == {"sysctl_setting_values": {"net.core.somaxconn": 4096}}
    assert state["source"] == "changeward_drift_state"
    assert state["entries"][1] == {"role": "nginx_site", "vars": {}}


@pytest.mark.parametrize(
    "run_roles", [["nginx_site", "changeward.hybrid.drift_baseline"], "nginx_site, changeward.hybrid.drift_baseline"]
)
def test_the_runs_roles_stand_for_every_target_a_survey_gives_them_as_one_string(run_roles):
    state = declared_state([SYSCTL], run_roles)
    assert state["roles"] == ["nginx_site", "changeward.hybrid.drift_baseline"] and state["source"] == "drift_roles"


def test_nothing_declared_gives_no_roles():
    assert declared_state(None, None)["roles"] == []
    assert declared_state(None, "")["roles"] == []
    assert declared_state([], None)["roles"] == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"role": "nginx_site"}, "must be a list"),
        ([{"role": "nginx site"}], r"changeward_drift_state\[0\]\.role: 'nginx site' is not a role name"),
        ([{"role": "a.b"}], "is not a role name"),
        ([{"role": "nginx_site", "var": {}}], "unknown key"),
        ([{"role": "nginx_site", "vars": ["x"]}], "vars: must be a mapping"),
        ([{"role": "nginx_site", "vars": {"ansible_become": True}}], "ansible_become is reserved"),
        ([{"role": "nginx_site", "vars": {"changeward_policy": {}}}], "changeward_policy is reserved"),
        ([{"role": "nginx_site", "vars": {"drift_targets": "all"}}], "drift_targets is reserved"),
        ([{"role": "nginx_site", "vars": {"drift_declared": {}}}], "drift_declared is reserved"),
        ([{"role": "nginx_site", "vars": {"not-a-name": 1}}], "is not a variable name"),
        (["nginx_site", "nginx_site"], "listed twice"),
        (
            [{"role": "a_role", "vars": {"port": 80}}, {"role": "b_role", "vars": {"port": 81}}],
            r"\[1\]\.vars: port is declared twice with different values",
        ),
    ],
)
def test_a_declaration_that_cannot_be_read_is_refused_naming_the_entry(value, message):
    with pytest.raises(DriftInputError, match=message):
        declared_state(value)


def test_only_drift_baseline_or_an_own_baseline_stands_for_roles_in_a_scan():
    roles = ["changeward.hybrid.drift_baseline", "sysctl_setting"]
    assert unscanned(roles, hand_written_baseline=False) == ["sysctl_setting"]
    assert unscanned(roles, hand_written_baseline=True) == []


# -- what the report makes of it ------------------------------------------------------------------
def declared(roles, scan_baseline=None):
    baseline = any(r.endswith("drift_baseline") for r in roles)
    return {
        "roles": roles,
        "unscanned": [r for r in roles if not r.endswith("drift_baseline")],
        "scan_baseline": baseline if scan_baseline is None else scan_baseline,
    }


HOSTS = {h: LABELS[h] for h in ("cloud-a", "cloud-b", "dc-1")}


def test_a_host_with_no_declared_state_is_unknown_never_in_sync():
    check = check_doc("R", {h: check_host() for h in HOSTS})
    states = {"cloud-a": declared(["sysctl_setting"]), "cloud-b": declared([]), "dc-1": declared(["nginx_site"])}
    r = build_report(HOSTS, detectors=["check"], run_id="R", check=check, check_run_id="R", declared=states, now=NOW)
    assert r["hosts"]["cloud-a"]["status"] == "in_sync"
    assert r["hosts"]["cloud-b"]["status"] == "unknown"
    assert "no declared state" in r["hosts"]["cloud-b"]["unknown"][0]["reason"]
    assert r["exit_code"] == 1


def test_a_scan_alone_never_calls_roles_it_has_no_baseline_for_in_sync():
    states = {
        "cloud-a": declared(["changeward.hybrid.drift_baseline", "sysctl_setting"]),
        "cloud-b": declared(["nginx_site"]),
        "dc-1": declared(["changeward.hybrid.drift_baseline"]),
    }
    scans = {"cloud-a": scan(), "dc-1": scan()}  # cloud-b has no baseline: its scan is skipped
    r = build_report(HOSTS, detectors=["scan"], run_id="R", scans=scans, declared=states, now=NOW)
    assert r["hosts"]["dc-1"]["status"] == "in_sync"
    for host, role in (("cloud-a", "sysctl_setting"), ("cloud-b", "nginx_site")):
        h = r["hosts"][host]
        assert h["status"] == "unknown", host
        assert [u["item"] for u in h["unknown"]] == [role]
        assert "only the check detector evaluates it" in h["unknown"][0]["reason"]


def test_with_the_check_detector_a_host_without_scan_baseline_is_judged_by_the_check():
    states = {h: declared(["sysctl_setting"]) for h in HOSTS}
    changed = {"class": "file", "item": "/etc/sysctl.d/60-changeward.conf", "task": "Write the drop-in file"}
    check = check_doc("R", {"cloud-a": check_host(), "cloud-b": check_host(changed=[changed]), "dc-1": check_host()})
    r = build_report(
        HOSTS,
        detectors=["scan", "check"],
        run_id="R",
        scans={},
        check=check,
        check_run_id="R",
        declared=states,
        now=NOW,
    )
    assert r["hosts"]["cloud-a"]["status"] == "in_sync"
    assert r["hosts"]["cloud-a"]["detectors"] == {"check": "in_sync"}  # the scan looked at nothing here
    assert r["hosts"]["cloud-b"]["status"] == "drifted"
    assert r["hosts"]["cloud-b"]["findings"][0]["item"] == "/etc/sysctl.d/60-changeward.conf"


def test_a_host_whose_declared_state_was_not_read_is_unknown():
    states = {"cloud-a": declared(["changeward.hybrid.drift_baseline"])}
    scans = {h: scan() for h in HOSTS}
    r = build_report(HOSTS, detectors=["scan"], run_id="R", scans=scans, declared=states, now=NOW)
    assert r["hosts"]["cloud-a"]["status"] == "in_sync"
    assert r["hosts"]["cloud-b"]["status"] == "unknown"
    assert r["hosts"]["cloud-b"]["unknown"][0]["reason"] == "its declared state was not read"


# -- the plan -------------------------------------------------------------------------------------
POLICY = drift_policy({"drift": {"auto_remediate": {"classes": ["file", "service"]}}})


def drifted(hosts):
    scans = {h: scan([finding()]) if h in hosts else scan() for h in HOSTS}
    return build_report(HOSTS, detectors=["scan"], run_id="R", scans=scans, now=NOW)


def test_remediation_runs_only_roles_whose_changes_can_be_snapshotted_first():
    r = drifted(["cloud-a", "cloud-b", "dc-1"])
    states = {
        "cloud-a": ["sysctl_setting"],
        "cloud-b": ["changeward.hybrid.drift_baseline", "apt_package"],
        "dc-1": [],
    }
    scopes = {"sysctl_setting": {"paths": ["/etc/sysctl.d/60-changeward.conf"]}, "apt_package": None}
    p = plan(r, POLICY, states, scopes)
    assert p["remediate"] == ["cloud-a"]
    manual = {m["host"]: m["reasons"] for m in p["manual"]}
    assert "apt_package declare no snapshot scope" in manual["cloud-b"][0]
    assert manual["dc-1"] == ["no declared state to restore it with"]
    # without states (a caller of its own) the rule does not apply
    assert plan(r, POLICY)["remediate"] == ["cloud-a", "cloud-b", "dc-1"]


def test_verification_by_re_check_and_re_scan():
    recheck_clean, recheck_drift = check_host(), check_host(changed=[{"class": "file", "item": "/etc/x"}])
    v = verify(["cloud-a", "cloud-b"], None, rechecks={"cloud-a": recheck_clean, "cloud-b": recheck_drift})
    assert v["restored"] == ["cloud-a"] and v["not_restored"][0]["host"] == "cloud-b"
    # a host left out of the re-scans (no scan baseline) is judged by its re-check alone; a missing re-check is not
    v = verify(["cloud-a", "dc-1"], {"dc-1": scan()}, rechecks={"cloud-a": recheck_clean, "dc-1": recheck_clean})
    assert v["restored"] == ["cloud-a", "dc-1"]
    v = verify(["cloud-a"], None, rechecks={})
    assert v["not_restored"] == [{"host": "cloud-a", "reason": "re-scan is unknown: no check-mode result"}]
    with pytest.raises(DriftPolicyError, match="needs a re-scan or a re-check"):
        verify(["cloud-a"], None, None)


def test_the_re_check_is_its_own_segment_of_the_evidence():
    doc = dict(check_doc("R", {"cloud-a": check_host(changed=[{"class": "file", "item": "/etc/x"}])}))
    doc["segments"] = {"verify": {"cloud-a": check_host()}}
    assert check_segment(doc, "R", "verify") == {"cloud-a": check_host()}
    assert check_segment(doc, "R", "other") == {}
    with pytest.raises(DriftInputError, match="stale"):
        check_segment(doc, "R2", "verify")


# -- where reports go -----------------------------------------------------------------------------
def test_reports_go_where_the_scheduled_job_keeps_them(tmp_path):
    runner = {"AWX_ISOLATED_DATA_DIR": "/runner/artifacts/4711", "JOB_ID": "4711", "AWX_HOST": "https://awx"}
    assert report_dir("/srv/drift", runner) == ("/srv/drift", "output_dir")
    assert report_dir(None, dict(runner, CHANGEWARD_DRIFT_REPORT_DIR="/mnt/reports")) == (
        "/mnt/reports",
        "CHANGEWARD_DRIFT_REPORT_DIR",
    )
    assert report_dir(None, runner, ephemeral="an AWX/AAP job (job 4711)") == (
        "/runner/artifacts/4711/changeward-drift",
        "AWX_ISOLATED_DATA_DIR",
    )
    path, source = report_dir(None, {})
    assert source == "default" and path.endswith("/.local/state/changeward/drift")
    with pytest.raises(DriftInputError, match="home directory is thrown away with the job"):
        report_dir(None, {"JOB_ID": "1", "AWX_HOST": "x"}, ephemeral="an AWX/AAP job (job 1)")


def test_the_snapshot_scope_of_a_host_is_what_its_declared_roles_declare():
    from ansible_collections.changeward.hybrid.plugins.action.drift_report import host_scopes

    scopes = {
        "nginx_site": {"paths": ["/etc/nginx/conf.d/changeward-example.conf"]},
        "sysctl_setting": {"paths": ["/etc/sysctl.d/60-changeward.conf"], "services": ["procps"]},
    }
    states = {"cloud-a": ["nginx_site", "sysctl_setting", "changeward.hybrid.drift_baseline"], "dc-1": ["nginx_site"]}
    out = host_scopes(["cloud-a", "dc-1"], states, scopes)
    assert out["cloud-a"] == {
        "paths": ["/etc/nginx/conf.d/changeward-example.conf", "/etc/sysctl.d/60-changeward.conf"],
        "packages": [],
        "services": ["procps"],
    }
    assert out["dc-1"]["paths"] == ["/etc/nginx/conf.d/changeward-example.conf"]
