# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Emergency override: only for emergency changes, only by a role the policy allows, always
flagged for retroactive review and handed to the ledger recorder as a CloudEvent."""

from __future__ import annotations

import uuid

from .errors import GateInputError

EVENT_TYPE = "io.changeward.gate.override"
FIELDS = ("reference", "approver", "role")


def normalise_override(override):
    if override is None:
        return None
    if not isinstance(override, dict):
        raise GateInputError("override must be a mapping with reference, approver and role")
    unknown = sorted(str(k) for k in override if k not in FIELDS)
    if unknown:
        raise GateInputError(f"override: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(FIELDS)})")
    values = {k: str(override.get(k) or "").strip() for k in FIELDS}
    missing = [k for k in FIELDS if not values[k]]
    if missing:
        raise GateInputError(f"override needs {', '.join(missing)}")
    return values


def refusal(override, change_type, allowed_roles):
    """Why this override may not be used, or None when it may."""
    if change_type != "emergency":
        return f"an override is accepted only for change_type emergency, not {change_type}"
    if not allowed_roles:
        return "the policy allows no role to override (policy.blackout.override_roles is empty)"
    if override["role"] not in allowed_roles:
        return f"role {override['role']!r} may not override (allowed: {', '.join(allowed_roles)})"
    return None


def override_event(source, checked_at, override, change_type, scope, result, subject=None):
    """CloudEvents 1.0 envelope the ledger recorder stores; no secrets are part of it. Its subject is the change
    (subject) when known - the ledger files events under their change - else the override's reference."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "type": EVENT_TYPE,
        "subject": subject or override["reference"],
        "time": checked_at,
        "datacontenttype": "application/json",
        "data": {
            "reference": override["reference"],
            "approver": override["approver"],
            "role": override["role"],
            "change_type": change_type,
            "scope": {label: sorted(values) for label, values in sorted(scope.items())},
            "active_windows": result["active_windows"],
            "reasons": result["reasons"],
            "errors": result["errors"],
            "next_allowed_at": result["next_allowed_at"],
            "review_required": True,
        },
    }
