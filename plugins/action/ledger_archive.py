# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for changeward.hybrid.ledger_archive (documented in plugins/modules/ledger_archive.py)."""

from __future__ import annotations

from ansible.module_utils.basic import env_fallback

from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import host_label
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.checkpoint import load_keys
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.retention import archive, store
from ansible_collections.changeward.hybrid.plugins.plugin_utils.retention.policy import (
    POLICY_VAR,
    RetentionError,
    RetentionPolicy,
)

SOURCE = "changeward.hybrid.ledger_archive"
ARGUMENT_SPEC = {
    "ledger": {"type": "str", "fallback": (env_fallback, ["CHANGEWARD_LEDGER"])},
    "key": {"type": "str", "no_log": True, "fallback": (env_fallback, ["CHANGEWARD_LEDGER_KEY"])},
    "keys": {"type": "list", "elements": "raw", "no_log": True},
    "state": {"type": "str", "choices": ["archived", "pruned", "planned"], "default": "archived"},
    "dest": {"type": "path"},
    "s3_bucket": {"type": "str"},
    "s3_prefix": {"type": "str", "default": ""},
    "s3_endpoint_url": {"type": "str"},
    "s3_region": {"type": "str"},
    "through_seq": {"type": "int"},
    "timeout": {"type": "float", "default": 10.0},
    "pg_schema": {"type": "str"},
}


def classes_of(hostvars):
    """targets -> their data_class labels; None when a target is not in the inventory (unknown: longest)."""

    def lookup(targets):
        found = set()
        for target in targets:
            if target not in hostvars:
                return None
            value = host_label(hostvars[target], "data_class")
            if value is not None:
                found.add(str(value))
        return found

    return lookup


class ActionModule(ControllerAction):
    NAME = "ledger_archive"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ARGUMENT_RULES = {"mutually_exclusive": [("dest", "s3_bucket")]}
    ERRORS = (LedgerError,)
    ERROR_KIND = True

    def store_for(self, args, record=None):
        """The store of the task (dest / s3_*), or the one an archive was recorded in (for reading it back)."""
        if record is None:
            return store.open_store(
                args["dest"],
                {
                    "bucket": args["s3_bucket"],
                    "prefix": args["s3_prefix"],
                    "endpoint_url": args["s3_endpoint_url"],
                    "region": args["s3_region"],
                },
            )
        location, name = record["location"], record["name"]
        if record["store"] == "s3":
            bucket, _sep, key = location[len("s3://") :].partition("/")
            prefix = key[: -len(name)].rstrip("/") if key.endswith(name) else ""
            return store.S3Store(bucket, prefix, endpoint_url=args["s3_endpoint_url"], region=args["s3_region"])
        if record["store"] == "directory" and location.endswith(name):
            return store.DirectoryStore(location[: -len(name)])
        raise RetentionError(f"archive {location} was recorded in a store this version cannot read ({record['store']})")

    def ensure(self, args, task_vars):
        check = bool(self._task.check_mode)
        policy = RetentionPolicy(self.pinned_var(POLICY_VAR, task_vars))
        keys = load_keys(args["keys"]) if args["keys"] else None
        if args["state"] == "archived" and not (args["dest"] or args["s3_bucket"]):
            raise RetentionError("state archived needs a store: dest (a directory) or s3_bucket")
        writes = args["state"] != "planned" and not check
        with open_ledger(
            self.ledger_target(args),
            key=args["key"] or None,
            create=False,
            readonly=not writes,
            timeout=args["timeout"],
            schema=args["pg_schema"],
            source=SOURCE,
        ) as led:
            subjects = archive.Subjects(led, classes_of(task_vars.get("hostvars") or {}))
            if args["state"] == "planned" or check:
                found = archive.plan(led, policy, subjects, through_seq=args["through_seq"])
                return {
                    "changed": False,
                    "plan": found,
                    "policy": policy.summary(),
                    "msg": f"may prune through seq {found['through_seq']} (stops at {found['stop']})"
                    if found["through_seq"]
                    else f"nothing may be pruned: {found['stop']}",
                }
            if args["state"] == "archived":
                out = archive.archive(
                    led,
                    self.store_for(args),
                    policy,
                    subjects,
                    keys=keys,
                    through_seq=args["through_seq"],
                    source=SOURCE,
                )
            else:
                out = archive.prune(
                    led,
                    lambda record: self.store_for(args, record),
                    policy,
                    subjects,
                    keys=keys,
                    through_seq=args["through_seq"],
                )
                if out["changed"] and not out["verified"]["valid"]:
                    out.update(failed=True, msg=out["msg"] + " - run ledger_verify")
        out["policy"] = policy.summary()
        return out
