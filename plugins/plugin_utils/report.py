# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a change did: its outcome from the rollout's ring results, one row per target host, and the plain-text
report of those rows grouped by environment type."""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import host_label
from ansible_collections.changeward.hybrid.plugins.plugin_utils.rollout import RingStatus

ENV_ORDER = ("cloud", "onprem", "edge")
COLUMNS = ("host", "where", "before", "after", "outcome")
APPLY_RESULT_VAR = "changeward_apply_result"


class ReportError(ChangewardError, ValueError):
    """A report row, or a result it is built from, is not usable."""


class ChangeOutcome(enum.StrEnum):
    """How a change closes (a subset of the ledger's outcomes)."""

    SUCCESSFUL = "successful"  # every planned ring passed
    ROLLED_BACK = "rolled_back"  # a ring was rolled back
    FAILED = "failed"  # hosts were changed, then a ring could not be reached: the rollout did not finish
    ABORTED = "aborted"  # stopped (breaker, held, nothing reachable) without rolling back


class HostOutcome(enum.StrEnum):
    """What the change did on one host (the report's outcome column)."""

    CHANGED = "changed"
    UNCHANGED = "unchanged"
    APPLIED = "applied"  # the change ran; it did not say whether it changed anything
    ROLLED_BACK = "rolled back"
    HELD = "held"  # applied and left as it is in a held ring
    FAILED = "failed"  # its ring was rolled back but it was not (not restorable, or the rollback failed)
    NOT_REACHED = "not reached"


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


# -- outcome and rows from the rollout's results --------------------------------------------------------------------
def _results(results) -> list[Mapping]:
    results = list(results or [])
    for i, r in enumerate(results):
        if not isinstance(r, Mapping) or "name" not in r or "status" not in r:
            raise ReportError(f"ring result {i} needs at least name and status")
        try:
            RingStatus(r["status"])
        except ValueError:
            raise ReportError(f"ring result {r['name']} has an unknown status {r['status']!r}") from None
    return results


def host_outcomes(results) -> dict:
    """What the rollout did on each host its results name (a host of no result was not reached).
    APPLIED stands for a host of a passed ring; change_rows refines it from the host's apply result."""
    out = {}
    for result in _results(results):
        status = RingStatus(result["status"])
        rollback = result.get("rollback") if isinstance(result.get("rollback"), Mapping) else None
        per_host = (rollback or {}).get("hosts") or {}
        unreachable = set(result.get("unreachable") or [])
        for host in result.get("hosts") or []:
            if status is RingStatus.PASSED:
                out[host] = HostOutcome.APPLIED
            elif status is RingStatus.HELD:
                out[host] = HostOutcome.NOT_REACHED if host in unreachable else HostOutcome.HELD
            elif status is RingStatus.ROLLED_BACK:
                info = per_host.get(host)
                if host in unreachable:
                    out[host] = HostOutcome.NOT_REACHED
                elif rollback is None or not isinstance(info, Mapping) or info.get("rolled_back"):
                    # a result without per-host rollback detail says the ring, as a whole, was rolled back
                    out[host] = HostOutcome.ROLLED_BACK
                else:
                    out[host] = HostOutcome.FAILED
            else:
                out[host] = HostOutcome.NOT_REACHED
        for pair in (rollback or {}).get("earlier") or []:
            host, verified = pair[0], bool(pair[1]) if len(pair) > 1 else False
            out[host] = HostOutcome.ROLLED_BACK if verified else HostOutcome.FAILED
    return out


def change_outcome(results, rings=(), targets=(), label: str = "the change") -> dict:
    """The change's outcome and what the closing record says, from the ring results of the rollout.

    rings: the planned rings (a ring without a result was not reached); targets: every host of the change.
    Returns outcome, reached (hosts of passed rings), rolled_back, unreachable, not_reached, rings_passed,
    rings_planned, halt_reason, summary and observations (the summary, one line per ring, the unreachable
    and the not-reached hosts).
    """
    results = _results(results)
    rings, targets = list(rings or []), [str(t) for t in targets or []]
    statuses = [RingStatus(r["status"]) for r in results]
    if rings and len(results) == len(rings) and all(s is RingStatus.PASSED for s in statuses):
        outcome = ChangeOutcome.SUCCESSFUL
    elif RingStatus.ROLLED_BACK in statuses:
        outcome = ChangeOutcome.ROLLED_BACK
    elif RingStatus.UNREACHABLE in statuses and RingStatus.PASSED in statuses:
        outcome = ChangeOutcome.FAILED
    else:
        outcome = ChangeOutcome.ABORTED
    hosts = host_outcomes(results)
    reached = [h for r in results if r["status"] == RingStatus.PASSED for h in r.get("hosts") or []]
    rolled_back = [h for h, o in hosts.items() if o is HostOutcome.ROLLED_BACK]
    unreachable = [h for r in results for h in r.get("unreachable") or []]
    not_reached = [h for h in targets if hosts.get(h, HostOutcome.NOT_REACHED) is HostOutcome.NOT_REACHED]
    passed = statuses.count(RingStatus.PASSED)
    stopped = next((r for r in results if r["status"] != RingStatus.PASSED), None)
    halt_reason = f"{stopped['name']}: {stopped.get('note', '')}" if stopped else ""
    summary = f"{label} reached {len(reached)} of {len(targets)} hosts in {passed} of {len(rings)} rings"
    if rolled_back:
        summary += f", rolled back on {', '.join(rolled_back)}"
    if halt_reason:
        summary += f"; halted: {halt_reason}"
    observations = [summary] + [f"{r['name']}: {r['status']}: {r.get('note', '')}" for r in results]
    if unreachable:
        observations.append(f"unreachable: {', '.join(unreachable)}")
    if not_reached:
        observations.append(f"not reached: {', '.join(not_reached)}")
    return {
        "outcome": outcome.value,
        "reached": reached,
        "rolled_back": rolled_back,
        "unreachable": unreachable,
        "not_reached": not_reached,
        "rings_passed": passed,
        "rings_planned": len(rings),
        "halt_reason": halt_reason,
        "summary": summary,
        "observations": observations,
    }


def change_rows(targets, hostvars: Mapping, rings=(), results=(), result_var: str = APPLY_RESULT_VAR) -> list[dict]:
    """One report row per target host: host, env_type, where (AZ or site, and ring), before, after, outcome.

    before/after/changed come from the host's ``result_var`` fact (a mapping with optional ``before``, ``after``
    and ``changed`` that the change's tasks set); a rolled-back host is back at ``before``.
    """
    outcomes = host_outcomes(results)
    ring_of = {h: r.get("name", "-") for r in rings or [] if isinstance(r, Mapping) for h in r.get("hosts") or []}
    rows = []
    for host in [str(t) for t in targets or []]:
        if host not in hostvars:
            raise ReportError(f"target {host} is not a host of the inventory")
        hv = hostvars[host]
        done = hv.get(result_var)
        done = done if isinstance(done, Mapping) else {}
        outcome = outcomes.get(host, HostOutcome.NOT_REACHED)
        if outcome is HostOutcome.APPLIED and "changed" in done:
            outcome = HostOutcome.CHANGED if done["changed"] else HostOutcome.UNCHANGED
        before = done.get("before", "-")
        after = before if outcome is HostOutcome.ROLLED_BACK else done.get("after", "-")
        place = host_label(hv, "az") or host_label(hv, "site") or "-"
        rows.append(
            {
                "host": host,
                "env_type": host_label(hv, "env_type", "unlabelled"),
                "where": f"{place} ({ring_of.get(host, '-')})",
                "before": "-" if before is None else before,
                "after": "-" if after is None else after,
                "outcome": outcome.value,
            }
        )
    return rows
