# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The period compliance report: every change of a period from the ledger, who asked, who did it, who approved
it and how that was verified, the gates, overrides, reviews and outcome - exceptions first.

The population is every change whose record was opened, updated or closed in [start, end) - including the
recorder's unattributed runs (hosts changed without a change record) and drift remediations. The report is
built in one read snapshot up to a head seq and names it (seq and hash), and lists the seq and hash of every
event it rests on, so ``recheck`` (or an auditor with an export) can show it still matches the ledger.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import carries_record, utc_now

from .controls import control_map
from .review import REVIEW_COMPLETED

APPROVAL_RECORDED = "io.changeward.approval.recorded"
APPROVAL_REFUSED = "io.changeward.approval.refused"
CONTROL_REFUSED = "io.changeward.control.refused"
OVERRIDE = "io.changeward.gate.override"
REVIEW_OPENED = "io.changeward.review.opened"
ROLLBACK_DONE = "io.changeward.rollback.completed"
ROLLBACK_FAILED = "io.changeward.rollback.failed"
DRIFT_REFUSED = "io.changeward.drift.refused"
BAD_OUTCOMES = ("failed", "rolled_back", "aborted")
# Exception kinds, most serious first: the order changes are listed in.
SEVERITY = (
    "unattributed run",
    "control refused",
    "override",
    "emergency change",
    "gate failed",
    "failed close",
    "rollback failed",
    "no approval",
    "not closed",
    "drift remediation",
)
FORMAT = "changeward-compliance-report/1"


class ReportBuildError(ChangewardError, ValueError):
    """The report cannot be built truthfully (the ledger does not verify, the period is empty of a ledger...)."""


def _approval(data: Mapping) -> dict:
    a = data.get("approval") if isinstance(data.get("approval"), Mapping) else {}
    method = a.get("method")
    fingerprint = a.get("key_fingerprint")
    if method == "signature":
        verified = "signed statement" + (f", key {fingerprint}" if fingerprint else "")
    else:
        verified = f"{method or 'unknown method'} (no signature)"
    return {
        "approver": a.get("approver"),
        "role": a.get("role"),
        "decision": a.get("decision"),
        "time": a.get("time"),
        "method": method,
        "key_fingerprint": fingerprint,
        "statement_digest": a.get("statement_digest"),
        "verified": verified,
    }


def _refusal(event: Mapping) -> dict:
    data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
    what = data.get("control") or ("approval" if event["type"] == APPROVAL_REFUSED else "control")
    codes = [r.get("code") for r in data.get("refusals") or [] if isinstance(r, Mapping)]
    reasons = [r.get("message") for r in data.get("refusals") or [] if isinstance(r, Mapping)]
    reason = data.get("reason") or "; ".join(str(r) for r in reasons if r) or "; ".join(data.get("reasons") or [])
    approval = data.get("approval") if isinstance(data.get("approval"), Mapping) else {}
    return {
        "time": event.get("time"),
        "type": event["type"],
        "control": what,
        "codes": [c for c in codes if c],
        "by": approval.get("approver"),
        "reason": reason or None,
    }


def _override(event: Mapping) -> dict:
    data = event.get("data") or {}
    return {
        "time": event.get("time"),
        "reference": data.get("reference"),
        "approver": data.get("approver"),
        "role": data.get("role"),
        "justification": data.get("justification"),
        "exemptions": ["blackout", *(data.get("exemptions") or [])],
        "verified": "signed override statement" if data.get("signature") else "unsigned",
    }


def change_row(cid: str, entries: list) -> dict:
    """One change of the report from its events (in seq order, up to the report's head)."""
    record, opened_data = None, {}
    approvals, refusals, overrides, reviews, rollbacks = [], [], [], [], []
    for e in entries:
        ev = e.event
        data = ev.get("data") if isinstance(ev.get("data"), Mapping) else {}
        if carries_record(ev):
            record = data["record"]
            if ev["type"] == "io.changeward.change.opened":
                opened_data = data
        if ev["type"] == APPROVAL_RECORDED:
            approvals.append(_approval(data))
        elif ev["type"] in (APPROVAL_REFUSED, CONTROL_REFUSED, DRIFT_REFUSED):
            refusals.append(_refusal(ev))
        elif ev["type"] == OVERRIDE:
            overrides.append(_override(ev))
        elif ev["type"] == REVIEW_OPENED:
            reviews.append({"opened": ev.get("time"), "kind": data.get("kind"), "status": "open", "id": ev.get("id")})
        elif ev["type"] == REVIEW_COMPLETED:
            for r in reviews:
                if r["kind"] == data.get("kind") or data.get("review_event_id") == r["id"]:
                    r.update(status="completed", completed=ev.get("time"), by=data.get("by"))
        elif ev["type"] in (ROLLBACK_DONE, ROLLBACK_FAILED):
            rollbacks.append({"time": ev.get("time"), "result": ev["type"].rsplit(".", 1)[1]})
    record = record or {}
    signed = {(a["approver"] or "").casefold() for a in approvals}
    for a in record.get("approvers") or []:  # approvers only the record names (older changes): said as such
        if str(a.get("name", "")).casefold() not in signed:
            approvals.append(
                {
                    "approver": a.get("name"),
                    "role": a.get("role"),
                    "decision": a.get("decision"),
                    "time": a.get("time"),
                    "method": a.get("method"),
                    "key_fingerprint": None,
                    "statement_digest": None,
                    "verified": "named in the change record only (no approval event)",
                }
            )
    gates = [
        {
            "gate": g.get("gate"),
            "decision": g.get("decision"),
            "reason": g.get("reason"),
            "overridden": g.get("decision") == "waived" or any(g.get("gate") in o["exemptions"] for o in overrides),
        }
        for g in record.get("gate_decisions") or []
    ]
    unattributed = bool(opened_data.get("unattributed")) or cid.startswith("unattributed-")
    drift = isinstance(opened_data.get("plan"), Mapping)
    row = {
        "change_id": cid,
        "type": record.get("type"),
        "summary": record.get("summary"),
        "requester": record.get("requester"),
        "implementer": record.get("implementer"),
        "targets": len(record.get("targets") or []),
        "risk": (record.get("risk") or {}).get("level"),
        "opened_at": record.get("opened_at"),
        "closed_at": record.get("closed_at"),
        "status": record.get("status"),
        "outcome": record.get("outcome"),
        "observations": [o if isinstance(o, str) else o.get("text") for o in record.get("observations") or []],
        "approvals": approvals,
        "gates": gates,
        "refusals": refusals,
        "overrides": overrides,
        "reviews": reviews,
        "rollbacks": rollbacks,
        "rings": [{"name": r.get("name"), "status": r.get("status")} for r in record.get("rings") or []],
        "unattributed": unattributed,
        "drift_remediation": drift,
        "evidence": [{"seq": e.seq, "hash": e.hash, "type": e.event["type"]} for e in entries],
    }
    row["exceptions"] = exceptions(row)
    return row


def exceptions(row: Mapping) -> list:
    """What an auditor looks at first in this change, most serious first: each {kind, detail}."""
    out = []
    if row["unattributed"]:
        out.append({"kind": "unattributed run", "detail": "hosts were changed by a run without a change record"})
    for r in row["refusals"]:
        out.append({"kind": "control refused", "detail": f"{r['control']}: {r['reason'] or 'refused'}"})
    for o in row["overrides"]:
        out.append(
            {
                "kind": "override",
                "detail": f"{', '.join(o['exemptions'])} overridden by {o['approver']} ({o['role']}): "
                f"{o['justification'] or 'no justification'}",
            }
        )
    if row["type"] == "emergency":
        pending = [r for r in row["reviews"] if r["status"] != "completed"]
        detail = (
            "no review was opened"
            if not row["reviews"]
            else (f"{len(pending)} review(s) still open" if pending else "reviewed after the fact")
        )
        out.append({"kind": "emergency change", "detail": detail})
    for g in row["gates"]:
        if g["decision"] == "fail":
            out.append({"kind": "gate failed", "detail": f"{g['gate']}: {g['reason'] or 'failed'}"})
    if row["outcome"] in BAD_OUTCOMES:
        out.append({"kind": "failed close", "detail": f"closed {row['outcome']}"})
    for r in row["rollbacks"]:
        if r["result"] == "failed":
            out.append({"kind": "rollback failed", "detail": f"at {r['time']}"})
    if row["status"] != "closed":
        out.append({"kind": "not closed", "detail": "the change was still open when the report was built"})
    if row["drift_remediation"]:
        out.append({"kind": "drift remediation", "detail": row["summary"] or "drift remediation"})
    if (
        row["type"] == "normal"
        and not row["unattributed"]
        and not row["drift_remediation"]
        and not any(a["decision"] == "approved" for a in row["approvals"])
    ):
        out.append({"kind": "no approval", "detail": "a normal change with no approval recorded"})
    return out


def population(ledger, start_time: str, end_time: str, through_seq: int) -> tuple:
    """(change ids in the period, event type counts in the period), up to through_seq."""
    ids, counts = {}, Counter()
    for e in ledger.iter_events(start_time=start_time, end_time=end_time, before_seq=through_seq + 1):
        counts[e.event["type"]] += 1
        if carries_record(e.event):
            ids.setdefault(e.event["subject"], None)
    return list(ids), counts


def build(ledger, span: Mapping, *, verification: Mapping, ledger_name: str, through_seq: int | None = None) -> dict:
    """The report of period ``span`` ({label, start_time, end_time}) over ``ledger``, as a JSON-able dict.

    verification: the ledger_verify result the report rests on (it must be valid).
    """
    if not verification.get("valid"):
        raise ReportBuildError(
            f"ledger {ledger_name} does not verify ({verification.get('problems_total', '?')} problem(s)): a report "
            "built on it would not be evidence - run ledger_verify and resolve it first"
        )
    with ledger.snapshot():
        head_seq, _head_hash = ledger.head()
        through = head_seq if through_seq is None else through_seq
        if through > head_seq or through < 0:
            raise ReportBuildError(f"through_seq {through} is beyond the ledger's head {head_seq}")
        at = ledger.entry(through) if through else None
        ids, counts = population(ledger, span["start_time"], span["end_time"], through)
        rows = [change_row(cid, ledger.events(subject=cid, before_seq=through + 1)) for cid in ids]
        span_seqs = ledger.seq_span(span["start_time"], span["end_time"])
    severity = SEVERITY
    rows.sort(
        key=lambda r: (
            not r["exceptions"],
            min((severity.index(x["kind"]) for x in r["exceptions"] if x["kind"] in severity), default=len(severity)),
            r["opened_at"] or "",
            r["change_id"],
        )
    )
    evidence = hashlib.sha256()
    for r in rows:
        for e in r["evidence"]:
            evidence.update(f"{e['seq']} {e['hash']}\n".encode())
    summary = {
        "changes": len(rows),
        "with_exceptions": sum(1 for r in rows if r["exceptions"]),
        "by_type": dict(Counter(r["type"] or "unknown" for r in rows)),
        "by_outcome": dict(Counter(r["outcome"] or "open" for r in rows)),
        "unattributed_runs": sum(1 for r in rows if r["unattributed"]),
        "emergency": sum(1 for r in rows if r["type"] == "emergency"),
        "refusals": sum(len(r["refusals"]) for r in rows),
        "overrides": sum(len(r["overrides"]) for r in rows),
        "approvals_signed": sum(1 for r in rows for a in r["approvals"] if a["method"] == "signature"),
        "approvals_unsigned": sum(1 for r in rows for a in r["approvals"] if a["method"] != "signature"),
    }
    return {
        "format": FORMAT,
        "generated_at": utc_now(),
        "period": dict(span),
        "ledger": {
            "name": ledger_name,
            "ledger_id": verification.get("ledger_id"),
            "through_seq": through,
            "through_hash": at.hash if at is not None else None,
            "period_first_seq": span_seqs[0] if span_seqs else None,
            "period_last_seq": span_seqs[1] if span_seqs else None,
            "verified": {
                k: verification.get(k) for k in ("valid", "events", "signed_through", "checkpoints", "last_seq")
            },
            "evidence_digest": "sha256:" + evidence.hexdigest(),
        },
        "summary": summary,
        "controls": control_map(counts),
        "changes": rows,
    }


def recheck(ledger, report: Mapping) -> list:
    """Problems found re-deriving ``report`` from the ledger: [] when it still matches (same head, same population,
    every event it rests on unchanged). Fails closed: a report of another format is a problem, not a pass."""
    if report.get("format") != FORMAT:
        return [f"not a {FORMAT} report"]
    problems = []
    info = report.get("ledger") or {}
    through = info.get("through_seq")
    if not isinstance(through, int) or isinstance(through, bool):
        return ["the report names no through_seq"]
    with ledger.snapshot():
        at = ledger.entry(through) if through else None
        if through and (at is None or at.hash != info.get("through_hash")):
            problems.append(f"the ledger's event {through} is not the one the report was built to (hash differs)")
        period = report.get("period") or {}
        ids, _counts = population(ledger, period.get("start_time"), period.get("end_time"), through)
        reported = [c.get("change_id") for c in report.get("changes") or []]
        for cid in sorted(set(ids) - set(reported)):
            problems.append(f"change {cid} is in the period but not in the report")
        for cid in sorted(set(reported) - set(ids)):
            problems.append(f"change {cid} is in the report but not in the period")
        for change in report.get("changes") or []:
            for e in change.get("evidence") or []:
                entry = ledger.entry(e.get("seq")) if isinstance(e.get("seq"), int) else None
                if (
                    entry is None
                    or entry.hash != e.get("hash")
                    or entry.event.get("subject") != change.get("change_id")
                ):
                    problems.append(f"change {change.get('change_id')}: event {e.get('seq')} differs from the ledger")
        for change in report.get("changes") or []:
            if change.get("change_id") in ids:
                again = change_row(
                    change["change_id"], ledger.events(subject=change["change_id"], before_seq=through + 1)
                )
                if again != dict(change):
                    problems.append(f"change {change['change_id']}: its row differs from what the ledger gives")
    return problems


__all__ = ["FORMAT", "ReportBuildError", "build", "change_row", "exceptions", "recheck"]
