# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of changeward.hybrid.synthetic_check (documented in plugins/modules/synthetic_check.py)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time

import yaml
from ansible.module_utils.basic import env_fallback

from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import InputError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring import synthetics
from ansible_collections.changeward.hybrid.plugins.plugin_utils.monitoring.action import HTTP_SPEC, MonitoringAction

ENV_URL = "CHANGEWARD_BLACKBOX_URL"
ENV_TOKEN = "CHANGEWARD_BLACKBOX_TOKEN"  # noqa: S105 - the name of a variable, not a secret
ARGUMENT_SPEC = {
    "journeys": {"type": "list", "elements": "dict", "required": True},
    "hosts": {"type": "list", "elements": "str", "required": True},
    "ring": {"type": "str"},
    "change_id": {"type": "str"},
    "blackbox_url": {"type": "str", "fallback": (env_fallback, [ENV_URL])},
    "blackbox_token": {"type": "str", "no_log": True, "fallback": (env_fallback, [ENV_TOKEN])},
    "blackbox_config": {"type": "path"},
    "blackbox_binary": {"type": "str", "default": "prometheus-blackbox-exporter"},
    "report_only": {"type": "bool", "default": False},
    **HTTP_SPEC,
}


class ActionModule(MonitoringAction):
    NAME = "synthetic_check"
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def ensure(self, args, task_vars):
        journeys = synthetics.validate(args["journeys"])
        if not args["blackbox_url"]:
            raise InputError(f"give blackbox_url (or set {ENV_URL}): the exporter that runs the journeys")
        addresses = self.addresses(task_vars, args["hosts"])
        self.labels_of(task_vars, args["hosts"], "owner_team")  # every host must be an inventory host
        if self._task.check_mode:
            return {"changed": False, "verdict": None, "reasons": [], "journeys": [], "modules": []}
        client = synthetics.BlackboxExporter(args["blackbox_url"], **self.http_kwargs(args, "blackbox_token"))
        names = sorted(synthetics.modules(journeys))
        configured = False
        if args["blackbox_config"]:
            configured = self._configure(args, journeys, client)
        missing = [m for m in names if not client.has_module(m)]
        if missing:
            raise synthetics.ProbeError(
                f"the blackbox exporter at {client.safe_url} has no module(s) {', '.join(missing)} for these journeys; "
                "give blackbox_config (the exporter's config file) so they are added"
            )
        started = time.time()
        result = synthetics.evaluate(journeys, addresses, client.probe)
        reason = "; ".join(result["reasons"]) or f"{len(result['journeys'])} journey run(s) passed"
        decision = "pass" if result["verdict"] == "pass" else "fail"
        entry = context.gate_decision("synthetic", decision, reason, ring=args["ring"], started=started)
        evidence = {"ring": args["ring"], "hosts": args["hosts"], "exporter": client.safe_url, **result}
        events = []
        if args["change_id"]:
            source = f"changeward.hybrid.{self.NAME}"
            events = [model.new_event(synthetics.CHECKED, args["change_id"], evidence, source=source)]
        recorded = self.record_gate_decision(args, entry, events)
        out = {"changed": configured, "modules": names, "reason": reason, **result, **recorded}
        if result["verdict"] == "fail" and not args["report_only"]:
            out.update(failed=True, msg=f"synthetic_check: {reason}")
        return out

    def _configure(self, args, journeys, client) -> bool:
        """Add the journeys' modules to the exporter's config file (checked with --config.check, replaced
        atomically, under a lock so runs side by side do not lose each other's modules) and reload it."""
        path = args["blackbox_config"]
        binary = shutil.which(args["blackbox_binary"])
        if not binary:
            raise synthetics.ProbeError(f"{args['blackbox_binary']} not found: the exporter's config cannot be checked")
        with open(path + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                with open(path, encoding="utf-8") as handle:
                    existing = yaml.safe_load(handle) or {}
            except FileNotFoundError:
                existing = {}
            config, changed = synthetics.merged_config(existing, journeys)
            if not changed:
                return False
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".blackbox-", suffix=".yml")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(yaml.safe_dump(config, sort_keys=True))
                proc = subprocess.run(
                    [binary, "--config.check", f"--config.file={tmp}"],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                )
                if proc.returncode != 0:
                    said = (proc.stdout + proc.stderr).strip()[-500:]
                    raise synthetics.JourneyError(f"the blackbox exporter refused the journeys' modules: {said}")
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            client.reload()
        return True
