"""Change records and CloudEvents: the model and the published JSON Schemas agree."""

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerInvalidInput

SCHEMAS = Path(__file__).resolve().parents[4] / "docs" / "schemas"


def _load(name):
    return json.loads((SCHEMAS / name).read_text())


RECORD_SCHEMA = _load("change_record.schema.json")
EVENT_SCHEMA = _load("event.schema.json")
REGISTRY = Registry().with_resources(
    [(s["$id"], Resource.from_contents(s)) for s in (RECORD_SCHEMA, EVENT_SCHEMA)]
    + [("change_record.schema.json", Resource.from_contents(RECORD_SCHEMA))]
)
RECORD_V = Draft202012Validator(RECORD_SCHEMA, registry=REGISTRY)
EVENT_V = Draft202012Validator(EVENT_SCHEMA, registry=REGISTRY)


def test_schemas_are_valid_draft_2020_12():
    Draft202012Validator.check_schema(RECORD_SCHEMA)
    Draft202012Validator.check_schema(EVENT_SCHEMA)


def full_record():
    record = model.new_record(
        "CHG0042",
        "emergency",
        "patch openssl",
        "alice",
        implementer="bob",
        targets=["web1", "db1"],
        approvers=[{"name": "carol", "decision": "approved", "time": "2026-01-31T10:00:00Z"}],
        risk={"level": "high", "score": 7.5, "factors": {"hosts": 2}},
        gate_decisions=[{"gate": "blackout", "decision": "pass", "reason": "no window"}],
        snapshots=[{"host": "web1", "id": "snap-1"}],
        rings=[{"name": "canary", "hosts": ["web1"]}],
    )
    return model.close_record(record, "rolled_back", [{"text": "latency breach in ring 1"}, "rolled back cleanly"])


def test_record_lifecycle_and_schema():
    opened = model.new_record("CHG0001", "normal", "upgrade nginx", "alice")
    assert opened["status"] == "open" and opened["outcome"] is None
    RECORD_V.validate(opened)
    updated = model.update_record(opened, {"implementer": "bob"}, {"targets": ["web1"]})
    assert updated["implementer"] == "bob" and updated["targets"] == ["web1"]
    assert opened["implementer"] is None, "update returns a copy"
    closed = model.close_record(updated, "successful", "done")
    assert closed["status"] == "closed" and closed["observations"] == ["done"]
    RECORD_V.validate(closed)
    RECORD_V.validate(full_record())


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r.update(type="urgent"),
        lambda r: r.update(outcome="great"),
        lambda r: r.update(id="bad id with spaces"),
        lambda r: r.update(summary=""),
        lambda r: r.update(observations=[]),  # closed needs an observation
        lambda r: r.update(closed_at="yesterday"),
        lambda r: r.update(extra="field"),
        lambda r: r.pop("requester"),
        lambda r: r.update(targets=["a", "a"]),
        lambda r: r["approvers"].append({"name": "dave", "decision": "maybe"}),
        lambda r: r["gate_decisions"].append({"decision": "pass"}),
        lambda r: r.update(risk={"level": "extreme"}),
        lambda r: r.update(status="open"),  # open with an outcome
    ],
)
def test_invalid_records_are_refused_by_model_and_schema(mutate):
    record = full_record()
    mutate(record)
    with pytest.raises(LedgerInvalidInput):
        model.validate_record(record)
    assert not RECORD_V.is_valid(record)


def test_closed_changes_cannot_change_again():
    closed = full_record()
    with pytest.raises(LedgerInvalidInput, match="closed"):
        model.update_record(closed, {"summary": "x"})
    with pytest.raises(LedgerInvalidInput, match="already closed"):
        model.close_record(closed, "failed", "again")


@pytest.mark.parametrize("field", ["id", "status", "outcome", "opened_at", "closed_at", "nonsense"])
def test_update_refuses_lifecycle_and_unknown_fields(field):
    with pytest.raises(LedgerInvalidInput):
        model.update_record(model.new_record("C1", "standard", "s", "r"), {field: "x"})


def test_events_are_cloudevents_and_match_the_schema():
    event = model.new_event(
        "io.changeward.change.opened", "CHG0042", {"record": full_record()}, extensions={"runid": "r1"}
    )
    assert event["specversion"] == "1.0" and event["datacontenttype"] == "application/json"
    assert model.UUID4_RE.match(event["id"]) and event["time"].endswith("Z")
    EVENT_V.validate(event)
    plain = model.new_event("io.changeward.run.task_result", "CHG0042", {"rc": 0})
    EVENT_V.validate(plain)
    assert (
        model.new_event("io.changeward.run.started", "x")["id"]
        != model.new_event("io.changeward.run.started", "x")["id"]
    )


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.update(specversion="0.3"),
        lambda e: e.update(id="not-a-uuid"),
        lambda e: e.update(type="com.example.other"),
        lambda e: e.update(time="2026-01-31 10:00:00"),
        lambda e: e.update(time="2026-01-31T10:00:00+01:00"),
        lambda e: e.update(subject=""),
        lambda e: e.update(datacontenttype="text/plain"),
        lambda e: e.update(data="text"),
        lambda e: e.pop("source"),
        lambda e: e.update({"Bad-Ext": "x"}),
        lambda e: e["data"]["record"].update(type="urgent"),
        lambda e: e["data"].pop("record"),
    ],
)
def test_invalid_events_are_refused_by_model_and_schema(mutate):
    event = model.new_event("io.changeward.change.closed", "CHG0042", {"record": full_record()})
    event = copy.deepcopy(event)
    mutate(event)
    with pytest.raises(LedgerInvalidInput):
        model.validate_event(event)
    assert not EVENT_V.is_valid(event)


def test_record_event_subject_must_be_the_record_id():
    # Not expressible in JSON Schema; the model enforces it.
    with pytest.raises(LedgerInvalidInput, match="subject"):
        model.new_event("io.changeward.change.opened", "CHG9999", {"record": full_record()})


def test_impossible_dates_are_refused():
    with pytest.raises(LedgerInvalidInput, match="real date"):
        model.check_time("2026-02-30T10:00:00Z", "t")
