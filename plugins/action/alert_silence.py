# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of changeward.hybrid.alert_silence (documented in plugins/modules/alert_silence.py)."""

from __future__ import annotations

import time

from ansible_collections.changeward.hybrid.plugins.module_utils import timeparse
from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring import alerts
from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring.action import (
    ALERTMANAGER_SPEC,
    HTTP_SPEC,
    MonitoringAction,
)

ARGUMENT_SPEC = {
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    "change_id": {"type": "str", "required": True},
    "hosts": {"type": "list", "elements": "str", "default": []},
    "service": {"type": "str"},
    "duration": {"type": "str", "default": "2h"},
    "comment": {"type": "str"},
    **ALERTMANAGER_SPEC,
    **HTTP_SPEC,
}


class ActionModule(MonitoringAction):
    NAME = "alert_silence"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ARGUMENT_RULES = {"required_if": [["state", "present", ["hosts", "service"]]]}

    def ensure(self, args, task_vars):
        policy = self.alert_policy(args, task_vars)
        if args["state"] == "present":
            return self.ensure_present(args, policy)
        return self.ensure_absent(args, policy)

    def client(self, args, policy):
        return alerts.Alertmanager(self.alertmanager_url(args, policy), **self.http_kwargs(args, "alertmanager_token"))

    def ensure_present(self, args, policy) -> dict:
        matchers = alerts.silence_matchers(policy, args["hosts"], args["service"])
        now = time.time()
        starts, ends = alerts.silence_window(policy, now, now + timeparse.parse_duration(args["duration"], "duration"))
        comment = args["comment"] or f"{args['service']} on {', '.join(sorted(set(args['hosts'])))}"
        body = alerts.silence_body(args["change_id"], matchers, starts, ends, comment)
        out = {
            "changed": False,
            "silences": [],
            "matchers": matchers,
            "starts": body["startsAt"],
            "ends": body["endsAt"],
        }
        if self._task.check_mode:
            return out | {"recorded": False, "ledger_seq": None}
        client = self.client(args, policy)
        sid = client.create_silence(body)
        silence = {"id": sid, "matchers": matchers, "starts": body["startsAt"], "ends": body["endsAt"]}
        try:
            recorded = self.record_events(
                args,
                [
                    (
                        alerts.SILENCED,
                        {"alertmanager": client.safe_url, "silences": [silence], "critical": policy["critical"]},
                    )
                ],
            )
        except Exception:
            client.expire(sid)  # a silence the change does not know about would outlive it: none rather than that
            raise
        return out | {"changed": True, "silences": [silence], **recorded}

    def ensure_absent(self, args, policy) -> dict:
        recorded_ids = alerts.change_silence_ids(self.change_events(args))
        if self._task.check_mode:
            return {"changed": False, "expired": [], "already_expired": [], "unknown": [], "recorded": False}
        client = self.client(args, policy)
        done = alerts.expire_change_silences(client, args["change_id"], recorded_ids)
        expired = done["expired"] + done["already_expired"] + done["unknown"]
        recorded = {"recorded": False, "ledger_seq": None}
        if expired:
            recorded = self.record_events(args, [(alerts.UNSILENCED, {"alertmanager": client.safe_url, **done})])
        return {"changed": bool(done["expired"]), **done, **recorded}
