# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller context every controller action shares, as plain Python (ControllerAction is its adapter).

- shared argument specs: the ledger options (``ledger``, ``key``), the Prometheus options and the policy
  options, each with its one environment fallback and one set of defaults;
- one rule for which ledger: the ``ledger`` option, else ``CHANGEWARD_LEDGER``, else the default ledger file
  (``changeward/ledger.db`` under ``XDG_STATE_HOME``) - the same file the recorder callback writes; under
  AWX/AAP or in an execution environment, a ledger the job's container would throw away is refused;
- one policy loader: the effective gate policy, the central layer (``policy``, else the ``changeward_policy``
  variable) plus the regional layers (``policy_local``, else ``changeward_policy_local`` of this host and of
  every target host), regional calendars included;
- one way to record a decision: an event of the change (subject: the change id) through ledger.model.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Mapping

from ansible.module_utils.basic import env_fallback

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import InputError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import (
    ENV_KEY,
    ENV_LEDGER,
    READ_ONLY,
    default_path,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerConfigError

POLICY_VAR = "changeward_policy"
LOCAL_VAR = "changeward_policy_local"
ENV_PROMETHEUS_URL = "CHANGEWARD_PROMETHEUS_URL"
ENV_PROMETHEUS_TOKEN = "CHANGEWARD_PROMETHEUS_TOKEN"  # noqa: S105 - the name of a variable, not a secret
PROMETHEUS_TIMEOUT = 10.0
PROMETHEUS_RETRIES = 2

# Every action of the group accepts these, so module_defaults for group/changeward.hybrid.hybrid can set them.
LEDGER_SPEC = {
    "ledger": {"type": "str", "fallback": (env_fallback, [ENV_LEDGER])},
    "key": {"type": "str", "no_log": True, "fallback": (env_fallback, [ENV_KEY])},
}
PROMETHEUS_SPEC = {
    "prometheus_url": {"type": "str", "fallback": (env_fallback, [ENV_PROMETHEUS_URL])},
    "prometheus_token": {"type": "str", "no_log": True, "fallback": (env_fallback, [ENV_PROMETHEUS_TOKEN])},
    "prometheus_timeout": {"type": "float", "default": PROMETHEUS_TIMEOUT},
    "prometheus_retries": {"type": "int", "default": PROMETHEUS_RETRIES},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
}
GATE_POLICY_SPEC = {
    "policy": {"type": "raw"},
    "policy_local": {"type": "raw"},
}


def ledger_target(arg: str | None = None) -> str:
    """Which ledger: the option, else CHANGEWARD_LEDGER, else the default ledger file. Never empty.

    Under AWX/AAP or ansible-runner in a container, a ledger that would be thrown away with the job is refused
    (require_durable_ledger)."""
    configured = (arg or "").strip() or (os.environ.get(ENV_LEDGER) or "").strip()
    target = configured or default_path()
    require_durable_ledger(target, bool(configured))
    return target


# A job's container and its disk are thrown away when the job ends: a ledger there would silently start over
# (breaker state, risk history, approvals) every job.
AWX_JOB_VARS = ("JOB_ID", "AWX_HOST")  # AWX and AAP set both in every job's environment
RUNNER_VARS = ("AWX_ISOLATED_DATA_DIR", "RUNNER_OMIT_EVENTS", "RUNNER_ONLY_FAILED_EVENTS")  # ansible-runner's
CONTAINER_FILES = ("/run/.containerenv", "/.dockerenv")
EPHEMERAL_FS = frozenset({"overlay", "tmpfs", "ramfs", "aufs", "fuse-overlayfs"})
SHARED_LEDGER_HOWTO = (
    "configure a shared ledger that outlives the job: a PostgreSQL DSN in CHANGEWARD_LEDGER (the changeward "
    "ledger credential type injects it with CHANGEWARD_LEDGER_KEY) or the ledger option, or a SQLite file on a "
    "volume mounted into the execution environment"
)


def ephemeral_job(environ: Mapping | None = None, exists: Callable[[str], bool] = os.path.exists) -> str | None:
    """Why this run's own disk does not outlive it - an AWX/AAP job, or ansible-runner in a container - or None.

    A container alone (a developer's machine may be one) is not a job, nor is ansible-runner on a host."""
    env = os.environ if environ is None else environ
    if all(env.get(name) for name in AWX_JOB_VARS):
        return f"an AWX/AAP job (job {env.get('JOB_ID')})"
    in_container = any(exists(path) for path in CONTAINER_FILES) or bool(env.get("container"))
    in_container = in_container or bool(env.get("KUBERNETES_SERVICE_HOST"))
    if in_container and any(name in env for name in RUNNER_VARS):
        return "an ansible-runner job in a container (an execution environment)"
    return None


def mount_of(path: str, mountinfo: str | None = None) -> tuple[str, str]:
    """(mount point, filesystem type) of the mount that holds path (its nearest existing directory)."""
    if mountinfo is None:
        try:
            with open("/proc/self/mountinfo", encoding="utf-8") as handle:
                mountinfo = handle.read()
        except OSError:
            return "/", "unknown"
    probe = os.path.abspath(os.path.expanduser(path))
    while not os.path.isdir(probe) and probe != os.path.dirname(probe):
        probe = os.path.dirname(probe)
    probe = os.path.realpath(probe)
    best = ("/", "unknown")
    for line in mountinfo.splitlines():
        left, _unused, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or not rest:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])  # \040 is a space
        inside = probe == point or probe.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[0]):
            best = (point, rest[0])
    return best


def require_durable_ledger(
    target: str, configured: bool, environ: Mapping | None = None, exists=os.path.exists, mountinfo=None
) -> None:
    """Refuse a ledger that a job's container throws away: not configured, or a SQLite file on the container's
    own disk (its root or a tmpfs, not a mounted volume). PostgreSQL ledgers and runs outside a job pass."""
    why = ephemeral_job(environ, exists)
    if why is None or "://" in target:
        return
    if not configured:
        raise LedgerConfigError(
            f"this run is {why}, and no ledger is configured: the default ledger {target} is on the job's own disk "
            f"and would be lost when the job ends; {SHARED_LEDGER_HOWTO}"
        )
    point, fstype = mount_of(target, mountinfo)
    # The container's own disk is its overlay (or a tmpfs); a root on a real file system (ext4, xfs: a machine
    # that is itself a container, or a root on a volume) outlives the job.
    if fstype in EPHEMERAL_FS:
        raise LedgerConfigError(
            f"this run is {why}, and the ledger {target} is on the container's own disk ({fstype} on {point}), "
            f"which is lost when the job ends; {SHARED_LEDGER_HOWTO}"
        )


@contextlib.contextmanager
def check_mode_ledgers(check_mode: bool):
    """While it lasts in check mode, no ledger is created or written: every open_ledger opens an existing ledger
    read-only (no schema, indexes, file modes or events) and refuses to create one (ledger.api.READ_ONLY)."""
    token = READ_ONLY.set(True) if check_mode else None
    try:
        yield
    finally:
        if token is not None:
            READ_ONLY.reset(token)


def ledger_exists(target: str) -> bool:
    """A PostgreSQL ledger is looked at when it is opened; a SQLite one exists when its file does."""
    return "://" in target or os.path.exists(os.path.expanduser(target))


def host_locals(names: Iterable[str], hostvars: Mapping) -> list:
    """The regional policy layers of these inventory hosts: [(changeward_policy_local, origin), ...]."""
    out = []
    for name in names:
        found = (hostvars or {}).get(name)
        if found is None:
            raise InputError(f"target {name} is not a host of the inventory")
        local = found.get(LOCAL_VAR) if hasattr(found, "get") else None
        if local:
            out.append((local, f"{LOCAL_VAR} of host {name}"))
    return out


def effective_policy(
    policy_arg,
    local_arg,
    task_vars: Mapping,
    target_locals: list,
    resolve_path: Callable[[str], str] | None = None,
):
    """The effective gate policy (a GatePolicy): defaults <- central <- regional layers.

    ``policy`` defaults to the ``changeward_policy`` variable (a mapping or a YAML path); ``policy_local`` to the
    ``changeward_policy_local`` of this host and of every target host (given explicitly, only it is used).
    Regional calendars (``blackout.calendars`` of a local layer) join the central ones."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import (
        effective_policy as merge,
    )

    central = policy_arg if policy_arg not in (None, "", {}) else task_vars.get(POLICY_VAR)
    origin = None
    if isinstance(central, str) and central.strip():
        origin = central.strip()
        central = _with_calendars_beside(resolve_path(origin) if resolve_path else origin, origin)
    if local_arg not in (None, ""):
        items = local_arg if isinstance(local_arg, list) else [local_arg]
        layers = [(item, f"policy_local[{i}]") for i, item in enumerate(items)]
    else:
        layers = list(target_locals)
        own = task_vars.get(LOCAL_VAR)
        if own:
            layers.insert(0, (own, f"{LOCAL_VAR} of host {task_vars.get('inventory_hostname', '?')}"))
    resolved = []
    for item, where in layers:
        if isinstance(item, str) and resolve_path:
            item = resolve_path(item)
        resolved.append((item, where))
    policy = merge(central if central not in (None, "", {}) else None, resolved, central_origin=origin)
    if policy.allowed_signers:
        from ansible_collections.changeward.hybrid.plugins.plugin_utils import sshsig

        path = os.path.expanduser(policy.allowed_signers)
        if not os.path.isabs(path) and resolve_path:
            path = resolve_path(path)
        try:
            policy.bind_allowed_signers(sshsig.file_digest(path))
        except sshsig.SignatureSetupError:
            policy.bind_allowed_signers(None)
    return policy


def _with_calendars_beside(path: str, origin: str) -> dict:
    """The policy document in path, its relative calendar paths made relative to the policy file's directory
    (where its author put them), not to wherever the run started."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.gate_policy import read_document

    doc, _origin = read_document(path, origin)
    base = os.path.dirname(os.path.abspath(os.path.expanduser(path)))
    for item in (doc.get("blackout") or {}).get("calendars") or [] if isinstance(doc, dict) else []:
        src = item.get("src") if isinstance(item, dict) else None
        if isinstance(src, str) and "://" not in src and not os.path.isabs(os.path.expanduser(src)):
            item["src"] = os.path.normpath(os.path.join(base, src))
    return doc


def gate_decision(gate: str, decision: str, reason: str, time: str | None = None, **extra) -> dict:
    """One entry of a change record's gate_decisions (time: when decided, default now)."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import utc_now

    entry = {"gate": gate, "decision": decision, "reason": reason, "time": time or utc_now()}
    entry.update({k: v for k, v in extra.items() if v is not None})
    return entry


def record_gate_decision(
    target: str, change_id: str, entry: Mapping, *, key=None, source: str, events: Iterable[Mapping] = ()
) -> dict:
    """Record a gate's decision in the change (io.changeward.gate.decided adds it to gate_decisions) and any
    further events of that decision, each with the change id as subject. The change must be open already."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

    with open_ledger(target, key=key, create=False, source=source) as ledger:
        if ledger.get_change(change_id) is None:
            raise InputError(
                f"change {change_id} is not in the ledger {ledger.target}; open it with "
                "changeward.hybrid.change_record first (or give the ledger it was opened in)"
            )
        extra = [model.validate_event(dict(e)) for e in events]
        for event in extra:
            if event["subject"] != change_id:
                raise InputError(f"event {event['id']} is about {event['subject']!r}, not change {change_id}")
        seqs = [ledger.append(event).seq for event in extra]
        seq = ledger.update_change(
            change_id, add={"gate_decisions": [dict(entry)]}, event_type=GATE_DECIDED, data={"decision": dict(entry)}
        ).seq
        where = ledger.target
    return {"ledger": where, "ledger_seq": seq, "event_seqs": seqs}


GATE_DECIDED = "io.changeward.gate.decided"
