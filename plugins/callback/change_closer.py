# -*- coding: utf-8 -*-
# Copyright: (c) 2026, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: change_closer
type: aggregate
short_description: Close the change records a run opened and did not close, when the run ends early
version_added: "0.2.0"
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
  - Nothing is written in check mode. A run stopped by a signal (Ctrl-C, AWX cancel) does not reach the end of
    the run, so its records stay open; close them with M(changeward.hybrid.change_record).
requirements:
  - enabled in C(callbacks_enabled) in ansible.cfg
options:
  outcome:
    description: Outcome given to a record the run left open.
    type: str
    choices: [failed, aborted]
    default: failed
    env:
      - name: CHANGEWARD_CLOSER_OUTCOME
    ini:
      - section: changeward_change_closer
        key: outcome
"""

from ansible.plugins.callback import CallbackBase

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError

ACTIONS = frozenset({"changeward.hybrid.change_record", "change_record"})
SOURCE = "changeward.hybrid.change_closer"
PREFIX = "changeward change closer"


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "changeward.hybrid.change_closer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None, options=None):
        super().__init__(display=display, options=options)
        self._owned = {}  # change id -> the ledger argument it was opened with (None: the default ledger)

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

    def v2_playbook_on_stats(self, stats):
        if not self._owned:
            return
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring.cleanup import withdraw

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
        outcome = self.get_option("outcome")
        for change_id, target in sorted(self._owned.items(), key=lambda kv: kv[0]):
            try:
                with open_ledger(target, create=False, source=SOURCE) as ledger:
                    record = ledger.get_change(change_id)
                    if record is None or record["status"] == "closed":
                        continue
                    problems = withdraw(ledger, change_id)  # silences and metadata end with the change
                    for problem in problems:
                        self._display.warning(f"{PREFIX}: {problem}")
                    ledger.close_change(
                        change_id,
                        outcome,
                        [observation, *problems],
                        data={"closed_by": SOURCE, "unreachable": unreachable, "failed": failed},
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
