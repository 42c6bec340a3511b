# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: drift_collector
type: aggregate
short_description: Collect drift evidence from a check + diff run, per host
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Collects, for every host, the tasks run in check mode (C(--check), or C(check_mode=true) on a play or task)
    that would change something, with their diffs, and the tasks that could not be evaluated - a module without
    check-mode support, a C(command)/C(shell) task check mode skipped, a task skipped by a condition on
    C(ansible_check_mode) that could report a change, any error (also an ignored one) - and unreachable hosts.
    Those make the host V(unknown), never V(in_sync).
  - Tasks that really run during the check (C(check_mode=false)) are no evidence; their failures are, because the
    rest of the run never reached that host. Changes reported by handlers are consequences and not counted.
  - The evidence is written as JSON (format C(changeward-drift-check/1)) before every play and task and at the
    end, so C(changeward.hybrid.drift_report) later in the same run reads it; the callback tells it where through
    the environment (C(CHANGEWARD_DRIFT_CHECK_FILE), C(CHANGEWARD_DRIFT_RUN_ID)), which also lets the report
    refuse evidence of an earlier run.
  - Diffs are masked for secret patterns and never kept for C(no_log) tasks.
  - With O(detailed_exitcode), ansible-playbook exits like C(terraform plan -detailed-exitcode) - 0 in sync,
    2 drift, 1 anything unknown or any error - from the last drift report of the run (or, without one, from the
    collected evidence alone). A run with neither keeps Ansible's own exit code. When the last
    C(drift_report) is a remediation plan or verification (drift_remediation.yml), success is 0.
  - It is enabled in the project's C(ansible.cfg) beside the change window guard and the change closer, and
    does nothing in a run without check-mode tasks (no evidence file, Ansible's own exit code). Setting
    C(ANSIBLE_CALLBACKS_ENABLED) replaces that whole list; when it leaves out callbacks the C(ansible.cfg) in
    use enables, this callback warns, naming them.
  - A play whose literal variable C(drift_evidence) names a segment (such as V(verify)) collects into that
    segment of the document instead of the detection evidence, so the re-check after a remediation is read on
    its own.
requirements:
  - enabled in C(callbacks_enabled) in ansible.cfg (the project's ansible.cfg does); when overriding that list
    with C(ANSIBLE_CALLBACKS_ENABLED), keep every callback of it
options:
  output_dir:
    description: Directory of the evidence files (C(check-<run id>.json), mode 0600).
    type: path
    default: ~/.cache/changeward/drift
    env:
      - name: CHANGEWARD_DRIFT_OUTPUT_DIR
    ini:
      - section: changeward_drift_collector
        key: output_dir
  detailed_exitcode:
    description:
      - Make ansible-playbook exit with 0 (in sync), 2 (drift) or 1 (unknown or error) instead of its own code.
        Ansible's own error codes other than 2 (host failed) and 4 (unreachable) are kept as 1.
    type: bool
    default: false
    env:
      - name: CHANGEWARD_DRIFT_DETAILED_EXITCODE
    ini:
      - section: changeward_drift_collector
        key: detailed_exitcode
  max_diff:
    description: Characters of diff kept per finding; longer diffs are truncated.
    type: int
    default: 16384
    env:
      - name: CHANGEWARD_DRIFT_MAX_DIFF
    ini:
      - section: changeward_drift_collector
        key: max_diff
"""

import datetime
import json
import os
import secrets
import sys
import tempfile

from ansible import constants as C
from ansible import context
from ansible.playbook.handler import Handler
from ansible.plugins.callback import CallbackBase

from ansible_collections.changeward.hybrid.plugins.module_utils.filemodes import private_dir
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.collect import (
    Collector,
    dropped_callbacks,
    host_status,
    segment_name,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.redact import Redactor

ENV_RUN_ID = "CHANGEWARD_DRIFT_RUN_ID"
ENV_CHECK_FILE = "CHANGEWARD_DRIFT_CHECK_FILE"
REPORT_ACTIONS = ("changeward.hybrid.drift_report", "drift_report")


def _task_info(task, handler=False, in_check_run=False):
    """Plain facts about a task; nothing here keeps Ansible objects."""
    check_mode = getattr(task, "check_mode", None)
    if check_mode is None:
        check_mode = bool(context.CLIARGS.get("check", False))
    path = task.get_path() if hasattr(task, "get_path") else None
    return {
        "name": task.get_name(),
        "action": getattr(task, "resolved_action", None) or task.action,
        "check_mode": bool(check_mode),
        "when": [str(w) for w in (getattr(task, "when", None) or [])],
        "changed_when": list(getattr(task, "changed_when", None) or []),
        "no_log": bool(getattr(task, "no_log", False)),
        "handler": handler,
        "in_check_run": bool(in_check_run),
        "path": str(path) if path else None,
    }


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "changeward.hybrid.drift_collector"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.collector = None
        self.run_id = None
        self.path = None
        self.started = None
        self.playbook = None
        self.report_exit = None
        self.report_seen = False
        self.failed_outside = False
        self.check_play = False
        self.written = False

    # -- lifecycle ------------------------------------------------------------------------------
    def set_options(self, task_keys=None, var_options=None, direct=None):
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self.collector = Collector(
            Redactor(max_text=int(self.get_option("max_diff"))), int(self.get_option("max_diff"))
        )
        self.run_id = "DRIFT-%s-%s" % (
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
            secrets.token_hex(3),
        )
        self.started = datetime.datetime.now(datetime.timezone.utc).isoformat()
        directory = os.path.expanduser(self.get_option("output_dir"))
        self.path = os.path.join(directory, "check-%s.json" % self.run_id)
        # Workers are forked from this process: drift_report finds this run's evidence through these.
        os.environ[ENV_RUN_ID] = self.run_id
        os.environ[ENV_CHECK_FILE] = self.path
        if self.get_option("detailed_exitcode"):
            _install_exit_hook(self)
        dropped = _dropped_by_environment()
        if dropped:
            self._display.warning(
                "ANSIBLE_CALLBACKS_ENABLED replaces the callbacks_enabled of %s, and leaves out %s: they do not "
                "run. Keep the whole list when adding to it (the project's ansible.cfg already enables "
                "changeward.hybrid.drift_collector)." % (C.CONFIG_FILE, ", ".join(dropped))
            )

    def v2_playbook_on_start(self, playbook):
        self.playbook = getattr(playbook, "_file_name", None)

    def v2_playbook_on_play_start(self, play):
        self.check_play = bool(getattr(play, "check_mode", None)) or bool(context.CLIARGS.get("check", False))
        play_vars = getattr(play, "vars", None) or {}
        self.collector.use_segment(segment_name(play_vars.get("drift_evidence")))
        # a run with no check play (the main job, ad-hoc commands) leaves no evidence file behind
        self._flush(complete=False, force=self.check_play)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._flush(complete=False)

    def v2_playbook_on_handler_task_start(self, task):
        self._flush(complete=False)

    def v2_playbook_on_stats(self, stats):
        self._flush(complete=True, force=self.written)
        counts = self.collector.summary()
        if self.collector.hosts:
            self._display.display(
                "drift check evidence: %d in sync, %d drifted, %d unknown (%s)"
                % (counts["in_sync"], counts["drifted"], counts["unknown"], self.path)
            )

    # -- results --------------------------------------------------------------------------------
    def _record(self, result, status, ignored=False):
        task, host = result.task, result.host.get_name()
        info = _task_info(task, handler=isinstance(task, Handler), in_check_run=self.check_play)
        data = result.result
        if info["action"] in REPORT_ACTIONS and status != "skipped":
            # the last drift_report of the run decides: a report its exit code; a remediation plan or
            # verification that succeeded 0 (deferred and manual hosts are recorded, not failures)
            self.report_seen = True
            phase = str((task.args or {}).get("phase", "report"))
            code = (data.get("exit_code") if phase == "report" else 0) if status == "ok" else None
            self.report_exit = code if code in (0, 1, 2) else 1
        if status == "failed" and not ignored and not info["check_mode"]:
            # a failure outside the check itself (the report, a gate, ...): the run is in error
            self.failed_outside = True
        self.collector.task_result(host, info, status, data)

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed", ignored=ignore_errors)

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    # -- output ---------------------------------------------------------------------------------
    def _flush(self, complete, force=False):
        if self.collector is None or not (force or self.collector.dirty):
            return
        doc = self.collector.document(self.run_id, complete, started_at=self.started, playbook=self.playbook)
        directory = os.path.dirname(self.path)
        try:
            warning = private_dir(directory)
            if warning:
                self._display.warning("drift_collector: evidence directory " + warning)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".check-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(doc, handle, sort_keys=True, default=str)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
            self.written = True
        except OSError as exc:
            # the report then finds no (or stale) evidence and fails closed; say why here
            self._display.warning("drift_collector: cannot write %s: %s" % (self.path, exc.strerror))

    def exit_code(self, ansible_code):
        """0 / 2 / 1 for the run: the last report's code, else the evidence alone; any other failure is 1.

        A run with neither (not a drift run at all) keeps Ansible's own code."""
        if self.report_seen:
            code = self.report_exit if self.report_exit is not None else 1
        elif self.collector.hosts:
            states = [host_status(h) for h in self.collector.hosts.values()]
            code = 1 if "unknown" in states else 2 if "drifted" in states else 0
        else:
            return ansible_code
        return 1 if self.failed_outside else code


def _dropped_by_environment():
    """Callbacks of the ansible.cfg in use that an ANSIBLE_CALLBACKS_ENABLED in the environment leaves out."""
    if "ANSIBLE_CALLBACKS_ENABLED" not in os.environ or not C.CONFIG_FILE:
        return []
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(C.CONFIG_FILE, encoding="utf-8")
        configured = parser.get("defaults", "callbacks_enabled", fallback="") or parser.get(
            "defaults", "callback_whitelist", fallback=""
        )
    except (configparser.Error, OSError, UnicodeDecodeError):
        return []
    return dropped_callbacks(os.environ["ANSIBLE_CALLBACKS_ENABLED"], configured)


def _install_exit_hook(callback):
    """Replace ansible-playbook's final exit status by the drift exit code.

    ansible-playbook ends by passing its code to the interpreter's exit function, after every callback and
    cleanup has run; wrapping that function (in this process only) changes nothing else. Ansible's own
    errors (1, 5, 99, 250, ...) stay an error (1).
    """
    original = sys.exit
    pid = os.getpid()

    def drift_exit(status=None):
        if os.getpid() == pid and getattr(drift_exit, "armed", True):
            drift_exit.armed = False
            code = status if isinstance(status, int) else (0 if status is None else 1)
            status = callback.exit_code(code) if code in (0, 2, 4) else 1
        return original(status)

    sys.exit = drift_exit
