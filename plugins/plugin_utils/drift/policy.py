# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drift section of the changeward policy, and the remediation plan it gives for a report.

```yaml
drift:
  auto_remediate:
    classes: [file, service, sysctl]        # drift classes fixed without a person; default: none
    env_types: [cloud, onprem, edge]        # default: all
    rollback_capability: [full, partial]    # hosts that can be rolled back; default: full, partial
    max_hosts: 20                           # more drifted hosts than this: all go to a person; 0 = no cap
  defer_unreachable: [edge]                 # unreachable hosts of these env_types wait for the next run
  acceptance_max_days: 90                   # accepted drift must expire within this many days
```

A host is remediated automatically only when everything about it is known and allowed: it is drifted,
reachable, fully evaluated, carries no accepted drift (the role would revert it), every finding is of
an allowed class, and its env_type and rollback capability are allowed. Everything else that is not in
sync becomes a record for a person (``manual``), except unreachable hosts of a deferred env_type
(``deferred``: picked up by the next run, not failed). The default allows nothing: without a policy
every drift goes to a person.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.errors import DriftPolicyError

CLASSES = ("file", "package", "service", "sysctl", "port", "user", "task")
ENV_TYPES = ("cloud", "onprem", "edge")
CAPABILITIES = ("full", "partial", "none")
DEFAULTS = {
    "auto_remediate": {
        "classes": [],
        "env_types": list(ENV_TYPES),
        "rollback_capability": ["full", "partial"],
        "max_hosts": 0,
    },
    "defer_unreachable": ["edge"],
    "acceptance_max_days": 90,
}


def _list(value, where: str, allowed) -> list:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DriftPolicyError(f"policy {where}: must be a list of strings")
    bad = sorted(set(value) - set(allowed))
    if bad:
        raise DriftPolicyError(f"policy {where}: unknown value(s) {', '.join(bad)}; allowed: {', '.join(allowed)}")
    return sorted(set(value), key=list(allowed).index)


def _int(value, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DriftPolicyError(f"policy {where}: must be an integer from {low} to {high}, got {value!r}")
    return value


def drift_policy(policy) -> dict:
    """The validated ``drift`` section (defaults filled) of a changeward policy document."""
    if policy is None:
        policy = {}
    if not isinstance(policy, Mapping):
        raise DriftPolicyError("the policy must be a mapping")
    section = policy.get("drift")
    section = {} if section is None else section
    if not isinstance(section, Mapping):
        raise DriftPolicyError("policy drift: must be a mapping")
    unknown = sorted(set(section) - set(DEFAULTS))
    if unknown:
        raise DriftPolicyError(f"policy drift: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(DEFAULTS)}")
    auto = section.get("auto_remediate")
    auto = {} if auto is None else auto
    if not isinstance(auto, Mapping):
        raise DriftPolicyError("policy drift.auto_remediate: must be a mapping")
    unknown = sorted(set(auto) - set(DEFAULTS["auto_remediate"]))
    if unknown:
        raise DriftPolicyError(
            f"policy drift.auto_remediate: unknown key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(DEFAULTS['auto_remediate'])}"
        )
    d = DEFAULTS["auto_remediate"]
    return {
        "auto_remediate": {
            "classes": _list(auto.get("classes", d["classes"]), "drift.auto_remediate.classes", CLASSES),
            "env_types": _list(auto.get("env_types", d["env_types"]), "drift.auto_remediate.env_types", ENV_TYPES),
            "rollback_capability": _list(
                auto.get("rollback_capability", d["rollback_capability"]),
                "drift.auto_remediate.rollback_capability",
                CAPABILITIES,
            ),
            "max_hosts": _int(auto.get("max_hosts", d["max_hosts"]), "drift.auto_remediate.max_hosts", 0, 100000),
        },
        "defer_unreachable": _list(
            section.get("defer_unreachable", DEFAULTS["defer_unreachable"]), "drift.defer_unreachable", ENV_TYPES
        ),
        "acceptance_max_days": _int(
            section.get("acceptance_max_days", DEFAULTS["acceptance_max_days"]), "drift.acceptance_max_days", 1, 3660
        ),
    }


def protection_gaps(roles, role_scopes: Mapping) -> list:
    """Reasons a host's declared state cannot be snapshotted before remediation: no roles, or a role that
    declares no snapshot scope (meta/changeward.yml ``snapshot:``). drift_baseline's scope is its own
    rendered baseline (every path, package and service it manages)."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.state import is_baseline_role

    if not roles:
        return ["no declared state to restore it with"]
    missing = [r for r in roles if not is_baseline_role(r) and not role_scopes.get(r)]
    if missing:
        return [
            f"role(s) {', '.join(missing)} declare no snapshot scope (meta/changeward.yml snapshot:): what they "
            "change could not be snapshotted first"
        ]
    return []


def plan(report: Mapping, policy: Mapping, states: Mapping | None = None, role_scopes: Mapping | None = None) -> dict:
    """{remediate, manual, deferred, in_sync}: hosts by what happens to them, with reasons.

    ``states`` ({host: [role names]}) and ``role_scopes`` ({role: snapshot scope or None}), when given, add one
    rule: a host is remediated automatically only when everything its declared state changes can be
    snapshotted first (protection_gaps)."""
    auto_policy = policy["auto_remediate"]
    allowed = set(auto_policy["classes"])
    remediate, manual, deferred, in_sync = [], [], [], []
    for name in sorted(report["hosts"]):
        h = report["hosts"][name]
        if h["status"] == "in_sync":
            in_sync.append(name)
            continue
        if h["reachable"] is False:
            if h["env_type"] in policy["defer_unreachable"]:
                deferred.append({"host": name, "reason": "unreachable; the next run picks it up"})
            else:
                manual.append({"host": name, "reasons": ["unreachable"]})
            continue
        reasons = []
        if h["status"] == "unknown" or h["unknown"]:
            reasons.append(f"not fully evaluated ({len(h['unknown'])} item(s) unknown)")
        if h["accepted"]:
            reasons.append("has accepted drift, which remediating with the role would revert")
        classes = sorted({f["class"] for f in h["findings"]})
        not_allowed = [c for c in classes if c not in allowed]
        if not_allowed:
            reasons.append(f"drift class(es) {', '.join(not_allowed)} not allowed for automatic remediation")
        if h["env_type"] not in auto_policy["env_types"]:
            reasons.append(f"env_type {h['env_type']} not allowed for automatic remediation")
        capability = (h.get("labels") or {}).get("rollback_capability") or "none"
        if capability not in auto_policy["rollback_capability"]:
            reasons.append(f"rollback_capability {capability} not allowed for automatic remediation")
        if states is not None:
            reasons += protection_gaps(states.get(name), role_scopes or {})
        if reasons:
            manual.append({"host": name, "reasons": reasons})
        else:
            remediate.append(name)
    cap = auto_policy["max_hosts"]
    if cap and len(remediate) > cap:
        reason = f"{len(remediate)} hosts drifted, more than the policy's max_hosts {cap}: a person should look"
        manual.extend({"host": n, "reasons": [reason]} for n in remediate)
        manual.sort(key=lambda m: m["host"])
        remediate = []
    return {"remediate": remediate, "manual": manual, "deferred": deferred, "in_sync": in_sync}


def verify(remediated, rescans: Mapping | None, errors: Mapping | None = None, rechecks: Mapping | None = None) -> dict:
    """Which remediated hosts the re-scan (``rescans``: {host: drift_scan result}) and/or the re-check
    (``rechecks``: {host: drift_collector entry of the verify segment}) show in sync; None skips that detector,
    at least one is needed. ``errors``: {host: message} of failed remediation."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.report import check_evidence, scan_evidence

    if rescans is None and rechecks is None:
        raise DriftPolicyError("verification needs a re-scan or a re-check of the remediated hosts")
    errors = errors or {}
    restored, not_restored, hosts = [], [], {}
    for name in sorted(remediated):
        evidence = []
        # with a re-check too, a host left out of the re-scans (no scan baseline) is judged by the re-check
        if rescans is not None and (name in rescans or rechecks is None):
            evidence.append(scan_evidence(rescans.get(name)))
        if rechecks is not None:
            evidence.append(check_evidence(rechecks.get(name)))
        ev = {
            "findings": [f for e in evidence for f in e["findings"]],
            "unknown": [u for e in evidence for u in e["unknown"]],
        }
        status = "drifted" if ev["findings"] else "unknown" if ev["unknown"] else "in_sync"
        hosts[name] = {"status": status, "findings": len(ev["findings"]), "unknown": len(ev["unknown"])}
        if errors.get(name):
            not_restored.append({"host": name, "reason": f"remediation failed: {errors[name]}"})
        elif status != "in_sync":
            detail = ev["unknown"][0]["reason"] if status == "unknown" else f"{len(ev['findings'])} finding(s) left"
            not_restored.append({"host": name, "reason": f"re-scan is {status}: {detail}"})
        else:
            restored.append(name)
    return {"restored": restored, "not_restored": not_restored, "hosts": hosts}
