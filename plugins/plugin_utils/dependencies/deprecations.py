# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Third-party API sunsets on the dependency graph.

Two sources say that a provider goes away: a feed (a YAML list kept by whoever reads the providers' notices) and
the response headers the provider sends itself, as the synthetic or shadow checks observe them - RFC 8594
``Sunset`` (an HTTP-date), RFC 9745 ``Deprecation`` (``@<unix seconds>``; the earlier draft's ``true`` or an
HTTP-date are read too) and a ``Link`` with ``rel="sunset"`` or ``rel="deprecation"``. Both mark the provider in
the graph (``deprecations``), and the review items go to the teams that own its consumers, before the date.
"""

from __future__ import annotations

import datetime
import email.utils
import re
from collections.abc import Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.module_utils import timeparse
from ansible_collections.changeward.hybrid.plugins.plugin_utils.dependencies.graph import (
    DependencyError,
    Graph,
    normalise_endpoint,
)

FEED_VERSION = "changeward.hybrid/deprecations/v1"
_LINK = re.compile(r'<([^>]+)>\s*;[^,]*rel="?(sunset|deprecation)"?', re.IGNORECASE)


def _iso(dt: datetime.datetime) -> str:
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(value, what: str) -> str:
    """An instant from a date (2027-03-01), an ISO 8601 instant, or an HTTP-date."""
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        text += "T00:00:00Z"
    try:
        return _iso(timeparse.instant(text, what))
    except timeparse.TimeFormatError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise DependencyError(f"{what}: {value!r} is not a date, an ISO 8601 time or an HTTP-date")
    return _iso(parsed)


def read_feed(doc, origin: str = "deprecations") -> list:
    """[{provider, sunset, deprecated, link, description, source}] of a feed:

    api_version: changeward.hybrid/deprecations/v1
    deprecations:
      - {provider: payfast, sunset: 2027-03-01, deprecated: 2026-09-01, link: https://..., description: v1 API}
    """
    if not isinstance(doc, Mapping) or doc.get("api_version") != FEED_VERSION:
        raise DependencyError(f"{origin}: a deprecations feed needs api_version: {FEED_VERSION}")
    out = []
    for i, item in enumerate(doc.get("deprecations") or []):
        where = f"{origin}.deprecations[{i}]"
        if not isinstance(item, Mapping) or not item.get("provider") or not item.get("sunset"):
            raise DependencyError(f"{where}: needs provider and sunset")
        out.append(
            {
                "provider": str(item["provider"]).strip().lower(),
                "sunset": _when(item["sunset"], f"{where}.sunset"),
                "deprecated": _when(item["deprecated"], f"{where}.deprecated") if item.get("deprecated") else None,
                "link": item.get("link"),
                "description": item.get("description"),
                "source": f"feed {origin}",
            }
        )
    return out


def from_headers(observation: Mapping, index: Mapping) -> dict | None:
    """A deprecation from one observed response ({endpoint or service, headers, seen_at}); None when the headers
    announce nothing. The provider is the service owning the endpoint, else the endpoint node."""
    headers = {str(k).lower(): str(v) for k, v in (observation.get("headers") or {}).items()}
    sunset = headers.get("sunset")
    deprecation = headers.get("deprecation")
    if not sunset and not deprecation:
        return None
    if observation.get("service"):
        provider = str(observation["service"]).lower()
    else:
        endpoint = normalise_endpoint(observation.get("endpoint") or observation.get("url"), "deprecation headers")
        provider = index.get(endpoint) or f"endpoint:{endpoint}"
    deprecated = None
    if deprecation:
        text = deprecation.strip()
        if text.startswith("@") and text[1:].lstrip("-").isdigit():
            deprecated = _iso(datetime.datetime.fromtimestamp(int(text[1:]), datetime.timezone.utc))
        elif text.lower() == "true":
            deprecated = _when(observation.get("seen_at") or "now", "seen_at")
        else:
            deprecated = _when(text, "Deprecation header")
    links = {rel.lower(): url for url, rel in _LINK.findall(headers.get("link", ""))}
    return {
        "provider": provider,
        "sunset": _when(sunset, "Sunset header") if sunset else None,
        "deprecated": deprecated,
        "link": links.get("sunset") or links.get("deprecation"),
        "description": None,
        "source": "response headers",
        "seen_at": _when(observation.get("seen_at") or "now", "seen_at"),
    }


def mark(graph: Graph, entries: Iterable, at) -> dict:
    """Record deprecations on the graph (``graph.deprecations[provider][source]``); the earliest sunset wins."""
    count = 0
    for entry in entries:
        if entry is None:
            continue
        node = graph.deprecations.setdefault(entry["provider"], {})
        node[entry["source"]] = {k: v for k, v in entry.items() if k not in ("provider", "source") and v is not None}
        node[entry["source"]]["recorded_at"] = _when(at, "at")
        count += 1
    return {"deprecations": count}


def effective(record: Mapping) -> dict:
    """One view of a provider's deprecation from all its sources: the earliest sunset and deprecation."""
    sunsets = sorted(s["sunset"] for s in record.values() if s.get("sunset"))
    deprecated = sorted(s["deprecated"] for s in record.values() if s.get("deprecated"))
    links = sorted({s["link"] for s in record.values() if s.get("link")})
    return {
        "sunset": sunsets[0] if sunsets else None,
        "deprecated": deprecated[0] if deprecated else None,
        "links": links,
        "sources": sorted(record),
    }


def review_items(graph: Graph, at, horizon: float) -> dict:
    """Per consumer team, an item for every edge to a deprecated provider whose sunset is within ``horizon``
    seconds (or past: overdue), or that is deprecated with no sunset announced."""
    now = timeparse.instant(_when(at, "at"), "at")
    teams: dict = {}
    for key in sorted(graph.edges):
        edge = graph.edges[key]
        record = graph.deprecations.get(edge["provider"])
        if not record:
            continue
        view = effective(record)
        days = None
        if view["sunset"]:
            left = (timeparse.instant(view["sunset"], "sunset") - now).total_seconds()
            if left > horizon:
                continue
            days = int(left // 86400)
        team = graph.team_of(edge["consumer"]) or "unowned"
        teams.setdefault(team, []).append(
            {
                "consumer": edge["consumer"],
                "provider": edge["provider"],
                **view,
                "days_left": days,
                "status": "overdue" if days is not None and days < 0 else "review",
                "observed": bool(edge["observed"]),
            }
        )
    return {
        "kind": "deprecations",
        "generated": _iso(now),
        "horizon_seconds": horizon,
        "teams": {t: teams[t] for t in sorted(teams)},
        "total": sum(len(v) for v in teams.values()),
    }


def review_markdown(report: Mapping) -> str:
    days = report["horizon_seconds"] / 86400
    lines = [
        "# Deprecated dependencies to review",
        "",
        f"Generated {report['generated']}: calls to providers that are deprecated or go away within {days:g} days.",
    ]
    if not report["teams"]:
        lines += ["", "Nothing to review."]
    for team, items in report["teams"].items():
        lines += [
            "",
            f"## Team {team}",
            "",
            "| consumer | provider | sunset | days left | status | link |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {i['consumer']} | {i['provider']} | {i['sunset'] or 'not announced'} | "
            f"{'-' if i['days_left'] is None else i['days_left']} | {i['status']} | {', '.join(i['links']) or '-'} |"
            for i in items
        ]
    return "\n".join(lines) + "\n"
