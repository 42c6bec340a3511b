# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for changeward.hybrid.learning_report (documented in plugins/modules/learning_report.py)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile

from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.governance import learning
from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import host_labels
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import CHANGE_CLOSED

ARGUMENT_SPEC = {
    "report": {"type": "str", "required": True, "choices": ["calibration", "failure_patterns"]},
    "start_time": {"type": "str"},
    "end_time": {"type": "str"},
    "k": {"type": "int", "default": 5},
    "dest": {"type": "path"},
    "timeout": {"type": "float", "default": 10.0},
    "pg_schema": {"type": "str"},
}


class ActionModule(ControllerAction):
    NAME = "learning_report"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (LedgerError,)

    def ensure(self, args, task_vars):
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

        with open_ledger(
            self.ledger_target(args),
            key=args["key"],
            create=False,
            readonly=True,
            timeout=args["timeout"],
            schema=args["pg_schema"],
        ) as ledger:
            verified = ledger.verify()
            if not verified["valid"]:
                raise learning.LearningError(
                    f"ledger {ledger.target} failed verification ({verified['problems_total']} problem(s)): "
                    "no report is built from a ledger that does not verify - run ledger_verify"
                )
            records = {}
            with ledger.snapshot():
                for entry in ledger.iter_events(
                    types=[CHANGE_CLOSED], start_time=args["start_time"], end_time=args["end_time"]
                ):
                    record = entry.event["data"]["record"]
                    records[record["id"]] = record
        window = {"start_time": args["start_time"], "end_time": args["end_time"]}
        if args["report"] == "calibration":
            report = {"report": "calibration", "window": window, **learning.calibration(records.values())}
            msg = (
                f"risk model over {report['changes']} closed changes: Brier {report['brier']:.4f} "
                f"(base rate {report['reference_brier']:.4f}, skill {report['skill']})"
                + ("; " + "; ".join(report["findings"]) if report["findings"] else "; calibrated in every class")
            )
        else:
            hostvars = task_vars.get("hostvars") or {}
            names = {t for r in records.values() for t in r.get("targets") or ()}
            labels = {n: host_labels(hostvars.get(n) or {}) for n in names if n in hostvars}
            report = learning.failure_patterns(records.values(), labels, args["k"])
            msg = (
                f"{len(report['patterns'])} failure pattern(s) of at least {args['k']} changes; "
                f"{report['suppressed_changes']} change(s) suppressed"
            )
        out = {"changed": False, "report": report, "msg": msg}
        if args["dest"] and not self._task.check_mode:
            out.update(changed=True, dest=_write(args["dest"], report))
        return out


def _write(dest: str, report: dict) -> str:
    dest = os.path.abspath(os.path.expanduser(dest))
    directory = os.path.dirname(dest)
    os.makedirs(directory, mode=0o750, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".learning-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=2, sort_keys=True)
            out.write("\n")
        os.chmod(tmp, 0o640)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return dest
