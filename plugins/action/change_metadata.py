# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of changeward.hybrid.change_metadata (documented in plugins/modules/change_metadata.py)."""

from __future__ import annotations

import os
import tempfile

from ansible.module_utils.basic import env_fallback

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import InputError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring import metadata
from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring.action import HTTP_SPEC, MonitoringAction

ENV_URL = "CHANGEWARD_PUSHGATEWAY_URL"
ENV_TOKEN = "CHANGEWARD_PUSHGATEWAY_TOKEN"  # noqa: S105 - the name of a variable, not a secret
ARGUMENT_SPEC = {
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    "change_id": {"type": "str", "required": True},
    "service": {"type": "str"},
    "version": {"type": "str"},
    "apply": {"type": "dict"},
    "rings": {"type": "list", "elements": "dict", "default": []},
    "ring_results": {"type": "list", "elements": "dict", "default": []},
    "pushgateway_url": {"type": "str", "fallback": (env_fallback, [ENV_URL])},
    "pushgateway_token": {"type": "str", "no_log": True, "fallback": (env_fallback, [ENV_TOKEN])},
    "textfile": {"type": "path"},
    **HTTP_SPEC,
}


class ActionModule(MonitoringAction):
    NAME = "change_metadata"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ARGUMENT_RULES = {"required_if": [["state", "present", ["service", "rings"]]]}

    def ensure(self, args, task_vars):
        if not args["pushgateway_url"] and not args["textfile"]:
            raise InputError(f"give pushgateway_url (or set {ENV_URL}) or textfile: where the change's metrics go")
        if args["state"] == "absent":
            return self.ensure_absent(args)
        hosts = [h for ring in args["rings"] for h in ring.get("hosts") or []]
        teams = {h: t or "" for h, t in self.labels_of(task_vars, hosts, "owner_team").items()}
        version = metadata.release_version(args["version"], args["apply"])
        text = metadata.exposition(
            args["change_id"], args["service"], version, args["rings"], teams, args["ring_results"]
        )
        out = {"changed": False, "version": version, "metrics": text}
        if self._task.check_mode:
            return out | {"recorded": False, "ledger_seq": None}
        self._write(args, text)
        recorded = {"recorded": False, "ledger_seq": None}
        if not args["ring_results"]:  # the first publication; later ones only move the rings' progress
            data = {"service": args["service"], "version": version, "hosts": hosts, **self._where(args)}
            recorded = self.record_events(args, [(metadata.PUBLISHED, data)])
        return out | {"changed": True, **recorded}

    def ensure_absent(self, args) -> dict:
        if self._task.check_mode:
            return {"changed": False, "recorded": False, "ledger_seq": None}
        if args["pushgateway_url"]:
            self._pushgateway(args).delete(args["change_id"])
        if args["textfile"] and os.path.exists(args["textfile"]):
            os.unlink(args["textfile"])
        return {"changed": True, **self.record_events(args, [(metadata.WITHDRAWN, self._where(args))])}

    def _pushgateway(self, args):
        return metadata.Pushgateway(args["pushgateway_url"], **self.http_kwargs(args, "pushgateway_token"))

    def _where(self, args) -> dict:
        out = {}
        if args["pushgateway_url"]:
            out["pushgateway"] = self._pushgateway(args).safe_url
        if args["textfile"]:
            out["textfile"] = args["textfile"]
        return out

    def _write(self, args, text: str) -> None:
        if args["pushgateway_url"]:
            self._pushgateway(args).replace(args["change_id"], text)
        if args["textfile"]:  # the node exporter's textfile collector reads *.prom: replace it atomically
            directory = os.path.dirname(os.path.abspath(args["textfile"]))
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".changeward-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, args["textfile"])
