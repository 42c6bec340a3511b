# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""changeward's own calendar as an RFC 5545 feed people subscribe to: changes (planned, running, recent) from the
ledger and its plans, blackout and maintenance windows from the policy's calendars, provider maintenance from its feeds.

Built with icalendar. Every event has a stable UID (a change, a calendar window occurrence, a provider event),
DTSTAMP, DTSTART and DTEND in UTC, so a client that re-reads the feed updates events instead of duplicating them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import parse_instant

PRODID = "-//changeward//changeward.hybrid calendar_publish//EN"
DOMAIN = "changeward"
OPEN_ENDED_SHOWN = 86400.0  # a maintenance without an end is shown for one day (its description says open-ended)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc).replace(microsecond=0)


def _uid(*parts) -> str:
    text = "|".join(str(p) for p in parts)
    return f"{hashlib.sha256(text.encode()).hexdigest()[:32]}@{DOMAIN}"


def change_items(changes: Iterable[Mapping], now: float, duration: float, recent: float, services=None) -> list:
    """Calendar items of the ledger's changes: planned ones (change_plans: scheduled, not opened yet) in their
    planned window, open ones (running) and those closed within `recent`. An open change is shown until
    change_duration after the later of its opening and now, or its planned end if later. The UID is the change
    id, so a planned change that opens is the same event in subscribers' calendars, moved to its real times."""
    items = []
    for change in changes:
        if services is not None and change.get("service") not in services:
            continue
        planned_end = parse_instant(change["planned_end"], "planned_end") if change.get("planned_end") else None
        if change.get("status") == "planned":
            opened = parse_instant(change["planned_start"], "planned_start")
            state, end = "planned", planned_end
            if end < now - recent:
                continue
        elif change.get("status") == "closed":
            opened = parse_instant(change["opened_at"], "opened_at")
            closed = parse_instant(change["closed_at"], "closed_at")
            if closed < now - recent:
                continue
            state, end = f"closed {change.get('outcome') or ''}".strip(), max(closed, opened + 60)
        else:
            opened = parse_instant(change["opened_at"], "opened_at")
            state = "running"
            end = max(max(opened, now) + duration, planned_end or 0.0)
        targets = [t for t in change.get("targets") or [] if t]
        items.append(
            {
                "uid": f"{change['id']}@{DOMAIN}",
                "summary": f"[{state}] {change['id']}: {change.get('summary') or ''}".rstrip(),
                "start": opened,
                "end": end,
                "categories": ["change"] + ([f"service={change['service']}"] if change.get("service") else []),
                "status": "CANCELLED" if change.get("outcome") == "aborted" else "CONFIRMED",
                "description": "\n".join(
                    [
                        f"change {change['id']} ({change.get('type')}), {state}"
                        + (
                            f" (planned {change['planned_start']} - {change['planned_end']})"
                            if change.get("planned_end") and change.get("status") != "planned"
                            else ""
                        ),
                        f"service: {change.get('service') or '-'}",
                        f"targets: {', '.join(targets) or '-'}",
                    ]
                ),
                "kind": None,
            }
        )
    return items


def window_items(windows: Iterable) -> list:
    """Calendar items of blackout and maintenance windows (calendar model.Window)."""
    return [
        {
            "uid": _uid("window", w.calendar, w.uid, w.start),
            "summary": f"{'Blackout' if w.kind == 'blackout' else 'Maintenance window'}: {w.name}",
            "start": w.start,
            "end": w.end,
            "categories": [w.kind],
            "status": "CONFIRMED",
            "description": f"{w.kind} window of calendar {w.calendar} ({w.uid})",
            "kind": w.kind,
        }
        for w in windows
    ]


def maintenance_items(maintenances: Iterable, hosts_of) -> list:
    """Calendar items of provider maintenances; hosts_of(m) gives the inventory hosts it affects (none: skipped)."""
    items = []
    for m in maintenances:
        hosts = hosts_of(m)
        if not hosts:
            continue
        open_ended = m.end is None
        items.append(
            {
                "uid": _uid("provider", m.provider, m.event_id),
                "summary": f"{m.provider.upper()} maintenance: {m.kind} ({', '.join(hosts)})",
                "start": m.start,
                "end": m.start + OPEN_ENDED_SHOWN if open_ended else m.end,
                "categories": ["provider-maintenance", f"provider={m.provider}"],
                "status": "CONFIRMED",
                "description": "\n".join(
                    [
                        f"{m.title} from feed {m.feed}"
                        + (" - open-ended (the instance does not come back)" if open_ended else ""),
                        f"hosts: {', '.join(hosts)}",
                        m.description,
                    ]
                ).strip(),
                "kind": None,
            }
        )
    return items


def render(items: Iterable[Mapping], name: str, now: float) -> bytes:
    """The VCALENDAR (RFC 5545) of the items, sorted by start then UID so the same data gives the same bytes."""
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", "UTC")
    stamp = _dt(now)
    for item in sorted(items, key=lambda i: (i["start"], i["uid"])):
        event = Event()
        event.add("uid", item["uid"])
        event.add("dtstamp", stamp)
        event.add("dtstart", _dt(item["start"]))
        event.add("dtend", _dt(max(item["end"], item["start"] + 60)))
        event.add("summary", item["summary"])
        event.add("description", item["description"])
        event.add("status", item["status"])
        event.add("categories", item["categories"])
        event.add("transp", "OPAQUE")
        if item.get("kind"):
            event.add("x-changeward-kind", item["kind"])
        cal.add_component(event)
    return cal.to_ical()


def without_stamps(data: bytes) -> bytes:
    """The feed without its DTSTAMP lines: what 'changed' compares (every generation has a new stamp)."""
    return b"\n".join(line for line in data.splitlines() if not line.startswith(b"DTSTAMP"))


def windows_between(calendar_set, scope, start: float, end: float) -> list:
    """Blackout and maintenance windows (model.Window) of the scope that overlap [start, end)."""
    blackouts, maintenance = calendar_set.applicable(scope)
    out = []
    for timeline in [*blackouts, *maintenance]:
        timeline.extend_to(end)
        for i, begin in enumerate(timeline.starts):
            if begin < end and timeline.ends[i] > start:
                out.append(timeline.window(i))
    return out
