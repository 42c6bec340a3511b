# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Control events and the change digest: the two things every control agrees on (docs/trust-model.md).

Control events are the ledger events a control's reader trusts: approvals, breaker transitions, accepted
overrides, policy sign-offs, signing-key rotations. Only the plugin that verifies what such an event asserts
may write it; ``ledger_record`` and ``change_record`` refuse these types, so a requester with playbook access
cannot write an approval for a colleague or close a breaker by hand.

The change digest names what a change will do - its id, its targets, its payload (what it applies) and the
digest of the policy it runs under - so that an approval signed for one change cannot count for other
targets, another payload, another policy or another change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.canonical import canonical_bytes

APPROVAL_RECORDED = "io.changeward.approval.recorded"
OVERRIDE_ACCEPTED = "io.changeward.gate.override"
POLICY_SIGNED_OFF = "io.changeward.policy.signed_off"
KEY_ROTATED = "io.changeward.ledger.key_rotated"
CHECKLIST_ACKNOWLEDGED = "io.changeward.checklist.acknowledged"
# Retention (plugin_utils/retention): an archive written and read back verified, a pruned range and the archive
# covering it, a legal hold placed or released (a released hold needs a signed release statement).
LEDGER_ARCHIVED = "io.changeward.ledger.archived"
LEDGER_PRUNED = "io.changeward.ledger.pruned"
HOLD_PLACED = "io.changeward.retention.hold_placed"
HOLD_RELEASED = "io.changeward.retention.hold_released"
BREAKER_PREFIX = "io.changeward.breaker."
BREAKER_TRANSITIONS = frozenset(
    BREAKER_PREFIX + name for name in ("opened", "half_opened", "closed", "trial_started", "failure_recorded")
)

# Event types only their verifying plugin writes.
RESERVED = (
    frozenset(
        {
            APPROVAL_RECORDED,
            OVERRIDE_ACCEPTED,
            POLICY_SIGNED_OFF,
            KEY_ROTATED,
            CHECKLIST_ACKNOWLEDGED,
            LEDGER_ARCHIVED,
            LEDGER_PRUNED,
            HOLD_PLACED,
            HOLD_RELEASED,
        }
    )
    | BREAKER_TRANSITIONS
)


def is_reserved(event_type: str) -> bool:
    """Whether only a verifying plugin may write events of this type (any breaker.* event counts)."""
    return event_type in RESERVED or str(event_type).startswith(BREAKER_PREFIX)


# Not reserved: a refused attempt to write a control event (anyone's tool may record that it refused), and a
# review that an emergency override or exemption opens (more scrutiny is never a bypass).
CONTROL_REFUSED = "io.changeward.control.refused"
REVIEW_OPENED = "io.changeward.review.opened"

# Which plugin writes (after verifying) each reserved type, for refusal messages.
WRITERS = {
    APPROVAL_RECORDED: ("approval", "changeward.hybrid.approval (a signed approval statement)"),
    OVERRIDE_ACCEPTED: ("emergency override", "changeward.hybrid.blackout (a signed override statement)"),
    POLICY_SIGNED_OFF: ("policy sign-off", "the policy sign-off"),
    KEY_ROTATED: ("ledger key rotation", "the ledger's key rotation"),
    CHECKLIST_ACKNOWLEDGED: ("checklist", "changeward.hybrid.checklist (a signed acknowledgement)"),
    LEDGER_ARCHIVED: ("retention", "changeward.hybrid.ledger_archive (an archive read back and verified)"),
    LEDGER_PRUNED: ("retention", "changeward.hybrid.ledger_archive (state pruned, after a verified archive)"),
    HOLD_PLACED: ("legal hold", "changeward.hybrid.ledger_hold"),
    HOLD_RELEASED: ("legal hold", "changeward.hybrid.ledger_hold (a signed release statement)"),
}


def reserved_message(event_type: str, tool: str, change_id: str | None = None) -> str:
    """Why ``tool`` refuses to write ``event_type``: the control it belongs to and who writes it."""
    control, writer = WRITERS.get(event_type, ("circuit breaker", "changeward.hybrid.circuit_breaker"))
    where = f" for change {change_id}" if change_id else ""
    return (
        f"{tool} refused to write {event_type}{where}: it is a reserved control event of the {control} control, "
        f"written only by {writer}, which verifies what it asserts"
    )


def digest(value) -> str:
    """sha256 of the RFC 8785 canonical JSON of a value, as ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(canonical_bytes(value)).hexdigest()


def change_digest(change_id: str, targets: Iterable[str], payload: Mapping, policy_digest: str) -> str:
    """The digest of what a change will do: its id, its sorted targets, its payload and its policy's digest."""
    return digest(
        {
            "change_id": str(change_id),
            "targets": sorted({str(t) for t in targets}),
            "payload": payload,
            "policy_digest": str(policy_digest),
        }
    )
