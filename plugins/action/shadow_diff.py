# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.shadow_diff; the documentation lives in plugins/modules/shadow_diff.py."""

from __future__ import annotations

import random
import re

from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.shadow import (
    ShadowError,
    collect_mirrored,
    compare,
    verdict,
)

ROLES = ("primary", "secondary", "candidate")
# Only requests without side effects are replayed: a POST sent three times is three orders.
LOG_LINE = re.compile(r'"(GET|HEAD) (\S+) HTTP/[0-9.]+"')

ARGUMENT_SPEC = {
    "primary": {"type": "str", "required": True},
    "secondary": {"type": "str", "required": True},
    "candidate": {"type": "str", "required": True},
    "requests": {"type": "list", "elements": "str", "default": []},
    "access_log": {"type": "path"},
    "listen": {"type": "str"},
    "mirror_from": {"type": "list", "elements": "str", "default": []},
    "duration": {"type": "float", "default": 60.0},
    "sample": {"type": "int", "default": 100},
    "headers": {"type": "list", "elements": "str", "default": []},
    "noise": {"type": "list", "elements": "str", "default": []},
    "max_rate": {"type": "float", "default": 0.0},
    "max_examples": {"type": "int", "default": 5},
    "timeout": {"type": "float", "default": 10.0},
    "change_id": {"type": "str"},
}


class ActionModule(ControllerAction):
    NAME = "shadow_diff"
    ARGUMENT_SPEC = ARGUMENT_SPEC

    def ensure(self, args, task_vars):
        paths = list(args["requests"])
        if args["access_log"]:
            paths += self._from_log(args["access_log"], args["sample"])
        samples = [
            {
                "request": f"GET {p}",
                **{role: self._fetch(args[role], "GET", p, {}, args["timeout"]) for role in ROLES},
            }
            for p in paths
        ]
        mirrored = {}
        if args["listen"]:
            if args["sample"] < 1 or not 0 < args["duration"] <= 3600:
                raise ShadowError("listen needs sample >= 1 and a duration of at most 3600 seconds")

            def fetch(role, method, path, headers):
                return self._fetch(args[role], method, path, headers, args["timeout"])

            mirrored = collect_mirrored(args["listen"], args["mirror_from"], args["sample"], args["duration"], fetch)
            samples += mirrored.pop("samples")
        if not samples:
            raise ShadowError(
                "no requests: give requests, an access_log with GET or HEAD requests, or listen for mirrored traffic"
                + (f" (none mirrored in {args['duration']:g} s: {mirrored})" if args["listen"] else "")
            )
        result = compare(samples, args["headers"], args["max_examples"], args["noise"])
        if args["listen"]:
            result["mirrored"] = mirrored
        passed, msg = verdict(result, args["max_rate"])
        label = args["change_id"] or "(planned change)"
        entry = context.gate_decision(
            "shadow",
            "pass" if passed else "fail",
            f"change {label}: {msg}",
            difference_rate=result["difference_rate"],
            examples=result["examples"] or None,
        )
        out = {"changed": False, "passed": passed, **result, "msg": msg}
        out.update(self.record_gate_decision(args, entry))
        if not passed:
            out.update(failed=True, msg=f"shadow_diff: {msg}")
        return out

    @staticmethod
    def _from_log(path, sample):
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                found = [m.group(2) for m in (LOG_LINE.search(line) for line in fh) if m]
        except OSError as exc:
            raise ShadowError(f"cannot read the access log {path}: {exc.strerror}") from None
        if len(found) > sample:
            found = random.Random(len(found)).sample(found, sample)  # noqa: S311 - a sample, not a secret
        return found

    @staticmethod
    def _fetch(base, method, path, headers, timeout):
        import requests

        try:
            resp = requests.request(
                method, base.rstrip("/") + path, headers=headers, timeout=timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise ShadowError(f"{base}{path}: no answer ({type(exc).__name__})") from None
        return {"status": resp.status_code, "headers": dict(resp.headers), "body": resp.text}
