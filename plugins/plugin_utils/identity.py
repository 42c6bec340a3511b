# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who is running this change: the identity of the run, and how far it can be trusted.

Sources, tried in the order the policy gives (``approval.identity.sources``, default awx, env, os):

- ``awx``: ``awx_user_name`` / ``tower_user_name`` from the run's *extra vars*. AWX/AAP sets them from the
  authenticated user who launched the job, after the job template's and the launch's own extra vars
  (AWX >= 21), so inside AWX nobody can choose them. Outside AWX anyone can pass ``-e awx_user_name=...``:
  drop ``awx`` from the sources on controllers where people run ansible-playbook themselves. Only extra vars
  are read, never play/inventory vars, which a playbook author controls.
- ``env``: the environment variable the policy names (default ``CHANGEWARD_IDENTITY``), set by whatever launches
  Ansible (a CI job from its authenticated user, a sudo wrapper). As trustworthy as that launcher.
- ``os``: the controller's OS account of the effective uid (not ``$USER``, which anyone can set). It names a
  person only on a controller where each person logs in with their own account; a shared account (root, awx)
  names nobody, which is why those are service accounts in the default policy.

Who runs a task is not an approval: approvals are statements signed with the approver's ssh key (approval.py),
whose identity is the principal the allowed-signers file lists for the key. A run's identity counts as an
approver only when the policy accepts its source unsigned (``approval.unsigned_sources``, awx only); it always
counts as an implementer.

The AWX/AAP job id of a run (``awx_job_id``) has one convention, shared by the recorder callback and approvals
(docs/ledger.md): the extra var ``awx_job_id``, else the extra var ``tower_job_id`` (AWX injects both), else the
environment variable ``JOB_ID`` (AWX sets it in the job's environment; ansible-runner passes it through).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

SOURCES = ("awx", "env", "os")
TRUST = {
    "awx": "platform: set by AWX/AAP from the user who launched the job; forgeable outside AWX (-e awx_user_name)",
    "env": "launcher: set by the process that started Ansible; as trustworthy as that launcher",
    "os": "os: the controller account of the effective uid; names a person only where logins are personal",
    "signature": "signature: ssh signature verified against the policy's allowed-signers file",
}
AWX_VARS = ("awx_user_name", "tower_user_name")
JOB_ID_VARS = ("awx_job_id", "tower_job_id")  # extra vars, in this order
JOB_ID_ENV = "JOB_ID"  # then this environment variable
JOB_ID_RE = re.compile(r"\A[A-Za-z0-9._:-]{1,64}\Z")
NAME_RE = re.compile(r"\A[^\x00-\x1f\x7f]{1,128}\Z")


class IdentityError(ChangewardError, ValueError):
    """No trustworthy identity could be established for this run."""


@dataclass(frozen=True)
class Identity:
    name: str
    source: str  # awx | tower | env:<VAR> | os | signature
    kind: str  # awx | env | os | signature: the policy source it came through
    job_id: str | None = None

    @property
    def trust(self) -> str:
        return TRUST[self.kind]

    def as_dict(self) -> dict:
        return {"name": self.name, "source": self.source, "trust": self.trust, "job_id": self.job_id}


def clean_name(value, what: str) -> str:
    if not isinstance(value, str):
        raise IdentityError(f"{what} must be a string, got {type(value).__name__}")
    text = value.strip()
    if not NAME_RE.match(text):
        raise IdentityError(f"{what} must be 1-128 printable characters, got {value!r}")
    return text


def same_person(a: str | None, b: str | None) -> bool:
    """Identities are compared case-insensitively (AWX 'Alice' and OS 'alice' are one person)."""
    if not a or not b:
        return False
    return a.strip().casefold() == b.strip().casefold()


def os_user() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        raise IdentityError(f"the controller's effective uid {os.geteuid()} has no account name") from None


def awx_job_id(extra_vars=None, environ=None) -> str | None:
    """The AWX/AAP job id of this run from the documented sources, in order; None outside AWX.

    A value that is set but is no plausible job id is an error (IdentityError), not silently dropped: the id
    goes into audit records.
    """
    extra_vars = extra_vars or {}
    environ = os.environ if environ is None else environ
    found = [(f"extra var {var}", extra_vars.get(var)) for var in JOB_ID_VARS]
    found.append((f"environment variable {JOB_ID_ENV}", environ.get(JOB_ID_ENV)))
    for where, value in found:
        if value in (None, "") or isinstance(value, bool):
            continue
        text = str(value).strip()
        if not JOB_ID_RE.match(text):
            raise IdentityError(f"{where} is not a job id (1-64 letters, digits or ._:-), got {str(value)[:80]!r}")
        return text
    return None


def resolve_identity(extra_vars=None, sources=SOURCES, env_var="CHANGEWARD_IDENTITY", environ=None, get_os_user=None):
    """The identity of this run from the first source in ``sources`` that gives one; IdentityError otherwise."""
    extra_vars = extra_vars or {}
    environ = os.environ if environ is None else environ
    tried = []
    for source in sources:
        if source not in SOURCES:
            raise IdentityError(f"unknown identity source {source!r} (known: {', '.join(SOURCES)})")
        if source == "awx":
            for var in AWX_VARS:
                value = extra_vars.get(var)
                if value not in (None, ""):
                    name = clean_name(str(value), f"extra var {var}")
                    return Identity(name, var.split("_", 1)[0], "awx", awx_job_id(extra_vars, environ))
            tried.append("AWX job vars (awx_user_name, tower_user_name)")
        elif source == "env":
            value = environ.get(env_var)
            if value:
                name = clean_name(value, f"environment variable {env_var}")
                return Identity(name, f"env:{env_var}", "env", awx_job_id(extra_vars, environ))
            tried.append(f"environment variable {env_var}")
        else:
            name = (get_os_user or os_user)()
            return Identity(clean_name(name, "the OS user name"), "os", "os", awx_job_id(extra_vars, environ))
    raise IdentityError("no identity for this run: tried " + ", ".join(tried) + " (policy approval.identity.sources)")
