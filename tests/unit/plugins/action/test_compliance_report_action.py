"""compliance_report: the files of a period, fail-closed without the key, recheck through the action."""

import json
import sys
from pathlib import Path

import pytest
from action_runner import run_action

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugin_utils" / "governance"))
from test_compliance_report import KEY, fill

from ansible_collections.changeward.hybrid.plugins.action.compliance_report import ActionModule
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api


@pytest.fixture
def ledger_path(tmp_path, monkeypatch):
    for name in ("CHANGEWARD_LEDGER", "CHANGEWARD_LEDGER_KEY"):
        monkeypatch.delenv(name, raising=False)
    path = str(tmp_path / "ledger.db")
    with api.open_ledger(path, key=KEY, checkpoint_interval=5) as led:
        fill(led)
    return path


def run(**args):
    return run_action(ActionModule, "compliance_report", args)


def test_a_quarter_is_written_as_html_csv_and_json_and_rechecks(ledger_path, tmp_path):
    out = run(ledger=ledger_path, key=KEY, period="FY2027-Q2", fiscal_year_start=7, dest=str(tmp_path / "r"))
    assert not out.get("failed"), out
    assert out["period"]["start_time"] == "2026-10-01T00:00:00Z" and out["summary"]["changes"] == 6
    assert sorted(out["files"]) == ["csv", "html", "json"]
    assert all(Path(p).name.startswith("compliance-FY2027-Q2.") for p in out["files"].values())
    assert out["exceptions"][0] == {
        "change_id": "unattributed-r1",
        "kind": "unattributed run",
        "detail": "hosts were changed by a run without a change record",
    }
    again = run(ledger=ledger_path, recheck=out["files"]["json"])
    assert again["valid"] and not again.get("failed"), again
    rep = json.loads(Path(out["files"]["json"]).read_text())
    rep["changes"] = rep["changes"][1:]
    Path(out["files"]["json"]).write_text(json.dumps(rep))
    tampered = run(ledger=ledger_path, recheck=out["files"]["json"])
    assert tampered["failed"] and "unattributed-r1 is in the period but not in the report" in tampered["msg"]


def test_without_the_key_there_is_no_report(ledger_path, tmp_path):
    out = run(ledger=ledger_path, period="2026Q4", dest=str(tmp_path / "r"))
    assert out["failed"] and "key" in out["msg"] and not (tmp_path / "r").exists()


def test_a_period_that_cannot_be_read_fails_with_a_reason(ledger_path, tmp_path):
    out = run(ledger=ledger_path, key=KEY, period="last quarter", dest=str(tmp_path / "r"))
    assert out["failed"] and "period must look like" in out["msg"]
