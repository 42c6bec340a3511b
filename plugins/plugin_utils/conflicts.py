# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Conflicts of a change with what else happens to its hosts while it runs (docs/calendars-across-providers.md).

A change's window is [start, start + change_duration). It conflicts with

- a provider maintenance (providers/feeds.py) on one of its targets that overlaps the window;
- another open or planned change on an overlapping host, or on the same service or a dependent one (the
  dependency map, provider -> consumers, read both ways), whose expected window overlaps: an open change's from
  opened_at until change_duration after the later of opened_at and now (it has not closed yet), or its planned
  end if later; a planned change's (change_plans.py) its planned window;
- a blackout window of the effective policy's calendars, for the change's scope, that overlaps the window.

Each kind refuses or warns by policy (conflicts.decisions). What cannot be decided - a feed that cannot be read,
a target of an event's region without an instance_id - always refuses: no data is never "no conflict".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import parse_instant
from ansible_collections.changeward.hybrid.plugins.plugin_utils import change_plans
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.localtime import iso_utc
from ansible_collections.changeward.hybrid.plugins.plugin_utils.providers.feeds import affected_hosts


def span(start: float, end: float | None) -> dict:
    return {"start": iso_utc(start), "end": None if end is None else iso_utc(end)}


def _overlap(a_start, a_end, b_start, b_end):
    lo = max(a_start, b_start)
    hi = a_end if b_end is None else min(a_end, b_end)
    return (lo, hi) if lo < hi else None


# -- the ledger's changes ---------------------------------------------------------------------------------------
def ledger_changes(ledger) -> list:
    """Every change of a ledger: {id, type, summary, status, outcome, service, targets, opened_at, closed_at,
    planned_start, planned_end}, and the scheduled plans not opened yet (status planned). The service is in the
    change's opened event (the main job records it there); a change opened from a plan keeps its planned window."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import CHANGE_OPENED

    services = {}
    for entry in ledger.events(types=[CHANGE_OPENED]):
        data = entry.event.get("data") or {}
        services[entry.event.get("subject")] = data.get("service") if isinstance(data.get("service"), str) else None
    plans = change_plans.read_plans(ledger)
    out = []
    for change_id in ledger.change_ids():
        record = ledger.get_change(change_id)
        if record is None:
            continue
        plan = plans.get(change_id) if (plans.get(change_id) or {}).get("state") == change_plans.IMPLEMENTED else None
        out.append(
            {
                "id": record["id"],
                "type": record.get("type"),
                "summary": record.get("summary"),
                "status": record.get("status"),
                "outcome": record.get("outcome"),
                "service": services.get(change_id),
                "targets": [t if isinstance(t, str) else t.get("host") for t in record.get("targets") or []],
                "opened_at": record.get("opened_at"),
                "closed_at": record.get("closed_at"),
                "rings_started": bool(record.get("rings")),
                "planned_start": plan["start"] if plan else None,
                "planned_end": plan["end"] if plan else None,
            }
        )
    return out + change_plans.as_changes(plans)


def expected_window(change: Mapping, now: float, duration: float) -> tuple | None:
    """When another change is expected to run: a planned one its planned window; an open one from its opening
    until duration after the later of its opening and now, or its planned end if later; a closed one not at all."""
    if change.get("status") == "planned":
        return (
            parse_instant(change["planned_start"], f"plan {change['id']} start"),
            parse_instant(change["planned_end"], f"plan {change['id']} end"),
        )
    if change.get("status") != "open":
        return None
    opened = parse_instant(change["opened_at"], f"change {change['id']} opened_at")
    end = max(opened, now) + duration
    if change.get("planned_end"):
        end = max(end, parse_instant(change["planned_end"], f"change {change['id']} planned_end"))
    return (opened, end)


def related_services(service: str | None, dependency_map: Mapping | None) -> set:
    """The service, the services that consume it and those it consumes (dependency map: provider -> consumers)."""
    if not service:
        return set()
    service = str(service).casefold()  # the dependency graph keeps names in lower case
    related = {service}
    for provider, consumers in (dependency_map or {}).items():
        consumers = [str(c).casefold() for c in consumers or ()]
        if str(provider).casefold() == service:
            related.update(consumers)
        if service in consumers:
            related.add(str(provider).casefold())
    return related


# -- the three kinds --------------------------------------------------------------------------------------------
def provider_conflicts(maintenances: Iterable, hosts: Mapping, window: tuple) -> tuple[list, list]:
    """(conflicts, cannot_decide) of provider maintenances on the targets (hosts: {name: labels})."""
    found, unsure = [], []
    for m in maintenances:
        affected, unmapped = affected_hosts(m, hosts)
        overlap = m.overlap(*window)
        if overlap is None:
            continue
        if affected:
            found.append(
                {
                    "kind": "provider_maintenance",
                    "with": m.event_id,
                    "name": m.title,
                    "provider": m.provider,
                    "feed": m.feed,
                    "event": m.as_dict(),
                    "window": span(m.start, m.end),
                    "overlap": span(*overlap),
                    "hosts": affected,
                }
            )
        if unmapped:
            unsure.append(
                f"{m.title} (feed {m.feed}) names instances in {m.region or 'a region'} of {m.provider}, but "
                f"{', '.join(unmapped)} carry no instance_id label: cannot tell whether they are affected"
            )
    return found, unsure


def change_conflicts(
    change_id: str,
    service: str | None,
    targets: Iterable,
    others: Iterable,
    window: tuple,
    now: float,
    duration: float,
    dependency_map=None,
) -> list:
    """Open and planned changes other than change_id that overlap in time and share a host or a (dependent)
    service."""
    mine = set(targets)
    related = related_services(service, dependency_map)
    found = []
    for other in others:
        if other["id"] == change_id:
            continue
        expected = expected_window(other, now, duration)
        if expected is None:
            continue
        overlap = _overlap(window[0], window[1], *expected)
        if overlap is None:
            continue
        hosts = sorted(mine & set(other.get("targets") or ()))
        shared_service = str(other.get("service")).casefold() in related if other.get("service") else False
        if not hosts and not shared_service:
            continue
        why = []
        if hosts:
            why.append(f"{len(hosts)} shared host(s)")
        if shared_service:
            why.append(
                f"service {other['service']}" + ("" if other["service"] == service else f" (depends on/with {service})")
            )
        found.append(
            {
                "kind": "change",
                "with": other["id"],
                "name": f"{'planned ' if other['status'] == 'planned' else ''}change {other['id']}: "
                f"{other.get('summary') or ''}".strip(),
                "planned": other["status"] == "planned",
                "service": other.get("service"),
                "window": span(*expected),
                "overlap": span(*overlap),
                "hosts": hosts,
                "why": ", ".join(why),
            }
        )
    return found


def blackout_windows(calendar_set, scope, start: float, end: float) -> list:
    """Blackout windows (model.Window) of the scope that overlap [start, end)."""
    blackouts, _maintenance = calendar_set.applicable(scope)
    out = []
    for timeline in blackouts:
        timeline.extend_to(end)
        for i, begin in enumerate(timeline.starts):
            if begin < end and timeline.ends[i] > start:
                out.append(timeline.window(i))
    return sorted(out, key=lambda w: (w.start, w.name))


def blackout_conflicts(windows: Iterable, targets: Iterable, window: tuple) -> list:
    found = []
    for w in windows:
        overlap = _overlap(window[0], window[1], w.start, w.end)
        if overlap is None:
            continue
        found.append(
            {
                "kind": "blackout",
                "with": w.uid,
                "name": f"blackout {w.name} ({w.calendar})",
                "window": span(w.start, w.end),
                "overlap": span(*overlap),
                "hosts": sorted(targets),
            }
        )
    return found


def unchecked(hosts: Mapping, providers_with_feeds: Iterable) -> list:
    """Cloud targets whose provider no feed covers: their maintenance is not known."""
    covered = set(providers_with_feeds)
    return sorted(
        name
        for name, labels in hosts.items()
        if labels.get("env_type") == "cloud" and str(labels.get("provider") or "").lower() not in covered
    )


# -- the decision -----------------------------------------------------------------------------------------------
def decide(change_id: str, window: tuple, found: list, cannot_decide: list, decisions: Mapping, unchecked_hosts=()):
    """The gate's result: every conflict with its decision (refuse | warn), blocked, and a message naming them."""
    conflicts = []
    for item in found:
        kind = "changes" if item["kind"] == "change" else item["kind"]
        conflicts.append({**item, "decision": decisions.get(kind, "refuse")})
    if unchecked_hosts:
        conflicts.append(
            {
                "kind": "unchecked_providers",
                "with": None,
                "name": "no maintenance feed for their provider",
                "window": span(*window),
                "overlap": span(*window),
                "hosts": list(unchecked_hosts),
                "decision": decisions.get("unchecked_providers", "warn"),
            }
        )
    refusing = [c for c in conflicts if c["decision"] == "refuse"]
    warnings = [c for c in conflicts if c["decision"] == "warn"]
    blocked = bool(refusing or cannot_decide)
    parts = []
    if cannot_decide:
        parts.append("cannot decide: " + "; ".join(cannot_decide))
    for c in refusing:
        parts.append(_describe(c))
    if blocked:
        msg = f"change {change_id} refused: " + "; ".join(parts)
    elif warnings:
        msg = f"change {change_id} may proceed with warnings: " + "; ".join(_describe(c) for c in warnings)
    else:
        msg = f"change {change_id}: no conflict in {iso_utc(window[0])} - {iso_utc(window[1])}"
    return {
        "blocked": blocked,
        "conflicts": conflicts,
        "cannot_decide": list(cannot_decide),
        "warnings": [_describe(c) for c in warnings],
        "window": span(*window),
        "msg": msg,
    }


def _describe(c: Mapping) -> str:
    hosts = c.get("hosts") or []
    on = f" on {', '.join(hosts)}" if hosts else ""
    if c["kind"] == "change":
        on = f" ({c['why']})"
    overlap = c.get("overlap") or {}
    until = overlap.get("end") or "open end"
    return f"{c['kind'].replace('_', ' ')} {c['name']}{on}, overlapping {overlap.get('start')} - {until}"


def plan_window(mine: Mapping, window: tuple, now: float) -> tuple:
    """The window of a change that has a plan: the planned window while it is only planned (checked ahead); once
    opened, from now until its planned end if that is later than the window without it."""
    planned = expected_window({**mine, "status": "planned"}, now, 0.0)
    if mine.get("status") == "planned":
        return planned
    return (window[0], max(window[1], planned[1]))


def change_window(start=None, duration=None, section: Mapping | None = None, now: float | None = None) -> tuple:
    """(start, end) of a change: start (default now) plus duration (default the policy's change_duration)."""
    import time

    from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import parse_duration

    now = time.time() if now is None else now
    # whole seconds: the window is shown and recorded, and sub-second precision says nothing here
    begin = float(int(now if start in (None, "", "now") else parse_instant(start, "start", now=now)))
    length = parse_duration(duration if duration not in (None, "") else (section or {}).get("change_duration", "2h"))
    return begin, begin + length
