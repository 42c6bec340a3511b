# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Access-control parity: staging hosts that hold production personal data (``data_class: pii``) must be guarded
as production is.

The controls compared come from what the hosts report themselves: the effective sshd configuration (``sshd -T``:
who may log in and how) and the firewall's default for incoming traffic (``iptables -S INPUT``). Production's
PII hosts must agree with each other - otherwise there is no baseline to hold staging to, and that is an error,
not a pass - and every staging PII host must match that baseline control by control.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

SSHD_KEYS = (
    "permitrootlogin",
    "passwordauthentication",
    "pubkeyauthentication",
    "kbdinteractiveauthentication",
    "permitemptypasswords",
    "authorizedkeysfile",
    "allowusers",
    "allowgroups",
    "denyusers",
    "denygroups",
    "maxauthtries",
)


class ParityError(ChangewardError, ValueError):
    """Parity cannot be decided (no production baseline, production hosts that disagree, a host without data)."""


def parse_sshd(text: str) -> dict:
    """The access settings of ``sshd -T`` output (lower-case keys; absent ones are ``(unset)``)."""
    found = {}
    for line in (text or "").splitlines():
        key, _sep, value = line.strip().partition(" ")
        if key.lower() in SSHD_KEYS:
            found[key.lower()] = " ".join(sorted(value.split())) if key.lower().startswith(("allow", "deny")) else value
    return {f"sshd.{k}": found.get(k, "(unset)") for k in SSHD_KEYS}


def parse_firewall(text: str) -> dict:
    """The INPUT chain's policy from ``iptables -S INPUT``."""
    for line in (text or "").splitlines():
        parts = line.split()
        if parts[:2] == ["-P", "INPUT"] and len(parts) > 2:
            return {"firewall.input_policy": parts[2]}
    raise ParityError("iptables -S INPUT output has no policy line")


def check(hosts: Iterable[Mapping]) -> dict:
    """hosts: [{name, stage (production | staging | ...), data_class, controls: {control: value}}]."""
    hosts = [h for h in hosts if h.get("data_class") == "pii"]
    production = [h for h in hosts if h.get("stage") == "production"]
    staging = [h for h in hosts if h.get("stage") == "staging"]
    if not production:
        raise ParityError("no production host with data_class pii: there is no baseline to compare staging with")
    baseline: dict = {}
    for control in sorted({c for h in production for c in h["controls"]}):
        values = {h["name"]: h["controls"].get(control, "(missing)") for h in production}
        if len(set(values.values())) > 1:
            detail = ", ".join(f"{n}={v}" for n, v in sorted(values.items()))
            raise ParityError(f"production PII hosts disagree on {control} ({detail}): no baseline")
        baseline[control] = next(iter(values.values()))
    findings = []
    for host in sorted(staging, key=lambda h: h["name"]):
        for control, expected in sorted(baseline.items()):
            actual = host["controls"].get(control, "(missing)")
            if actual != expected:
                findings.append({"host": host["name"], "control": control, "production": expected, "staging": actual})
    return {
        "baseline": baseline,
        "production_hosts": sorted(h["name"] for h in production),
        "staging_hosts": sorted(h["name"] for h in staging),
        "findings": findings,
        "passed": not findings,
    }
