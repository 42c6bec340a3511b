# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the graph says the teams should look at.

- hidden dependencies, per owning team: edges observed but documented by no source (an undeclared call) and
  edges documented but never observed (or not within ``observed_within``), each on the agenda of the team that
  owns the consumer and of the team that owns the provider; endpoints no service claims go to ``unowned``.
- the stale-record audit: services with no owning team, documented records not confirmed for ``max_age``,
  observations not seen for ``max_age``.

Both return plain data (the JSON) and a Markdown rendering of it.
"""

from __future__ import annotations

import datetime

from ansible_collections.changeward.hybrid.plugins.module_utils import timeparse
from ansible_collections.changeward.hybrid.plugins.plugin_utils.dependencies.graph import (
    ENDPOINT_PREFIX,
    DependencyError,
    Graph,
)

UNOWNED = "unowned"


def _instant(value, what: str) -> datetime.datetime:
    try:
        return timeparse.instant(value, what)
    except timeparse.TimeFormatError as exc:
        raise DependencyError(str(exc)) from None


def _date(value) -> datetime.datetime | None:
    """A confirmation: an ISO date or instant; None when missing or unreadable (reported as such)."""
    if value in (None, ""):
        return None
    text = str(value)
    if len(text) == 10:
        text += "T00:00:00Z"
    try:
        return timeparse.instant(text, "confirmed")
    except timeparse.TimeFormatError:
        return None


def _teams(graph: Graph, edge) -> list:
    teams = {graph.team_of(edge["consumer"]), graph.team_of(edge["provider"])}
    if any(n.startswith(ENDPOINT_PREFIX) for n in (edge["consumer"], edge["provider"])) or None in teams:
        teams.add(UNOWNED)
    return sorted(t for t in teams if t)


def hidden_dependencies(graph: Graph, at, observed_within: float | None = None, teams=()) -> dict:
    """{teams: {team: {observed_undocumented: [...], documented_unobserved: [...]}}, totals}."""
    now = _instant(at, "at")
    cutoff = now - datetime.timedelta(seconds=observed_within) if observed_within else None
    out: dict = {}
    for key in sorted(graph.edges):
        edge = graph.edges[key]
        last = graph.last_seen(edge)
        row = {
            "consumer": edge["consumer"],
            "provider": edge["provider"],
            "consumer_team": graph.team_of(edge["consumer"]) or UNOWNED,
            "provider_team": graph.team_of(edge["provider"]) or UNOWNED,
            "documented_by": sorted(edge["documented"]),
            "observed_by": sorted(edge["observed"]),
            "last_seen": last,
            "where": sorted({w for o in edge["observed"].values() for w in o.get("where") or ()}),
        }
        if edge["observed"] and not edge["documented"]:
            kind = "observed_undocumented"
        elif edge["documented"] and (last is None or (cutoff and _instant(last, "last_seen") < cutoff)):
            kind = "documented_unobserved"
            row["refs"] = sorted({d.get("ref") for d in edge["documented"].values() if d.get("ref")})
        else:
            continue
        for team in _teams(graph, edge):
            if teams and team not in teams:
                continue
            section = out.setdefault(team, {"observed_undocumented": [], "documented_unobserved": []})
            section[kind].append(row)
    totals = {
        "observed_undocumented": len(
            {(r["consumer"], r["provider"]) for s in out.values() for r in s["observed_undocumented"]}
        ),
        "documented_unobserved": len(
            {(r["consumer"], r["provider"]) for s in out.values() for r in s["documented_unobserved"]}
        ),
    }
    return {
        "kind": "hidden_dependencies",
        "generated": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "observed_within_seconds": observed_within,
        "teams": {t: out[t] for t in sorted(out)},
        "totals": totals,
    }


def stale_audit(graph: Graph, at, max_age: float) -> dict:
    """Records nobody confirmed for ``max_age`` seconds, services without an owner, observations gone quiet."""
    now = _instant(at, "at")
    cutoff = now - datetime.timedelta(seconds=max_age)
    findings = []
    for name in sorted(graph.services):
        entry = graph.services[name]
        documented = {s: r for s, r in entry["sources"].items() if s in ("catalogue", "backstage", "netbox")}
        if not entry.get("team"):
            findings.append(
                {
                    "record": f"service {name}",
                    "team": UNOWNED,
                    "problem": "owner_missing",
                    "detail": "no source names an owning team",
                }
            )
        for source, record in sorted(documented.items()):
            confirmed = _date(record.get("confirmed"))
            if confirmed is None or confirmed < cutoff:
                findings.append(
                    {
                        "record": f"service {name}",
                        "team": entry.get("team") or UNOWNED,
                        "source": source,
                        "problem": "not_confirmed",
                        "detail": f"last confirmed {record.get('confirmed') or 'never'}",
                    }
                )
    for key in sorted(graph.edges):
        edge = graph.edges[key]
        record = f"{edge['consumer']} -> {edge['provider']}"
        team = graph.team_of(edge["consumer"]) or UNOWNED
        for source, doc in sorted(edge["documented"].items()):
            confirmed = _date(doc.get("confirmed"))
            if confirmed is None or confirmed < cutoff:
                findings.append(
                    {
                        "record": record,
                        "team": team,
                        "source": source,
                        "problem": "not_confirmed",
                        "detail": f"last confirmed {doc.get('confirmed') or 'never'}",
                    }
                )
        for source, obs in sorted(edge["observed"].items()):
            if _instant(obs["last_seen"], "last_seen") < cutoff:
                findings.append(
                    {
                        "record": record,
                        "team": team,
                        "source": source,
                        "problem": "not_seen",
                        "detail": f"last seen {obs['last_seen']}",
                    }
                )
    by_team: dict = {}
    for f in findings:
        by_team.setdefault(f["team"], []).append(f)
    return {
        "kind": "stale_audit",
        "generated": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "max_age_seconds": max_age,
        "findings": findings,
        "teams": {t: by_team[t] for t in sorted(by_team)},
        "total": len(findings),
    }


# -- Markdown -----------------------------------------------------------------------------------------------------
def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def hidden_markdown(report: dict) -> str:
    lines = [
        "# Dependency workshop agenda: hidden dependencies",
        "",
        f"Generated {report['generated']}. Observed but undocumented: {report['totals']['observed_undocumented']}; "
        f"documented but not observed: {report['totals']['documented_unobserved']}.",
    ]
    if not report["teams"]:
        lines += ["", "Nothing to discuss: every observed call is documented and every documented one was seen."]
    for team, section in report["teams"].items():
        lines += ["", f"## Team {team}", ""]
        lines += ["### Observed but undocumented (document them or explain them)", ""]
        if section["observed_undocumented"]:
            lines += ["| consumer | provider | last seen | seen by | where |", "| --- | --- | --- | --- | --- |"]
            lines += [
                f"| {_cell(r['consumer'])} | {_cell(r['provider'])} | {r['last_seen']} | "
                f"{', '.join(r['observed_by'])} | {_cell(', '.join(r['where']))} |"
                for r in section["observed_undocumented"]
            ]
        else:
            lines.append("None.")
        lines += ["", "### Documented but never observed (still needed? remove or confirm)", ""]
        if section["documented_unobserved"]:
            lines += ["| consumer | provider | documented by | last seen |", "| --- | --- | --- | --- |"]
            lines += [
                f"| {_cell(r['consumer'])} | {_cell(r['provider'])} | {', '.join(r['documented_by'])} | "
                f"{r['last_seen'] or 'never'} |"
                for r in section["documented_unobserved"]
            ]
        else:
            lines.append("None.")
    return "\n".join(lines) + "\n"


def stale_markdown(report: dict) -> str:
    days = report["max_age_seconds"] / 86400
    lines = [
        "# Dependency records audit",
        "",
        f"Generated {report['generated']}: records not confirmed or not seen for {days:g} days, and services "
        f"without an owner. {report['total']} finding(s).",
    ]
    for team, findings in report["teams"].items():
        lines += ["", f"## Team {team}", "", "| record | source | problem | detail |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {_cell(f['record'])} | {f.get('source', '-')} | {f['problem']} | {_cell(f['detail'])} |"
            for f in findings
        ]
    return "\n".join(lines) + "\n"
