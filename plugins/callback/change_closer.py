# -*- coding: utf-8 -*-
# Copyright: (c) 2026, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: change_closer
type: aggregate
short_description: Close the change records a run opened and did not close, when the run ends early
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - A run can end before its closing play runs. Ansible ends the whole playbook when every host of a C(serial)
    batch fails or becomes unreachable, and a C(rescue) does not run for an unreachable host. A change record
    opened by that run would then stay open, with no outcome, and auditors would find an unfinished change.
  - This callback watches the results of M(changeward.hybrid.change_record). A record opened with
    O(changeward.hybrid.change_record#module:close_on_abort=true) belongs to the run. When the run ends
    (C(v2_playbook_on_stats), which Ansible sends after a broken play too) and such a record is still open in the
    ledger, the callback closes it with outcome O(outcome), an observation saying why, and the hosts that failed
    or could not be reached.
  - Records opened without O(changeward.hybrid.change_record#module:close_on_abort) are left alone, so a change
    that spans several runs (for example one job opens it and waits for approval, a later job implements it) is
    never closed by the first run.
  - Before it closes such a record, it ends the change's monitoring state as the main job would have - the
    Alertmanager silences the change created (M(changeward.hybrid.alert_silence)) are expired and its metadata
    (M(changeward.hybrid.change_metadata)) leaves the pushgateway, each recorded in the change; where that fails,
    the observation says so (the silences still end at the end of their window).
  - A run stopped by SIGTERM or SIGINT (Ctrl-C, C(kill), a service manager or container stopping the job) never
    reaches the end of the run. While the run owns an open record, the callback handles those signals in the
    controller process. It closes each such record once, as C(aborted), with an observation naming the signal
    and the hosts the run had reached (the record's targets a task had started on, delegated tasks aside), then
    hands the signal on to ansible-core, which stops the workers and ends the run as it would have. The close
    is written in the signal handler; if the ledger cannot be written then (for example another writer holds it
    past its timeout), the error says the change is still OPEN.
  - SIGKILL cannot be handled. ansible-runner ends a cancelled or timed-out job by sending SIGKILL to the
    playbook's process group, so a job cancelled from AWX or AAP leaves its record open; close it with
    M(changeward.hybrid.change_record) (the open record names its targets).
  - Nothing is written in check mode.
requirements:
  - enabled in C(callbacks_enabled) in ansible.cfg
options:
  outcome:
    description:
      - Outcome given to a record the run left open when the run ends. A record closed because the run was stopped
        by a signal is always closed as C(aborted).
    type: str
    choices: [failed, aborted]
    default: failed
    env:
      - name: CHANGEWARD_CLOSER_OUTCOME
    ini:
      - section: changeward_change_closer
        key: outcome
"""

import os
import signal
import threading

from ansible.plugins.callback import CallbackBase

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError

ACTIONS = frozenset({"changeward.hybrid.change_record", "change_record"})
SOURCE = "changeward.hybrid.change_closer"
PREFIX = "changeward change closer"
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "changeward.hybrid.change_closer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None, options=None):
        super().__init__(display=display, options=options)
        self._owned = {}  # change id -> the ledger argument it was opened with (None: the default ledger)
        self._reached = set()  # hosts a (non-delegated) task started on since the run opened a record it owns
        self._unreachable = set()
        self._pid = os.getpid()  # forked workers inherit the handler; only this process closes records
        self._previous = {}  # signal -> the handler ours replaced (ansible-core's), called after the close
        self._signalled = False
        self._closing = False

    def v2_runner_on_start(self, host, task):
        # started, not finished: a task cut short by the signal may already have changed its host
        if self._owned and not getattr(task, "delegate_to", None):
            self._reached.add(host.get_name())

    def v2_runner_on_unreachable(self, result):
        if self._owned:
            self._unreachable.add(result._host.get_name())

    def v2_runner_on_ok(self, result):
        task = result._task
        if (getattr(task, "resolved_action", None) or task.action) not in ACTIONS or task.check_mode:
            return
        args = task.args or {}
        record = (result._result or {}).get("record") or {}
        change_id = record.get("id")
        if not change_id:
            return
        if record.get("status") == "closed":
            self._owned.pop(change_id, None)
        elif args.get("state", "opened") == "opened" and _truthy(args.get("close_on_abort")):
            self._owned[change_id] = args.get("ledger") or None
            self._handle_signals()

    def _handle_signals(self):
        # Installed once, when the run first owns a record: after ansible-core's task queue manager set its own
        # handlers, which ours calls once the records are closed.
        if self._previous or threading.current_thread() is not threading.main_thread():
            return
        for signum in SIGNALS:
            try:
                self._previous[signum] = signal.signal(signum, self._on_signal)
            except (ValueError, OSError) as exc:
                self._display.warning(f"{PREFIX}: cannot handle {signal.Signals(signum).name}: {exc}")

    def _on_signal(self, signum, frame):
        if os.getpid() == self._pid and self._closing:
            return  # a second signal (Ctrl-C twice) during the close: the close hands the signal on when it ends
        if os.getpid() == self._pid and not self._signalled:
            self._signalled = self._closing = True  # once: a later signal neither closes again nor waits again
            name = signal.Signals(signum).name
            try:
                self._close_owned(
                    "aborted",
                    f"the run was stopped by {name} before it closed the change",
                    signal=name,
                    unreachable=sorted(self._unreachable),
                )
            except Exception as exc:  # pylint: disable=broad-exception-caught
                # the signal must still stop the run whatever went wrong here
                self._display.error(f"{PREFIX}: could not close the run's changes on {name}: {exc}")
            finally:
                self._closing = False
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    def v2_playbook_on_stats(self, stats):
        if not self._owned:
            return
        unreachable, failed = sorted(stats.dark), sorted(stats.failures)
        why = "; ".join(
            part
            for part in (
                f"unreachable: {', '.join(unreachable)}" if unreachable else "",
                f"failed: {', '.join(failed)}" if failed else "",
            )
            if part
        )
        observation = "the run ended before it closed the change" + (f" ({why})" if why else "")
        self._close_owned(self.get_option("outcome"), observation, unreachable=unreachable, failed=failed)

    def _close_owned(self, outcome, observation, **data):
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring.cleanup import withdraw

        for change_id, target in sorted(self._owned.items(), key=lambda kv: kv[0]):
            try:
                with open_ledger(target, create=False, source=SOURCE) as ledger:
                    record = ledger.get_change(change_id)
                    if record is None or record["status"] == "closed":
                        continue
                    targets = record.get("targets")
                    reached = sorted(host for host in self._reached if not isinstance(targets, list) or host in targets)
                    said = f"; hosts reached: {', '.join(reached) if reached else 'none'}" if "signal" in data else ""
                    problems = withdraw(ledger, change_id)  # silences and metadata end with the change
                    for problem in problems:
                        self._display.warning(f"{PREFIX}: {problem}")
                    ledger.close_change(
                        change_id,
                        outcome,
                        [observation + said, *problems],
                        data={"closed_by": SOURCE, **data, "reached": reached},
                    )
            except LedgerError as exc:
                self._display.error(f"{PREFIX}: change {change_id} is still OPEN; it could not be closed: {exc}")
                continue
            self._display.warning(f"{PREFIX}: change {change_id} was left open by the run; closed as {outcome}")
        self._owned.clear()


def _truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y", "t")
    return bool(value)
