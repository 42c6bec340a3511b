# -*- coding: utf-8 -*-
# Copyright: (c) 2026, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of changeward.hybrid.anomaly_scan (documented in plugins/modules/anomaly_scan.py)."""

import time

from ansible_collections.changeward.hybrid.plugins.module_utils.timeparse import parse_duration, parse_instant
from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.anomaly.scan import (
    METHODS,
    AnomalyError,
    detector_config,
    scan,
    scan_checks,
    scan_prometheus,
)

ARGUMENT_SPEC = {
    "query": {"type": "str"},
    "samples": {"type": "dict"},
    "start": {"type": "raw"},
    "end": {"type": "raw", "default": "now"},
    "lookback": {"type": "str", "default": "6h"},
    "step": {"type": "str", "default": "60s"},
    "report_from": {"type": "raw"},
    "threshold": {"type": "float", "default": 0.5},
    "warmup": {"type": "int", "default": 150},
    "quiet": {"type": "int", "default": 100},
    "method": {"type": "str", "default": "baseline", "choices": list(METHODS)},
    "tolerance_policy": {"type": "raw"},
    "ring_hosts": {"type": "list", "elements": "str"},
    "since": {"type": "raw"},
    "host_label": {"type": "str", "default": "host"},
    "fail_on": {"type": "list", "elements": "str", "default": [], "choices": ["anomalous", "nodata"]},
    **context.PROMETHEUS_SPEC,
}


class ActionModule(ControllerAction):
    NAME = "anomaly_scan"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ARGUMENT_RULES = {
        "mutually_exclusive": [["query", "samples", "tolerance_policy"]],
        "required_one_of": [["query", "samples", "tolerance_policy"]],
        "required_by": {"tolerance_policy": ["ring_hosts", "since"]},
    }

    def ensure(self, args, task_vars):
        now = time.time()
        if args["tolerance_policy"] is not None:
            return self.ensure_policy_checks(args, now)
        config = detector_config(args["method"], args["warmup"], args["quiet"])
        report_from = None if args["report_from"] is None else parse_instant(args["report_from"], "report_from", now)
        options = {"threshold": args["threshold"], "report_from": report_from, "config": config}
        if args["samples"] is not None:
            result = scan(args["samples"], **options)
            window = None
        else:
            if not args["prometheus_url"]:
                raise AnomalyError("query needs prometheus_url (or CHANGEWARD_PROMETHEUS_URL)")
            end = parse_instant(args["end"], "end", now)
            if args["start"] is not None:
                start = parse_instant(args["start"], "start", now)
            else:
                start = end - parse_duration(args["lookback"], "lookback")
            step = parse_duration(args["step"], "step")
            result = scan_prometheus(self.prometheus_client(args), args["query"], start, end, step, **options)
            window = {"start": start, "end": end, "step": step}
        out = {"changed": False, **result, "window": window, "threshold": args["threshold"]}
        out["msg"] = f"{result['verdict']}: {result['reason']}"
        if result["verdict"] in args["fail_on"]:
            out.update(failed=True, msg=f"anomaly_scan: {out['msg']}")
        return out

    def ensure_policy_checks(self, args, now: float) -> dict:
        """The tolerance policy's declared anomaly checks over a ring's bake (from since to end)."""
        checks = self.tolerance_policy(args["tolerance_policy"]).anomaly_checks()
        since = parse_instant(args["since"], "since", now)
        end = parse_instant(args["end"], "end", now)
        if not args["ring_hosts"]:
            raise AnomalyError("ring_hosts is empty: there is no ring to scan")
        if checks and not args["prometheus_url"]:
            raise AnomalyError("the policy's anomaly checks need prometheus_url (or CHANGEWARD_PROMETHEUS_URL)")
        client = self.prometheus_client(args) if checks else None
        result = scan_checks(client, checks, args["ring_hosts"], since, end, host_label=args["host_label"])
        out = {"changed": False, **result, "window": {"start": since, "end": end}}
        out["msg"] = f"{result['verdict']}: {result['reason']}"
        if result["verdict"] in args["fail_on"]:
            out.update(failed=True, msg=f"anomaly_scan: {out['msg']}")
        return out
