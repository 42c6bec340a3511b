# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planned changes: a change scheduled ahead, in the ledger with its window, service and targets before it opens
(docs/calendars-across-providers.md).

The states follow ServiceNow's change request (servicenow.itsm ``change_request``): a plan is *scheduled* (its
window agreed, ``io.changeward.plan.scheduled``; scheduling it again moves the window) or *canceled*
(``io.changeward.plan.canceled``) until the change opens. The change then opens with the same id
(``change_record``, the main job): the plan is *implemented* and that change is the running one - there is no
second record, the change record is the one truth from then on, and its plan only lengthens the window other
changes must keep clear (until the planned end). Plans are events, not change records: a plan never counts as a
change in reports, and a canceled plan stays in the chain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import parse_instant
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.localtime import iso_utc
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import CHANGE_ID_RE, CHANGE_TYPES

PLAN_SCHEDULED = "io.changeward.plan.scheduled"
PLAN_CANCELED = "io.changeward.plan.canceled"
PLAN_EVENT_TYPES = (PLAN_SCHEDULED, PLAN_CANCELED)
SCHEDULED, CANCELED, IMPLEMENTED = "scheduled", "canceled", "implemented"
PLAN_FIELDS = ("id", "type", "summary", "requester", "service", "targets", "start", "end")


class PlanError(ChangewardError):
    """A plan that cannot be scheduled or canceled as asked."""


def new_plan(change_id, change_type, summary, requester, service, targets, start, end, now: float) -> dict:
    """A checked plan (times ISO 8601 UTC): its window must be real and not over yet."""
    if not isinstance(change_id, str) or not CHANGE_ID_RE.match(change_id):
        raise PlanError(f"change id must match {CHANGE_ID_RE.pattern}, got {change_id!r}")
    if change_type not in CHANGE_TYPES:
        raise PlanError(f"type must be one of {', '.join(CHANGE_TYPES)}, got {change_type!r}")
    for what, value in (("summary", summary), ("requester", requester)):
        if not isinstance(value, str) or not value.strip():
            raise PlanError(f"a plan needs a {what}")
    hosts = sorted({str(t) for t in targets or () if str(t).strip()})
    if not hosts:
        raise PlanError(f"plan {change_id}: targets is empty - a plan names the hosts it will change")
    begin, finish = float(int(start)), float(int(end))
    if finish <= begin:
        raise PlanError(f"plan {change_id}: its window ends ({iso_utc(finish)}) before it starts ({iso_utc(begin)})")
    if finish <= now:
        raise PlanError(f"plan {change_id}: its window ended at {iso_utc(finish)}; a plan is for a change ahead")
    return {
        "id": change_id,
        "type": change_type,
        "summary": summary,
        "requester": requester,
        "service": service or None,
        "targets": hosts,
        "start": iso_utc(begin),
        "end": iso_utc(finish),
    }


def plans_from_events(events: Iterable[Mapping]) -> dict:
    """{change id: plan with its state (scheduled | canceled) and seq} from the ledger's plan events, in order."""
    plans: dict = {}
    for event in events:
        data = event.get("data") or {}
        plan = data.get("plan")
        if event.get("type") not in PLAN_EVENT_TYPES or not isinstance(plan, Mapping):
            continue
        if plan.get("id") != event.get("subject"):
            continue  # a plan is about its subject only (the chain verifies the rest)
        state = SCHEDULED if event["type"] == PLAN_SCHEDULED else CANCELED
        plans[plan["id"]] = {**{k: plan.get(k) for k in PLAN_FIELDS}, "state": state, "reason": data.get("reason")}
    return plans


def read_plans(ledger) -> dict:
    """The ledger's plans, each with state implemented when a change record of its id exists."""
    entries = ledger.events(types=list(PLAN_EVENT_TYPES))
    plans = plans_from_events(e.event for e in entries)
    opened = set(ledger.change_ids()) if plans else set()
    for change_id, plan in plans.items():
        if change_id in opened and plan["state"] == SCHEDULED:
            plan["state"] = IMPLEMENTED
    return plans


def window(plan: Mapping) -> tuple[float, float]:
    return (
        parse_instant(plan["start"], f"plan {plan['id']} start"),
        parse_instant(plan["end"], f"plan {plan['id']} end"),
    )


def schedule(current: Mapping | None, plan: Mapping, record: Mapping | None):
    """(event type or None when nothing changes, data) to schedule ``plan`` over the ledger's ``current`` plan of
    that id and its change ``record`` (None until it opens)."""
    change_id = plan["id"]
    if record is not None:
        raise PlanError(
            f"change {change_id} is already in the ledger ({record.get('status')}): a plan is for a change before it "
            "opens"
        )
    if current is not None and current["state"] == SCHEDULED:
        if current.get("requester") != plan["requester"]:
            raise PlanError(
                f"plan {change_id} was scheduled by {current.get('requester')}; its requester is fixed (segregation "
                "of duties rests on who asked)"
            )
        if all(current.get(k) == plan.get(k) for k in PLAN_FIELDS):
            return None, {"plan": dict(plan)}
    return PLAN_SCHEDULED, {"plan": dict(plan), "state": SCHEDULED, "rescheduled": bool(current)}


def cancel(current: Mapping | None, change_id: str, reason: str | None, record: Mapping | None):
    """(event type or None, data) to cancel the plan of change_id."""
    if record is not None:
        raise PlanError(
            f"change {change_id} has opened ({record.get('status')}); close it (change_record state closed) instead "
            "of canceling its plan"
        )
    if current is None:
        raise PlanError(f"change {change_id} has no plan in the ledger")
    if current["state"] == CANCELED:
        return None, {}
    plan = {k: current.get(k) for k in PLAN_FIELDS}
    return PLAN_CANCELED, {"plan": plan, "state": CANCELED, "reason": reason or "canceled"}


def as_changes(plans: Mapping) -> list:
    """The scheduled plans (not opened, not canceled) as the conflicts gate and the calendar see changes."""
    return [
        {
            "id": plan["id"],
            "type": plan.get("type"),
            "summary": plan.get("summary"),
            "status": "planned",
            "outcome": None,
            "service": plan.get("service"),
            "targets": list(plan.get("targets") or ()),
            "opened_at": None,
            "closed_at": None,
            "planned_start": plan["start"],
            "planned_end": plan["end"],
            "rings_started": False,
        }
        for plan in plans.values()
        if plan["state"] == SCHEDULED
    ]
