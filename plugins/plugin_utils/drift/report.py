# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One drift report from two detectors: per host in_sync | drifted | unknown, grouped by location.

Host status: ``drifted`` when any finding is left after accepted drift is applied; otherwise ``unknown``
when anything could not be evaluated (unreachable, no result, a failed or unevaluable task or item);
otherwise ``in_sync``. No data is never in sync: a target without evidence from every detector asked
for is unknown.

Exit code, as ``terraform plan -detailed-exitcode``: 0 every host in sync, 2 drift and nothing unknown,
1 anything unknown (the run could not decide for every host).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift import acceptance as acc
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.collect import FORMAT as CHECK_FORMAT
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.errors import DriftInputError

FORMAT = "changeward-drift-report/1"
DETECTORS = ("scan", "check")
STATUSES = ("in_sync", "drifted", "unknown")
CLASSES = ("file", "package", "service", "sysctl", "port", "user", "task")
ENV_ORDER = ("cloud", "onprem", "edge")
LOCATION_LABELS = ("env_type", "region", "site", "az")


def finding_id(host: str, finding: Mapping) -> str:
    key = "|".join(str(finding.get(k, "")) for k in ("detector", "class", "item", "attribute"))
    return hashlib.sha256(f"{host}|{key}".encode()).hexdigest()[:12]


def location(labels: Mapping | None) -> dict:
    """env_type, region and site of a host; cloud hosts have no site, their AZ stands in for it."""
    labels = labels or {}
    env = labels.get("env_type") or "unlabelled"
    site = labels.get("site") or labels.get("az") or "-"
    return {"env_type": str(env), "region": str(labels.get("region") or "-"), "site": str(site)}


# -- evidence -------------------------------------------------------------------------------------
def scan_evidence(result) -> dict:
    """What a drift_scan result (as registered, maybe unreachable or failed) says about its host."""
    ev = {"detector": "scan", "reachable": None, "findings": [], "unknown": []}
    if result is None:
        ev["unknown"].append({"detector": "scan", "class": "host", "item": "-", "reason": "no scan result"})
        return ev
    if not isinstance(result, Mapping):
        raise DriftInputError(f"a scan result must be a mapping, got {type(result).__name__}")
    msg = str(result.get("msg") or "no message")
    if result.get("unreachable"):
        ev["reachable"] = False
        ev["unknown"].append({"detector": "scan", "class": "host", "item": "-", "reason": "unreachable: " + msg})
        return ev
    if result.get("skipped"):
        reason = "scan skipped: " + str(result.get("skip_reason") or msg)
        ev["unknown"].append({"detector": "scan", "class": "host", "item": "-", "reason": reason})
        return ev
    if result.get("failed"):
        ev["reachable"] = True
        ev["unknown"].append({"detector": "scan", "class": "host", "item": "-", "reason": "scan failed: " + msg})
        return ev
    findings, unknown = result.get("findings"), result.get("unknown")
    if result.get("status") not in STATUSES or not isinstance(findings, list) or not isinstance(unknown, list):
        ev["unknown"].append(
            {"detector": "scan", "class": "host", "item": "-", "reason": "not a drift_scan result (no status/findings)"}
        )
        return ev
    ev["reachable"] = True
    for f in findings:
        ev["findings"].append(
            {
                "detector": "scan",
                "class": str(f.get("class")),
                "item": str(f.get("item")),
                "attribute": str(f.get("attribute")),
                "expected": f.get("expected"),
                "actual": f.get("actual"),
            }
        )
    for u in unknown:
        ev["unknown"].append(
            {
                "detector": "scan",
                "class": str(u.get("class")),
                "item": str(u.get("item")),
                "reason": str(u.get("reason")),
            }
        )
    if ev["findings"] == [] and ev["unknown"] == [] and not result.get("checked_total"):
        ev["unknown"].append(
            {"detector": "scan", "class": "host", "item": "-", "reason": "the baseline declared nothing to compare"}
        )
    return ev


def check_evidence(entry) -> dict:
    """What the drift_collector recorded for one host."""
    ev = {"detector": "check", "reachable": None, "findings": [], "unknown": []}
    if entry is None:
        ev["unknown"].append({"detector": "check", "class": "host", "item": "-", "reason": "no check-mode result"})
        return ev
    if not isinstance(entry, Mapping):
        raise DriftInputError("a check-mode host entry must be a mapping")
    ev["reachable"] = bool(entry.get("reachable", True))
    for f in entry.get("changed") or []:
        finding = {k: f.get(k) for k in ("class", "item", "task", "action", "diff", "diff_sha256", "diff_hidden")}
        ev["findings"].append(dict(finding, detector="check", attribute="changed", expected=None, actual=None))
    for kind in ("errors", "unevaluable"):
        for u in entry.get(kind) or []:
            ev["unknown"].append(
                {
                    "detector": "check",
                    "class": str(u.get("class", "task")),
                    "item": str(u.get("item", "-")),
                    "task": u.get("task"),
                    "reason": str(u.get("reason")),
                }
            )
    if not entry.get("tasks") and ev["reachable"] and not ev["unknown"]:
        ev["unknown"].append(
            {"detector": "check", "class": "host", "item": "-", "reason": "no task was evaluated in check mode"}
        )
    return ev


def has_scan_baseline(state) -> bool:
    """Whether a drift_scan baseline stands for (part of) the host's declared state."""
    return isinstance(state, Mapping) and bool(state.get("scan_baseline"))


def unscanned_evidence(state, checked: bool) -> dict:
    """The scan detector for a host with no drift_scan baseline: it looked at nothing. With the check detector in
    the run that is no gap (the check evaluates the roles; the host's per-detector map leaves the scan out);
    without it the host is unknown, naming the roles nothing evaluated."""
    ev = {"detector": "scan", "reachable": None, "findings": [], "unknown": [], "omitted": checked}
    if checked or not isinstance(state, Mapping):
        return ev
    roles = list(state.get("roles") or [])
    for role in roles or ["-"]:
        ev["unknown"].append(
            {
                "detector": "scan",
                "class": "host",
                "item": str(role),
                "reason": (
                    f"role {role} of the declared state has no drift_scan baseline: only the check detector "
                    "evaluates it"
                    if roles
                    else "no declared state and no drift_scan_baseline for this host: the scan has nothing to compare"
                ),
            }
        )
    return ev


def coverage_gaps(evidence: list, state, detectors) -> None:
    """Add to ``evidence`` what the declared state leaves unevaluated (see build_report)."""
    if not isinstance(state, Mapping):
        for ev in evidence:
            ev["unknown"].append(
                {"detector": ev["detector"], "class": "host", "item": "-", "reason": "its declared state was not read"}
            )
        return
    roles = list(state.get("roles") or [])
    for ev in evidence:
        if ev["detector"] == "check" and not roles:
            ev["unknown"].append(
                {
                    "detector": "check",
                    "class": "host",
                    "item": "-",
                    "reason": "no declared state: the inventory gives this host no changeward_drift_state "
                    "and the run named no drift_roles",
                }
            )
        if ev["detector"] == "scan" and "check" not in detectors and has_scan_baseline(state):
            # a scan of drift_baseline's baseline says nothing about the other roles of the state
            for role in state.get("unscanned") or []:
                ev["unknown"].append(
                    {
                        "detector": "scan",
                        "class": "host",
                        "item": str(role),
                        "reason": f"role {role} of the declared state has no drift_scan baseline: only the "
                        "check detector evaluates it",
                    }
                )


def _check_document(doc, run_id: str | None) -> Mapping:
    if not isinstance(doc, Mapping) or doc.get("format") != CHECK_FORMAT or not isinstance(doc.get("hosts"), Mapping):
        raise DriftInputError(f"the check-mode results are not a {CHECK_FORMAT} document")
    if run_id is not None and doc.get("run_id") != run_id:
        raise DriftInputError(
            f"the check-mode results belong to run {doc.get('run_id')!r}, not this run {run_id!r}: they are stale"
        )
    return doc["hosts"]


def check_segment(doc, run_id: str | None, segment: str) -> dict:
    """The hosts of one named segment of a check-mode document (a re-check after remediation); a run that
    asked for a re-check and has none has no evidence for it (empty: every host is then unknown)."""
    _check_document(doc, run_id)
    segments = doc.get("segments") or {}
    hosts = segments.get(segment) if isinstance(segments, Mapping) else None
    if hosts is not None and not isinstance(hosts, Mapping):
        raise DriftInputError(f"the check-mode results' segment {segment!r} is not a mapping of hosts")
    return dict(hosts or {})


# -- the report -----------------------------------------------------------------------------------
def build_report(
    targets: Mapping,
    *,
    detectors,
    run_id: str,
    scans: Mapping | None = None,
    check: Mapping | None = None,
    check_run_id: str | None = None,
    accepted=None,
    now: dt.datetime | None = None,
    acceptance_max_days: int = acc.DEFAULT_MAX_DAYS,
    include_diffs: bool = True,
    declared: Mapping | None = None,
) -> dict:
    """The report for ``targets`` ({host: labels}) from the evidence of ``detectors``.

    ``declared`` ({host: {roles, unscanned}}, from the drift_state filter) says what each host's declared state
    is: a host with no roles has nothing the check detector could compare, and roles no scan baseline stands
    for are not evaluated by a scan alone - both are unknown, never in sync."""
    now = now or dt.datetime.now(dt.timezone.utc)
    detectors = list(dict.fromkeys(detectors or []))
    if not detectors or any(d not in DETECTORS for d in detectors):
        raise DriftInputError(f"detectors must be a non-empty list of {', '.join(DETECTORS)}, got {detectors!r}")
    if not isinstance(targets, Mapping) or not targets:
        raise DriftInputError("no target hosts: a drift report over nothing would claim nothing is drifted")
    if "scan" in detectors and not isinstance(scans, Mapping):
        raise DriftInputError("the scan detector was asked for but no scan results were given")
    check_hosts = _check_document(check, check_run_id) if "check" in detectors else {}
    acceptances = acc.normalise(accepted, now, acceptance_max_days)
    used: set = set()
    hosts = {}
    for host in sorted(targets):
        labels = targets[host] or {}
        evidence = []
        state = declared.get(host) if declared is not None else None
        if "scan" in detectors:
            if declared is not None and not has_scan_baseline(state):
                evidence.append(unscanned_evidence(state, "check" in detectors))
            else:
                evidence.append(scan_evidence(scans.get(host)))
        if "check" in detectors:
            evidence.append(check_evidence(check_hosts.get(host)))
        if declared is not None:
            coverage_gaps(evidence, state, detectors)
        findings = [f for ev in evidence for f in ev["findings"]]
        for f in findings:
            f["id"] = finding_id(host, f)
            if not include_diffs and "diff" in f:
                f["diff"] = None
        drift, accepted_findings, used_here = acc.apply(host, findings, acceptances)
        used |= used_here
        unknown = [u for ev in evidence for u in ev["unknown"]]
        reach = [ev["reachable"] for ev in evidence if ev["reachable"] is not None]
        status = "drifted" if drift else "unknown" if unknown else "in_sync"
        per_detector = {}
        for ev in evidence:
            if ev.get("omitted"):
                continue
            left = acc.apply(host, ev["findings"], acceptances)[0]
            per_detector[ev["detector"]] = "drifted" if left else "unknown" if ev["unknown"] else "in_sync"
        hosts[host] = {
            **location(labels),
            "status": status,
            "reachable": (False if False in reach else True) if reach else None,
            "detectors": per_detector,
            "findings": drift,
            "accepted": accepted_findings,
            "unknown": unknown,
            "labels": {k: labels.get(k) for k in ("rollback_capability", "criticality", "owner_team") if k in labels},
        }
    report = {
        "format": FORMAT,
        "run_id": run_id,
        "generated_at": acc.iso(now),
        "detectors": detectors,
        "hosts": hosts,
        "acceptances": {
            "active": [a for a in acceptances if a["active"]],
            "expired": [a for a in acceptances if not a["active"]],
            "unused": sorted(a["id"] for a in acceptances if a["id"] not in used),
        },
    }
    report["groups"] = groups(hosts)
    report["summary"] = summary(hosts, acceptances)
    report["exit_code"] = exit_code(report["summary"])
    report["status"] = {0: "in_sync", 2: "drifted", 1: "unknown"}[report["exit_code"]]
    return report


def _env_key(env: str):
    return (ENV_ORDER.index(env) if env in ENV_ORDER else len(ENV_ORDER), env)


def groups(hosts: Mapping) -> list:
    grouped: dict = {}
    for name, h in hosts.items():
        key = (h["env_type"], h["region"], h["site"])
        g = grouped.setdefault(key, {"env_type": key[0], "region": key[1], "site": key[2], "hosts": []})
        g["hosts"].append(name)
    out = []
    for key in sorted(grouped, key=lambda k: (_env_key(k[0]), k[1], k[2])):
        g = grouped[key]
        g["hosts"].sort()
        for status in STATUSES:
            g[status] = sum(1 for n in g["hosts"] if hosts[n]["status"] == status)
        out.append(g)
    return out


def summary(hosts: Mapping, acceptances: list) -> dict:
    counts = {s: sum(1 for h in hosts.values() if h["status"] == s) for s in STATUSES}
    by_class = dict.fromkeys(CLASSES, 0)
    by_env: dict = {}
    for h in hosts.values():
        for f in h["findings"]:
            by_class[f["class"] if f["class"] in by_class else "task"] += 1
        env = by_env.setdefault(h["env_type"], dict.fromkeys(STATUSES, 0))
        env[h["status"]] += 1
    return {
        "hosts": len(hosts),
        **counts,
        "unreachable": sum(1 for h in hosts.values() if h["reachable"] is False),
        "findings": sum(len(h["findings"]) for h in hosts.values()),
        "accepted": sum(len(h["accepted"]) for h in hosts.values()),
        "unknown_items": sum(len(h["unknown"]) for h in hosts.values()),
        "expired_acceptances": sum(1 for a in acceptances if not a["active"]),
        "by_class": by_class,
        "by_env_type": {k: by_env[k] for k in sorted(by_env, key=_env_key)},
    }


def exit_code(summary_: Mapping) -> int:
    if summary_["unknown"]:
        return 1
    if summary_["drifted"]:
        return 2
    return 0
