"""Gate semantics: [start, end), ORed overlaps, scope, blackout over maintenance, next_allowed_at, horizon."""

import pytest
from calendar_testlib import fixture_path

from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar import gate
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.model import (
    change_scope,
    scope_from_tokens,
    scope_matches,
)

MAINT = {"src": fixture_path("maintenance.ics"), "kind": "maintenance"}


def check(at, calendars, scope=None, **kw):
    kw.setdefault("enforce", False)
    return gate.check(calendars=calendars, at=at, scope=scope or {}, **kw)


def test_window_is_half_open():
    cal = [fixture_path("edges.ics")]
    # Nightly window Mon 13 Jan 2025: 21:00Z (22:00 CET) to 01:00Z.
    assert check("2025-01-13T20:59:59Z", cal)["blocked"] is False
    assert check("2025-01-13T21:00:00Z", cal)["blocked"] is True
    assert check("2025-01-14T00:59:59Z", cal)["blocked"] is True
    assert check("2025-01-14T01:00:00Z", cal)["blocked"] is False


def test_blocked_result_names_window_and_next_allowed():
    result = check("2025-01-14T00:30:00+00:00", [fixture_path("edges.ics")])
    assert result["active_windows"] == [
        {
            "name": "Nightly batch",
            "kind": "blackout",
            "start": "2025-01-13T21:00:00Z",
            "end": "2025-01-14T01:00:00Z",
            "calendar": fixture_path("edges.ics"),
            "uid": "nightly",
        }
    ]
    assert result["next_allowed_at"] == "2025-01-14T01:00:00Z"
    assert result["checked_at"] == "2025-01-14T00:30:00Z"


def test_year_end_window_across_midnight_of_new_year():
    cal = [{"src": fixture_path("edges.ics"), "tz": "Europe/Berlin"}]
    # 24 Dec - 2 Jan local Berlin = 2025-12-23T23:00Z to 2026-01-01T23:00Z. The nightly batch window of
    # Thu 1 Jan (22:00-02:00 CET = 21:00Z-01:00Z) overlaps its end, so changes resume at 01:00Z on 2 Jan.
    result = check("2025-12-31T23:30:00Z", cal)
    assert result["blocked"] is True
    # Wed 31 Dec is a weekday too: its nightly window (21:00Z-01:00Z) is also in force.
    assert [w["uid"] for w in result["active_windows"]] == ["year-end", "nightly"]
    assert result["next_allowed_at"] == "2026-01-02T01:00:00Z"
    assert check("2026-01-01T23:00:00Z", cal)["active_windows"][0]["uid"] == "nightly"
    assert check("2026-01-02T01:00:00Z", cal)["blocked"] is False


def test_consecutive_windows_chain_to_the_real_next_allowed_time():
    # Ledger close covers Wed 26, Thu 27, Fri 28 Feb 2025 (Berlin days): allowed again at 1 Mar 00:00 CET.
    result = check("2025-02-26T12:00:00Z", [fixture_path("month_end.ics")], {"service": "ledger"})
    assert result["blocked"] is True
    assert result["next_allowed_at"] == "2025-02-28T23:00:00Z"
    assert check("2025-02-25T12:00:00Z", [fixture_path("month_end.ics")], {"service": "ledger"})["blocked"] is False


def test_scope_selects_events():
    cal = [fixture_path("month_end.ics")]
    at = "2025-03-31T20:00:00Z"  # inside both the billing window and the quarter close
    assert [w["uid"] for w in check(at, cal, {"service": "billing"})["active_windows"]] == ["lbd@finance"]
    assert [w["uid"] for w in check(at, cal, {"service": "reporting"})["active_windows"]] == ["eoq@finance"]
    assert check(at, cal, {"service": "search"})["blocked"] is False
    # Several services in one change: any of them being frozen blocks.
    assert len(check(at, cal, {"service": ["billing", "reporting"]})["active_windows"]) == 2
    # A change that does not say which service it touches may touch any of them, including the ledger,
    # whose close covers Mon 31 Mar (Berlin day 2025-03-30T22:00Z to 2025-03-31T22:00Z); sorted by start.
    assert [w["uid"] for w in check(at, cal, {})["active_windows"]] == ["l3bd@finance", "eoq@finance", "lbd@finance"]


def test_scope_token_rules():
    event = scope_from_tokens(["service=billing", "service=auth", "env_type=cloud", "FREEZE"])
    assert event == {"service": frozenset({"billing", "auth"}), "env_type": frozenset({"cloud"})}
    assert scope_matches(event, change_scope({"service": "auth", "env_type": "cloud"}))
    assert scope_matches(event, change_scope({"service": ["web", "Billing"], "env_type": ["edge", "cloud"]}))
    assert not scope_matches(event, change_scope({"service": "billing", "env_type": "edge"}))  # labels ANDed
    assert not scope_matches(event, change_scope({"service": "web", "env_type": "cloud"}))
    assert scope_matches(event, change_scope({"env_type": "cloud"}))  # service unknown: may be billing
    assert scope_matches({}, change_scope({"service": "anything"}))  # no tokens: every change
    typed = scope_from_tokens(["change_type=normal"])
    assert scope_matches(typed, change_scope({}, "normal"))
    assert not scope_matches(typed, change_scope({}, "standard"))


def test_maintenance_only_inside_its_windows():
    scope = {"service": "db", "env_type": "cloud"}
    # Saturdays 02:00-06:00Z; 4 Jan 2025 is a Saturday.
    inside = check("2025-01-04T02:30:00Z", [MAINT], scope)
    assert inside["blocked"] is False
    assert inside["maintenance_applies"] is True
    assert [w["kind"] for w in inside["active_windows"]] == ["maintenance"]
    outside = check("2025-01-04T07:00:00Z", [MAINT], scope)
    assert outside["blocked"] is True
    assert outside["active_windows"] == []
    assert outside["next_allowed_at"] == "2025-01-11T02:00:00Z"
    assert "outside every maintenance window" in outside["msg"]


def test_blackout_beats_overlapping_maintenance():
    scope = {"service": "db"}
    # The freeze (X-CHANGEWARD-KIND:blackout) covers 03:00-04:00Z inside the 02:00-06:00Z maintenance window.
    result = check("2025-01-04T03:30:00Z", [MAINT], scope)
    assert result["blocked"] is True
    assert [(w["kind"], w["uid"]) for w in result["active_windows"]] == [
        ("maintenance", "db-maint"),
        ("blackout", "db-freeze"),
    ]
    assert result["next_allowed_at"] == "2025-01-04T04:00:00Z"


def test_maintenance_for_other_scope_does_not_restrict():
    result = check("2025-01-04T07:00:00Z", [MAINT], {"service": "web"})
    assert result["blocked"] is False
    assert result["maintenance_applies"] is False


def test_overlapping_blackouts_are_ored():
    windows = [
        {"name": "A", "start": "2025-05-01T10:00:00Z", "end": "2025-05-01T12:00:00Z"},
        {"name": "B", "start": "2025-05-01T11:00:00Z", "end": "2025-05-01T13:00:00Z"},
    ]
    cal = [{"name": "inline", "windows": windows}]
    result = check("2025-05-01T11:30:00Z", cal)
    assert [w["name"] for w in result["active_windows"]] == ["A", "B"]
    assert result["next_allowed_at"] == "2025-05-01T13:00:00Z"
    assert check("2025-05-01T12:30:00Z", cal)["next_allowed_at"] == "2025-05-01T13:00:00Z"


def test_next_allowed_is_null_beyond_the_horizon():
    cal = [{"name": "long", "windows": [{"name": "Migration freeze", "start": "2025-01-01", "duration": "P40D"}]}]
    policy = {"blackout": {"horizon_days": 30}}
    result = check("2025-01-02T00:00:00Z", cal, policy=policy)
    assert result["blocked"] is True
    assert result["next_allowed_at"] is None
    assert "no allowed time within the next 30 days" in result["msg"]
    assert check("2025-01-02T00:00:00Z", cal)["next_allowed_at"] == "2025-02-10T00:00:00Z"


def test_maintenance_with_no_future_window_blocks_with_null():
    cal = [
        {"name": "old", "kind": "maintenance", "windows": [{"name": "Past", "start": "2024-01-01", "duration": "P1D"}]}
    ]
    result = check("2025-01-02T00:00:00Z", cal)
    assert result["blocked"] is True
    assert result["next_allowed_at"] is None


def test_allowed_now_reports_checked_time_as_next_allowed():
    result = check("2025-06-01T00:00:00Z", [fixture_path("month_end.ics")], {"service": "billing"})
    assert result["blocked"] is False
    assert result["next_allowed_at"] == "2025-06-01T00:00:00Z"


@pytest.mark.parametrize("enforce", [True, False])
def test_enforce_decides_whether_the_task_fails(enforce):
    result = check("2025-01-13T22:00:00Z", [fixture_path("edges.ics")], enforce=enforce)
    assert result["blocked"] is True
    assert result.get("failed", False) is enforce


def test_next_allowed_walks_far_ahead_to_a_maintenance_window_behind_blackouts():
    # Maintenance opens on 15 Apr 2025 10:00Z (about 100 days ahead) but a blackout covers its first hour;
    # blackout beats maintenance, so the first allowed instant is 11:00Z.
    cal = [
        {
            "name": "m",
            "kind": "maintenance",
            "windows": [{"name": "M", "start": "2025-04-15T10:00:00Z", "duration": "PT4H"}],
        },
        {"name": "b", "windows": [{"name": "B", "start": "2025-04-15T09:00:00Z", "end": "2025-04-15T11:00:00Z"}]},
    ]
    result = check("2025-01-05T00:00:00Z", cal)
    assert result["blocked"] is True
    assert result["next_allowed_at"] == "2025-04-15T11:00:00Z"
    # Within the window after the blackout: allowed, with the maintenance window reported.
    inside = check("2025-04-15T12:00:00Z", cal)
    assert inside["blocked"] is False
    assert [w["name"] for w in inside["active_windows"]] == ["M"]
