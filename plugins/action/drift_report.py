# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of changeward.hybrid.drift_report; the documentation lives in plugins/modules/drift_report.py."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import tempfile

from ansible_collections.changeward.hybrid.plugins.module_utils.filemodes import private_dir
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.change_spec import ChangeSpecError, role_scope
from ansible_collections.changeward.hybrid.plugins.plugin_utils.context import ephemeral_job
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift import markdown, record, schema
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.errors import DriftInputError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.paths import report_dir
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.policy import drift_policy, plan, verify
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.report import (
    build_report,
    check_segment,
    has_scan_baseline,
)
from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.state import is_baseline_role
from ansible_collections.changeward.hybrid.plugins.plugin_utils.identity import IdentityError, resolve_identity
from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import host_labels
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.errors import LedgerError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.pinning import POLICY_VAR

ENV_RUN_ID = "CHANGEWARD_DRIFT_RUN_ID"
ENV_CHECK_FILE = "CHANGEWARD_DRIFT_CHECK_FILE"
SOURCE = "urn:changeward:drift_report"
LABELS = ("env_type", "provider", "region", "az", "site", "rollback_capability", "criticality", "owner_team")

ARGUMENT_SPEC = {
    "phase": {"type": "str", "default": "report", "choices": ["report", "plan", "verify"]},
    "targets": {"type": "list", "elements": "str"},
    "detectors": {"type": "list", "elements": "str", "default": ["scan"]},
    "scan_var": {"type": "str", "default": "drift_scan_result"},
    "check_results": {"type": "path"},
    "run_id": {"type": "str"},
    "accepted": {"type": "raw"},
    "policy": {"type": "raw"},
    "output_dir": {"type": "path"},
    "include_diffs": {"type": "bool", "default": True},
    "title": {"type": "str"},
    "record": {"type": "bool", "default": True},
    "report": {"type": "dict"},
    "change_id": {"type": "str"},
    "requester": {"type": "str"},
    "gates": {"type": "dict"},
    "remediated": {"type": "list", "elements": "str"},
    "rescan_var": {"type": "str", "default": "drift_rescan_result"},
    "snapshot_var": {"type": "str", "default": "drift_snapshot_result"},
    "error_var": {"type": "str", "default": "drift_remediation_error"},
    "declared_var": {"type": "str", "default": "drift_declared"},
    "recheck_segment": {"type": "str", "default": "verify"},
}


def _now():
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def new_run_id(now=None) -> str:
    return "DRIFT-" + (now or _now()).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


class ActionModule(ControllerAction):
    NAME = "drift_report"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ERRORS = (DriftInputError, LedgerError, IdentityError)

    def ensure(self, args, task_vars):
        phase = args["phase"]
        if phase == "report":
            return self.ensure_reported(args, task_vars)
        if phase == "plan":
            return self.ensure_planned(args, task_vars)
        return self.ensure_verified(args, task_vars)

    # -- report ---------------------------------------------------------------------------------
    def ensure_reported(self, args, task_vars):
        targets = self._targets(args, task_vars)
        detectors = args["detectors"]
        run_id = args["run_id"] or os.environ.get(ENV_RUN_ID) or new_run_id()
        policy = drift_policy(
            self._load(
                args["policy"] if args["policy"] is not None else self.pinned_var(POLICY_VAR, task_vars), "policy"
            )
        )
        check, check_run = None, None
        if "check" in detectors:
            check, check_run = self._check_document(args["check_results"])
        scans = self._host_values(targets, args["scan_var"], task_vars) if "scan" in detectors else None
        report = build_report(
            {h: self._labels(h, task_vars) for h in targets},
            detectors=detectors,
            run_id=run_id,
            scans=scans,
            check=check,
            check_run_id=check_run,
            accepted=self._load(args["accepted"], "accepted"),
            now=_now(),
            acceptance_max_days=policy["acceptance_max_days"],
            include_diffs=args["include_diffs"],
            declared=self._declared(targets, args["declared_var"], task_vars),
        )
        problems = schema.validate(report)
        if problems:
            raise DriftInputError("the report does not match its schema: " + "; ".join(problems[:5]))
        text = markdown.render(report, args["title"])
        out = {
            "report": report,
            "run_id": run_id,
            "status": report["status"],
            "exit_code": report["exit_code"],
            "summary": report["summary"],
            "markdown": text,
            "files": {},
            "report_dir": None,
            "recorded": False,
            "ledger_seq": None,
            "changed": False,
        }
        if self._task.check_mode:
            return out
        directory, _source = report_dir(args["output_dir"], ephemeral=ephemeral_job())
        warnings = []
        out["files"] = write_report(directory, report, text, warnings)
        out["report_dir"] = directory
        if warnings:
            out["warnings"] = warnings
        ledger_path = self._ledger_target(args)
        if ledger_path:
            with self._open_ledger(ledger_path, args["key"]) as ledger:
                out["ledger_seq"] = record.record_report(ledger, report, source=SOURCE)
            out.update(recorded=True, changed=True)
        return out

    # -- plan -----------------------------------------------------------------------------------
    def ensure_planned(self, args, task_vars):
        report = args["report"]
        if not report:
            raise DriftInputError("phase plan needs the report of this run (the result's report of phase report)")
        problems = schema.validate(report)
        if problems:
            raise DriftInputError("the report given to plan is not a drift report: " + "; ".join(problems[:5]))
        change_id = _required(args, "change_id", "plan")
        gates = args["gates"] or {}
        if "blackout" not in gates:
            raise DriftInputError(
                "phase plan needs gates.blackout, the registered result of changeward.hybrid.blackout"
            )
        policy = drift_policy(
            self._load(
                args["policy"] if args["policy"] is not None else self.pinned_var(POLICY_VAR, task_vars), "policy"
            )
        )
        states, role_scopes = self._states(report, args["declared_var"], task_vars)
        the_plan = plan(report, policy, states, role_scopes)
        requester = args["requester"] or str(resolve_identity(self.extra_vars()).name)
        out = {
            "plan": the_plan,
            "remediate": the_plan["remediate"],
            "role_scopes": role_scopes or {},
            "scopes": host_scopes(the_plan["remediate"], states, role_scopes),
            "change_id": None,
            "review_id": None,
            "reviews": {"opened": [], "updated": [], "unchanged": []},
            "refused": False,
            "reasons": [],
            "recorded": False,
            "ledger_seq": None,
            "changed": False,
        }
        blocked = [name for name, g in sorted(gates.items()) if record.gate_blocked(g)]
        if self._task.check_mode:
            refused = bool(blocked and the_plan["remediate"])
            return dict(out, refused=refused, remediate=[] if refused else the_plan["remediate"])
        ledger_path = self._ledger_target(args)
        if not ledger_path:
            raise DriftInputError("remediation is recorded in the ledger: it needs record: true")
        with self._open_ledger(ledger_path, args["key"]) as ledger:
            opened = record.open_remediation(ledger, change_id, report, the_plan, gates, requester, source=SOURCE)
        out.update(
            change_id=opened["change_id"],
            review_id=opened["review_id"],
            reviews={k: opened["reviews"][k] for k in ("opened", "updated", "unchanged")},
            refused=opened["refused"] and bool(the_plan["remediate"]),
            reasons=opened["reasons"],
            ledger_seq=opened["seq"],
            recorded=opened["seq"] is not None,
            changed=opened["seq"] is not None,
        )
        if out["refused"]:
            out["remediate"] = []
            out["failed"] = True
            out["msg"] = f"drift_report: remediation {change_id} refused: " + "; ".join(opened["reasons"])
        return out

    # -- verify ---------------------------------------------------------------------------------
    def ensure_verified(self, args, task_vars):
        change_id = _required(args, "change_id", "verify")
        remediated = args["remediated"]
        if remediated is None:
            raise DriftInputError("phase verify needs remediated, the hosts the plan remediated")
        detectors = args["detectors"]
        rescans = self._host_values(remediated, args["rescan_var"], task_vars) if "scan" in detectors else None
        rechecks = None
        if "check" in detectors:
            # a host no scan baseline stands for is verified by the re-check alone
            declared = self._declared(remediated, args["declared_var"], task_vars)
            if declared is not None and rescans is not None:
                rescans = {h: v for h, v in rescans.items() if has_scan_baseline(declared.get(h))}
            doc, check_run = self._check_document(args["check_results"])
            rechecks = check_segment(doc, check_run, args["recheck_segment"])
        errors = self._host_values(remediated, args["error_var"], task_vars)
        snaps = self._host_values(remediated, args["snapshot_var"], task_vars)
        verification = verify(remediated, rescans, {h: e for h, e in errors.items() if e}, rechecks)
        snapshots = [
            {"host": h, "id": str(s["snapshot_id"])}
            for h, s in sorted(snaps.items())
            if isinstance(s, dict) and s.get("snapshot_id")
        ]
        out = {
            "verification": verification,
            "outcome": "successful" if not verification["not_restored"] else "failed",
            "snapshots": snapshots,
            "recorded": False,
            "ledger_seq": None,
            "changed": False,
        }
        if not self._task.check_mode and remediated:
            ledger_path = self._ledger_target(args)
            if not ledger_path:
                raise DriftInputError("remediation is recorded in the ledger: it needs record: true")
            with self._open_ledger(ledger_path, args["key"]) as ledger:
                out["ledger_seq"] = record.close_remediation(ledger, change_id, verification, snapshots, source=SOURCE)
            out.update(recorded=True, changed=True)
        if verification["not_restored"]:
            out["failed"] = True
            out["msg"] = f"drift_report: change {change_id}: not restored: " + "; ".join(
                f"{n['host']} ({n['reason']})" for n in verification["not_restored"]
            )
        return out

    # -- helpers --------------------------------------------------------------------------------
    def _targets(self, args, task_vars):
        targets = args["targets"]
        if not targets:
            raise DriftInputError("no targets: name the hosts the report is about")
        hostvars = task_vars.get("hostvars") or {}
        missing = [h for h in targets if h not in hostvars]
        if missing:
            raise DriftInputError(f"target(s) not in the inventory: {', '.join(sorted(missing)[:10])}")
        return list(dict.fromkeys(targets))

    @staticmethod
    def _host_values(hosts, var, task_vars):
        hostvars = task_vars.get("hostvars") or {}
        values = {}
        for h in hosts:
            hv = hostvars.get(h) if h in hostvars else None
            value = hv.get(var) if hv is not None else None
            values[h] = _plain(value)
        return values

    def _declared(self, targets, var, task_vars):
        """{host: declared state} when the run resolved one (the drift playbooks do), else None (no rule)."""
        values = self._host_values(targets, var, task_vars)
        if all(v is None for v in values.values()):
            return None
        return values

    def _states(self, report, var, task_vars):
        """({host: roles}, {role: snapshot scope or None}) of the hosts not in sync, or (None, None)."""
        hosts = [h for h, e in report["hosts"].items() if e["status"] != "in_sync"]
        declared = self._declared(hosts, var, task_vars) if hosts else None
        if declared is None:
            return None, None
        states = {h: list((d or {}).get("roles") or []) for h, d in declared.items()}
        roles = sorted({r for rs in states.values() for r in rs if not is_baseline_role(r)})
        return states, {r: self._role_scope(r) for r in roles}

    def _role_scope(self, name):
        """The snapshot scope the role declares in meta/changeward.yml, found as include_role finds the role."""
        from ansible.errors import AnsibleError
        from ansible.playbook.role.definition import RoleDefinition

        definition = RoleDefinition(loader=self._loader)
        definition._ds = name  # what its not-found error names
        try:
            path = definition._load_role_path(name)[1]
        except AnsibleError:
            raise DriftInputError(f"role {name} of the declared state is not found in the roles path") from None
        try:
            return role_scope(path)
        except ChangeSpecError as exc:
            raise DriftInputError(str(exc)) from None

    @staticmethod
    def _labels(host, task_vars):
        hv = (task_vars.get("hostvars") or {}).get(host) or {}
        return {k: _plain(v) for k, v in host_labels(hv, LABELS).items()}

    def _check_document(self, path):
        path = path or os.environ.get(ENV_CHECK_FILE)
        if not path:
            raise DriftInputError(
                "the check detector needs the drift_collector callback: the project's ansible.cfg enables it; "
                "an ANSIBLE_CALLBACKS_ENABLED (which replaces that list) must name it too - or pass check_results"
            )
        try:
            with open(path, encoding="utf-8") as handle:
                doc = json.load(handle)
        except OSError as exc:
            raise DriftInputError(f"cannot read the check-mode results {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise DriftInputError(f"the check-mode results {path} are not JSON: {exc}") from None
        # results written by this run's callback must be from this run; a given file is taken as it is
        expected_run = os.environ.get(ENV_RUN_ID) if not self._task.args.get("check_results") else None
        return doc, expected_run

    def _load(self, value, what):
        if not isinstance(value, str):
            return _plain(value)
        return self.load_yaml(value, what, DriftInputError)

    def _ledger_target(self, args):
        """The ledger (the one rule), or None for a report that is only looked at (record: false)."""
        return self.ledger_target(args) if args["record"] else None

    @staticmethod
    def _open_ledger(target, key):
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

        return open_ledger(target, key=key, source=SOURCE)


def host_scopes(hosts, states, role_scopes):
    """{host: {paths, packages, services}}: the snapshot scope its declared roles declare (drift_baseline's own
    comes from its rendered baseline on the host, added by the playbook)."""
    out = {}
    for host in hosts:
        scope = {"paths": [], "packages": [], "services": []}
        for role in (states or {}).get(host) or []:
            for key in scope:
                scope[key] += [v for v in ((role_scopes or {}).get(role) or {}).get(key) or [] if v not in scope[key]]
        out[host] = scope
    return out


def _required(args, key, phase):
    if not args.get(key):
        raise DriftInputError(f"phase {phase} needs {key}")
    return args[key]


def _plain(value):
    """Plain JSON data (Ansible's tagged and lazy values are turned into dict/list/str/...)."""
    if value is None:
        return None
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError) as exc:
        raise DriftInputError(f"a value cannot be read as plain data: {exc}") from None


def write_report(directory, report, text, warnings=None):
    """drift-<run>.json / .md and latest.json / latest.md, each written atomically, mode 0600, in a 0700
    directory (an existing looser one is tightened; the warning goes to ``warnings``)."""
    directory = os.path.expanduser(directory)
    warning = private_dir(directory)
    if warning and warnings is not None:
        warnings.append("drift report directory " + warning)
    body = json.dumps(report, indent=2, sort_keys=True) + "\n"
    files = {}
    for name, content in (
        (f"drift-{report['run_id']}.json", body),
        (f"drift-{report['run_id']}.md", text),
        ("latest.json", body),
        ("latest.md", text),
    ):
        path = os.path.join(directory, name)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".drift-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        files[name.rsplit(".", 1)[-1] if name.startswith("drift-") else name] = path
    return files
