# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A readable Markdown summary of a drift report, grouped by env_type, region and site."""

from __future__ import annotations

from collections.abc import Mapping

STATUS_MARK = {"in_sync": "in sync", "drifted": "**DRIFTED**", "unknown": "**UNKNOWN**"}
MAX_FINDINGS_SHOWN = 50


def _cell(value) -> str:
    text = "-" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 72 else text[:69] + "..."


def _finding_line(f: Mapping) -> str:
    if f.get("detector") == "check":
        where = f" (task: {_cell(f.get('task'))})" if f.get("task") else ""
        return f"| {f['class']} | {_cell(f['item'])} | would change{where} | | | check |"
    return (
        f"| {f['class']} | {_cell(f['item'])} | {_cell(f.get('attribute'))} | {_cell(f.get('expected'))} "
        f"| {_cell(f.get('actual'))} | scan |"
    )


def render(report: Mapping, title: str | None = None) -> str:
    s = report["summary"]
    lines = [
        f"# {title or 'Drift report'} {report['run_id']}",
        "",
        f"Generated {report['generated_at']} by {', '.join(report['detectors'])}. "
        f"Overall: **{report['status']}** (exit code {report['exit_code']}).",
        "",
        "| hosts | in sync | drifted | unknown | unreachable | findings | accepted | expired acceptances |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {s['hosts']} | {s['in_sync']} | {s['drifted']} | {s['unknown']} | {s['unreachable']} | {s['findings']} "
        f"| {s['accepted']} | {s['expired_acceptances']} |",
        "",
    ]
    classes = ", ".join(f"{c} {n}" for c, n in s["by_class"].items() if n)
    if classes:
        lines += [f"Findings by class: {classes}.", ""]
    hosts = report["hosts"]
    env = None
    for g in report["groups"]:
        if g["env_type"] != env:
            env = g["env_type"]
            lines += [f"## {env}", ""]
        lines += [
            f"### {g['region']} / {g['site']}: {g['in_sync']} in sync, {g['drifted']} drifted, {g['unknown']} unknown",
            "",
            "| host | status | findings | accepted | not evaluated |",
            "|---|---|---:|---:|---:|",
        ]
        for name in g["hosts"]:
            h = hosts[name]
            lines.append(
                f"| {name} | {STATUS_MARK[h['status']]} | {len(h['findings'])} | {len(h['accepted'])} "
                f"| {len(h['unknown'])} |"
            )
        lines.append("")
    detail = [n for n in sorted(hosts) if hosts[n]["findings"] or hosts[n]["unknown"] or hosts[n]["accepted"]]
    if detail:
        lines += ["## Details", ""]
    for name in detail:
        h = hosts[name]
        lines += [f"### {name} ({h['status']})", ""]
        if h["findings"]:
            lines += ["| class | item | attribute | expected | actual | detector |", "|---|---|---|---|---|---|"]
            lines += [_finding_line(f) for f in h["findings"][:MAX_FINDINGS_SHOWN]]
            if len(h["findings"]) > MAX_FINDINGS_SHOWN:
                lines.append(f"| ... | {len(h['findings']) - MAX_FINDINGS_SHOWN} more in the JSON report | | | | |")
            lines.append("")
        for u in h["unknown"]:
            task = f" (task: {_cell(u.get('task'))})" if u.get("task") else ""
            lines.append(
                f"- not evaluated ({u['detector']}): {u['class']} {_cell(u['item'])}{task}: {_cell(u['reason'])}"
            )
        for f in h["accepted"]:
            lines.append(
                f"- accepted ({f['accepted_by']}): {f['class']} {_cell(f['item'])} {_cell(f.get('attribute'))}"
            )
        if h["unknown"] or h["accepted"]:
            lines.append("")
    acc = report["acceptances"]
    if acc["expired"]:
        lines += ["## Expired acceptances (their drift is reported again)", ""]
        for a in acc["expired"]:
            lines.append(
                f"- {a['id']}: {a['host']} {a['class']} {_cell(a['item'])}, approved by {a['approver']}, "
                f"expired {a['expires']}"
            )
        lines.append("")
    if acc["active"]:
        lines += ["## Active acceptances", ""]
        for a in acc["active"]:
            lines.append(
                f"- {a['id']}: {a['host']} {a['class']} {_cell(a['item'])}, approved by {a['approver']} "
                f"until {a['expires']}: {_cell(a['reason'])}"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
