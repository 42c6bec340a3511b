# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SaaS dependencies' health: Statuspage v2 ``summary.json`` and generic HTTP health checks.

A dependency's policy entry (``conflicts.saas.<name>`` of the gate policy) names where its health is read:

    payments:
      statuspage: https://status.payments.example/api/v2/summary.json
      components: [API, Checkout]          # the components the estate uses (name or id); default: all of them
      services: [billing]                   # services that depend on it (the dependency is checked for them)
    search:
      health: https://search.example/healthz
      expect_status: 200

Findings per dependency: ``degraded`` (a component not operational, an unresolved incident touching the used
components), ``maintenance`` (a component under maintenance, or a scheduled maintenance overlapping the change's
window) and ``cannot decide`` (the page or health URL unreachable, an answer that is not a summary, a named
component the page does not list). Cannot decide always blocks; the others block or warn by policy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.localtime import iso_utc
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

from . import fetch
from .feeds import FeedError, when

COMPONENT_STATUSES = ("operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance")
OPEN_INCIDENT = ("investigating", "identified", "monitoring")
OPEN_MAINTENANCE = ("scheduled", "in_progress", "verifying")
ENTRY_KEYS = ("statuspage", "health", "components", "services", "expect_status", "headers")


class SaasInputError(ChangewardError, ValueError):
    """A dependency the change names that the policy does not describe, or an entry that cannot be used."""


def check_entry(name: str, entry) -> dict:
    where = f"conflicts.saas.{name}"
    if not isinstance(entry, Mapping):
        raise SaasInputError(f"{where}: must be a mapping with statuspage or health")
    unknown = sorted(str(k) for k in entry if k not in ENTRY_KEYS)
    if unknown:
        raise SaasInputError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(ENTRY_KEYS)})")
    if not (entry.get("statuspage") or entry.get("health")):
        raise SaasInputError(f"{where}: needs statuspage (a summary.json URL) or health (an HTTP URL)")
    return dict(entry)


def dependencies(named, service: str | None, saas_policy: Mapping, consumed=()) -> list:
    """The SaaS dependencies to check: those the change names, those the policy lists for its service, and those
    among ``consumed`` (what the dependency map says the service consumes) that the policy describes.
    A named dependency the policy does not describe is an error: nobody said how to check it."""
    out = []
    for name in named or ():
        if name not in saas_policy:
            raise SaasInputError(
                f"SaaS dependency {name!r} is not described in the gate policy (conflicts.saas); cannot check it"
            )
        out.append(name)
    used = {str(c).casefold() for c in consumed or ()}
    for name, entry in sorted(saas_policy.items()):
        listed = bool(service) and service in ((entry or {}).get("services") or ())
        if (listed or name.casefold() in used) and name not in out:
            out.append(name)
    return out


def _finding(dep: str, kind: str, what: str, start=None, end=None, **extra) -> dict:
    out = {"dependency": dep, "kind": kind, "what": what}
    if start is not None:
        out["start"] = iso_utc(start)
        out["end"] = None if end is None else iso_utc(end)
    out.update(extra)
    return out


def judge_summary(dep: str, doc, wanted, window: tuple[float, float]) -> list:
    """Findings of one Statuspage v2 summary for the used components in the change window [start, end)."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("components"), list):
        raise FeedError(f"{dep}: not a Statuspage v2 summary (no components list)")
    components = [c for c in doc["components"] if isinstance(c, Mapping) and not c.get("group")]
    index = {}
    for comp in components:
        for key in (comp.get("id"), comp.get("name")):
            if key:
                index[str(key).casefold()] = comp
    if wanted:
        missing = [w for w in wanted if str(w).casefold() not in index]
        if missing:
            raise FeedError(f"{dep}: the status page lists no component {', '.join(map(repr, missing))}")
        used = {id(index[str(w).casefold()]): index[str(w).casefold()] for w in wanted}.values()
    else:
        used = components
    used_ids = {c.get("id") for c in used}
    out = []
    for comp in used:
        status = comp.get("status")
        if status not in COMPONENT_STATUSES:
            raise FeedError(f"{dep}: component {comp.get('name')!r} has unknown status {status!r}")
        if status == "under_maintenance":
            out.append(_finding(dep, "maintenance", f"component {comp.get('name')} is under maintenance"))
        elif status != "operational":
            out.append(_finding(dep, "degraded", f"component {comp.get('name')} is {status.replace('_', ' ')}"))

    def touches(item) -> bool:
        listed = [c.get("id") for c in item.get("components") or [] if isinstance(c, Mapping)]
        return not listed or bool(used_ids & set(listed))

    for incident in doc.get("incidents") or []:
        if not isinstance(incident, Mapping) or incident.get("status") not in OPEN_INCIDENT:
            continue
        if touches(incident) and incident.get("impact") != "none":
            out.append(
                _finding(
                    dep,
                    "degraded",
                    f"incident {incident.get('name')!r} ({incident.get('impact')}, {incident.get('status')})",
                    id=incident.get("id"),
                )
            )
    for item in doc.get("scheduled_maintenances") or []:
        if not isinstance(item, Mapping) or item.get("status") not in OPEN_MAINTENANCE or not touches(item):
            continue
        start = when(item.get("scheduled_for"), f"{dep} maintenance {item.get('id')}.scheduled_for")
        end = (
            when(item["scheduled_until"], f"{dep} maintenance {item.get('id')}.scheduled_until")
            if item.get("scheduled_until")
            else None
        )
        if start < window[1] and (end is None or end > window[0]):
            out.append(
                _finding(
                    dep, "maintenance", f"scheduled maintenance {item.get('name')!r}", start, end, id=item.get("id")
                )
            )
    return out


def check(dep: str, entry: Mapping, window: tuple[float, float], *, timeout=10.0, resolve_path=None) -> dict:
    """{dependency, checked: [sources], findings: [...], cannot_decide: reason or None} of one dependency."""
    result = {"dependency": dep, "checked": [], "findings": [], "cannot_decide": None}
    headers = entry.get("headers") or {}
    try:
        if entry.get("statuspage"):
            src = entry["statuspage"]
            result["checked"].append(fetch.display(src))
            body = fetch.get_ok(src, headers=headers, timeout=timeout, resolve_path=resolve_path)
            try:
                doc = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                raise FeedError(f"{dep}: {fetch.display(src)} did not answer JSON") from None
            result["findings"] += judge_summary(dep, doc, entry.get("components") or [], window)
        if entry.get("health"):
            src = entry["health"]
            result["checked"].append(fetch.display(src))
            status, _body = fetch.get(src, headers=headers, timeout=timeout, resolve_path=resolve_path)
            expect = int(entry.get("expect_status") or 200)
            if status != expect:
                result["findings"].append(
                    _finding(dep, "degraded", f"health check {fetch.display(src)} answered HTTP {status}, not {expect}")
                )
    except (fetch.SourceUnreachable, FeedError) as exc:
        result["cannot_decide"] = str(exc)
    return result
