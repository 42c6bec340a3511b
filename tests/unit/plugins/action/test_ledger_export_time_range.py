"""ledger_export's start_time / end_time: the contiguous chain covering a time range, its window in the header."""

import json
import sys
from pathlib import Path

import pytest
from action_runner import run_action

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugin_utils" / "ledger"))
from ledger_testlib import KEY, fill_for_time_queries

from ansible_collections.changeward.hybrid.plugins.action.ledger_export import ActionModule
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api, verify


@pytest.fixture
def ledger_path(tmp_path, monkeypatch):
    for name in ("CHANGEWARD_LEDGER", "CHANGEWARD_LEDGER_KEY", "CHANGEWARD_LEDGER_CHECKPOINT_INTERVAL"):
        monkeypatch.delenv(name, raising=False)
    path = str(tmp_path / "ledger.db")
    with api.open_ledger(path, key=KEY, checkpoint_interval=50) as ledger:
        fill_for_time_queries(ledger)
    return path


def export(path, dest, **args):
    return run_action(ActionModule, "ledger_export", {"ledger": path, "dest": str(dest), "key": KEY, **args})


def test_a_time_range_export_covers_the_window_and_verifies(ledger_path, tmp_path):
    with api.open_ledger(ledger_path, readonly=True) as ledger:
        want = ledger.events(start_time="2026-03-01T04:00:00Z", end_time="2026-03-01T05:00:00Z")
    out = export(
        ledger_path, tmp_path / "h4.jsonl", start_time="2026-03-01T06:00:00+02:00", end_time=1772341200
    )  # 05:00Z
    assert not out.get("failed"), out
    lines = [json.loads(x) for x in (tmp_path / "h4.jsonl").read_text().splitlines()]
    seqs = [x["seq"] for x in lines if x["record"] == "event"]
    assert seqs[0] == want[0].seq and seqs[-1] == want[-1].seq == out["last_seq"]
    assert lines[0]["window"] == {"start_time": "2026-03-01T04:00:00Z", "end_time": "2026-03-01T05:00:00Z"}
    assert verify.verify(out["dest"], key=KEY)["valid"]


def test_end_time_continues_the_previous_export(ledger_path, tmp_path):
    first = export(ledger_path, tmp_path / "a.jsonl", end_time="2026-03-01T04:00:00Z")
    second = export(
        ledger_path, tmp_path / "b.jsonl", previous=str(tmp_path / "a.jsonl"), end_time="2026-03-01T06:00:00Z"
    )
    assert not first.get("failed") and not second.get("failed"), (first, second)
    header = json.loads((tmp_path / "b.jsonl").read_text().splitlines()[0])
    assert header["start"]["seq"] == first["last_seq"] and header["sequence"] == 2
    assert second["events"] == second["last_seq"] - first["last_seq"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"start_time": "2027-01-01T00:00:00Z"}, "no events recorded in"),
        ({"start_time": "2026-03-01T04:00:00Z", "after_seq": 3}, "cannot be combined"),
        ({"end_time": "2026-03-01"}, "no UTC offset"),
    ],
)
def test_a_window_that_cannot_be_exported_fails_with_a_reason(ledger_path, tmp_path, args, message):
    out = export(ledger_path, tmp_path / "x.jsonl", **args)
    assert out.get("failed") and message in out["msg"], out
    assert not (tmp_path / "x.jsonl").exists()


def test_check_mode_counts_the_range(ledger_path, tmp_path):
    out = run_action(
        ActionModule,
        "ledger_export",
        {
            "ledger": ledger_path,
            "dest": str(tmp_path / "c.jsonl"),
            "start_time": "2026-03-01T04:00:00Z",
            "end_time": "2026-03-01T05:00:00Z",
        },
        check_mode=True,
    )
    with api.open_ledger(ledger_path, readonly=True) as ledger:
        first, last = ledger.seq_span("2026-03-01T04:00:00Z", "2026-03-01T05:00:00Z")
    assert out["events"] == last - first + 1 and not (tmp_path / "c.jsonl").exists()
