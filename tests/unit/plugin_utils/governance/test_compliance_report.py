"""The period compliance report: population, approvers and how verified, exceptions first, control map, recheck."""

import csv
import io
import json

import pytest

from ansible_collections.changeward.hybrid.plugins.plugin_utils.governance import controls, period, render, report
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api, model

KEY = "test-ledger-key-0123456789abcdef"
START, END = "2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z"
SPAN = {"label": "FY2026-Q4", "start_time": START, "end_time": END}


def at(day, hour=10):
    return f"2026-{11 if day <= 30 else 12}-{(day - 1) % 30 + 1:02d}T{hour:02d}:00:00Z"


def put(ledger, event_type, subject, data, when):
    return ledger.append(model.new_event(event_type, subject, data, source="urn:changeward:test", time=when))


def opened(ledger, cid, ctype, summary, requester, when, implementer=None, extra=None, gates=()):
    record = model.new_record(
        cid, ctype, summary, requester, opened_at=when, implementer=implementer, gate_decisions=list(gates)
    )
    put(ledger, model.CHANGE_OPENED, cid, {**(extra or {}), "record": record}, when)
    return record


def closed(ledger, record, outcome, when, observations=("done",)):
    final = model.close_record(record, outcome, list(observations))
    final["closed_at"] = when
    put(ledger, model.CHANGE_CLOSED, record["id"], {"record": final}, when)


def approve(ledger, record, approver, role, when, method="signature"):
    approval = {
        "approver": approver,
        "role": role,
        "decision": "approved",
        "time": when,
        "method": method,
        "key_fingerprint": "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" if method == "signature" else None,
        "statement_digest": "sha256:" + "1" * 64,
    }
    record = {**record, "approvers": [*record["approvers"], {"name": approver, "role": role, "decision": "approved"}]}
    put(ledger, report.APPROVAL_RECORDED, record["id"], {"approval": approval, "record": record}, when)
    return record


def fill(ledger):
    """Before the quarter one change; in it a good release, a bad one, an emergency change, an unattributed run,
    a drift remediation, an unapproved change left open."""
    old = opened(ledger, "CHG-OLD", "normal", "last quarter", "alice", "2026-09-30T23:59:59.5Z")
    closed(ledger, old, "successful", "2026-09-30T23:59:59.9Z")
    good = opened(
        ledger,
        "CHG-GOOD",
        "normal",
        "release 1.4 (good)",
        "alice",
        at(2),
        implementer="carol",
        gates=[{"gate": "risk", "decision": "pass"}, {"gate": "canary", "decision": "pass"}],
    )
    good = approve(ledger, good, "bob", "peer", at(2, 11))
    closed(ledger, good, "successful", at(3))
    bad = opened(
        ledger,
        "CHG-BAD",
        "normal",
        "release 1.5 (bad)",
        "alice",
        at(5),
        implementer="carol",
        gates=[{"gate": "canary", "decision": "fail", "reason": "error ratio 4x baseline"}],
    )
    put(
        ledger,
        report.APPROVAL_REFUSED,
        "CHG-BAD",
        {
            "stage": "record",
            "approval": {"approver": "alice"},
            "refusals": [{"code": "self_approval", "message": "alice requested change CHG-BAD and cannot approve it"}],
        },
        at(5, 11),
    )
    bad = approve(ledger, bad, "bob", "peer", at(5, 12))
    put(ledger, report.ROLLBACK_DONE, "CHG-BAD", {"ring": "canary"}, at(5, 14))
    closed(ledger, bad, "rolled_back", at(5, 15), ["canary rolled back"])
    emerg = opened(
        ledger,
        "CHG-EMERG",
        "emergency",
        "hotfix in the freeze",
        "dave",
        at(40),
        implementer="dave",
        gates=[{"gate": "blackout", "decision": "waived", "reason": "emergency override"}],
    )
    put(
        ledger,
        report.OVERRIDE,
        "CHG-EMERG",
        {
            "reference": "INC-7",
            "approver": "erin",
            "role": "incident_commander",
            "justification": "outage",
            "exemptions": ["error_budget"],
            "signature": "-----BEGIN SSH SIGNATURE-----",
        },
        at(40, 11),
    )
    put(ledger, report.REVIEW_OPENED, "CHG-EMERG", {"kind": "emergency_override", "status": "open"}, at(40, 11))
    closed(ledger, emerg, "successful", at(40, 13))
    run = opened(
        ledger,
        "unattributed-r1",
        "normal",
        "unattributed run of site.yml",
        "root",
        at(41),
        implementer="root",
        extra={"run_id": "r1", "unattributed": True},
    )
    closed(ledger, run, "successful", at(41, 11))
    drift = opened(
        ledger,
        "DRIFT-1",
        "standard",
        "Drift remediation (d1): restore 2 host(s)",
        "changeward",
        at(42),
        extra={"run_id": "d1", "plan": {"remediate": ["web1", "web2"]}},
    )
    closed(ledger, drift, "successful", at(42, 11))
    opened(ledger, "CHG-OPEN", "normal", "left open", "frank", at(50))
    put(ledger, "io.changeward.breaker.opened", "breaker:web", {"service": "web"}, at(43))


@pytest.fixture
def ledger(tmp_path, monkeypatch):
    for name in ("CHANGEWARD_LEDGER", "CHANGEWARD_LEDGER_KEY"):
        monkeypatch.delenv(name, raising=False)
    with api.open_ledger(str(tmp_path / "ledger.db"), key=KEY, checkpoint_interval=5) as led:
        fill(led)
        yield led


def built(led, **kw):
    return report.build(led, SPAN, verification=led.verify(), ledger_name="test", **kw)


def by_id(rep):
    return {c["change_id"]: c for c in rep["changes"]}


def test_the_population_is_every_change_of_the_period_and_nothing_else(ledger):
    rep = built(ledger)
    assert set(by_id(rep)) == {"CHG-GOOD", "CHG-BAD", "CHG-EMERG", "unattributed-r1", "DRIFT-1", "CHG-OPEN"}
    assert rep["summary"]["changes"] == 6 and rep["summary"]["unattributed_runs"] == 1
    assert rep["ledger"]["through_seq"] == ledger.head()[0] and rep["ledger"]["through_hash"] == ledger.head()[1]
    assert rep["ledger"]["verified"]["valid"] is True


def test_each_change_names_requester_implementer_approvers_roles_and_how_they_were_verified(ledger):
    good = by_id(built(ledger))["CHG-GOOD"]
    assert (good["requester"], good["implementer"], good["outcome"]) == ("alice", "carol", "successful")
    assert [(a["approver"], a["role"], a["verified"]) for a in good["approvals"]] == [
        ("bob", "peer", "signed statement, key SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
    ]
    assert [g["gate"] for g in good["gates"]] == ["risk", "canary"] and good["exceptions"] == []


def test_exceptions_come_first_most_serious_first(ledger):
    rep = built(ledger)
    order = [c["change_id"] for c in rep["changes"]]
    assert order == ["unattributed-r1", "CHG-BAD", "CHG-EMERG", "CHG-OPEN", "DRIFT-1", "CHG-GOOD"]
    kinds = {c["change_id"]: [x["kind"] for x in c["exceptions"]] for c in rep["changes"]}
    assert kinds["CHG-BAD"] == ["control refused", "gate failed", "failed close"]
    assert "self_approval" in by_id(rep)["CHG-BAD"]["refusals"][0]["codes"]
    assert kinds["CHG-EMERG"] == ["override", "emergency change"]
    assert by_id(rep)["CHG-EMERG"]["exceptions"][1]["detail"] == "1 review(s) still open"
    assert by_id(rep)["CHG-EMERG"]["gates"][0]["overridden"] is True
    assert kinds["CHG-OPEN"] == ["not closed", "no approval"] and kinds["DRIFT-1"] == ["drift remediation"]


def test_a_completed_review_is_shown_as_reviewed(ledger):
    put(ledger, report.REVIEW_COMPLETED, "CHG-EMERG", {"kind": "emergency_override", "by": "erin"}, at(45))
    emerg = by_id(built(ledger))["CHG-EMERG"]
    assert emerg["reviews"][0]["status"] == "completed"
    assert emerg["exceptions"][1]["detail"] == "reviewed after the fact"


def test_the_control_map_counts_evidence_and_says_when_there_is_none(ledger):
    ctl = {c["control"]: c for c in built(ledger)["controls"]}
    assert {c[0] for c in controls.CONTROLS} == {"SOX ITGC", "HIPAA", "PCI DSS v4.0"}
    assert ctl["CM-1 Authorisation"]["evidence"] == {
        "io.changeward.approval.recorded": 2,
        "io.changeward.approval.refused": 1,
    }
    assert ctl["CM-4 Emergency changes"]["status"] == "evidenced"
    assert ctl["CM-6 Detection of unauthorised change"]["status"] == "no evidence in period"  # no drift.* events


def test_recheck_matches_as_the_ledger_grows_and_names_what_was_changed(ledger):
    rep = json.loads(render.to_json(built(ledger)))
    put(ledger, report.REVIEW_COMPLETED, "CHG-EMERG", {"kind": "emergency_override"}, at(45))  # after its head
    assert report.recheck(ledger, rep) == []
    dropped = {**rep, "changes": [c for c in rep["changes"] if c["change_id"] != "unattributed-r1"]}
    assert report.recheck(ledger, dropped) == ["change unattributed-r1 is in the period but not in the report"]
    edited = json.loads(json.dumps(rep))
    by_id(edited)["CHG-GOOD"]["approvals"][0]["approver"] = "mallory"
    assert report.recheck(ledger, edited) == ["change CHG-GOOD: its row differs from what the ledger gives"]
    assert report.recheck(ledger, {"format": "other"}) == [f"not a {report.FORMAT} report"]


def test_a_ledger_that_does_not_verify_gives_no_report(ledger):
    with pytest.raises(report.ReportBuildError, match="does not verify"):
        report.build(ledger, SPAN, verification={"valid": False, "problems_total": 2}, ledger_name="test")


def test_csv_has_a_row_per_change_and_defuses_formulas(ledger):
    opened(ledger, "CHG-CSV", "standard", "=HYPERLINK(\"http://x\")", "alice", at(51))
    rows = list(csv.DictReader(io.StringIO(render.to_csv(built(ledger)))))
    assert len(rows) == 7 and tuple(rows[0]) == render.CSV_COLUMNS
    assert {r["change_id"]: r for r in rows}["CHG-CSV"]["summary"].startswith("'=")
    bad = {r["change_id"]: r for r in rows}["CHG-BAD"]
    assert bad["approvers"] == "bob (peer, approved)" and "failed close: closed rolled_back" in bad["exceptions"]


def test_html_escapes_ledger_text_and_shows_the_evidence_base(ledger):
    opened(ledger, "CHG-XSS", "standard", "<script>alert(1)</script>", "alice", at(51))
    html = render.to_html(built(ledger))
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert ledger.head()[1] in html and "Exceptions (6)" in html and "164.312(b) Audit controls" in html


@pytest.mark.parametrize(
    ("name", "start_month", "want"),
    [
        ("FY2027-Q1", 7, ("2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z")),
        ("2026Q4", 1, ("2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z")),
        ("FY2027-Q2", 10, ("2027-01-01T00:00:00Z", "2027-04-01T00:00:00Z")),
        ("FY2027", 4, ("2026-04-01T00:00:00Z", "2027-04-01T00:00:00Z")),
    ],
)
def test_fiscal_periods(name, start_month, want):
    got = period.period(name, fiscal_year_start=start_month)
    assert (got["start_time"], got["end_time"]) == want


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Q4"}, "period must look like"),
        ({"name": "2026Q1", "fiscal_year_start": 13}, "fiscal_year_start must be a month"),
        ({"start_time": "2026-01-01T00:00:00Z"}, "needs a period"),
        ({"start_time": "2026-02-01T00:00:00Z", "end_time": "2026-01-01T00:00:00Z"}, "must be after"),
        ({"name": "2026Q1", "start_time": "2026-01-01T00:00:00Z"}, "not both"),
    ],
)
def test_a_period_that_cannot_be_read_is_refused(kwargs, message):
    name = kwargs.pop("name", None)
    with pytest.raises(period.PeriodError, match=message):
        period.period(name, **kwargs)
