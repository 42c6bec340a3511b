# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Emergency override: only for emergency changes, only by a verified approver in a role the policy allows, only
under an incident reference the policy's pattern accepts, always with a justification, and always opening a
review. The accepted override is handed to the ledger as an ``io.changeward.gate.override`` CloudEvent (a
reserved control event: only the blackout action writes it) together with an ``io.changeward.review.opened``
event that the governance review picks up.

The override is a statement its approver signs with their ssh key, like an approval (approval.py)::

    {"type": "changeward.override/v1", "change_id": ..., "change_digest": ..., "approver": ..., "role": ...,
     "reference": "INC-4711", "justification": "...", "exemptions": ["error_budget"], "time": ...}

    ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n changeward-approval override.json

``check_override`` verifies it (the blackout action calls it); ``normalise_override``/``refusal`` are what the
calendar gate applies, and they refuse anything not verified here - a mapping typed by the caller names an
approver nobody has verified.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import GateInputError

EVENT_TYPE = "io.changeward.gate.override"
REVIEW_OPENED = "io.changeward.review.opened"
STATEMENT_TYPE = "changeward.override/v1"
STATEMENT_FIELDS = (
    "type",
    "change_id",
    "change_digest",
    "approver",
    "role",
    "reference",
    "justification",
    "exemptions",
    "time",
)
MIN_JUSTIFICATION = 10
UNVERIFIED = (
    "an override must be a statement signed by its approver (override.statement and override.signature), "
    "verified by changeward.hybrid.blackout for its change; {what} cannot be verified"
)


@dataclass(frozen=True)
class CheckedOverride:
    """An override after check_override: its values, and why it may not be used (None: verified)."""

    values: dict = field(default_factory=dict)
    problem: str | None = None


def _statement(stmt) -> dict:
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.approval import check_fields

    stmt = check_fields(stmt, STATEMENT_FIELDS, STATEMENT_TYPE, "the override statement")
    for key in ("reference", "justification"):
        if not isinstance(stmt[key], str):
            raise GateInputError(f"the override statement's {key} must be a string")
    if not isinstance(stmt["exemptions"], list) or not all(isinstance(e, str) for e in stmt["exemptions"]):
        raise GateInputError("the override statement's exemptions must be a list of gate names (may be empty)")
    return stmt


def override_statement(change_id, change_digest, approver, role, reference, justification, exemptions=(), time=None):
    """The statement an override's approver signs (approval.statement_text gives the text to sign)."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import utc_now

    return _statement(
        {
            "type": STATEMENT_TYPE,
            "change_id": change_id,
            "change_digest": change_digest,
            "approver": approver,
            "role": role,
            "reference": reference,
            "justification": justification,
            "exemptions": list(exemptions),
            "time": time or utc_now(),
        }
    )


def check_override(
    raw, *, policy, change_id, change_digest, signers, override_roles, bind=True
) -> CheckedOverride | None:
    """Verify an override request for change ``change_id``: signature, principal, role, incident reference,
    justification, exemptions and the change it names. Returns a CheckedOverride whose ``problem`` says every
    reason it cannot be used (None: it may be used, if the change is an emergency).

    ``bind=False`` is the window guard's check: it knows no change digest (and the change id only when the run
    names it), so those are checked only when given; the blackout action of the change binds both."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils import approval as ap

    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise GateInputError("override must be a mapping with statement and signature")
    if set(raw) - {"statement", "signature"}:
        who = raw.get("approver") or "the approver"
        return CheckedOverride(dict(raw), UNVERIFIED.format(what=f"a self-declared approver ({who})"))
    try:
        text, signature = ap.signed_text(raw, "override")
        stmt = ap.parse_statement(text, _statement)
    except ap.ApprovalInputError as exc:
        raise GateInputError(str(exc)) from None
    values = {
        **{k: stmt[k] for k in ("approver", "role", "reference", "justification", "exemptions", "change_digest")},
        "statement_text": text,
        "signature": signature,
    }
    problems = []
    if not change_id:
        if bind:
            problems.append("an override is verified for its change: give change_id (and change_digest)")
    elif stmt["change_id"] != change_id:
        problems.append(f"the override statement is for change {stmt['change_id']}, not {change_id}")
    if not change_digest:
        if bind:
            problems.append("no change_digest was given, so the override cannot be bound to what the change will do")
    elif stmt["change_digest"] != change_digest:
        problems.append(
            f"the override was signed for change digest {stmt['change_digest']}, but the change has {change_digest} "
            "(other targets, another payload or another policy)"
        )
    pattern = (policy.override or {}).get("reference_pattern")
    if not pattern:
        problems.append(
            "the policy sets no incident-id pattern (override.reference_pattern), so no override is accepted"
        )
    elif not re.fullmatch(pattern, stmt["reference"]):
        problems.append(f"reference {stmt['reference']!r} is not an incident id (override.reference_pattern {pattern})")
    if len(stmt["justification"].strip()) < MIN_JUSTIFICATION:
        problems.append(
            f"an override needs a justification (at least {MIN_JUSTIFICATION} characters) that is recorded and reviewed"
        )
    allowed = (policy.override or {}).get("exemptions") or []
    for gate in stmt["exemptions"]:
        if gate not in allowed:
            problems.append(
                f"the policy allows no exemption from {gate} (override.exemptions: {', '.join(allowed) or 'none'})"
            )
    entry = policy.approver(stmt["approver"])
    if entry is None:
        problems.append(f"{stmt['approver']} is not an approver in the policy (approval.approvers)")
    elif stmt["role"] not in entry["roles"]:
        problems.append(f"{stmt['approver']} has no role {stmt['role']} in the policy")
    if stmt["role"] not in override_roles:
        problems.append(
            f"role {stmt['role']!r} may not override (blackout.override_roles: {', '.join(override_roles) or 'none'})"
        )
    why = ap.verify_signature(text, signature, stmt["approver"], signers)
    if why:
        problems.append(f"the override's signature does not count: {why['message']}")
    return CheckedOverride(values, "; ".join(problems) or None)


def normalise_override(override):
    """The override as the calendar gate applies it: a checked one's values (with ``problem``), or a mapping
    typed by the caller, which is never verified."""
    if override is None:
        return None
    if isinstance(override, CheckedOverride):
        return {**override.values, "problem": override.problem}
    if not isinstance(override, Mapping):
        raise GateInputError("override must be a mapping with statement and signature")
    who = str(override.get("approver") or "").strip() or "an unnamed approver"
    return {
        **{k: str(override.get(k) or "") for k in ("reference", "approver", "role")},
        "problem": UNVERIFIED.format(what=f"a self-declared approver ({who})"),
    }


def refusal(override, change_type, allowed_roles):
    """Why this override may not be used, or None when it may."""
    if change_type != "emergency":
        return f"an override is accepted only for change_type emergency, not {change_type}"
    if override.get("problem"):
        return override["problem"]
    if not allowed_roles:
        return "the policy allows no role to override (policy.blackout.override_roles is empty)"
    if override["role"] not in allowed_roles:
        return f"role {override['role']!r} may not override (allowed: {', '.join(allowed_roles)})"
    return None


def override_event(source, checked_at, override, change_type, scope, result, subject=None):
    """CloudEvents 1.0 envelope the ledger recorder stores; no secrets are part of it. Its subject is the change
    (subject) when known - the ledger files events under their change - else the override's reference. It
    carries the signed statement, so a reader can verify it again."""
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
            "justification": override.get("justification"),
            "exemptions": list(override.get("exemptions") or []),
            "change_digest": override.get("change_digest"),
            "statement_text": override.get("statement_text"),
            "signature": override.get("signature"),
            "change_type": change_type,
            "scope": {label: sorted(values) for label, values in sorted(scope.items())},
            "active_windows": result["active_windows"],
            "reasons": result["reasons"],
            "errors": result["errors"],
            "next_allowed_at": result["next_allowed_at"],
            "review_required": True,
        },
    }


def review_event(source, override_event_):
    """The io.changeward.review.opened event an accepted override opens: what to review and why."""
    data = override_event_["data"]
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "type": REVIEW_OPENED,
        "subject": override_event_["subject"],
        "time": override_event_["time"],
        "datacontenttype": "application/json",
        "data": {
            "kind": "emergency_override",
            "override_event_id": override_event_["id"],
            "reference": data["reference"],
            "approver": data["approver"],
            "justification": data["justification"],
            "exempted_from": ["blackout", *data["exemptions"]],
            "status": "open",
        },
    }


def verified_exemption(ledger, change_id, gate, *, policy, change_digest, signers, override_roles):
    """The accepted override of change ``change_id`` that exempts it from ``gate`` (e.g. error_budget), verified
    again now, as {reference, approver, justification, seq}; None when there is none. For the gates an override
    may exempt a change from (policy override.exemptions)."""
    for entry in ledger.events(subject=change_id, types=[EVENT_TYPE]):
        data = entry.event.get("data") or {}
        if gate not in (data.get("exemptions") or []):
            continue
        try:
            checked = check_override(
                {"statement": data.get("statement_text") or "", "signature": data.get("signature") or ""},
                policy=policy,
                change_id=change_id,
                change_digest=change_digest,
                signers=signers,
                override_roles=override_roles,
            )
        except GateInputError:
            continue
        if checked is not None and checked.problem is None:
            return {
                "reference": checked.values["reference"],
                "approver": checked.values["approver"],
                "justification": checked.values["justification"],
                "seq": entry.seq,
            }
    return None
