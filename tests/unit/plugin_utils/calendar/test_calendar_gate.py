"""Emergency override, the calendar policy section and request validation."""

import pytest
from calendar_testlib import fixture_path

from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar import gate
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.errors import GateInputError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.override import CheckedOverride
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.policy import blackout_policy

CAL = [fixture_path("edges.ics")]
BLOCKED_AT = "2025-01-13T22:00:00Z"  # nightly window 21:00Z-01:00Z
POLICY = {"blackout": {"override_roles": ["incident-commander"]}, "approval": {"ignored": "by this gate"}}
# An override as check_override passes it on once verified (its verification: test_override.py).
OVERRIDE = CheckedOverride(
    {
        "reference": "INC-4711",
        "approver": "alice",
        "role": "incident-commander",
        "justification": "auth outage, hotfix needed now",
        "exemptions": [],
        "change_digest": "sha256:" + "0" * 64,
        "statement_text": "{}",
        "signature": "sig",
    }
)


def run(**kw):
    kw.setdefault("calendars", CAL)
    kw.setdefault("at", BLOCKED_AT)
    kw.setdefault("policy", POLICY)
    return gate.check(**kw)


def test_emergency_override_by_allowed_role():
    result = run(change_type="emergency", override=OVERRIDE, scope={"service": "auth"})
    assert result["blocked"] is True
    assert result["overridden"] is True
    assert result["review_required"] is True
    assert "failed" not in result
    event = result["ledger_event"]
    assert event["specversion"] == "1.0"
    assert event["type"] == "io.changeward.gate.override"
    assert event["subject"] == "INC-4711"
    assert event["time"] == "2025-01-13T22:00:00Z"
    assert event["source"] == "changeward.hybrid.blackout"
    assert len(event["id"]) == 36
    data = event["data"]
    assert (data["approver"], data["role"], data["change_type"]) == ("alice", "incident-commander", "emergency")
    assert data["justification"] == "auth outage, hotfix needed now"
    assert data["scope"] == {"change_type": ["emergency"], "service": ["auth"]}
    assert [w["uid"] for w in data["active_windows"]] == ["nightly"]
    assert data["review_required"] is True


def unverified():
    return CheckedOverride(OVERRIDE.values, "the override's signature does not count: forged")


@pytest.mark.parametrize(
    ("change_type", "override", "policy", "reason"),
    [
        ("normal", OVERRIDE, POLICY, "only for change_type emergency, not normal"),
        ("standard", OVERRIDE, POLICY, "not standard"),
        ("emergency", unverified(), POLICY, "signature does not count: forged"),
        (
            "emergency",
            {"reference": "INC-4711", "approver": "alice", "role": "incident-commander"},
            POLICY,
            "a self-declared approver (alice) cannot be verified",
        ),
        ("emergency", CheckedOverride({**OVERRIDE.values, "role": "developer"}), POLICY, "role 'developer'"),
        ("emergency", OVERRIDE, {"blackout": {"override_roles": []}}, "override_roles is empty"),
        ("emergency", OVERRIDE, {}, "override_roles is empty"),
    ],
)
def test_override_refused(change_type, override, policy, reason):
    result = run(change_type=change_type, override=override, policy=policy)
    assert result["blocked"] is True
    assert result["overridden"] is False
    assert result["failed"] is True
    assert reason in result["override_refused"]
    assert reason in result["msg"]
    assert "ledger_event" not in result


def test_override_unused_when_not_blocked():
    result = run(at="2025-01-13T12:00:00Z", change_type="emergency", override=OVERRIDE)
    assert result["blocked"] is False
    assert result["overridden"] is False
    assert "ledger_event" not in result


def test_an_override_that_is_no_mapping_is_an_error():
    with pytest.raises(GateInputError, match="override must be a mapping"):
        run(change_type="emergency", override="INC-1")


def test_change_type_is_a_scope_label(tmp_path):
    path = tmp_path / "cal.ics"
    path.write_text(
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:n\nSUMMARY:Normal changes only\nDTSTART:20250101T000000Z\n"
        "DURATION:P1D\nCATEGORIES:change_type=normal\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    at = "2025-01-01T12:00:00Z"
    assert gate.check(calendars=[str(path)], at=at, change_type="normal", enforce=False)["blocked"] is True
    assert gate.check(calendars=[str(path)], at=at, change_type="standard")["blocked"] is False


def test_message_names_window_and_next_time():
    result = run()
    assert result["msg"] == (
        "Change blocked at 2025-01-13T22:00:00Z: blackout 'Nightly batch' ("
        + fixture_path("edges.ics")
        + ") 2025-01-13T21:00:00Z to 2025-01-14T01:00:00Z; changes are allowed again at 2025-01-14T01:00:00Z"
    )


def test_policy_calendars_are_combined_with_task_calendars():
    # Fri 31 Jan 2025 21:30Z: billing run (17:00Z-05:00Z) and the nightly batch (21:00Z-01:00Z).
    policy = {"blackout": {"calendars": [fixture_path("month_end.ics")]}}
    result = gate.check(calendars=CAL, policy=policy, at="2025-01-31T21:30:00Z", scope={"service": "billing"})
    assert [c["name"] for c in result["calendars"]] == [fixture_path("month_end.ics"), fixture_path("edges.ics")]
    assert [w["uid"] for w in result["active_windows"]] == ["lbd@finance", "nightly"]


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        ("yes", "policy must be a mapping"),
        ({"override_roles": ["x"]}, "calendar settings live under policy.blackout"),
        ({"blackout": {"colour": "red"}}, "unknown key(s) colour"),
        ({"blackout": {"horizon_days": 0}}, "horizon_days"),
        ({"blackout": {"horizon_days": True}}, "horizon_days"),
        ({"blackout": {"override_roles": "cab"}}, "override_roles must be a list"),
        ({"blackout": {"default_timezone": "Atlantis/Capital"}}, "Atlantis/Capital"),
        ({"blackout": {"http_timeout": 0}}, "http_timeout"),
        ({"blackout": {"calendars": "a.ics"}}, "calendars must be a list"),
        ({"blackout": []}, "policy.blackout must be a mapping"),
    ],
)
def test_policy_errors(policy, fragment):
    with pytest.raises(GateInputError) as exc:
        blackout_policy(policy)
    assert fragment in str(exc.value)


def test_policy_defaults():
    pol = blackout_policy({"blackout": {"calendars": ["a.ics"]}})
    assert (pol.horizon_days, pol.override_roles, pol.http_timeout) == (366, (), 10.0)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"at": "2025-01-13T22:00:00"}, "has no UTC offset"),
        ({"change_type": "urgent"}, "change_type must be one of"),
        ({"scope": ["billing"]}, "scope must be a mapping"),
        ({"calendars": [42]}, "calendars[0] must be a path"),
        ({"calendars": [{"src": "a.ics", "windows": []}]}, "exactly one of src"),
        ({"calendars": [{"src": "a.ics", "kind": "freeze"}]}, "calendars[0]"),
        ({"calendars": [{"src": "a.ics", "colour": "red"}]}, "unknown key(s) colour"),
    ],
)
def test_invalid_requests_raise(kwargs, fragment):
    with pytest.raises(GateInputError) as exc:
        run(**kwargs)
    assert fragment in str(exc.value)


def test_default_time_is_now():
    result = gate.check(calendars=CAL)
    assert result["checked_at"].endswith("Z")
    assert result["checked_at"] >= "2025"
