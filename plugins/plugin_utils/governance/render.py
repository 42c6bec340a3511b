# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compliance report as files: HTML for people (self-contained, printable), CSV and JSON for tools."""

from __future__ import annotations

import csv
import io
import json
from html import escape

CSV_COLUMNS = (
    "change_id",
    "type",
    "summary",
    "requester",
    "implementer",
    "approvers",
    "approval_verification",
    "gates",
    "overridden_gates",
    "emergency_review",
    "outcome",
    "status",
    "opened_at",
    "closed_at",
    "exceptions",
    "evidence_seqs",
)


def to_json(report) -> str:
    return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _safe_cell(value: str) -> str:
    # A cell a spreadsheet would run as a formula is quoted (CSV injection): ledger text is not trusted.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_csv(report) -> str:
    """One row per change, exceptions first (the report's order)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in report["changes"]:
        reviews = [r["status"] for r in c["reviews"]]
        row = {
            "change_id": c["change_id"],
            "type": c["type"] or "",
            "summary": c["summary"] or "",
            "requester": c["requester"] or "",
            "implementer": c["implementer"] or "",
            "approvers": "; ".join(f"{a['approver']} ({a['role']}, {a['decision']})" for a in c["approvals"]),
            "approval_verification": "; ".join(f"{a['approver']}: {a['verified']}" for a in c["approvals"]),
            "gates": "; ".join(f"{g['gate']}={g['decision']}" for g in c["gates"]),
            "overridden_gates": "; ".join(g["gate"] for g in c["gates"] if g["overridden"]),
            "emergency_review": ", ".join(reviews) if c["type"] == "emergency" else "",
            "outcome": c["outcome"] or "",
            "status": c["status"] or "",
            "opened_at": c["opened_at"] or "",
            "closed_at": c["closed_at"] or "",
            "exceptions": "; ".join(f"{x['kind']}: {x['detail']}" for x in c["exceptions"]),
            "evidence_seqs": " ".join(str(e["seq"]) for e in c["evidence"]),
        }
        writer.writerow([_safe_cell(str(row[k])) for k in CSV_COLUMNS])
    return out.getvalue()


CSS = """
:root { --ink:#1d2433; --muted:#5b6577; --line:#d9dee7; --bg:#f6f7fa; --bad:#a4262c; --badbg:#fde7e9;
        --warn:#8a5300; --warnbg:#fff4ce; --ok:#0b6a0b; --okbg:#dff6dd; --accent:#264f9c; }
* { box-sizing: border-box; }
body { font: 14px/1.45 "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink); margin: 0;
       background: #fff; }
header { background: var(--accent); color: #fff; padding: 20px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; font-weight: 600; }
header p { margin: 0; opacity: .9; }
main { padding: 16px 32px 40px; max-width: 1360px; }
h2 { font-size: 17px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; min-width: 140px;
        background: var(--bg); }
.card b { display: block; font-size: 22px; }
.card span { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card.bad { background: var(--badbg); border-color: #f1b8bd; } .card.bad b { color: var(--bad); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; font-size: 13px; }
th, td { text-align: left; vertical-align: top; padding: 6px 8px; border-bottom: 1px solid var(--line); }
th { background: var(--bg); font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase;
     letter-spacing: .03em; }
tr.exc td:first-child { border-left: 4px solid var(--bad); }
code, .mono { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 12px; word-break: break-all; }
.tag { display: inline-block; border-radius: 3px; padding: 0 6px; font-size: 12px; margin: 1px 2px 1px 0;
       white-space: nowrap; }
.tag.bad { background: var(--badbg); color: var(--bad); } .tag.warn { background: var(--warnbg); color: var(--warn); }
.tag.ok { background: var(--okbg); color: var(--ok); } .tag.plain { background: var(--bg); color: var(--muted); }
.muted { color: var(--muted); }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 8px 0; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; }
ul.tight { margin: 0; padding-left: 16px; }
@media print { header { background: none; color: var(--ink); border-bottom: 2px solid var(--ink); }
               tr { page-break-inside: avoid; } }
"""

OUTCOME_TAG = {
    "successful": "ok",
    "successful_with_issues": "warn",
    "rolled_back": "bad",
    "failed": "bad",
    "aborted": "bad",
}
EXCEPTION_TAG = {"drift remediation": "warn", "not closed": "warn", "emergency change": "warn"}


def _e(value) -> str:
    return escape("" if value is None else str(value))


def _when(value) -> str:
    """An RFC 3339 time as people read it in a table (minute precision, UTC); the JSON keeps the exact time."""
    text = "" if value is None else str(value)
    return escape(f"{text[:10]} {text[11:16]} UTC" if len(text) >= 16 and text[10:11] == "T" else text)


def _tag(text, kind="plain") -> str:
    return f'<span class="tag {kind}">{_e(text)}</span>'


def _approvals(c) -> str:
    if not c["approvals"]:
        return '<span class="muted">none</span>'
    items = []
    for a in c["approvals"]:
        kind = "ok" if a["method"] == "signature" and a["decision"] == "approved" else "warn"
        items.append(
            f"<li><b>{_e(a['approver'])}</b> <span class=\"muted\">{_e(a['role'])}</span> "
            f"{_tag(a['decision'], 'ok' if a['decision'] == 'approved' else 'bad')}<br>"
            f"<span class=\"tag {kind}\">{_e(a['verified'])}</span></li>"
        )
    return '<ul class="tight">' + "".join(items) + "</ul>"


def _gates(c) -> str:
    out = []
    for g in c["gates"]:
        kind = "bad" if g["decision"] == "fail" else ("warn" if g["overridden"] else "ok")
        out.append(_tag(f"{g['gate']}: {g['decision']}" + (" (overridden)" if g["overridden"] else ""), kind))
    return " ".join(out) or '<span class="muted">none recorded</span>'


def _exceptions(c) -> str:
    return " ".join(_tag(f"{x['kind']}", EXCEPTION_TAG.get(x["kind"], "bad")) for x in c["exceptions"])


def to_html(report) -> str:
    p, led, s = report["period"], report["ledger"], report["summary"]
    v = led["verified"]
    exc = [c for c in report["changes"] if c["exceptions"]]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Change compliance report {_e(p['label'])}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<header><h1>Change compliance report &mdash; {_e(p['label'])}</h1>",
        f"<p>{_e(p['start_time'])} to {_e(p['end_time'])} (end exclusive) &middot; generated "
        f"{_e(report['generated_at'])}</p></header><main>",
        '<div class="cards">',
        f'<div class="card"><span>Changes</span><b>{s["changes"]}</b></div>',
        f'<div class="card{" bad" if s["with_exceptions"] else ""}"><span>With exceptions</span>'
        f"<b>{s['with_exceptions']}</b></div>",
        f'<div class="card{" bad" if s["unattributed_runs"] else ""}"><span>Unattributed runs</span>'
        f"<b>{s['unattributed_runs']}</b></div>",
        f'<div class="card"><span>Emergency</span><b>{s["emergency"]}</b></div>',
        f'<div class="card"><span>Refused attempts</span><b>{s["refusals"]}</b></div>',
        f'<div class="card"><span>Overrides</span><b>{s["overrides"]}</b></div>',
        f'<div class="card"><span>Signed approvals</span><b>{s["approvals_signed"]}</b></div>',
        "</div>",
        "<h2>Evidence base</h2>",
        '<dl class="meta">',
        f"<dt>Ledger</dt><dd class=\"mono\">{_e(led['name'])} (id {_e(led['ledger_id'])})</dd>",
        f"<dt>Built to</dt><dd>seq {_e(led['through_seq'])}, hash <code>{_e(led['through_hash'])}</code></dd>",
        f"<dt>Period's events</dt><dd>seq {_e(led['period_first_seq'])} to {_e(led['period_last_seq'])}</dd>",
        f"<dt>Verification</dt><dd>{_tag('valid' if v['valid'] else 'INVALID', 'ok' if v['valid'] else 'bad')} "
        f"{_e(v['events'])} events, {_e(v['checkpoints'])} signed checkpoints, signed through seq "
        f"{_e(v['signed_through'])}</dd>",
        f"<dt>Evidence digest</dt><dd><code>{_e(led['evidence_digest'])}</code></dd>",
        "</dl>",
        '<p class="muted">To re-verify: run playbooks/compliance_report.yml with <code>recheck</code> set to this '
        "report's JSON file, or export the seq range above with ledger_export and check each change's evidence "
        "seqs and hashes (JSON) against it.</p>",
        f"<h2>Exceptions ({len(exc)})</h2>",
    ]
    if exc:
        parts.append("<table><tr><th>Change</th><th>Type</th><th>Exception</th><th>Outcome</th></tr>")
        for c in exc:
            details = "".join(
                f"<li>{_tag(x['kind'], EXCEPTION_TAG.get(x['kind'], 'bad'))} {_e(x['detail'])}</li>"
                for x in c["exceptions"]
            )
            parts.append(
                f'<tr class="exc"><td><b class="mono">{_e(c["change_id"])}</b><br>'
                f'<span class="muted">{_e(c["summary"])}</span></td><td>{_e(c["type"])}</td>'
                f'<td><ul class="tight">{details}</ul></td>'
                f"<td>{_tag(c['outcome'] or c['status'], OUTCOME_TAG.get(c['outcome'], 'warn'))}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append('<p class="muted">None in this period.</p>')
    parts += [
        "<h2>Control map</h2>",
        "<table><tr><th>Framework</th><th>Control</th><th>Mechanism</th><th>Evidence in period</th></tr>",
    ]
    for ctl in report["controls"]:
        found = ", ".join(
            f"{t.rsplit('.', 2)[-2]}.{t.rsplit('.', 1)[-1]} &times;{n}" for t, n in ctl["evidence"].items()
        )
        status = _tag(ctl["status"], "ok" if ctl["evidence_events"] else "warn")
        parts.append(
            f"<tr><td>{_e(ctl['framework'])}</td><td><b>{_e(ctl['control'])}</b><br>"
            f'<span class="muted">{_e(ctl["requirement"])}</span></td><td>{_e(ctl["mechanism"])}</td>'
            f"<td>{status}<br><span class=\"muted\">{found}</span></td></tr>"
        )
    parts += [
        "</table>",
        f"<h2>All changes ({len(report['changes'])})</h2>",
        '<table><colgroup><col style="width:28%"><col style="width:12%"><col style="width:32%">'
        '<col style="width:18%"><col style="width:10%"></colgroup>'
        "<tr><th>Change</th><th>Requester / implementer</th><th>Approvals (role, verification)</th>"
        "<th>Gates</th><th>Outcome</th></tr>",
    ]
    for c in report["changes"]:
        row_class = ' class="exc"' if c["exceptions"] else ""
        parts.append(
            f'<tr{row_class}><td><b class="mono">{_e(c["change_id"])}</b> '
            f"{_tag(c['type'])}<br>{_e(c['summary'])}<br><span class=\"muted\">opened {_when(c['opened_at'])}"
            f"{'<br>closed ' + _when(c['closed_at']) if c['closed_at'] else ''}</span><br>{_exceptions(c)}</td>"
            f"<td>{_e(c['requester'])}<br><span class=\"muted\">{_e(c['implementer'] or 'no implementer named')}"
            f"</span></td><td>{_approvals(c)}</td><td>{_gates(c)}</td>"
            f"<td>{_tag(c['outcome'] or c['status'], OUTCOME_TAG.get(c['outcome'], 'warn'))}</td></tr>"
        )
    parts += ["</table>", "</main></body></html>", ""]
    return "\n".join(parts)


__all__ = ["CSV_COLUMNS", "to_csv", "to_html", "to_json"]
