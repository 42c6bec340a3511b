# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain-text report of a rollout, ring by ring: what each ring did, why, and for a rolled-back ring how long
it took from the regression showing in Prometheus to the rollback being complete."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.rollout import APPLIED, RingStatus

STATUS_TEXT = {
    RingStatus.PASSED: "passed",
    RingStatus.ROLLED_BACK: "ROLLED BACK",
    RingStatus.HELD: "HELD",
    RingStatus.HALTED: "HALTED",
    RingStatus.UNREACHABLE: "UNREACHABLE",
    RingStatus.NOT_STARTED: "not started",
}


class RolloutReportError(ChangewardError, ValueError):
    """The rings or results cannot be reported."""


def _clock(ts) -> str:
    if ts is None:
        return "?"
    return datetime.datetime.fromtimestamp(float(ts), datetime.UTC).strftime("%H:%M:%S.%f")[:-5]


def _num(value):
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def timing(result: Mapping, scrape_interval: float = 5.0) -> dict | None:
    """Seconds from the regression showing in Prometheus to detection and to the completed rollback."""
    t = result.get("timings") or {}
    visible, detected, done = _num(t.get("visible_ts")), _num(t.get("detected_ts")), _num(t.get("rolled_back_ts"))
    if detected is None or done is None:
        return None
    out = {"detected_to_rolled_back": round(done - detected, 3)}
    if visible is not None:
        out["visible_to_detected"] = round(detected - visible, 3)
        out["visible_to_rolled_back"] = round(done - visible, 3)
        out["detection_within_target"] = detected - visible <= 2 * scrape_interval
    return out


def ring_report(
    results: Iterable[Mapping],
    rings: Iterable[Mapping] = (),
    title: str = "Rollout ring by ring",
    scrape_interval: float = 5.0,
) -> list[str]:
    """Lines of the report: every planned ring (``rings``), with its result where it has one."""
    results = list(results or [])
    for i, r in enumerate(results):
        if not isinstance(r, Mapping) or "name" not in r or "status" not in r:
            raise RolloutReportError(f"result {i} needs at least name and status")
    by_name = {r["name"]: r for r in results}
    planned = list(rings or []) or results
    rows = []
    halted_at = next((r["name"] for r in results if r["status"] != RingStatus.PASSED), None)
    for ring in planned:
        result = by_name.get(ring["name"])
        status = result["status"] if result else RingStatus.NOT_STARTED
        why = result.get("note", "") if result else (f"the rollout stopped at {halted_at}" if halted_at else "")
        rows.append(
            {
                "ring": ring["name"],
                "env": ",".join(ring.get("env_types") or []),
                "where": ",".join(ring.get("domains") or []),
                "hosts": ", ".join(ring.get("hosts") or []),
                "outcome": STATUS_TEXT.get(status, status),
                "why": why,
                "result": result,
            }
        )
    cols = ("ring", "env", "where", "hosts", "outcome")
    widths = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in cols}
    reached = sum(1 for r in results if r["status"] in APPLIED)
    lines = [f"{title} ({len(planned)} ring{'s' if len(planned) != 1 else ''} planned, {reached} reached)"]
    lines.append("  " + "  ".join(c.ljust(widths[c]) for c in cols) + "  why")
    for r in rows:
        lines.append(("  " + "  ".join(r[c].ljust(widths[c]) for c in cols) + "  " + r["why"]).rstrip())
        result = r["result"] or {}
        rb = (result.get("rollback") or {}).get("hosts") or {}
        if rb:
            parts = []
            for host, info in rb.items():
                if info.get("rolled_back"):
                    secs = _num(info.get("seconds"))
                    verified = "verified" if info.get("verified") else "NOT verified"
                    parts.append(f"{host} {verified}" + (f" in {secs:.3f} s" if secs is not None else ""))
                else:
                    parts.append(f"{host} not rolled back ({info.get('error') or info.get('note') or 'skipped'})")
            lines.append("      rollback: " + "; ".join(parts))
        t = timing(result, scrape_interval)
        if t:
            times = result["timings"]
            if "visible_to_detected" in t:
                verdict = "within" if t["detection_within_target"] else "OVER"
                within = f"{verdict} 2 scrape intervals = {2 * scrape_interval:g} s"
                lines.append(
                    f"      timing: regression visible in Prometheus {_clock(times.get('visible_ts'))}, detected "
                    f"{_clock(times.get('detected_ts'))} (+{t['visible_to_detected']:.1f} s, {within}), rolled back "
                    f"{_clock(times.get('rolled_back_ts'))} (+{t['detected_to_rolled_back']:.1f} s); "
                    f"visible to rolled back {t['visible_to_rolled_back']:.1f} s"
                )
            else:
                lines.append(f"      timing: detected to rolled back {t['detected_to_rolled_back']:.1f} s")
    return lines
