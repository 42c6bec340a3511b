# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection's controller-side action plugins share.

Every one of them has the same shape: validate the task's arguments, call its ``ensure_*`` core and turn
the core's typed errors (any ChangewardError) into a failed task whose message names the action.
ControllerAction.run holds that shape; an action sets its spec and message prefix and implements ``ensure``.

It is also the controller context (plugin_utils.context): every action accepts the group's ledger options
(``ledger``, ``key``) so ``module_defaults`` for ``group/changeward.hybrid.hybrid`` can set them, finds its
ledger by one rule (``ledger_target``), loads the effective gate policy one way (``gate_policy``) and records
its own decision in the change (``record_gate_decision``).
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.changeward.hybrid.plugins.plugin_utils import context
from ansible_collections.changeward.hybrid.plugins.plugin_utils.arguments import NamedArgumentValidation
from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import host_label
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy import pinning


class ControllerAction(NamedArgumentValidation, ActionBase):
    """An action that decides on the controller: it never connects to the target."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    NAME = ""  # prefix of the messages of failed tasks ("" for none)
    ARGUMENT_SPEC: dict = {}
    COMMON_SPEC: dict = context.LEDGER_SPEC  # options of the whole action group; ARGUMENT_SPEC may refine them
    ARGUMENT_RULES: dict = {}  # mutually_exclusive, required_if, ... as validate_argument_spec takes them
    ERRORS: tuple = ()  # further errors to report as a failed task (every ChangewardError already is)
    RAISE_ERRORS = False  # raise AnsibleActionFail instead of returning a failed result
    ERROR_KIND = False  # the failed result names the error's class in error_kind

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self.validate_argument_spec(argument_spec=self.argument_spec(), **self.ARGUMENT_RULES)[1]
        # check mode writes nothing: whatever the action opens, no ledger is created, migrated or appended to
        with context.check_mode_ledgers(bool(self._task.check_mode)):
            try:
                result.update(self.ensure(args, task_vars or {}))
            except (ChangewardError, *self.ERRORS) as exc:
                self.record_refusal(exc, args)
                result.update(self.failure(exc, args))
        return result

    def record_refusal(self, exc: Exception, args: dict) -> None:
        """A control's refusal (an error whose class names its CONTROL) goes into the change it was about, as an
        io.changeward.control.refused event: the attempt to get around a control is evidence too. Nothing is
        written in check mode, without a change id, or when the ledger or the change is not there."""
        control = getattr(exc, "CONTROL", None)
        change_id = args.get("change_id")
        if not control or not change_id or self._task.check_mode:
            return
        target = self.ledger_target(args)
        if not context.ledger_exists(target):
            return
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.control_events import CONTROL_REFUSED
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

        with open_ledger(target, key=args.get("key"), create=False, source=f"changeward.hybrid.{self.NAME}") as led:
            if led.get_change(change_id) is not None:
                led.record(CONTROL_REFUSED, change_id, {"control": control, "action": self.NAME, "reason": str(exc)})

    @classmethod
    def argument_spec(cls) -> dict:
        """The action's whole argument spec: the group's shared options, then its own."""
        return {**cls.COMMON_SPEC, **cls.ARGUMENT_SPEC}

    def ensure(self, args: dict, task_vars: dict) -> dict:
        raise NotImplementedError

    def failure(self, exc: Exception, args: dict) -> dict:
        """The result of a task whose request failed with exc (or AnsibleActionFail with RAISE_ERRORS)."""
        msg = f"{self.NAME}: {exc}" if self.NAME else str(exc)
        if self.RAISE_ERRORS:
            raise AnsibleActionFail(msg) from None
        out = {"failed": True, "changed": False, "msg": msg}
        if self.ERROR_KIND:
            out["error_kind"] = type(exc).__name__
        return out

    # -- the controller context ---------------------------------------------------------------------------------
    @staticmethod
    def ledger_target(args: dict) -> str:
        """Which ledger (the one rule): the ledger option, else CHANGEWARD_LEDGER, else the default ledger file."""
        return context.ledger_target(args.get("ledger"))

    def gate_policy(self, args: dict, task_vars: dict, targets=()):
        """The effective gate policy: policy (else the pinned changeward_policy) plus the regional layers -
        policy_local, else the pinned changeward_policy_local of this host and of every target host named in
        targets. With change_id, it must be the policy the change was opened under (pinning.py)."""
        policy = self._gate_policy(args, task_vars, targets)
        if args.get("change_id"):
            self.check_policy_digest(
                args, "gate", lambda record: self._gate_policy(args, task_vars, record.get("targets") or targets)
            )
        return policy

    def _gate_policy(self, args: dict, task_vars: dict, targets=()):
        hostvars = task_vars.get("hostvars") or {}
        names = [t for t in targets or () if isinstance(t, str)]
        layers = []
        if args.get("policy_local") in (None, ""):
            for name in names:
                self.pinned_var(pinning.LOCAL_VAR, task_vars, host=name)
            layers = context.host_locals(names, hostvars) if names else []
        own = task_vars.get("inventory_hostname")
        pinned = {
            pinning.POLICY_VAR: self.pinned_var(pinning.POLICY_VAR, task_vars),
            pinning.LOCAL_VAR: self.pinned_var(pinning.LOCAL_VAR, task_vars),
            "inventory_hostname": own,
        }
        return context.effective_policy(args.get("policy"), args.get("policy_local"), pinned, layers, self.find_file)

    def pinned_var(self, name: str, task_vars: dict, host: str | None = None):
        """The inventory's value of a pinned policy variable for host (default: this task's host), or None.
        Refused (PolicyNotPinned) when the run gave or changed it: extra vars, play/role/block/task vars, facts."""
        host = host or task_vars.get("inventory_hostname") or "localhost"
        manager = self._task.get_variable_manager() if hasattr(self._task, "get_variable_manager") else None
        in_facts = pinning.set_during_run(manager, host, name)
        hostvars = task_vars.get("hostvars") or {}
        inventory = pinning._MISSING
        if host in hostvars:
            found = hostvars.raw_get(host) if hasattr(hostvars, "raw_get") else hostvars[host]
            if hasattr(found, "get") and name in found:
                inventory = found[name]
        own = host == (task_vars.get("inventory_hostname") or host)
        task_value = task_vars[name] if own and name in task_vars else pinning._MISSING
        problem = pinning.origin_problem(
            name,
            host,
            from_extra_vars=name in self.extra_vars(),
            from_facts=in_facts,
            task_value=task_value,
            inventory_value=inventory if hostvars else task_value,
        )
        if problem:
            raise pinning.PolicyNotPinned(problem)
        return None if inventory is pinning._MISSING else inventory

    def check_policy_digest(self, args: dict, kind: str, policy_for) -> None:
        """Refuse when change args[change_id] was opened under another kind (gate | tolerance) policy than the one
        policy_for(record) gives now. A change without recorded digests, or not in the ledger, is not checked."""
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import CHANGE_OPENED

        target = self.ledger_target(args)
        if not context.ledger_exists(target):
            return
        with open_ledger(target, key=args.get("key"), create=False) as ledger:
            record = ledger.get_change(args["change_id"])
            # the digests are in the change's opened event, written before any task of the change ran
            opened = list(ledger.events(subject=args["change_id"], types=[CHANGE_OPENED]))
        recorded = (opened[0].event["data"].get(pinning.DIGESTS_KEY) if opened and record else None) or {}
        if not recorded.get(kind):
            return
        problem = pinning.digest_mismatch(args["change_id"], kind, recorded[kind], policy_for(record).digest)
        if problem:
            raise pinning.PolicyNotPinned(problem)

    def record_gate_decision(self, args: dict, entry: dict, events=()) -> dict:
        """Record this action's decision in its change (args change_id) unless in check mode or without one.
        Returns the result keys recorded/ledger_seq (and ledger when recorded)."""
        if not args.get("change_id"):
            return {"recorded": False, "ledger_seq": None}
        # recording the decision changes the change record: changed, in check mode as it would be (and so --diff
        # shows the decision)
        if self._task.check_mode:
            return {"changed": True, "recorded": False, "ledger_seq": None, **self._decision_diff(args, entry, None)}
        done = context.record_gate_decision(
            self.ledger_target(args),
            args["change_id"],
            entry,
            key=args.get("key"),
            source=f"changeward.hybrid.{self.NAME}",
            events=events,
        )
        recorded = {"changed": True, "recorded": True, "ledger_seq": done["ledger_seq"], "ledger": done["ledger"]}
        return {**recorded, **self._decision_diff(args, entry, done["ledger_seq"])}

    def _decision_diff(self, args: dict, entry: dict, seq) -> dict:
        """With --diff, what the decision adds to the change's gate_decisions (in check mode: would add)."""
        if not self._task.diff:
            return {}
        where = f"recorded at seq {seq}" if seq else "check mode: not recorded"
        return {
            "diff": {
                "before": {},
                "after": {"gate_decisions": [dict(entry)]},
                "before_header": f"change {args['change_id']}",
                "after_header": f"change {args['change_id']} ({where})",
            }
        }

    # -- inputs -----------------------------------------------------------------------------------------------------
    def find_file(self, src: str) -> str:
        """A path as given when absolute (after ~), else looked up like other task files (role files/, playbook
        dir); as given when it is found nowhere, so that reading it fails with the name the user wrote."""
        if os.path.isabs(os.path.expanduser(src)):
            return os.path.expanduser(src)
        try:
            return self._find_needle("files", src)
        except AnsibleError:
            return src

    def load_yaml(self, src: str, what: str, error: type[Exception]):
        """The YAML document in the file src (found with find_file); error names what cannot be read."""
        import yaml

        try:
            with open(self.find_file(src), encoding="utf-8") as handle:
                return yaml.safe_load(handle)
        except OSError as exc:
            raise error(f"cannot read {what} {src}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise error(f"{what} {src} is not valid YAML: {exc}") from None

    def tolerance_policy(self, raw, args: dict | None = None):
        """A tolerance policy: a mapping, or a file looked up like other task files (it must exist). With a
        change_id in args, it must be the tolerance policy the change was opened under (pinning.py)."""
        policy = self._tolerance_policy(raw)
        if args and args.get("change_id"):
            self.check_policy_digest(args, "tolerance", lambda record: policy)
        return policy

    def _tolerance_policy(self, raw):
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy.tolerance import PolicyError, load

        if isinstance(raw, str):
            try:
                raw = self._find_needle("files", raw)
            except AnsibleError as exc:
                raise PolicyError(f"tolerance policy not found: {exc.message}") from None
        return load(raw)

    @staticmethod
    def prometheus_client(args: dict):
        """The Prometheus client the task's prometheus_* options (the changeward.hybrid.prometheus fragment) give."""
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.prometheus import PrometheusClient

        return PrometheusClient(
            args["prometheus_url"],
            token=args["prometheus_token"],
            timeout=args["prometheus_timeout"],
            retries=args["prometheus_retries"],
            validate_certs=args["validate_certs"],
            ca_path=args["ca_path"],
        )

    def extra_vars(self, cli: bool = False) -> dict:
        """The run's extra vars, the only variables a play cannot set. When the task has no variable manager: {},
        or with cli those the command line gave (ansible caches them on load_extra_vars)."""
        task = self._task
        manager = task.get_variable_manager() if hasattr(task, "get_variable_manager") else None
        if manager is not None:
            return dict(manager.extra_vars)
        if not cli:
            return {}
        from ansible.utils.vars import load_extra_vars

        return dict(getattr(load_extra_vars, "extra_vars", None) or {})


class TargetAction(ActionBase):
    """A module that runs on the managed host, behind an action that removes the group's controller-only options.

    module_defaults for group/changeward.hybrid.hybrid may set ``ledger`` and ``key`` for every action of the
    group. A module that runs on the host has no use for them and must never receive them: a ledger DSN may hold
    a password and the key signs the ledger. The module's own argument spec accepts them (so validation and the
    documentation agree); this action drops their values before the module is sent.
    """

    CONTROLLER_ONLY = tuple(context.LEDGER_SPEC)
    LABEL_OPTIONS: tuple = ()  # options that default to the host's label of the same name (labels.host_label)

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = True
        result = super().run(tmp, task_vars)
        del tmp
        wrap_async = self._task.async_val and not self._connection.has_native_async
        args = {k: v for k, v in self._task.args.items() if k not in self.CONTROLLER_ONLY}
        for option in self.LABEL_OPTIONS:
            if args.get(option) is None:
                value = host_label(task_vars or {}, option)
                if value is not None:
                    args[option] = value
        result.update(
            self._execute_module(
                module_name=self._task.resolved_action or self._task.action,
                module_args=args,
                task_vars=task_vars,
                wrap_async=wrap_async,
            )
        )
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
