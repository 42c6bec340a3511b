# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Change records and their lifecycle events (CloudEvents 1.0, JSON format).

Plain dicts in, plain dicts out: the ledger stores what these functions validate, and the JSON Schemas in
docs/schemas describe exactly the same shapes (the unit tests hold the two together).
"""

from __future__ import annotations

import copy
import re
import socket
from collections.abc import Mapping
from datetime import datetime, timezone

from ansible_collections.changeward.hybrid.plugins.module_utils.events import envelope

from .errors import LedgerInvalidInput

SPECVERSION = "1.0"
DATACONTENTTYPE = "application/json"
CHANGE_TYPES = ("standard", "normal", "emergency")
OUTCOMES = ("successful", "successful_with_issues", "rolled_back", "aborted", "failed")
STATUSES = ("open", "closed")
RISK_LEVELS = ("low", "medium", "high", "critical")
APPROVAL_DECISIONS = ("approved", "rejected", "pending")
GATE_DECISIONS = ("pass", "fail", "waived")

EVENT_PREFIX = "io.changeward."
CHANGE_OPENED = "io.changeward.change.opened"
CHANGE_UPDATED = "io.changeward.change.updated"
CHANGE_CLOSED = "io.changeward.change.closed"
# Events of these types carry the whole record after the change in data.record; the latest one is the
# record's current state (the ledger keeps no second, mutable copy that could drift from the chain).
RECORD_EVENT_TYPES = (CHANGE_OPENED, CHANGE_UPDATED, CHANGE_CLOSED)

LIST_FIELDS = ("approvers", "targets", "gate_decisions", "snapshots", "rings", "observations")
RECORD_FIELDS = (
    "id",
    "type",
    "summary",
    "requester",
    "implementer",
    "approvers",
    "targets",
    "risk",
    "gate_decisions",
    "snapshots",
    "rings",
    "outcome",
    "observations",
    "status",
    "opened_at",
    "closed_at",
)
# Fields only the lifecycle functions set (update_record refuses them).
LIFECYCLE_FIELDS = ("id", "status", "outcome", "opened_at", "closed_at")
# Set when the change is opened (the implementer at the latest by the approval check) and never changed after.
FIXED_PARTIES = ("requester", "implementer")

CHANGE_ID_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
EVENT_TYPE_RE = re.compile(r"\Aio\.changeward(\.[a-z][a-z0-9_]*){2,}\Z")
EXTENSION_RE = re.compile(r"\A[a-z0-9]{1,20}\Z")
UUID4_RE = re.compile(r"\A[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")
TIME_RE = re.compile(r"\A(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z\Z")
CORE_ATTRIBUTES = ("specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data")


def utc_now() -> str:
    """Current time as RFC 3339 UTC with microseconds, e.g. 2026-01-31T12:00:00.123456Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_time(value, what: str) -> str:
    m = TIME_RE.match(value) if isinstance(value, str) else None
    if m is None:
        raise LedgerInvalidInput(f"{what} must be an RFC 3339 UTC time like 2026-01-31T12:00:00Z, got {value!r}")
    try:
        datetime(*(int(g) for g in m.groups()[:6]))
    except ValueError:
        raise LedgerInvalidInput(f"{what} is not a real date and time: {value!r}") from None
    return value


def default_source() -> str:
    return "urn:changeward:controller:" + (socket.gethostname() or "unknown")


def _text(value, what: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip():
        raise LedgerInvalidInput(f"{what} must be a non-empty string, got {value!r}")


def _enum(value, allowed, what: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if value not in allowed:
        raise LedgerInvalidInput(f"{what} must be one of {', '.join(allowed)}, got {value!r}")


def _items(record: Mapping, field: str, check) -> None:
    value = record.get(field)
    if not isinstance(value, list):
        raise LedgerInvalidInput(f"change {record.get('id')!r}: {field} must be a list")
    for i, item in enumerate(value):
        check(item, f"change {record.get('id')!r}: {field}[{i}]")


def _object(item, what: str, required: Mapping) -> None:
    if not isinstance(item, Mapping):
        raise LedgerInvalidInput(f"{what} must be an object")
    for key, check in required.items():
        if key not in item:
            raise LedgerInvalidInput(f"{what} lacks {key}")
        check(item[key], f"{what}.{key}")
    if item.get("time") is not None:
        check_time(item["time"], f"{what}.time")


def _approver(item, what):
    _object(item, what, {"name": _text, "decision": lambda v, w: _enum(v, APPROVAL_DECISIONS, w)})


def _gate(item, what):
    _object(item, what, {"gate": _text, "decision": lambda v, w: _enum(v, GATE_DECISIONS, w)})


def _snapshot(item, what):
    _object(item, what, {"host": _text, "id": _text})


def _ring(item, what):
    _object(item, what, {"name": _text})
    if "hosts" in item and not (isinstance(item["hosts"], list) and all(isinstance(h, str) for h in item["hosts"])):
        raise LedgerInvalidInput(f"{what}.hosts must be a list of host names")


def _observation(item, what):
    if isinstance(item, str):
        _text(item, what)
    else:
        _object(item, what, {"text": _text})


def _target(item, what):
    _text(item, what)


def validate_record(record) -> dict:
    """Check a change record; returns it. Raises LedgerInvalidInput naming the first problem."""
    if not isinstance(record, Mapping):
        raise LedgerInvalidInput(f"a change record must be an object, got {type(record).__name__}")
    unknown = sorted(set(record) - set(RECORD_FIELDS))
    if unknown:
        raise LedgerInvalidInput(f"change {record.get('id')!r}: unknown field(s) {', '.join(unknown)}")
    missing = [f for f in RECORD_FIELDS if f not in record]
    if missing:
        raise LedgerInvalidInput(f"change {record.get('id')!r}: missing field(s) {', '.join(missing)}")
    cid = record["id"]
    if not isinstance(cid, str) or not CHANGE_ID_RE.match(cid):
        raise LedgerInvalidInput(f"change id must match {CHANGE_ID_RE.pattern}, got {cid!r}")
    _enum(record["type"], CHANGE_TYPES, f"change {cid!r}: type")
    _text(record["summary"], f"change {cid!r}: summary")
    _text(record["requester"], f"change {cid!r}: requester")
    _text(record["implementer"], f"change {cid!r}: implementer", optional=True)
    _items(record, "approvers", _approver)
    _items(record, "targets", _target)
    if len(set(record["targets"])) != len(record["targets"]):
        raise LedgerInvalidInput(f"change {cid!r}: targets has duplicates")
    risk = record["risk"]
    if risk is not None:
        _object(risk, f"change {cid!r}: risk", {"level": lambda v, w: _enum(v, RISK_LEVELS, w)})
        score = risk.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            raise LedgerInvalidInput(f"change {cid!r}: risk.score must be a number")
    _items(record, "gate_decisions", _gate)
    _items(record, "snapshots", _snapshot)
    _items(record, "rings", _ring)
    _items(record, "observations", _observation)
    _enum(record["status"], STATUSES, f"change {cid!r}: status")
    check_time(record["opened_at"], f"change {cid!r}: opened_at")
    if record["status"] == "closed":
        _enum(record["outcome"], OUTCOMES, f"change {cid!r}: outcome")
        check_time(record["closed_at"], f"change {cid!r}: closed_at")
        if not record["observations"]:
            raise LedgerInvalidInput(f"change {cid!r}: a closed change needs at least one observation")
    elif record["outcome"] is not None or record["closed_at"] is not None:
        raise LedgerInvalidInput(f"change {cid!r}: an open change has no outcome or closed_at yet")
    return record


def new_record(
    change_id: str,
    change_type: str,
    summary: str,
    requester: str,
    *,
    opened_at: str | None = None,
    **fields,
) -> dict:
    """A new, open change record; optional fields (implementer, targets, risk, ...) may be given."""
    bad = sorted(set(fields) - (set(RECORD_FIELDS) - set(LIFECYCLE_FIELDS) - {"type", "summary", "requester"}))
    if bad:
        raise LedgerInvalidInput(f"new_record: cannot set {', '.join(bad)}")
    record = {
        "id": change_id,
        "type": change_type,
        "summary": summary,
        "requester": requester,
        "implementer": None,
        "approvers": [],
        "targets": [],
        "risk": None,
        "gate_decisions": [],
        "snapshots": [],
        "rings": [],
        "outcome": None,
        "observations": [],
        "status": "open",
        "opened_at": opened_at or utc_now(),
        "closed_at": None,
    }
    record.update(copy.deepcopy(fields))
    return validate_record(record)


def update_record(record: Mapping, set_fields: Mapping | None = None, add: Mapping | None = None) -> dict:
    """A copy of ``record`` with ``set_fields`` replaced and the lists in ``add`` extended."""
    if record.get("status") == "closed":
        raise LedgerInvalidInput(f"change {record.get('id')!r} is closed; it cannot be updated")
    new = copy.deepcopy(dict(record))
    for key, value in (set_fields or {}).items():
        if key in LIFECYCLE_FIELDS or key not in RECORD_FIELDS:
            raise LedgerInvalidInput(f"change {record.get('id')!r}: field {key!r} cannot be set by an update")
        # Segregation of duties rests on who asked and who implements: fixed once known (docs/trust-model.md).
        if key in FIXED_PARTIES and record.get(key) not in (None, value):
            raise LedgerInvalidInput(
                f"change {record.get('id')!r}: {key} is {record.get(key)!r} since the change was opened and cannot "
                "be changed"
            )
        new[key] = copy.deepcopy(value)
    for key, value in (add or {}).items():
        if key not in LIST_FIELDS:
            raise LedgerInvalidInput(f"change {record.get('id')!r}: {key!r} is not a list field")
        if not isinstance(value, list):
            raise LedgerInvalidInput(f"change {record.get('id')!r}: items to add to {key} must be a list")
        new[key] = list(new[key]) + copy.deepcopy(value)
    return validate_record(new)


def close_record(record: Mapping, outcome: str, observations=None, *, closed_at: str | None = None) -> dict:
    """A copy of ``record`` closed with ``outcome``; observations are added (one is required in all)."""
    if record.get("status") == "closed":
        raise LedgerInvalidInput(f"change {record.get('id')!r} is already closed")
    if isinstance(observations, str):
        observations = [observations]
    new = copy.deepcopy(dict(record))
    new["observations"] = list(new["observations"]) + copy.deepcopy(list(observations or []))
    new.update(status="closed", outcome=outcome, closed_at=closed_at or utc_now())
    return validate_record(new)


def new_event(
    event_type: str,
    subject: str,
    data: Mapping | None = None,
    *,
    source: str | None = None,
    time: str | None = None,
    event_id: str | None = None,
    extensions: Mapping | None = None,
) -> dict:
    """A CloudEvents 1.0 event for the ledger: id is a fresh uuid4, time is now (UTC). Built by the collection's
    one envelope builder (module_utils.events, which target modules use too) and validated."""
    event = envelope(event_type, subject, data, source=source or default_source(), time=time, event_id=event_id)
    for key, value in (extensions or {}).items():
        if key in event:
            raise LedgerInvalidInput(f"extension attribute {key!r} clashes with a CloudEvents attribute")
        event[key] = value
    return validate_event(event)


def validate_event(event) -> dict:
    """Check an event; returns it. Raises LedgerInvalidInput naming the first problem."""
    if not isinstance(event, Mapping):
        raise LedgerInvalidInput(f"an event must be an object, got {type(event).__name__}")
    missing = [a for a in CORE_ATTRIBUTES if a not in event]
    if missing:
        raise LedgerInvalidInput(f"event {event.get('id')!r} lacks {', '.join(missing)}")
    if event["specversion"] != SPECVERSION:
        raise LedgerInvalidInput(f"event specversion must be {SPECVERSION!r}, got {event['specversion']!r}")
    if not isinstance(event["id"], str) or not UUID4_RE.match(event["id"]):
        raise LedgerInvalidInput(f"event id must be a lowercase uuid4, got {event['id']!r}")
    eid = event["id"]
    _text(event["source"], f"event {eid}: source")
    if not isinstance(event["type"], str) or not EVENT_TYPE_RE.match(event["type"]):
        raise LedgerInvalidInput(f"event {eid}: type must look like io.changeward.change.opened, got {event['type']!r}")
    check_time(event["time"], f"event {eid}: time")
    _text(event["subject"], f"event {eid}: subject")
    if event["datacontenttype"] != DATACONTENTTYPE:
        raise LedgerInvalidInput(f"event {eid}: datacontenttype must be {DATACONTENTTYPE}")
    if not isinstance(event["data"], Mapping):
        raise LedgerInvalidInput(f"event {eid}: data must be an object")
    for key in set(event) - set(CORE_ATTRIBUTES):
        if not isinstance(key, str) or not EXTENSION_RE.match(key):
            raise LedgerInvalidInput(f"event {eid}: extension attribute names are 1-20 of [a-z0-9], got {key!r}")
        value = event[key]
        if not isinstance(value, (str, int)) or value is None:
            raise LedgerInvalidInput(f"event {eid}: extension {key} must be a string, integer or boolean")
    if event["type"] in RECORD_EVENT_TYPES or "record" in event["data"]:
        record = event["data"].get("record")
        validate_record(record)
        if record["id"] != event["subject"]:
            raise LedgerInvalidInput(
                f"event {eid}: subject {event['subject']!r} is not the record's id {record['id']!r}"
            )
    return event


def carries_record(event: Mapping) -> bool:
    return isinstance(event.get("data"), Mapping) and isinstance(event["data"].get("record"), Mapping)


ROW_COLUMNS = ("event_id", "type", "subject", "event_time", "is_record")


def row_columns(event) -> tuple:
    """What a stored row's query columns must hold, derived from its hashed event (ROW_COLUMNS order).

    The one derivation: appends store it, readers and ledger_verify compare the stored columns with it.
    """
    if not isinstance(event, Mapping):
        return (None, None, None, None, 0)
    return (event.get("id"), event.get("type"), event.get("subject"), event.get("time"), int(carries_record(event)))
