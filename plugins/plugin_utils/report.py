# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain-text reports of what a change did, host by host, grouped by environment type."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

ENV_ORDER = ("cloud", "onprem", "edge")
COLUMNS = ("host", "where", "before", "after", "outcome")


class ReportError(ValueError):
    """A report row is not usable."""


def _env_key(env: str) -> tuple[int, str]:
    return (ENV_ORDER.index(env) if env in ENV_ORDER else len(ENV_ORDER), env)


def change_report(rows: Iterable[Mapping], title: str = "What ran where") -> list[str]:
    """Lines of a table per env_type, then totals by outcome.

    Each row needs ``host`` and ``outcome``; ``env_type``, ``where``, ``before`` and ``after`` are shown
    when present.
    """
    rows = list(rows)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ReportError(f"row {i} is a {type(row).__name__}, expected a mapping")
        missing = [k for k in ("host", "outcome") if k not in row]
        if missing:
            raise ReportError(f"row {i} ({row.get('host', '?')}) lacks {', '.join(missing)}")

    table = [{c: str(r.get(c, "-")) for c in COLUMNS} | {"env_type": str(r.get("env_type", "-"))} for r in rows]
    widths = {c: max([len(c)] + [len(t[c]) for t in table]) for c in COLUMNS}

    def fmt(values: Mapping) -> str:
        return "  ".join(values[c].ljust(widths[c]) for c in COLUMNS).rstrip()

    lines = [title]
    for env in sorted({t["env_type"] for t in table}, key=_env_key):
        members = sorted((t for t in table if t["env_type"] == env), key=lambda t: t["host"])
        lines.append(f"[{env}] {len(members)} host{'s' if len(members) != 1 else ''}")
        lines.append("  " + fmt({c: c for c in COLUMNS}))
        lines.extend("  " + fmt(t) for t in members)
    counts = Counter(t["outcome"] for t in table)
    lines.append("totals: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no hosts"))
    return lines
