# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Legal holds: a hold on a change, a service or a range keeps those events in the live ledger.

A hold is a reserved control event (``io.changeward.retention.hold_placed``, subject ``hold:<id>``) that only
changeward.hybrid.ledger_hold writes; ledger_record and change_record refuse it. Placing one is never a bypass
(it only keeps more), so anyone who may run the hold task may place one; releasing one needs a release statement
signed (``ssh-keygen -Y sign -n changeward-hold``) by a principal the retention policy lists in
``legal_hold.release_by`` and its allowed-signers file holds. The statement names the placement event, so a
signature cannot release a later hold of the same id.

While a hold is active, pruning refuses any range holding an event it covers - and every hold covers its own
placement event, so an active hold is never pruned away.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils import sshsig
from ansible_collections.changeward.hybrid.plugins.plugin_utils.control_events import HOLD_PLACED, HOLD_RELEASED
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.canonical import canonical_text

from .policy import RetentionError, RetentionRefused, parse_time

NAMESPACE = "changeward-hold"
HOLD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
SCOPES = ("change", "service", "seq_range", "time_range")
UNKNOWN = object()  # the service of a change whose opening is no longer in the live ledger


def subject(hold_id: str) -> str:
    return f"hold:{hold_id}"


def scope_of(change=None, service=None, from_seq=None, through_seq=None, start_time=None, end_time=None) -> dict:
    """The scope of a new hold: exactly one of a change, a service, a seq range or a time range."""
    given = [
        name
        for name, value in (
            ("change", change),
            ("service", service),
            ("seq_range", from_seq is not None or through_seq is not None or None),
            ("time_range", start_time is not None or end_time is not None or None),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise RetentionError(
            "a legal hold covers exactly one of: a change (change_id), a service, a seq range (from_seq/through_seq) "
            f"or a time range (start_time/end_time); got {', '.join(given) or 'none'}"
        )
    if change is not None:
        return {"kind": "change", "change_id": str(change)}
    if service is not None:
        return {"kind": "service", "service": str(service)}
    if from_seq is not None or through_seq is not None:
        low, high = from_seq or 1, through_seq
        if low < 1 or (high is not None and high < low):
            raise RetentionError(f"a hold's seq range {from_seq}..{through_seq} is empty or negative")
        return {"kind": "seq_range", "from_seq": low, "through_seq": high}
    for value, name in ((start_time, "start_time"), (end_time, "end_time")):
        if value is not None and parse_time(value) is None:
            raise RetentionError(f"a hold's {name} must be an RFC 3339 time with a UTC offset, got {value!r}")
    return {"kind": "time_range", "start_time": start_time, "end_time": end_time}


def active(ledger) -> list:
    """The holds in force: each placement (its data, seq and event id) not followed by a release of it."""
    placed: dict = {}
    for entry in ledger.iter_events(types=[HOLD_PLACED, HOLD_RELEASED]):
        data = entry.event.get("data") or {}
        hold_id = data.get("hold_id")
        if entry.event["type"] == HOLD_PLACED:
            placed[hold_id] = {**data, "seq": entry.seq, "event_id": entry.event["id"]}
        elif hold_id in placed and data.get("placed_event") == placed[hold_id]["event_id"]:
            del placed[hold_id]
    return sorted(placed.values(), key=lambda h: h["seq"])


def covers(hold: Mapping, entry, service_of: Callable) -> bool:
    """Whether ``hold`` covers a ledger entry. service_of(subject): the service of a change subject, None for
    another subject, UNKNOWN when the change's opening is not in the live ledger (then a service hold covers it)."""
    if entry.seq == hold.get("seq"):
        return True  # a hold keeps its own placement
    scope = hold.get("scope") or {}
    event = entry.event
    kind = scope.get("kind")
    if kind == "change":
        return event.get("subject") == scope.get("change_id")
    if kind == "service":
        name = scope.get("service")
        if event.get("subject") == f"breaker:{name}":  # the service's circuit breaker
            return True
        found = service_of(event.get("subject"))
        return found is UNKNOWN or found == name
    if kind == "seq_range":
        high = scope.get("through_seq")
        return entry.seq >= scope.get("from_seq", 1) and (high is None or entry.seq <= high)
    if kind == "time_range":
        when = parse_time(event.get("time"))
        start, end = parse_time(scope.get("start_time")), parse_time(scope.get("end_time"))
        if when is None:
            return True  # an event without a readable time cannot be shown outside the range
        return (start is None or when >= start) and (end is None or when < end)
    return True  # a hold this version cannot read covers everything: never prune past it


def first_covered(holds: Iterable, entries: Iterable, service_of: Callable):
    """(hold, entry) of the first entry a hold covers, or None."""
    holds = list(holds)
    if not holds:
        return None
    for entry in entries:
        for hold in holds:
            if covers(hold, entry, service_of):
                return hold, entry
    return None


def refuse_if_held(holds: Iterable, entries: Iterable, service_of: Callable, what: str) -> None:
    found = first_covered(holds, entries, service_of)
    if found is not None:
        hold, entry = found
        raise RetentionRefused(
            f"{what} refused: legal hold {hold.get('hold_id')} ({describe(hold)}, matter {hold.get('matter')!r}, "
            f"placed at seq {hold.get('seq')}) covers event {entry.seq} ({entry.event.get('type')} of "
            f"{entry.event.get('subject')}); release the hold first"
        )


def describe(hold: Mapping) -> str:
    scope = hold.get("scope") or {}
    kind = scope.get("kind")
    if kind == "change":
        return f"change {scope.get('change_id')}"
    if kind == "service":
        return f"service {scope.get('service')}"
    if kind == "seq_range":
        return f"seqs {scope.get('from_seq')}..{scope.get('through_seq') or 'on'}"
    if kind == "time_range":
        return f"events from {scope.get('start_time') or 'the beginning'} to {scope.get('end_time') or 'now'}"
    return f"an unknown scope {kind!r}"


def release_statement(ledger_id: str, hold: Mapping, by: str) -> str:
    """The text a principal signs to release a hold: the ledger, the hold, its placement event, who releases."""
    return canonical_text(
        {
            "action": "release",
            "by": by,
            "hold_id": hold["hold_id"],
            "ledger_id": ledger_id,
            "placed_event": hold["event_id"],
        }
    )


def check_release(policy, signers_path: str | None, statement: str, signature: str, by: str) -> str:
    """The signer's key fingerprint when ``by`` may release and signed ``statement``; else RetentionRefused."""
    if by not in policy.release_by:
        raise RetentionRefused(
            f"{by} may not release a legal hold: the retention policy's legal_hold.release_by lists "
            f"{', '.join(policy.release_by) or 'no one'}"
        )
    if not signers_path:
        raise RetentionRefused(
            "the retention policy names no legal_hold.allowed_signers file, so no release can be verified"
        )
    problem = sshsig.verify(statement.encode("utf-8"), signature, by, signers_path, NAMESPACE)
    if problem is not None:
        raise RetentionRefused(f"the release statement is not {by}'s: {problem.message}")
    return sshsig.parse_signature(signature)["fingerprint"]
