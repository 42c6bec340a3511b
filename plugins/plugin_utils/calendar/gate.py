# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The blackout gate as one call: load calendars, evaluate, apply an emergency override, and
shape the documented result. Shared by the blackout action plugin and the window guard callback."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .errors import CalendarError, GateInputError
from .evaluate import CalendarSet
from .localtime import iso_utc, parse_instant
from .model import CHANGE_TYPES, change_scope
from .override import normalise_override, override_event, refusal
from .policy import blackout_policy
from .sources import load_calendar, parse_spec


@dataclass
class Loaded:
    """Calendars read for one check (or one guard batch): the usable events and what failed."""

    calendars: CalendarSet
    names: list = field(default_factory=list)
    errors: list = field(default_factory=list)


def load(specs, policy, timeout=None, resolve_path=None):
    """Read every calendar; a broken one becomes an error entry (which blocks), the rest still load."""
    parsed = [parse_spec(item, i) for i, item in enumerate(specs)]
    if not parsed:
        raise GateInputError("no calendars given (calendars parameter or policy.blackout.calendars); refusing to pass")
    events, names, errors = [], [], []
    for spec in parsed:
        try:
            rules = load_calendar(spec, policy.default_timezone, timeout or policy.http_timeout, resolve_path)
        except CalendarError as exc:
            errors.append(str(exc))
            continue
        events.extend(rules)
        names.append({"name": spec.name, "events": len(rules)})
    return Loaded(CalendarSet(events), names, errors)


def decide(
    loaded, policy, at=None, scope=None, change_type="normal", enforce=True, override=None, source=None, subject=None
):
    """Evaluate loaded calendars for one change. Returns the module result (failed/msg included).

    subject: what an accepted override's event is about - the change id when there is one (the ledger records
    events under their change), else the override's reference."""
    if change_type not in CHANGE_TYPES:
        raise GateInputError(f"change_type must be one of {', '.join(CHANGE_TYPES)}, got {change_type!r}")
    at_ts = parse_instant(at) if at is not None else float(int(time.time()))
    override = normalise_override(override)
    norm_scope = change_scope(scope, change_type)

    evaluation = loaded.calendars.evaluate(at_ts, norm_scope, policy.horizon_days)
    errors = list(loaded.errors)
    blocked = evaluation.blocked or bool(errors)
    reasons = list(evaluation.reasons) + errors
    next_allowed = None if errors else evaluation.next_allowed
    checked_at = iso_utc(at_ts)
    result = {
        "changed": False,
        "blocked": blocked,
        "overridden": False,
        "review_required": False,
        "active_windows": [w.as_dict() for w in evaluation.active],
        "next_allowed_at": iso_utc(next_allowed) if next_allowed is not None else None,
        "checked_at": checked_at,
        "horizon_days": policy.horizon_days,
        "maintenance_applies": evaluation.maintenance_applies,
        "reasons": reasons,
        "errors": errors,
        "calendars": loaded.names,
        "override_refused": None,
    }
    if override is not None:
        result["override_refused"] = refusal(override, change_type, policy.override_roles)
    if not blocked:
        result["msg"] = f"Change allowed at {checked_at}"
        if override is not None and result["override_refused"] is None and override.get("exemptions"):
            # No window to override, but the override also exempts the change from other gates (the error
            # budget): it is accepted and recorded here, the first gate, so those gates find it verified.
            result["review_required"] = True
            result["ledger_event"] = override_event(
                source or "changeward.hybrid.blackout", checked_at, override, change_type, norm_scope, result, subject
            )
            result["msg"] += (
                f"; override by {override['approver']} ({override['role']}) under {override['reference']} accepted "
                f"for its exemptions ({', '.join(override['exemptions'])}); retroactive review required"
            )
        return result
    if override is not None and result["override_refused"] is None:
        result.update(overridden=True, review_required=True)
        result["ledger_event"] = override_event(
            source or "changeward.hybrid.blackout", checked_at, override, change_type, norm_scope, result, subject
        )
        result["msg"] = (
            f"Blocked at {checked_at} ({'; '.join(reasons)}) but overridden by {override['approver']} "
            f"({override['role']}) under {override['reference']}; retroactive review required"
        )
        return result

    if errors:
        when = "when changes are allowed again is unknown until every calendar can be read"
    elif next_allowed is None:
        when = f"no allowed time within the next {policy.horizon_days} days"
    else:
        when = f"changes are allowed again at {result['next_allowed_at']}"
    msg = f"Change blocked at {checked_at}: {'; '.join(reasons)}; {when}"
    if result["override_refused"]:
        msg += f". Override refused: {result['override_refused']}"
    result["msg"] = msg
    result["failed"] = bool(enforce)
    return result


def check(
    calendars=None,
    at=None,
    scope=None,
    change_type="normal",
    enforce=True,
    override=None,
    policy=None,
    timeout=None,
    resolve_path=None,
    source=None,
    subject=None,
):
    """Load and decide in one go (the action plugin's path)."""
    pol = blackout_policy(policy)
    loaded = load(list(pol.calendars) + list(calendars or []), pol, timeout, resolve_path)
    return decide(loaded, pol, at, scope, change_type, enforce, override, source, subject)
