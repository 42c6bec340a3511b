# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: change_window_guard
type: aggregate
short_description: Stop a play or serial batch that would start inside a blackout window
version_added: "0.1.0"
author: changeward maintainers (!UNKNOWN)
description:
  - Checks the configured blackout and maintenance calendars at the start of every play and again before
    every C(serial) batch, for the scope of each host in the batch, with the same rules as
    M(changeward.hybrid.blackout). Nothing has to be added to playbooks, so ad-hoc runs and forgotten
    playbooks are covered too.
  - When any host of the batch is blocked, the batch runs no task of the play (no fact gathering either);
    instead each host fails one task named C(changeward window guard) whose message names the windows and when
    changes are allowed again. The run ends failed and later batches do not start.
  - Fails closed. A calendar that cannot be read, no calendar at all, or any error inside the guard blocks the
    batch.
  - A host's scope is built from its labels (O(scope_labels)), read from the C(changeward_labels) host variable
    when present, else from host variables of the same names. The label C(services) is matched as C(service).
    The change type (the C(type) of the change spec in the extra variable C(change_spec), else the extra variable
    C(changeward_change_type), else O(change_type)) is matched as the label C(change_type).
  - Regional teams add calendars for their hosts in inventory C(group_vars), in their regional policy layer
    C(changeward_policy_local) under C(blackout.calendars) (the same layer M(changeward.hybrid.blackout),
    M(changeward.hybrid.risk_score) and M(changeward.hybrid.approval) read; validated, and it may not loosen the
    central policy). They apply to those hosts only. Like the actions, the guard reads that layer only from the
    inventory; one given as an extra var, in play vars or by C(set_fact) blocks the batch. The older host variable
    C(changeward_local_calendars) (a list of the same entries) is still read.
  - "Emergency override: set the extra variable C(changeward_override) to the override statement its approver
    signed (C(statement) and C(signature), or C(file), the statement file with the signature beside it as
    C(<file>.sig)), with change type V(emergency). The guard verifies it as M(changeward.hybrid.blackout) does -
    signature against the policy's C(approval.allowed_signers), an approver with a role listed in
    C(blackout.override_roles), a reference matching C(override.reference_pattern), a justification - except the
    change digest, which only the change's own blackout gate knows. It then lets the batch run and prints the
    override as a CloudEvent for retroactive review. An unsigned override (C(reference), C(approver), C(role), or
    the C(CHANGEWARD_OVERRIDE_*) environment variables) is refused: nobody has verified its approver."
requirements:
  - enabled in C(callbacks_enabled) in ansible.cfg
  - for ad-hoc C(ansible) commands, C(bin_ansible_callbacks = True) in ansible.cfg (ansible-core loads no
    extra callbacks for ad-hoc commands without it)
  - icalendar and python-dateutil on the controller
notes:
  - Relative calendar paths are relative to the directory of the ansible.cfg in use (the working directory when
    there is none).
  - When the run's tags would skip the failing task (e.g. C(--skip-tags always)), the guard ends the run with
    exit code 2 instead, so a blocked batch never passes silently.
options:
  calendars:
    description:
      - Calendar paths or http(s) URLs checked for every host, added to the policy file's C(blackout.calendars).
    type: list
    elements: str
    default: []
    env:
      - name: CHANGEWARD_CALENDARS
    ini:
      - section: changeward_window_guard
        key: calendars
  policy_file:
    description:
      - The central gate policy (a YAML file, the same document as the C(changeward_policy) variable of the
        actions, validated against the gate policy schema); its C(blackout) section gives calendars (in the
        full mapping form), C(override_roles), C(horizon_days), C(default_timezone) and C(http_timeout). Each
        host's C(changeward_policy_local) is merged into it, as the blackout action does.
    type: path
    env:
      - name: CHANGEWARD_POLICY_FILE
    ini:
      - section: changeward_window_guard
        key: policy_file
  change_type:
    description:
      - Change type of runs that do not set the extra variable C(changeward_change_type).
    type: str
    choices: [standard, normal, emergency]
    default: normal
    env:
      - name: CHANGEWARD_CHANGE_TYPE
    ini:
      - section: changeward_window_guard
        key: change_type
  enforce:
    description:
      - When V(false), a blocked batch only raises a warning and runs (report-only rollout of the guard).
    type: bool
    default: true
    env:
      - name: CHANGEWARD_WINDOW_ENFORCE
    ini:
      - section: changeward_window_guard
        key: enforce
  scope_labels:
    description:
      - Host labels that make up each host's scope.
    type: list
    elements: str
    default: [env_type, provider, region, az, site, tenant, ring, data_class, rollback_capability, criticality,
              owner_team, services]
    env:
      - name: CHANGEWARD_SCOPE_LABELS
    ini:
      - section: changeward_window_guard
        key: scope_labels
  exempt_playbooks:
    description:
      - Shell-style patterns of playbook paths the guard does not check (for example read-only audit or report
        playbooks). Matched against the playbook's absolute path and its file name. Set by the operator in
        ansible.cfg, not by playbooks.
    type: list
    elements: str
    default: []
    env:
      - name: CHANGEWARD_EXEMPT_PLAYBOOKS
    ini:
      - section: changeward_window_guard
        key: exempt_playbooks
  http_timeout:
    description:
      - Seconds to wait for each calendar URL. Defaults to the policy C(blackout.http_timeout), else 10.
    type: float
    env:
      - name: CHANGEWARD_HTTP_TIMEOUT
    ini:
      - section: changeward_window_guard
        key: http_timeout
"""

import fnmatch
import json
import os
import time

from ansible import constants as C
from ansible import context
from ansible.playbook.block import Block
from ansible.plugins.callback import CallbackBase

from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar import gate
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.localtime import iso_utc
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.override import check_override
from ansible_collections.changeward.hybrid.plugins.plugin_utils.calendar.policy import blackout_policy
from ansible_collections.changeward.hybrid.plugins.plugin_utils.context import LOCAL_VAR, effective_policy
from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import host_label
from ansible_collections.changeward.hybrid.plugins.plugin_utils.policy import pinning

GUARD_TASK = "changeward window guard"
SOURCE = "changeward.hybrid.change_window_guard"
LOCAL_CALENDARS_VAR = "changeward_local_calendars"
MAX_HOSTS_NAMED = 10


class GuardDecision:
    def __init__(self, blocked, msg, overrides=None):
        self.blocked = blocked
        self.msg = msg
        self.overrides = overrides or []


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "changeward.hybrid.change_window_guard"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None, options=None):
        super().__init__(display=display, options=options)
        self._playbook = None

    def v2_playbook_on_start(self, playbook):
        self._playbook = os.path.abspath(getattr(playbook, "_file_name", "") or "")

    def v2_playbook_on_play_start(self, play):
        # ansible-core fires this once per serial batch, after the batch's hosts are set and before
        # the play iterator is built from the play, so rewriting the play here stops exactly this batch.
        if self._exempt():
            self._display.display(f"{GUARD_TASK}: playbook {self._playbook} is exempt", color=C.COLOR_SKIP)
            return
        try:
            decision = self.evaluate(play)
        except Exception as exc:  # fail closed: a guard that cannot decide blocks
            decision = GuardDecision(True, f"window guard could not decide, so the change is blocked: {exc}")
        if not decision.blocked:
            for event in decision.overrides:
                self._display.warning(
                    f"{GUARD_TASK}: blackout overridden under {event['subject']}; retroactive review required. "
                    f"Ledger event: {json.dumps(event, sort_keys=True)}"
                )
            return
        if not self.get_option("enforce"):
            self._display.warning(f"{GUARD_TASK} (enforce=false, not stopping): {decision.msg}")
            return
        self._display.error(f"{GUARD_TASK}: {decision.msg}")
        block = None
        try:
            block = self.stop_block(play, decision.msg)
            runs = self.runs_under_cli_tags(block.block[0])
        except Exception as exc:  # cannot tell whether the failing task would run: do not rely on it
            self._display.warning(f"{GUARD_TASK}: could not evaluate the run's tags ({exc})")
            runs = False
        if not runs:
            # --skip-tags always would skip the failing task and the blocked batch would "succeed".
            self._display.error(f"{GUARD_TASK}: the run's tags would skip the guard's failing task; aborting the run")
            raise SystemExit(2)
        try:
            self.stop(play, block)
        except Exception as exc:
            # The dispatcher turns exceptions into warnings; SystemExit is not caught there and ends the run
            # before the batch's iterator exists.
            self._display.error(f"{GUARD_TASK}: could not stop the play cleanly ({exc}); aborting the run")
            raise SystemExit(2) from exc

    def _exempt(self):
        patterns = self.get_option("exempt_playbooks") or []
        name = os.path.basename(self._playbook or "")
        return any(fnmatch.fnmatch(self._playbook or "", p) or fnmatch.fnmatch(name, p) for p in patterns)

    @staticmethod
    def runs_under_cli_tags(task):
        """True when the run's --tags/--skip-tags let the task run."""
        only = context.CLIARGS.get("tags") or ["all"]
        skip = context.CLIARGS.get("skip_tags") or []
        return task.evaluate_tags(only, skip, all_vars={})

    @staticmethod
    def stop(play, block):
        """Replace everything the batch would run with block (one failing task per host)."""
        play.gather_facts = False
        play.force_handlers = False
        play.pre_tasks = [block]
        play.roles = []
        play.tasks = []
        play.post_tasks = []
        play.handlers = []

    @staticmethod
    def stop_block(play, msg):
        """The block of one failing task that stops a blocked batch."""
        return Block.load(
            {
                "block": [
                    {
                        "name": GUARD_TASK,
                        "ansible.builtin.fail": {"msg": msg},
                        "ignore_errors": False,
                        "tags": ["always"],
                    }
                ],
            },
            play=play,
            variable_manager=play.get_variable_manager(),
            loader=play.get_loader(),
        )

    # -- evaluation -------------------------------------------------------------------------------

    def _base_dir(self):
        config = getattr(C.config, "_config_file", None)
        return os.path.dirname(os.path.abspath(config)) if config else os.getcwd()

    def _resolve(self, src):
        return src if os.path.isabs(src) else os.path.join(self._base_dir(), src)

    def _policy(self, local, host):
        """The blackout section of the effective policy for a host: the policy file plus its regional layer."""
        path = self.get_option("policy_file")
        layers = [(local, f"{LOCAL_VAR} of host {host}")] if local else []
        return blackout_policy(effective_policy(self._resolve(path) if path else None, None, {}, layers).data)

    def _override(self, extra_vars):
        """The run's override, verified like the blackout action does (signed statement, allowed signers, role,
        incident id, justification); the guard knows no change digest, the change's blackout gate binds it."""
        override = extra_vars.get("changeward_override")
        if override:
            raw = dict(override)
        else:
            env = {k: os.environ.get(f"CHANGEWARD_OVERRIDE_{k.upper()}") for k in ("reference", "approver", "role")}
            if not any(env.values()):
                return None
            raw = env
        if isinstance(raw.get("file"), str):
            path = self._resolve(raw.pop("file"))
            with open(path, encoding="utf-8") as stmt, open(path + ".sig", encoding="utf-8") as sig:
                raw.update(statement=stmt.read(), signature=sig.read())
        policy_file = self.get_option("policy_file")
        policy = effective_policy(self._resolve(policy_file) if policy_file else None, None, {}, [])
        return check_override(
            raw,
            policy=policy,
            change_id=extra_vars.get("changeward_change_id"),
            change_digest=None,
            signers=self._resolve(policy.allowed_signers) if policy.allowed_signers else None,
            override_roles=blackout_policy(policy.data).override_roles,
            bind=False,
        )

    def _scope(self, host_vars):
        scope = {}
        for label in self.get_option("scope_labels") or []:
            value = host_label(host_vars, label)
            if value is None:
                continue
            if "{{" in str(value):
                # An unrendered template says nothing reliable; an unknown label matches every event.
                continue
            scope["service" if label == "services" else label] = (
                [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value)
            )
        return scope

    @staticmethod
    def _pinned_local(variable_manager, host, host_vars):
        """The host's regional layer as the inventory pins it; one the run gave or changed (extra vars, play
        vars, set_fact) is refused like the actions refuse it (pinning.py), and the refusal blocks the batch."""
        if LOCAL_VAR not in host_vars:
            return None
        inventory_vars = variable_manager.get_vars(host=host, include_hostvars=False)
        problem = pinning.origin_problem(
            LOCAL_VAR,
            host.name,
            from_extra_vars=LOCAL_VAR in variable_manager.extra_vars,
            from_facts=pinning.set_during_run(variable_manager, host.name, LOCAL_VAR),
            task_value=host_vars[LOCAL_VAR],
            inventory_value=inventory_vars.get(LOCAL_VAR, pinning._MISSING),
        )
        if problem:
            raise pinning.PolicyNotPinned(problem)
        return host_vars[LOCAL_VAR] or None

    def evaluate(self, play):
        variable_manager = play.get_variable_manager()
        hosts = variable_manager._inventory.get_hosts(play.hosts, order=play.order)
        if not hosts:
            return GuardDecision(False, "no hosts")
        extra_vars = variable_manager.extra_vars
        spec = extra_vars.get("change_spec")
        # the main job's change type is its spec's; a spec that is not a mapping is change_spec's to refuse
        spec_type = spec.get("type") if isinstance(spec, dict) else None
        change_type = str(spec_type or extra_vars.get("changeward_change_type") or self.get_option("change_type"))
        override = self._override(extra_vars)
        shared = list(self.get_option("calendars") or [])
        timeout = self.get_option("http_timeout")
        at = iso_utc(float(int(time.time())))

        loaded_by_key, decided, blocked, overrides = {}, {}, {}, []
        for host in hosts:
            host_vars = variable_manager.get_vars(play=play, host=host, include_hostvars=False)
            legacy = host_vars.get(LOCAL_CALENDARS_VAR) or []
            if not isinstance(legacy, list):
                raise ValueError(f"host {host.name}: {LOCAL_CALENDARS_VAR} must be a list")
            regional = self._pinned_local(variable_manager, host, host_vars)
            key = json.dumps([regional, legacy], sort_keys=True, default=str)
            if key not in loaded_by_key:
                # Load per distinct regional layer once per batch: calendars are re-read every batch so a
                # window added mid-run is seen by the next batch.
                policy = self._policy(regional, host.name)
                specs = list(policy.calendars) + shared + list(legacy)
                loaded_by_key[key] = (policy, gate.load(specs, policy, timeout, self._resolve))
            policy, loaded = loaded_by_key[key]
            scope = self._scope(host_vars)
            decision_key = (key, json.dumps(scope, sort_keys=True))
            if decision_key not in decided:
                decided[decision_key] = gate.decide(loaded, policy, at, scope, change_type, True, override, SOURCE)
            result = decided[decision_key]
            if result["blocked"] and not result["overridden"]:
                blocked[host.name] = result
            elif result.get("ledger_event") and result["ledger_event"] not in overrides:
                overrides.append(result["ledger_event"])
        if not blocked:
            return GuardDecision(False, "allowed", overrides)
        return GuardDecision(True, self._message(blocked))

    @staticmethod
    def _message(blocked):
        names = sorted(blocked)
        shown = ", ".join(names[:MAX_HOSTS_NAMED]) + (
            f" and {len(names) - MAX_HOSTS_NAMED} more" if len(names) > MAX_HOSTS_NAMED else ""
        )
        reasons = []
        for name in names:
            for reason in blocked[name]["reasons"]:
                if reason not in reasons:
                    reasons.append(reason)
        nexts = [blocked[n]["next_allowed_at"] for n in names]
        if any(n is None for n in nexts):
            when = "when changes are allowed again is unknown (no allowed time within the horizon or a calendar failed)"
        else:
            when = f"changes are allowed again at {max(nexts)}"
        refused = sorted({r["override_refused"] for r in blocked.values() if r.get("override_refused")})
        msg = f"batch stopped, change blocked for {shown}: {'; '.join(reasons)}; {when}"
        if refused:
            msg += f". Override refused: {'; '.join(refused)}"
        return msg
