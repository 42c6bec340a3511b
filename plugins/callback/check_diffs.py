# -*- coding: utf-8 -*-
# Copyright: (c) 2026, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: check_diffs
type: aggregate
short_description: Write what each task would change (check-mode diffs) to a file, for the compliance gate
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Used by M(changeward.hybrid.compliance_check) with O(changeward.hybrid.compliance_check#module:render_on),
    which runs the change's role or tasks in check and diff mode on the canary's hosts in a separate
    C(ansible-playbook) with this callback enabled. Not meant to be enabled in ansible.cfg.
  - For every task result that has a diff, writes one JSON line to O(file) - host, task name, task path (file and
    line), action, C(dest) or C(path), C(mode), C(state), C(changed) and the diff - so rules can be evaluated over
    the files the change would write, as rendered on the host.
  - Nothing is written without O(file).
options:
  file:
    description: The JSON-lines file results are appended to.
    type: path
    env:
      - name: CHANGEWARD_CHECK_DIFFS_FILE
"""

import json

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "changeward.hybrid.check_diffs"
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, result, failed=False):
        path = self.get_option("file")
        res = result._result
        if not path or not isinstance(res, dict):
            return
        items = res.get("results") if isinstance(res.get("results"), list) else [res]
        with open(path, "a", encoding="utf-8") as fh:
            for item in items:
                if not isinstance(item, dict) or ("diff" not in item and not failed):
                    continue
                row = {
                    "host": result._host.get_name(),
                    "task": result._task.get_name(),
                    "task_path": result._task.get_path() or "",
                    "action": result._task.action,
                    "failed": failed or bool(item.get("failed")),
                    "msg": str(item.get("msg") or "")[:500] if failed else "",
                    **{k: item.get(k) for k in ("dest", "path", "mode", "state", "changed", "diff")},
                }
                # copy and template in check mode name their file only in the diff's header
                given = (item.get("invocation") or {}).get("module_args") or {}
                diffs = item.get("diff") if isinstance(item.get("diff"), list) else [item.get("diff")]
                headers = [d.get("after_header") or d.get("before_header") for d in diffs if isinstance(d, dict)]
                row["dest"] = row["dest"] or given.get("dest") or next((h for h in headers if h), None)
                if row["mode"] is None:
                    row["mode"] = given.get("mode", result._task.args.get("mode"))
                fh.write(json.dumps(row, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._write(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not ignore_errors:
            self._write(result, failed=True)

    def v2_runner_on_unreachable(self, result):
        # a host that was not rendered is not compliant: it is unchecked
        self._write(result, failed=True)
