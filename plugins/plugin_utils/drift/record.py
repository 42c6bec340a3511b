# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift in the ledger: every finding of a report, and the change records of a remediation.

Events (CloudEvents, docs/ledger.md), subject = the drift run id unless said otherwise:

- io.changeward.drift.detected   one per host that is not in sync or has accepted drift: status,
                                 location, findings (diffs only as sha256), accepted, unknown items;
                                 hosts with many findings get several events (``part``/``parts``)
- io.changeward.drift.reported   one per report: detectors, summary, exit code, hosts by status
- io.changeward.drift.deferred   unreachable hosts of a deferred env_type
- io.changeward.change.opened    the remediation change (type standard, targets = hosts fixed
                                 automatically, with the plan) and, per host for a person without an
                                 open review, a review record (type normal, ``DRIFT-REVIEW-<host>``)
                                 listing what to look at
- io.changeward.drift.review_updated  findings added to a host's open review (subject: the review id);
                                 findings already on it are not repeated
- io.changeward.drift.refused    the remediation change was refused by a gate (then closed aborted)
- io.changeward.drift.verified   re-scan per remediated host, snapshots added to the record
- io.changeward.change.closed    outcome and observations

Diff text never reaches the ledger (it may hold file content); its sha256 does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import CHANGE_ID_RE, new_event, new_record

DETECTED = "io.changeward.drift.detected"
REPORTED = "io.changeward.drift.reported"
DEFERRED = "io.changeward.drift.deferred"
REFUSED = "io.changeward.drift.refused"
VERIFIED = "io.changeward.drift.verified"
REVIEW_UPDATED = "io.changeward.drift.review_updated"
REVIEW_PREFIX = "DRIFT-REVIEW-"
PART_SIZE = 200


def _ledger_finding(f: Mapping) -> dict:
    return {k: v for k, v in f.items() if k != "diff"}


def detection_events(report: Mapping, source: str | None = None) -> list:
    run_id = report["run_id"]
    events = []
    for name, h in sorted(report["hosts"].items()):
        if h["status"] == "in_sync" and not h["accepted"]:
            continue
        findings = [_ledger_finding(f) for f in h["findings"]]
        parts = [findings[i : i + PART_SIZE] for i in range(0, len(findings), PART_SIZE)] or [[]]
        for i, part in enumerate(parts):
            data = {
                "run_id": run_id,
                "host": name,
                "status": h["status"],
                "env_type": h["env_type"],
                "region": h["region"],
                "site": h["site"],
                "reachable": h["reachable"],
                "findings": part,
                "findings_total": len(findings),
                "part": i + 1,
                "parts": len(parts),
            }
            if i == 0:
                data["accepted"] = [_ledger_finding(f) for f in h["accepted"]]
                data["unknown"] = h["unknown"]
            events.append(new_event(DETECTED, run_id, data, source=source))
    by_status = {
        s: sorted(n for n, h in report["hosts"].items() if h["status"] == s) for s in ("in_sync", "drifted", "unknown")
    }
    events.append(
        new_event(
            REPORTED,
            run_id,
            {
                "run_id": run_id,
                "detectors": report["detectors"],
                "status": report["status"],
                "exit_code": report["exit_code"],
                "summary": report["summary"],
                "hosts": by_status,
                "acceptances": {k: [a["id"] for a in report["acceptances"][k]] for k in ("active", "expired")},
            },
            source=source,
        )
    )
    return events


def record_report(ledger, report: Mapping, source: str | None = None) -> int:
    """Append the report's events in one transaction; returns the seq of the last one."""
    return ledger.append_many(detection_events(report, source))[-1].seq


def open_remediation(
    ledger,
    change_id: str,
    report: Mapping,
    the_plan: Mapping,
    gates: Mapping,
    requester: str,
    source: str | None = None,
) -> dict:
    """Open the change for the automatic set and the review record; close the change at once when a gate
    refused it. Returns {change_id, review_id, refused, reasons, seq}."""
    run_id = report["run_id"]
    refusals = [f"{name}: {gate_message(g)}" for name, g in sorted(gates.items()) if gate_blocked(g)]
    out = {"change_id": None, "review_id": None, "refused": bool(refusals), "reasons": refusals, "seq": None}
    plan_data = {"run_id": run_id, "plan": dict(the_plan)}
    if the_plan["remediate"]:
        decisions = [
            {"gate": "drift_policy", "decision": "pass", "reason": "every finding is of a class the policy allows"}
        ]
        for name, g in sorted(gates.items()):
            decision = "fail" if gate_blocked(g) else "pass"
            decisions.append({"gate": name, "decision": decision, "reason": gate_message(g, decision)[:500]})
        record = new_record(
            change_id,
            "standard",
            f"Drift remediation ({run_id}): restore the declared state on {len(the_plan['remediate'])} host(s)",
            requester,
            targets=list(the_plan["remediate"]),
            gate_decisions=decisions,
        )
        out["seq"] = ledger.open_change(record, data=plan_data).seq
        out["change_id"] = change_id
        if refusals:
            ledger.record(REFUSED, change_id, {"run_id": run_id, "reasons": refusals}, source=source)
            out["seq"] = ledger.close_change(
                change_id, "aborted", [f"refused before any host was touched: {r}" for r in refusals], data=plan_data
            ).seq
    reviews = open_reviews(ledger, change_id, report, the_plan, requester, source=source)
    out.update(reviews=reviews, review_id=(reviews["opened"] or [None])[0])
    if reviews["seq"] is not None:
        out["seq"] = reviews["seq"]
    if the_plan["deferred"]:
        data = {"run_id": run_id, "change_id": out["change_id"], "hosts": the_plan["deferred"]}
        out["seq"] = ledger.record(DEFERRED, run_id, data, source=source).seq
    return out


def review_base(host: str) -> str:
    """The id of a host's drift review: DRIFT-REVIEW-<host>, or a digest of a name no change id may hold."""
    candidate = f"{REVIEW_PREFIX}{host}"
    if CHANGE_ID_RE.match(candidate) and len(candidate) <= 120:
        return candidate
    return REVIEW_PREFIX + hashlib.sha256(host.encode("utf-8")).hexdigest()[:24]


def review_keys(host_entry: Mapping) -> dict:
    """{key: what} for what a person has to look at on a host: each finding (by its stable id) and each item
    that could not be evaluated (detector, class and item; the message may differ from run to run)."""
    keys = {}
    for f in host_entry.get("findings") or []:
        keys[f"finding:{f['id']}"] = f"{f['class']} {f['item']} ({f['attribute']}, {f['detector']})"
    for u in host_entry.get("unknown") or []:
        keys[f"unknown:{u['detector']}|{u['class']}|{u['item']}"] = f"{u['class']} {u['item']}: {u['reason']}"[:300]
    if not keys:
        keys[f"status:{host_entry.get('status')}"] = f"host {host_entry.get('status')}"
    return keys


def _current_review(ledger, base: str):
    """(id, record) of the host's latest review, or (the id a new one takes, None) when it has none open."""
    n, latest, latest_id = 1, None, base
    while True:
        rid = base if n == 1 else f"{base}.{n}"
        rec = ledger.get_change(rid)
        if rec is None:
            return (latest_id, latest) if latest is not None and latest["status"] == "open" else (rid, None)
        latest, latest_id, n = rec, rid, n + 1


def _covered(ledger, review_id: str) -> set:
    keys = set()
    for entry in ledger.events(subject=review_id):
        data = entry.event.get("data") or {}
        keys |= set(data.get("review_keys") or [])
    return keys


def open_reviews(
    ledger, change_id: str, report: Mapping, the_plan: Mapping, requester: str, source: str | None = None
) -> dict:
    """One open review record per host for a person, each finding on it once.

    A host with no open review gets one (``DRIFT-REVIEW-<host>``; after a person closed it, ``.2``, ``.3``...).
    A host whose open review already lists every finding and unknown item gets nothing - a nightly run, refused
    or not, does not pile up reviews; new ones are added to that review as an update. Returns {opened,
    updated, unchanged (review ids), seq}."""
    out = {"opened": [], "updated": [], "unchanged": [], "seq": None}
    run_id = report["run_id"]
    for item in the_plan["manual"]:
        host = item["host"]
        keys = review_keys(report["hosts"].get(host) or {})
        review_id, current = _current_review(ledger, review_base(host))
        data = {"run_id": run_id, "change_id": change_id, "host": host, "reasons": list(item["reasons"])}
        if current is None:
            record = new_record(
                review_id,
                "normal",
                f"Drift on {host} needs a person: {'; '.join(item['reasons'])}"[:500],
                requester,
                targets=[host],
            )
            data.update(review_keys=sorted(keys), items=[keys[k] for k in sorted(keys)])
            out["seq"] = ledger.open_change(record, data=data).seq
            out["opened"].append(review_id)
            continue
        new = sorted(set(keys) - _covered(ledger, review_id))
        if not new:
            out["unchanged"].append(review_id)
            continue
        data.update(review_keys=new, items=[keys[k] for k in new])
        out["seq"] = ledger.update_change(review_id, event_type=REVIEW_UPDATED, data=data).seq
        out["updated"].append(review_id)
    return out


def gate_message(gate, default: str = "blocked") -> str:
    if not isinstance(gate, Mapping):
        return f"not a gate result ({type(gate).__name__}): blocked"
    return str(gate.get("msg") or default)


def gate_blocked(gate) -> bool:
    """A gate result blocks unless it plainly says it does not: no answer is not a pass."""
    if not isinstance(gate, Mapping):
        return True
    if gate.get("failed") or gate.get("blocked") or gate.get("skipped"):
        return True
    return "blocked" not in gate


def close_remediation(ledger, change_id: str, verification: Mapping, snapshots: list, source: str | None = None):
    """Record the re-scan and snapshots, then close with the outcome. Returns the seq of the close event."""
    restored, not_restored = verification["restored"], verification["not_restored"]
    ledger.update_change(
        change_id,
        add={"snapshots": snapshots} if snapshots else None,
        event_type=VERIFIED,
        data={"verification": dict(verification)},
    )
    observations = [
        f"{len(restored)} host(s) remediated and verified in sync by a re-scan"
        + (f": {', '.join(restored)}" if restored else "")
    ]
    observations += [f"{n['host']}: not restored: {n['reason']}" for n in not_restored]
    outcome = "successful" if not not_restored else "failed"
    return ledger.close_change(change_id, outcome, observations, data={"verification": dict(verification)}).seq
