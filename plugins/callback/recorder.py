# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: recorder
type: notification
short_description: Record every run into the change ledger and ship it to audit sinks
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Records the plays, tasks and per-host results (ok, changed, failed, unreachable, skipped) of every run that
    carries a change id (the extra variable C(changeward_change_id), or O(change_id)) into the change ledger
    as CloudEvents whose subject is the change id. With O(record_unattributed), a run without a change id is
    recorded as a change of its own (C(unattributed-<run id>)), opened at the first play and closed at the end,
    so the population of changes is complete.
  - "Write-ahead: each event is committed to the ledger before the callback method returns; a task's
    C(io.changeward.task.started) event is committed before any host starts the task."
  - Fails closed. When the ledger cannot be written (unwritable path, locked database, missing checkpoint key,
    corrupt ledger) or the recorder is misconfigured, it prints an error naming the problem and stops the run;
    ansible-playbook exits with code 74 (ledger cannot be written) or 78 (recorder configuration invalid), and
    no further task starts. O(on_ledger_error=warn) only warns instead - for non-production use.
  - "Redaction: results hidden by C(no_log) are recorded as their status only; task arguments are recorded as
    the module name and the argument names unless O(record_args) is set, and then values whose key looks
    secret, values matching a secret pattern and vaulted values are masked. Task output (stdout, facts,
    diffs) is never recorded."
  - Ships the ledger to the sinks in O(sinks) / O(sinks_file) from a background process while the play runs,
    and once more at the end of the run for at most O(ship_budget) seconds. A sink that is down never fails
    or slows the playbook beyond that budget; what it did not receive stays pending in the ledger and is
    delivered, in order, by the next run or by M(changeward.hybrid.ledger_ship). Signed checkpoints are
    shipped to every sink too. See docs/recorder-and-sinks.md.
  - Works beside any stdout callback and under ansible-runner / AWX; it prints nothing but warnings and errors.
  - A run with C(--check) writes nothing - it is not recorded, no ledger is created or migrated and nothing is
    shipped (a delivery moves a sink's cursor in the ledger).
requirements:
  - enabled in C(callbacks_enabled) in ansible.cfg (or C(ANSIBLE_CALLBACKS_ENABLED))
notes:
  - Relative paths (O(ledger), O(ledger_key_file), O(sinks_file)) are relative to the directory of the ansible.cfg
    in use (the working directory when there is none).
  - The ledger's signing key is needed to append when the ledger takes periodic checkpoints (the default); a
    missing key stops the run like any other ledger error.
options:
  ledger:
    description:
      - The ledger - a SQLite file path or a C(postgresql://) DSN. Defaults to C(~/.local/state/changeward/ledger.db).
      - Under AWX/AAP, or ansible-runner in a container (an execution environment), the run is stopped when no
        ledger is configured or the SQLite file is on the container's own disk, which is lost with the job.
    type: str
    env:
      - name: CHANGEWARD_LEDGER
    ini:
      - section: changeward_recorder
        key: ledger
  ledger_key:
    description:
      - Checkpoint signing key material (HMAC secret or Ed25519 key, see docs/ledger.md). Prefer the environment
        (AWX credential types inject it) or O(ledger_key_file); it is never recorded or shown.
    type: str
    env:
      - name: CHANGEWARD_LEDGER_KEY
  ledger_key_file:
    description:
      - File holding the checkpoint signing key; it may be encrypted with Ansible Vault (the run's vault secrets
        decrypt it). Used when O(ledger_key) is not set.
    type: path
    env:
      - name: CHANGEWARD_LEDGER_KEY_FILE
    ini:
      - section: changeward_recorder
        key: ledger_key_file
  ledger_timeout:
    description:
      - Seconds to wait for the ledger's write lock (another run appending) before giving up - which stops the run.
    type: float
    default: 10
    env:
      - name: CHANGEWARD_LEDGER_TIMEOUT
    ini:
      - section: changeward_recorder
        key: ledger_timeout
  change_id:
    description:
      - Change id of runs that do not set the extra variable C(changeward_change_id) (which takes precedence).
    type: str
    env:
      - name: CHANGEWARD_CHANGE_ID
  record_unattributed:
    description:
      - Record runs without a change id as unattributed changes. When V(false) such runs are not recorded (the
        background shipping of pending events still runs).
    type: bool
    default: false
    env:
      - name: CHANGEWARD_RECORD_UNATTRIBUTED
    ini:
      - section: changeward_recorder
        key: record_unattributed
  exempt_playbooks:
    description:
      - Shell-style patterns of playbook paths whose runs are not recorded, even with a change id - playbooks that
        change no managed host (an approver signing a statement, reports, audits). Matched against the playbook's
        absolute path and its file name. Such runs still ship what the ledger holds. Set by the operator in
        ansible.cfg, not by playbooks.
    type: list
    elements: str
    default: []
    env:
      - name: CHANGEWARD_RECORDER_EXEMPT_PLAYBOOKS
    ini:
      - section: changeward_recorder
        key: exempt_playbooks
  on_ledger_error:
    description:
      - V(fail) stops the run when the ledger cannot be written or the recorder is misconfigured.
      - V(warn) only warns and lets the run go on unrecorded; for non-production use.
    type: str
    choices: [fail, warn]
    default: fail
    env:
      - name: CHANGEWARD_ON_LEDGER_ERROR
    ini:
      - section: changeward_recorder
        key: on_ledger_error
  record_args:
    description:
      - Record task argument values (masked) instead of only the argument names. Values are recorded as written in
        the playbook (templates unrendered).
    type: bool
    default: false
    env:
      - name: CHANGEWARD_RECORD_ARGS
    ini:
      - section: changeward_recorder
        key: record_args
  record_messages:
    description:
      - Record the C(msg) of failed and unreachable results, with secret patterns, the plaintext of every
        vaulted variable of the play, and the values of extra vars that are secrets by name (password, token,
        key, ...) or by look masked.
    type: bool
    default: false
    env:
      - name: CHANGEWARD_RECORD_MESSAGES
    ini:
      - section: changeward_recorder
        key: record_messages
  secret_patterns:
    description:
      - Extra regular expressions for values to mask, as a JSON array or one expression per line.
    type: str
    env:
      - name: CHANGEWARD_SECRET_PATTERNS
    ini:
      - section: changeward_recorder
        key: secret_patterns
  secret_key_names:
    description:
      - Extra regular expressions (case-insensitive) for argument names whose values are masked.
    type: list
    elements: str
    default: []
    env:
      - name: CHANGEWARD_SECRET_KEY_NAMES
    ini:
      - section: changeward_recorder
        key: secret_key_names
  sinks:
    description:
      - Audit sinks as a JSON list (see docs/recorder-and-sinks.md for the fields of each sink type).
    type: str
    env:
      - name: CHANGEWARD_SINKS
    ini:
      - section: changeward_recorder
        key: sinks
  sinks_file:
    description:
      - YAML or JSON file with the audit sinks (a list, or a mapping with a C(sinks) list). Combined with O(sinks).
    type: path
    env:
      - name: CHANGEWARD_SINKS_FILE
    ini:
      - section: changeward_recorder
        key: sinks_file
  ship:
    description:
      - Ship to the sinks from this run. When V(false) events only wait in the ledger for
        M(changeward.hybrid.ledger_ship).
    type: bool
    default: true
    env:
      - name: CHANGEWARD_SHIP
    ini:
      - section: changeward_recorder
        key: ship
  ship_interval:
    description:
      - Seconds between shipping passes while the play runs; V(0) ships only at the end of the run.
    type: float
    default: 2
    env:
      - name: CHANGEWARD_SHIP_INTERVAL
    ini:
      - section: changeward_recorder
        key: ship_interval
  ship_budget:
    description:
      - Most seconds the end of the run waits for the last shipping pass. What is not delivered by then stays
        pending.
    type: float
    default: 5
    env:
      - name: CHANGEWARD_SHIP_BUDGET
    ini:
      - section: changeward_recorder
        key: ship_budget
  checkpoint_at_end:
    description:
      - Take a signed checkpoint at the end of each recorded run (when the key is available), so the run's last
        events are anchored at the sinks too.
    type: bool
    default: true
    env:
      - name: CHANGEWARD_CHECKPOINT_AT_END
    ini:
      - section: changeward_recorder
        key: checkpoint_at_end
"""

import fnmatch
import getpass
import json
import os
import socket
import subprocess
import sys
import threading
import uuid

from ansible import constants as C
from ansible import context
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.callback import CallbackBase
from ansible.release import __version__ as ansible_version

from ansible_collections.changeward.hybrid.plugins.plugin_utils import redact
from ansible_collections.changeward.hybrid.plugins.plugin_utils.context import require_durable_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.identity import awx_job_id
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import default_path, open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import CHANGE_ID_RE, new_record
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping import config as sink_config
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.base import resolve_secret
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.errors import ShippingError

try:
    from ansible.parsing.vault import VaultHelper
except ImportError:  # pragma: no cover - ansible-core before 2.19
    VaultHelper = None
try:  # where a value was loaded from (ansible-core 2.19+); no public API exposes it yet
    from ansible._internal._datatag._tags import Origin
except ImportError:  # pragma: no cover
    Origin = None

EXIT_LEDGER = 74  # EX_IOERR: the ledger cannot be written
EXIT_CONFIG = 78  # EX_CONFIG: the recorder is misconfigured
CHANGE_ID_VAR = "changeward_change_id"
RUNNER_MODULE = "ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.runner"
PREFIX = "changeward recorder"
MAX_HOSTS_LISTED = 1000

RUN_STARTED = "io.changeward.run.started"
PLAY_STARTED = "io.changeward.play.started"
TASK_STARTED = "io.changeward.task.started"
TASK_RESULT = "io.changeward.task.result"
RUN_FINISHED = "io.changeward.run.finished"


_VAULT_FILES = {}


def _from_vault_file(value):
    """True for a value loaded from a vault-encrypted file (group_vars, vars_files): its plaintext is a secret."""
    origin = Origin.get_tag(value) if Origin is not None and isinstance(value, str) else None
    path = getattr(origin, "path", None)
    if not path:
        return False
    if path not in _VAULT_FILES:
        try:
            with open(path, "rb") as fh:
                _VAULT_FILES[path] = fh.read(len(b"$ANSIBLE_VAULT;")) == b"$ANSIBLE_VAULT;"
        except OSError:
            _VAULT_FILES[path] = False
    return _VAULT_FILES[path]


def _is_vaulted(value):
    if VaultHelper is not None and VaultHelper.get_ciphertext(value, with_tags=False) is not None:
        return True
    return _from_vault_file(value)


def _reveal(value):
    data = getattr(value, "data", None)  # pre-2.19 AnsibleVaultEncryptedUnicode
    return str(data) if isinstance(data, str) else str(value)


def _collections_root():
    """The directory holding ``ansible_collections`` that this plugin was loaded from (for the shipper)."""
    parts = os.path.abspath(__file__).split(os.sep)
    if "ansible_collections" in parts:
        return os.sep.join(parts[: len(parts) - 1 - parts[::-1].index("ansible_collections")])
    for path in C.COLLECTIONS_PATHS:
        if os.path.isdir(os.path.join(path, "ansible_collections", "changeward", "hybrid")):
            return path
    return None


class RecorderStop(SystemExit):
    """Raised from a callback to stop the run; ansible-core only swallows Exception subclasses."""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "changeward.hybrid.recorder"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None, options=None):
        super().__init__(display=display, options=options)
        self._playbook = None
        self._loader = None
        self._started = False
        self._ledger = None
        self._recording = False
        self._change_id = None
        self._unattributed = False
        self._run_id = str(uuid.uuid4())
        self._redactor = None
        self._shipper = None
        self._raw_sinks = []
        self._lost = 0
        self._warned = set()
        self._targets = set()
        self._stopped = False
        self._ledger_for_shipping = None  # what the shipper reads: the run's ledger, or an existing one
        self._job_id = None

    # -- configuration ------------------------------------------------------------------------------
    def _base_dir(self):
        config = getattr(C.config, "_config_file", None)
        return os.path.dirname(os.path.abspath(config)) if config else os.getcwd()

    def _resolve(self, path):
        if not path or "://" in path:
            return path
        path = os.path.expanduser(path)
        return path if os.path.isabs(path) else os.path.join(self._base_dir(), path)

    def _option(self, name, default=None):
        try:
            value = self.get_option(name)
        except KeyError:
            return default
        return default if value is None else value

    def _build_redactor(self):
        try:
            self._redactor = redact.Redactor(
                record_args=self._option("record_args", False),
                record_messages=self._option("record_messages", False),
                extra_patterns=redact.parse_pattern_list(self._option("secret_patterns")),
                extra_keys=self._option("secret_key_names", []),
                is_vaulted=_is_vaulted,
            )
        except redact.RedactionConfigError as exc:
            self._fail(f"invalid redaction setting: {exc}", EXIT_CONFIG)
            return False
        return True

    def _exempt(self):
        patterns = self._option("exempt_playbooks", []) or []
        name = os.path.basename(self._playbook or "")
        return any(fnmatch.fnmatch(self._playbook or "", p) or fnmatch.fnmatch(name, p) for p in patterns)

    def _ledger_key(self):
        key = self._option("ledger_key")
        if key:
            return key
        path = self._resolve(self._option("ledger_key_file"))
        if not path:
            return None
        try:
            if self._loader is not None:
                return self._loader.get_text_file_contents(path).strip()
            with open(path, encoding="utf-8") as fh:
                return fh.read().strip()
        except Exception as exc:
            raise ValueError(f"cannot read ledger_key_file {path}: {type(exc).__name__}") from None

    def _load_sinks(self):
        """Validate the sink configuration now, so a bad one stops the run before anything happens."""
        raw = sink_config.collect(self._option("sinks"), self._resolve(self._option("sinks_file")))
        specs = sink_config.validate(raw)
        for spec in specs:
            for field in ("secret", "token"):
                if field in spec and (spec.get(field) or spec.get(f"{field}_env")):
                    self._redactor.add_secret(resolve_secret(spec, field, required=False))
        sink_config.build_sinks(raw)  # resolves secrets and TLS material: errors surface here
        return raw

    # -- failing closed -----------------------------------------------------------------------------
    def _fail(self, problem, code):
        """Stop the run (on_ledger_error=fail) or warn and stop recording (warn)."""
        if self._option("on_ledger_error", "fail") == "warn":
            if problem not in self._warned:
                self._warned.add(problem)
                self._display.warning(f"{PREFIX} (on_ledger_error=warn, NOT recording): {problem}")
            self._lost += 1
            return
        self._stopped = True
        self._recording = False
        self.disabled = True
        self._display.error(
            f"{PREFIX}: {problem}. The run is stopped (exit code {code}) because every change must be recorded "
            "in the ledger first; set on_ledger_error=warn only outside production."
        )
        self._stop_shipper(kill=True)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        if threading.current_thread() is threading.main_thread():
            # SystemExit passes ansible-core's callback error handler (it catches Exception); the playbook
            # executor's finally-blocks still stop the workers.
            raise RecorderStop(code)
        os._exit(code)  # no callback we implement runs off the main thread, but never hang if one does

    def _append(self, event_type, data, subject=None):
        if not self._recording:
            return
        try:
            self._ledger.record(event_type, subject or self._change_id, data)
        except LedgerError as exc:
            self._fail(f"cannot write to the ledger: {exc}", EXIT_LEDGER)
        except Exception as exc:  # anything that keeps an event out of the ledger is a ledger failure
            self._fail(f"cannot record {event_type}: {type(exc).__name__}: {exc}", EXIT_LEDGER)

    # -- run start --------------------------------------------------------------------------------------
    def v2_playbook_on_start(self, playbook):
        self._playbook = os.path.abspath(to_text(getattr(playbook, "_file_name", "") or ""))
        self._loader = getattr(playbook, "_loader", None)

    def v2_playbook_on_play_start(self, play):
        if self._stopped:
            return
        if not self._started:
            self._started = True
            self._start_run(play)
        if self._recording:
            self._record_play(play)
        if self._shipper is None and float(self._option("ship_interval", 2)) > 0:
            self._start_shipper()

    def _start_run(self, play):
        if context.CLIARGS.get("check"):
            # --check writes nothing: no run recorded, no ledger created or migrated, nothing shipped (a delivery
            # would move a sink's cursor in the ledger)
            self._display.vv("changeward recorder: check mode, nothing is recorded or shipped")
            return
        if not self._build_redactor():
            return
        if self._loader is None:  # ad-hoc commands have no playbook start
            self._loader = play.get_loader()
        extra_vars = play.get_variable_manager().extra_vars
        change_id = extra_vars.get(CHANGE_ID_VAR) or self._option("change_id")
        try:
            self._raw_sinks = self._load_sinks() if self._option("ship", True) else []
            key = self._ledger_key()
            if key:
                self._redactor.add_secret(key)
            if self._redactor.record_messages:
                # -e values are plain text: mask secret-named and secret-looking ones in messages, like vault values
                redact.learn_named_secrets(self._redactor, extra_vars)
            self._job_id = awx_job_id(extra_vars)  # IdentityError is a ValueError
        except (ShippingError, ValueError) as exc:
            self._fail(str(exc), EXIT_CONFIG)
            return
        exempt = self._exempt()
        if exempt:
            change_id = None  # a run that changes no host is not a run of the change (it still ships below)
        if change_id is not None:
            change_id = to_text(change_id)
            if not CHANGE_ID_RE.match(change_id):
                self._fail(f"change id {change_id!r} is not valid (letters, digits, . _ : -; at most 128)", EXIT_CONFIG)
                return
        elif self._option("record_unattributed", False) and not exempt:
            change_id = f"unattributed-{self._run_id}"
            self._unattributed = True
        target = self._resolve(self._option("ledger") or os.environ.get("CHANGEWARD_LEDGER") or "") or None
        if change_id is None:
            # Not recorded; still ship what earlier runs left pending, if there is a ledger.
            if self._raw_sinks:
                path = target or default_path()
                if "://" in path or os.path.exists(path):
                    self._ledger_for_shipping = path
            return
        try:
            # the one ledger rule's check: a job's container would throw this ledger away with the job
            require_durable_ledger(target or default_path(), bool(target))
        except LedgerError as exc:
            self._fail(str(exc), EXIT_CONFIG)
            return
        try:
            self._ledger = open_ledger(target, key=key, timeout=float(self._option("ledger_timeout", 10)))
            if self._ledger.checkpoint_interval and self._ledger.signer is None:
                raise LedgerError(
                    f"ledger {self._ledger.target} is checkpointed every {self._ledger.checkpoint_interval} events "
                    "but no signing key is configured (CHANGEWARD_LEDGER_KEY or ledger_key_file)"
                )
        except LedgerError as exc:
            self._fail(f"cannot open the ledger: {exc}", EXIT_LEDGER)
            return
        except Exception as exc:
            self._fail(f"cannot open the ledger: {type(exc).__name__}: {exc}", EXIT_LEDGER)
            return
        self._change_id = change_id
        self._recording = True
        self._ledger_for_shipping = target or default_path()  # the real DSN: target hides its password
        hosts = self._play_hosts(play)
        if self._unattributed:
            try:
                user = getpass.getuser()
                self._ledger.open_change(
                    new_record(
                        change_id,
                        "normal",
                        f"unattributed run of {os.path.basename(self._playbook or 'a playbook')}",
                        user,
                        implementer=user,
                        targets=sorted(hosts),
                    ),
                    data={"run_id": self._run_id, "unattributed": True},
                )
                self._targets.update(hosts)
            except LedgerError as exc:
                self._fail(f"cannot write to the ledger: {exc}", EXIT_LEDGER)
                return
        self._append(RUN_STARTED, self._run_data(extra_vars))

    def _run_data(self, extra_vars):
        args = context.CLIARGS
        return {
            "run_id": self._run_id,
            "playbook": self._playbook or "",
            "user": getpass.getuser(),
            "controller": socket.gethostname(),
            "ansible_version": ansible_version,
            "check_mode": bool(args.get("check")),
            "diff": bool(args.get("diff")),
            "limit": to_text(args.get("subset")) if args.get("subset") else None,
            "tags": [to_text(t) for t in args.get("tags") or ()],
            "skip_tags": [to_text(t) for t in args.get("skip_tags") or ()],
            "extra_var_names": sorted(to_text(n) for n in extra_vars),  # names only: values may be secrets
            "unattributed": self._unattributed,
            "awx_job_id": self._job_id,  # extra var awx_job_id, tower_job_id, else env JOB_ID (identity.py)
            "record_args": self._redactor.record_args,
            "record_messages": self._redactor.record_messages,
        }

    @staticmethod
    def _play_hosts(play):
        try:
            inventory = play.get_variable_manager()._inventory
            return {to_text(h.name) for h in inventory.get_hosts(play.hosts, order=play.order)}
        except Exception:
            return set()

    def _record_play(self, play):
        hosts = self._play_hosts(play)
        if self._redactor.record_messages:
            self._learn_vault_values(play, hosts)
        if self._unattributed and hosts - self._targets:
            try:
                self._ledger.update_change(self._change_id, add={"targets": sorted(hosts - self._targets)})
                self._targets.update(hosts)
            except LedgerError as exc:
                self._fail(f"cannot write to the ledger: {exc}", EXIT_LEDGER)
                return
        listed = sorted(hosts)
        self._append(
            PLAY_STARTED,
            {
                "run_id": self._run_id,
                "play_id": to_text(play._uuid),
                "play": self._redactor.text(play.get_name()),
                "hosts": listed[:MAX_HOSTS_LISTED],
                "host_count": len(listed),
                "strategy": to_text(play.strategy),
            },
        )

    def _learn_vault_values(self, play, hosts):
        """Teach the redactor the plaintext of the play's vaulted variables, so messages never show them."""
        manager = play.get_variable_manager()
        try:
            redact.learn_vault_secrets(self._redactor, manager.get_vars(play=play, include_hostvars=False), _reveal)
            inventory = manager._inventory
            for name in sorted(hosts)[:MAX_HOSTS_LISTED]:
                host = inventory.get_host(name)
                if host is not None:
                    host_vars = manager.get_vars(play=play, host=host, include_hostvars=False)
                    redact.learn_vault_secrets(self._redactor, host_vars, _reveal)
        except Exception as exc:
            # Messages could then leak a vault value: record none rather than guess.
            self._redactor.record_messages = False
            self._display.warning(
                f"{PREFIX}: cannot inspect vaulted variables ({type(exc).__name__}); not recording messages"
            )

    # -- tasks and results --------------------------------------------------------------------------------
    def _task_no_log(self, task):
        value = getattr(task, "no_log", False)
        return value if isinstance(value, bool) else True  # an unresolved template: assume it hides something

    def _record_task(self, task, handler=False):
        if not self._recording:
            return
        data = {
            "run_id": self._run_id,
            "task_id": to_text(task._uuid),
            "task": self._redactor.text(task.get_name()),
            "handler": handler,
            "loop": task.loop is not None,
            "delegate_to": self._redactor.text(task.delegate_to) if task.delegate_to else None,
            "role": to_text(task._role.get_name()) if getattr(task, "_role", None) else None,
        }
        data.update(self._redactor.task_args(to_text(task.action), task.args, self._task_no_log(task)))
        self._append(TASK_STARTED, data)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._record_task(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._record_task(task, handler=True)

    def _record_result(self, result, status, **extra):
        if not self._recording:
            return
        task = result.task
        res = getattr(result, "result", None)
        if res is None:
            res = getattr(result, "_result", {})
        if status == "ok" and isinstance(res, dict) and res.get("changed"):
            status = "changed"
        data = {
            "run_id": self._run_id,
            "task_id": to_text(task._uuid),
            "task": self._redactor.text(task.get_name()),
            "host": to_text(result.host.get_name()),
            "action": to_text(task.action),
        }
        data.update(self._redactor.result(res, status, no_log=self._task_no_log(task)))
        data.update(extra)
        self._append(TASK_RESULT, data)

    def v2_runner_on_ok(self, result):
        self._record_result(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record_result(result, "failed", ignore_errors=bool(ignore_errors))

    def v2_runner_on_unreachable(self, result):
        self._record_result(result, "unreachable")

    def v2_runner_on_skipped(self, result):
        self._record_result(result, "skipped")

    # -- run end ---------------------------------------------------------------------------------------------
    def v2_playbook_on_stats(self, stats):
        if self._stopped:
            return
        if self._recording:
            self._finish_run(stats)
        if self._shipper is None:
            self._start_shipper()
        self._drain_shipper()
        if self._lost:
            self._display.warning(
                f"{PREFIX}: {self._lost} event(s) of this run were NOT recorded (on_ledger_error=warn)"
            )
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    def _finish_run(self, stats):
        per_host = {}
        for host in sorted(stats.processed):
            summary = stats.summarize(host)
            per_host[to_text(host)] = {k: int(v) for k, v in summary.items() if isinstance(v, int)}
        bad = any(s.get("failures") or s.get("unreachable") for s in per_host.values())
        outcome = "failed" if bad else "successful"
        self._append(
            RUN_FINISHED, {"run_id": self._run_id, "outcome": outcome, "stats": per_host, "lost_events": self._lost}
        )
        if self._unattributed and self._recording:
            try:
                self._ledger.close_change(
                    self._change_id,
                    outcome,
                    [f"run {self._run_id} recorded without a change id by the recorder callback"],
                )
            except LedgerError as exc:
                self._fail(f"cannot write to the ledger: {exc}", EXIT_LEDGER)
                return
        if self._recording and self._option("checkpoint_at_end", True) and self._ledger.signer is not None:
            try:
                self._ledger.checkpoint()
            except LedgerError as exc:
                self._fail(f"cannot take the closing checkpoint: {exc}", EXIT_LEDGER)

    # -- shipping ----------------------------------------------------------------------------------------------
    def _start_shipper(self):
        if not self._raw_sinks or self._ledger_for_shipping is None:
            return
        root = _collections_root()
        env = dict(os.environ)
        if root:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        config = {
            "ledger": self._ledger_for_shipping,
            "sinks": self._raw_sinks,
            "interval": float(self._option("ship_interval", 2)) or 2.0,
            "ledger_timeout": float(self._option("ledger_timeout", 10)),
        }
        try:
            self._shipper = subprocess.Popen(
                [sys.executable, "-m", RUNNER_MODULE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                cwd=self._base_dir(),
                start_new_session=True,  # a Ctrl-C meant for the playbook does not cut a delivery in half
                close_fds=True,
                text=True,
            )
            self._shipper.stdin.write(json.dumps(config) + "\n")
            self._shipper.stdin.flush()
        except OSError as exc:
            self._shipper = None
            self._display.warning(
                f"{PREFIX}: cannot start the background shipper ({exc.strerror}); events stay pending"
            )

    def _drain_shipper(self):
        proc = self._shipper
        if proc is None:
            return
        budget = max(0.0, float(self._option("ship_budget", 5)))
        try:
            # The shipper gets a little less than the budget so its report arrives within it.
            proc.stdin.write(json.dumps({"cmd": "drain", "budget": max(0.0, budget - 0.3), "attempts": 2}) + "\n")
            proc.stdin.flush()
            out = proc.communicate(timeout=budget)[0]
        except subprocess.TimeoutExpired:
            self._stop_shipper(kill=True)
            self._display.warning(f"{PREFIX}: shipping did not finish within {budget:g}s; the rest stays pending")
            return
        except (OSError, ValueError) as exc:
            self._stop_shipper(kill=True)
            self._display.warning(f"{PREFIX}: the background shipper failed ({exc}); events stay pending")
            return
        self._shipper = None
        self._report_shipping(out)

    def _report_shipping(self, out):
        try:
            report = json.loads((out or "").strip().splitlines()[-1])
        except (ValueError, IndexError):
            self._display.warning(f"{PREFIX}: the background shipper gave no report; undelivered events stay pending")
            return
        if report.get("error"):
            self._display.warning(f"{PREFIX}: shipping: {report['error']}")
        for name, rep in sorted((report.get("sinks") or {}).items()):
            if rep.get("pending"):
                why = f": {rep['error']}" if rep.get("error") else ""
                self._display.warning(
                    f"{PREFIX}: sink {name!r}: {rep['pending']} event(s) pending{why}. They are delivered by the next "
                    "run or changeward.hybrid.ledger_ship."
                )

    def _stop_shipper(self, kill=False):
        proc, self._shipper = self._shipper, None
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.terminate() if not kill else proc.kill()
            proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            pass
