# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for changeward.hybrid.compliance_report (documented in plugins/modules/compliance_report.py)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile

from ansible.module_utils.basic import env_fallback

from ansible_collections.changeward.hybrid.plugins.action.ledger_verify import KEY_SPEC, key_ring
from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.governance import render, report
from ansible_collections.changeward.hybrid.plugins.plugin_utils.governance.period import PeriodError, period
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.postgres_backend import is_dsn, redact_dsn
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.verify import verify

FORMATS = ("html", "csv", "json")
ARGUMENT_SPEC = {
    "ledger": {"type": "str", "fallback": (env_fallback, ["CHANGEWARD_LEDGER"])},
    "key": {"type": "raw", "no_log": True, "fallback": (env_fallback, ["CHANGEWARD_LEDGER_KEY"])},
    "keys": {"type": "list", "elements": "dict", "options": KEY_SPEC},
    "period": {"type": "str"},
    "fiscal_year_start": {"type": "int", "default": 1},
    "start_time": {"type": "raw"},
    "end_time": {"type": "raw"},
    "through_seq": {"type": "int"},
    "dest": {"type": "path"},
    "formats": {"type": "list", "elements": "str", "choices": list(FORMATS), "default": list(FORMATS)},
    "recheck": {"type": "path"},
    "timeout": {"type": "float", "default": 10.0},
    "pg_schema": {"type": "str"},
}


def _write(path: str, text: str) -> None:
    """Atomically (a temporary file in the same directory, then rename): a reader never sees half a report."""
    fd, tmp = tempfile.mkstemp(prefix=".report-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o640)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class ActionModule(ControllerAction):
    NAME = "compliance_report"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ARGUMENT_RULES = {"required_one_of": [("dest", "recheck")], "mutually_exclusive": [("dest", "recheck")]}
    ERRORS = (LedgerError, PeriodError)
    ERROR_KIND = True

    def ensure(self, args, task_vars):
        target = context.ledger_target(args["ledger"])
        shown = redact_dsn(target) if is_dsn(target) else target
        if args["recheck"]:
            return self.rechecked(target, args)
        span = period(
            args["period"],
            fiscal_year_start=args["fiscal_year_start"],
            start_time=args["start_time"],
            end_time=args["end_time"],
        )
        # The report rests on a ledger that verifies now; no key means it cannot be checked, which is an error.
        verification = verify(
            target, key=key_ring(args["key"], args["keys"]), timeout=args["timeout"], schema=args["pg_schema"]
        )
        with open_ledger(target, create=False, readonly=True, timeout=args["timeout"], schema=args["pg_schema"]) as led:
            built = report.build(
                led, span, verification=verification, ledger_name=shown, through_seq=args["through_seq"]
            )
        files = {}
        if not self._task.check_mode:
            dest = os.path.abspath(args["dest"])
            os.makedirs(dest, mode=0o750, exist_ok=True)
            base = "compliance-" + re.sub(r"[^A-Za-z0-9._-]+", "_", span["label"])
            writers = {"html": render.to_html, "csv": render.to_csv, "json": render.to_json}
            for fmt in args["formats"]:
                files[fmt] = os.path.join(dest, f"{base}.{fmt}")
                _write(files[fmt], writers[fmt](built))
        s = built["summary"]
        return {
            "changed": bool(files),
            "files": files,
            "period": built["period"],
            "ledger": built["ledger"],
            "summary": s,
            "exceptions": [{"change_id": c["change_id"], **x} for c in built["changes"] for x in c["exceptions"]],
            "msg": f"{built['period']['label']}: {s['changes']} change(s), {s['with_exceptions']} with exceptions, "
            f"built to seq {built['ledger']['through_seq']}",
        }

    @staticmethod
    def rechecked(target: str, args: dict) -> dict:
        try:
            with open(args["recheck"], encoding="utf-8") as fh:
                earlier = json.load(fh)
        except (OSError, ValueError) as exc:
            raise report.ReportBuildError(f"cannot read report {args['recheck']}: {exc}") from None
        with open_ledger(target, create=False, readonly=True, timeout=args["timeout"], schema=args["pg_schema"]) as led:
            problems = report.recheck(led, earlier)
        out = {"changed": False, "problems": problems, "valid": not problems}
        if problems:
            out.update(
                failed=True, msg=f"the report does not match the ledger: {problems[0]} ({len(problems)} problem(s))"
            )
        else:
            out["msg"] = "the report matches the ledger (same head, same population, same evidence)"
        return out
