# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reviews after failure: which changes need one, the review records, and the blameless PIR draft.

A change needs a review when it was rolled back, when it overran its error budget (an error_budget gate
decision of fail), or when it ran on an emergency override (the blackout control opens that review itself,
plugins/plugin_utils/calendar/override.py). ``open_reviews`` records one ``io.changeward.review.opened`` per
reason not yet opened - idempotent, so the main job can call it at every close. ``draft_pir`` writes the
post-incident review in Markdown from the change's ledger timeline: what changed, approvals, gates, ring by
ring, rollback timing - and the sections only people can fill in, worded blamelessly.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.control_events import REVIEW_OPENED
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.governance.checklist import ITEM_ADDED
from ansible_collections.changeward.hybrid.plugins.plugin_utils.governance.checklist import (
    make_items as checklist_items,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import (
    CHANGE_OPENED,
    carries_record,
    new_event,
)

REVIEW_COMPLETED = "io.changeward.review.completed"
OVERRIDE = "io.changeward.gate.override"
ROLLED_BACK_RING = "io.changeward.ring.rolled_back"
KINDS = ("rollback", "error_budget_overrun", "emergency_override")
# Observation words that report trouble (a person's words at close); structured ones say so with issue: true.
TROUBLE_WORDS = ("issue", "problem", "degraded", "incident", "error", "failed", "outage", "slow", "trouble")


class ReviewError(ChangewardError, ValueError):
    """A review that cannot be opened or drafted (no such change, nothing to review)."""


def _events(entries: Iterable) -> list:
    return [e.event if hasattr(e, "event") else e for e in entries]


def latest_record(events: list) -> dict | None:
    record = None
    for ev in events:
        if carries_record(ev):
            record = ev["data"]["record"]
    return record


def triggers(events: list) -> list:
    """Why this change needs a review, each {kind, detail}; [] when it does not."""
    record = latest_record(events) or {}
    out = []
    rolled = [ev for ev in events if ev["type"] == ROLLED_BACK_RING]
    if record.get("outcome") == "rolled_back" or rolled:
        rings = ", ".join(str((ev.get("data") or {}).get("name")) for ev in rolled) or "a ring"
        out.append({"kind": "rollback", "detail": f"rolled back ({rings})"})
    for g in record.get("gate_decisions") or []:
        if g.get("gate") == "error_budget" and g.get("decision") == "fail":
            out.append({"kind": "error_budget_overrun", "detail": g.get("reason") or "error budget exhausted"})
            break
    overrides = [ev for ev in events if ev["type"] == OVERRIDE]
    if overrides:
        data = overrides[0].get("data") or {}
        out.append(
            {
                "kind": "emergency_override",
                "detail": f"override {data.get('reference')} by {data.get('approver')}: {data.get('justification')}",
            }
        )
    return out


def opened_kinds(events: list) -> dict:
    """Review kind -> its review.opened event, for the reviews this change has."""
    return {(ev.get("data") or {}).get("kind"): ev for ev in events if ev["type"] == REVIEW_OPENED}


def open_reviews(ledger, change_id: str, *, source: str, check_mode: bool = False) -> list:
    """Record a review for every trigger that has none yet; returns the reviews opened now ({kind, detail, seq})."""
    events = _events(ledger.events(subject=change_id))
    if latest_record(events) is None:
        if check_mode:  # a run in check mode opened no change, so there is nothing to review
            return []
        raise ReviewError(f"change {change_id} is not in the ledger {ledger.target}")
    have = opened_kinds(events)
    opened = []
    for t in triggers(events):
        if t["kind"] in have:
            continue
        seq = None
        if not check_mode:
            data = {"kind": t["kind"], "reason": t["detail"], "status": "open", "pir": "playbooks/review.yml"}
            seq = ledger.record(REVIEW_OPENED, change_id, data, source=source).seq
        opened.append({**t, "seq": seq})
    return opened


def opened_service(events: list) -> str | None:
    """The service the main job opened the change for (its change.opened event's data)."""
    for ev in events:
        if ev["type"] == CHANGE_OPENED and isinstance(ev.get("data"), Mapping):
            return ev["data"].get("service")
    return None


def complete_review(
    ledger, change_id: str, *, kind: str, by: str, summary: str, source: str, checklist: Iterable = ()
) -> int:
    """Record that the review of ``kind`` was held (who, the outcome in a sentence); it must be open. Its
    findings in ``checklist`` become checklist items (checklist.py) that similar changes are then held to."""
    events = _events(ledger.events(subject=change_id))
    have = opened_kinds(events)
    if kind not in have:
        raise ReviewError(
            f"change {change_id} has no open {kind} review to complete (it has: {', '.join(have) or 'none'})"
        )
    done = [ev for ev in events if ev["type"] == REVIEW_COMPLETED and (ev.get("data") or {}).get("kind") == kind]
    if done:
        raise ReviewError(f"the {kind} review of change {change_id} was completed already ({done[0].get('time')})")
    if not str(by).strip() or not str(summary).strip():
        raise ReviewError("completing a review needs who held it (by) and its outcome (summary)")
    items = checklist_items(change_id, latest_record(events) or {}, opened_service(events), checklist)
    data = {"kind": kind, "review_event_id": have[kind].get("id"), "by": by, "summary": summary}
    data["checklist_items"] = [i["item_id"] for i in items]
    done = new_event(REVIEW_COMPLETED, change_id, data, source=source)
    added = [
        new_event(ITEM_ADDED, change_id, {**i, "review_kind": kind, "review_event_id": done["id"]}, source=source)
        for i in items
    ]
    return ledger.append_many([done, *added])[0].seq  # the review and its items, in one transaction


def close_outcome(outcome: str, observations: Iterable) -> str:
    """``successful_with_issues`` for a successful change whose close observations report trouble: a
    structured observation with ``issue: true``, or a person's text naming trouble (TROUBLE_WORDS)."""
    if outcome != "successful":
        return outcome
    for o in observations or ():
        if isinstance(o, Mapping):
            if o.get("issue") is True:
                return "successful_with_issues"
            text = str(o.get("text") or "")
            by_person = o.get("by") is not None
        else:
            text, by_person = str(o), False
        if by_person and any(w in text.casefold() for w in TROUBLE_WORDS):
            return "successful_with_issues"
    return outcome


def observations_required(rule: Iterable, change_type: str | None, risk_class: str | None, outcome: str | None) -> list:
    """Which of the policy's ``review.observations_required`` entries this close meets (its change type, risk class
    or closing outcome); [] when the policy does not require people's observations for it."""
    have = {change_type, risk_class, outcome} - {None}
    return [entry for entry in rule or () if entry in have]


def _ts(value) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value) if value is not None else "-"


def _seconds(a, b) -> str:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b >= a:
        return f"{b - a:.0f} s"
    return "-"


def _cell(value) -> str:
    return str(value if value is not None else "-").replace("|", "\\|").replace("\n", " ")


def _detail(ev: Mapping) -> str:
    """A few words on an event for the timeline: a gate's decision, a ring's status, a reason."""
    d = ev.get("data") if isinstance(ev.get("data"), Mapping) else {}
    decision = d.get("decision") if isinstance(d.get("decision"), Mapping) else None
    if decision is not None:
        return f"{decision.get('gate')}: {decision.get('decision')}"
    if d.get("name") and d.get("status"):
        return f"ring {d['name']}: {d['status']}"
    record = d.get("record") if isinstance(d.get("record"), Mapping) else None
    if record is not None and ev["type"].endswith(".closed"):
        return f"outcome {record.get('outcome')}"
    return str(d.get("reason") or d.get("kind") or "")


def draft_pir(change_id: str, entries: Iterable) -> str:
    """The blameless post-incident review of a change, in Markdown, from its ledger events."""
    events = _events(entries)
    record = latest_record(events)
    if record is None:
        raise ReviewError(f"change {change_id} is not in the ledger")
    why = triggers(events)
    lines = [
        f"# Post-incident review: {change_id}",
        "",
        "> Blameless: this review is about how the system and the process let this happen, not about who did what.",
        "> People acted on what they knew at the time. Drafted from the change ledger; sections marked",
        "> _to fill in_ are for the team.",
        "",
        "## Summary",
        "",
        "| | |",
        "|---|---|",
        f"| Change | {_cell(record.get('summary'))} |",
        f"| Type | {_cell(record.get('type'))} |",
        f"| Outcome | {_cell(record.get('outcome') or record.get('status'))} |",
        f"| Opened / closed | {_cell(record.get('opened_at'))} / {_cell(record.get('closed_at'))} |",
        f"| Requested by / implemented by | {_cell(record.get('requester'))} / {_cell(record.get('implementer'))} |",
        f"| Risk | {_cell((record.get('risk') or {}).get('level'))} |",
        f"| Targets | {len(record.get('targets') or [])} host(s) |",
        f"| Why this review | {_cell('; '.join(t['detail'] for t in why) or 'requested')} |",
        "",
        "## What changed",
        "",
    ]
    targets = record.get("targets") or []
    lines.append("Targets: " + (", ".join(f"`{t}`" for t in targets[:50]) or "none recorded"))
    if len(targets) > 50:
        lines[-1] += f" and {len(targets) - 50} more"
    approvers = record.get("approvers") or []
    lines += ["", "Approvals:", ""]
    lines += [f"- {a.get('name')} ({a.get('role')}): {a.get('decision')}" for a in approvers] or ["- none recorded"]
    lines += ["", "## Gates", "", "| Gate | Decision | Reason |", "|---|---|---|"]
    lines += [
        f"| {_cell(g.get('gate'))} | {_cell(g.get('decision'))} | {_cell(g.get('reason'))} |"
        for g in record.get("gate_decisions") or []
    ] or ["| - | - | no gate decision recorded |"]
    lines += [
        "",
        "## Ring by ring",
        "",
        "| Ring | Status | Hosts | Started | Ended | Watch | Judge |",
        "|---|---|---|---|---|---|---|",
    ]
    rings = [
        ev
        for ev in events
        if ev["type"].startswith("io.changeward.ring.") and ev["type"] != "io.changeward.ring.started"
    ]
    for ev in rings:
        d = ev.get("data") or {}
        watch, judge = d.get("watch") or {}, d.get("judge") or {}
        lines.append(
            f"| {_cell(d.get('name'))} | {_cell(d.get('status'))} | {len(d.get('hosts') or [])} | "
            f"{_cell(_ts(d.get('since')))} | {_cell(_ts(d.get('ended')))} | "
            f"{_cell(watch.get('verdict'))}: {_cell(watch.get('reason'))} | "
            f"{_cell(judge.get('verdict'))} {_cell('; '.join(judge.get('reasons') or []))} |"
        )
    if not rings:
        lines.append("| - | no ring result recorded | | | | | |")
    lines += ["", "## Rollback timing", ""]
    timed = [(ev.get("data") or {}) for ev in events if ev["type"] == ROLLED_BACK_RING]
    if timed:
        lines += [
            "| Ring | Regression visible | Detected | Rolled back | Detection | Rollback |",
            "|---|---|---|---|---|---|",
        ]
        for d in timed:
            t = d.get("timings") or {}
            lines.append(
                f"| {_cell(d.get('name'))} | {_ts(t.get('visible_ts'))} | {_ts(t.get('detected_ts'))} | "
                f"{_ts(t.get('rolled_back_ts'))} | {_seconds(t.get('visible_ts'), t.get('detected_ts'))} | "
                f"{_seconds(t.get('detected_ts'), t.get('rolled_back_ts'))} |"
            )
    else:
        lines.append("No ring was rolled back.")
    lines += ["", "## Timeline (from the ledger)", "", "| Time | Event | Detail |", "|---|---|---|"]
    for ev in events:
        lines.append(
            f"| {_cell(ev.get('time'))} | {_cell(ev['type'].replace('io.changeward.', ''))} | {_cell(_detail(ev))} |"
        )
    observations = [o if isinstance(o, str) else o.get("text") for o in record.get("observations") or []]
    lines += ["", "## Observations at close", ""]
    lines += [f"- {o}" for o in observations] or ["- none"]
    lines += [
        "",
        "## Impact (to fill in)",
        "",
        "Who or what was affected, for how long, and how we know (dashboards, tickets, error budget spent).",
        "",
        "## Detection and response (to fill in)",
        "",
        "How the problem was noticed - by the gates above or by people - and what could have caught it earlier.",
        "",
        "## Contributing factors (to fill in)",
        "",
        "Conditions in the system, tooling and process that made this possible. Ask how, not who.",
        "",
        "## What went well (to fill in)",
        "",
        "## What we learned (to fill in)",
        "",
        "## Action items (to fill in)",
        "",
        "| Action | Owner | Due | Tracking |",
        "|---|---|---|---|",
        "| | | | |",
        "",
        "## Checklist items for similar changes (to fill in)",
        "",
        "Checks a similar change (same service, change kind, labels) should pass before it runs.",
        "",
    ]
    return "\n".join(lines)


__all__ = [
    "KINDS",
    "REVIEW_COMPLETED",
    "ReviewError",
    "close_outcome",
    "complete_review",
    "draft_pir",
    "observations_required",
    "open_reviews",
    "triggers",
]
