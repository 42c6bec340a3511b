# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checklist items from reviews after failure, and the gate that holds similar changes to them.

A held review (review.py, ``complete_review``) may turn its findings into checklist items: each names what a
similar change must have checked (free text, kept in this team's ledger only) and what makes a change similar -
the service, the change kind and host labels, by default the reviewed change's service and kind. The checklist
gate finds every item that applies to a change and refuses the change until each one is acknowledged for it.

An acknowledgement is a signed statement (``changeward.checklist-ack/v1``: this change, its digest, the item)
verified like an approval (approval.py): the signature against the pinned policy's allowed-signers file, the
signer an approver of the policy with the role it names, and neither the change's requester nor its
implementer - the requester of a blocked change cannot acknowledge its items alone. Only the gate writes
``io.changeward.checklist.acknowledged`` (a reserved control event, control_events.py), and it re-verifies the
ones already recorded before counting them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.module_utils.events import envelope
from ansible_collections.changeward.hybrid.plugins.plugin_utils import approval
from ansible_collections.changeward.hybrid.plugins.plugin_utils.control_events import CHECKLIST_ACKNOWLEDGED, digest
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.identity import same_person
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import utc_now

ITEM_ADDED = "io.changeward.checklist.item_added"
ACKNOWLEDGED = CHECKLIST_ACKNOWLEDGED
GATE = "checklist"
ACK_TYPE = "changeward.checklist-ack/v1"
ACK_FIELDS = ("type", "change_id", "change_digest", "item_id", "approver", "role", "comment", "time")
MATCH_KEYS = ("service", "change_kind", "labels")
SELF_ACK = "self_acknowledgement"
IMPLEMENTER_ACK = "implementer_acknowledgement"
OTHER_ITEM = "other_item"


class ChecklistError(ChangewardError, ValueError):
    """A checklist item or acknowledgement that cannot be used as given (names what is wrong)."""


def _events(entries: Iterable) -> list:
    return [(e.event, e.seq) if hasattr(e, "event") else (e, None) for e in entries]


# -- items --------------------------------------------------------------------------------------------------------
def make_items(change_id: str, record: Mapping, service: str | None, given: Iterable) -> list:
    """Checklist items (item_id, text, match, from_change) from a review's findings. A finding is its text, or a
    mapping {text, service, change_kind, labels}; service and change kind default to the reviewed change's."""
    risk = record.get("risk") if isinstance(record.get("risk"), Mapping) else {}
    default_service = service or next(iter(risk.get("services") or ()), None)
    out = []
    for n, finding in enumerate(given or (), 1):
        finding = {"text": finding} if isinstance(finding, str) else finding
        if not isinstance(finding, Mapping) or not str(finding.get("text") or "").strip():
            raise ChecklistError(f"checklist item {n} needs its text (what a similar change must have checked)")
        unknown = sorted(set(finding) - {"text", *MATCH_KEYS})
        if unknown:
            raise ChecklistError(f"checklist item {n} has unknown keys: {', '.join(unknown)}")
        labels = finding.get("labels") or {}
        if not isinstance(labels, Mapping) or not all(isinstance(v, (str, int)) for v in labels.values()):
            raise ChecklistError(f"checklist item {n}: labels must map a label to one value")
        match = {
            "service": finding.get("service", default_service),
            "change_kind": finding.get("change_kind", risk.get("change_kind")),
            "labels": {str(k): str(v) for k, v in sorted(labels.items())},
        }
        if not match["service"] and not match["change_kind"] and not match["labels"]:
            raise ChecklistError(
                f"checklist item {n} would apply to every change: give service, change_kind or labels "
                f"(change {change_id} has no recorded service or kind)"
            )
        text = str(finding["text"]).strip()
        item_id = "CL-" + digest({"change": change_id, "text": text, "match": match})[7:19]
        out.append({"item_id": item_id, "text": text, "match": match, "from_change": change_id})
    return out


def applies(item: Mapping, change: Mapping) -> bool:
    """Whether an item applies to a change {id, services, change_kind, labels: {label: [values of its hosts]}}:
    same service, same change kind, and some target carrying each of the item's label values."""
    match = item.get("match") or {}
    if item.get("from_change") == change["id"]:
        return False
    if match.get("service") and match["service"] not in set(change.get("services") or ()):
        return False
    if match.get("change_kind") and match["change_kind"] != change.get("change_kind"):
        return False
    labels = change.get("labels") or {}
    return all(str(v) in {str(x) for x in labels.get(k) or ()} for k, v in (match.get("labels") or {}).items())


def all_items(ledger) -> list:
    """Every checklist item in the ledger (an indexed query by event type), the latest one per item id."""
    items = {}
    for event, seq in _events(ledger.events(types=[ITEM_ADDED])):
        data = event.get("data") or {}
        if isinstance(data, Mapping) and data.get("item_id"):
            items[data["item_id"]] = {**data, "seq": seq, "from_change": event["subject"]}
    return list(items.values())


# -- acknowledgements -----------------------------------------------------------------------------------------
def ack_statement(change_id, change_digest, item_id, approver, role, comment="", time=None) -> dict:
    """The statement an approver signs (ssh-keygen -Y sign -n changeward-approval) to acknowledge an item."""
    return validate_ack(
        {
            "type": ACK_TYPE,
            "change_id": change_id,
            "change_digest": change_digest,
            "item_id": item_id,
            "approver": approver,
            "role": role,
            "comment": comment or "",
            "time": time or utc_now(),
        }
    )


def validate_ack(stmt) -> dict:
    stmt = approval.check_fields(stmt, ACK_FIELDS, ACK_TYPE, "the checklist acknowledgement")
    if not isinstance(stmt["item_id"], str) or not stmt["item_id"].strip():
        raise approval.ApprovalInputError("the checklist acknowledgement's item_id must be a non-empty string")
    if not isinstance(stmt["comment"], str):
        raise approval.ApprovalInputError("the checklist acknowledgement's comment must be a string")
    return stmt


def ack_problems(text: str, signature: str, record: Mapping, change_digest, policy, signers, implementers) -> list:
    """Why a signed acknowledgement does not count for this change (empty: it counts)."""
    try:
        stmt = approval.parse_statement(text, validate_ack)
    except approval.ApprovalInputError as exc:
        return [approval.refusal(approval.NO_EVIDENCE, f"not a checklist acknowledgement: {exc}")]
    name, change_id = stmt["approver"], record["id"]
    problems = []
    if stmt["change_id"] != change_id:
        problems.append(approval.refusal(approval.OTHER_CHANGE, f"{name} acknowledged for change {stmt['change_id']}"))
    if stmt["change_digest"] != change_digest:
        problems.append(
            approval.refusal(
                approval.OTHER_DIGEST,
                f"{name} acknowledged change digest {stmt['change_digest']}, but change {change_id} now has "
                f"{change_digest}",
            )
        )
    why = approval.verify_signature(text, signature, name, signers)
    if why:
        problems.append(why)
    if same_person(name, record.get("requester") or ""):
        problems.append(
            approval.refusal(SELF_ACK, f"{name} requested change {change_id} and cannot acknowledge its checklist")
        )
    for implementer in implementers:
        if same_person(name, implementer):
            problems.append(
                approval.refusal(IMPLEMENTER_ACK, f"{name} implements change {change_id} and cannot acknowledge")
            )
    entry = policy.approver(name)
    if entry is None:
        problems.append(approval.refusal(approval.UNKNOWN_APPROVER, f"{name} is not an approver in the policy"))
    elif stmt["role"] not in entry["roles"]:
        problems.append(approval.refusal(approval.ROLE_NOT_GRANTED, f"{name} has no role {stmt['role']}"))
    return problems


def _signed(signed) -> tuple:
    text, signature = approval.signed_text(signed, "acknowledgement")
    return text, signature, approval.parse_statement(text, validate_ack)


# -- the gate -------------------------------------------------------------------------------------------------------
def check(
    ledger,
    policy,
    change: Mapping,
    *,
    change_digest,
    signers,
    implementers=(),
    given=(),
    source: str = "",
    check_mode: bool = False,
) -> dict:
    """The gate's decision for ``change`` ({id, services, change_kind, labels}).

    Returns {decision (pass | fail), reason, items: [{item_id, text, from_change, acknowledged_by}], events (new
    acknowledgement events to record), refused: [{item_id, approver, refusals}]}. Acknowledgements already in
    the ledger are verified again; given ones (``{statement, signature}``) are verified and become events."""
    record = ledger.get_change(change["id"])
    if record is None and check_mode:  # a run in check mode opened no change: judged as the new change it would be
        record = {"id": change["id"], "requester": None, "implementer": None}
    if record is None:
        raise ChecklistError(f"change {change['id']} is not in the ledger {ledger.target}; open it first")
    approval.verify_ledger(ledger)  # items and acknowledgements are trusted only from a ledger that verifies
    people = [p for p in [*implementers, record.get("implementer")] if p]
    items = sorted((i for i in all_items(ledger) if applies(i, change)), key=lambda i: i["seq"] or 0)
    acked, refused, events = {}, [], []
    recorded = _events(ledger.events(subject=change["id"], types=[ACKNOWLEDGED]))
    candidates = []
    for event, _seq in recorded:
        data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
        candidates.append((str(data.get("statement_text") or ""), str(data.get("signature") or ""), True))
    for signed in given or ():
        text, signature, _stmt = _signed(signed)
        candidates.append((text, signature, False))
    wanted = {i["item_id"] for i in items}
    for text, signature, in_ledger in candidates:
        problems = ack_problems(text, signature, record, change_digest, policy, signers, people)
        try:
            stmt = approval.parse_statement(text, validate_ack)
        except approval.ApprovalInputError:
            stmt = {"item_id": None, "approver": "?", "role": None}
        if stmt["item_id"] not in wanted:
            problems.append(approval.refusal(OTHER_ITEM, f"no checklist item {stmt['item_id']} applies to this change"))
        if problems:
            refused.append({"item_id": stmt["item_id"], "approver": stmt["approver"], "refusals": problems})
            continue
        if stmt["item_id"] in acked:
            continue
        acked[stmt["item_id"]] = stmt["approver"]
        if not in_ledger:
            data = {
                "item_id": stmt["item_id"],
                "approver": stmt["approver"],
                "role": stmt["role"],
                "statement_text": text,
                "signature": signature,
                "statement_digest": digest(text),
            }
            events.append(envelope(ACKNOWLEDGED, change["id"], data, source=source))
    rows = [
        {
            "item_id": i["item_id"],
            "text": i.get("text"),
            "from_change": i["from_change"],
            "match": i.get("match"),
            "acknowledged_by": acked.get(i["item_id"]),
        }
        for i in items
    ]
    open_items = [r for r in rows if r["acknowledged_by"] is None]
    if open_items:
        reason = (
            f"{len(open_items)} checklist item(s) from reviews of similar changes not acknowledged: "
            + "; ".join(f"{r['item_id']} (from {r['from_change']}): {r['text']}" for r in open_items)
            + " - an approver other than the requester acknowledges each with a signed statement"
        )
    elif rows:
        reason = f"{len(rows)} checklist item(s) acknowledged: " + ", ".join(
            f"{r['item_id']} by {r['acknowledged_by']}" for r in rows
        )
    else:
        reason = "no checklist item applies to this change"
    return {
        "decision": "fail" if open_items else "pass",
        "reason": reason,
        "items": rows,
        "events": events,
        "refused": refused,
    }


__all__ = [
    "ACKNOWLEDGED",
    "ACK_TYPE",
    "ITEM_ADDED",
    "ChecklistError",
    "ack_statement",
    "all_items",
    "applies",
    "check",
    "make_items",
]
