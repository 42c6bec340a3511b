# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of changeward.hybrid.ring_verdict (documented in plugins/modules/ring_verdict.py).

A thin adapter over plugin_utils.rollout: it gathers what the ring's steps left in the play (registered results,
the hosts' facts), asks ``decide`` and records the ring in the ledger. Each state returns the ring's state so far;
the next state takes it back as ``previous``, so nothing about the ring is rebuilt in Jinja.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from ansible.utils.display import Display

from ansible_collections.changeward.hybrid.plugins.plugin_utils import rollout
from ansible_collections.changeward.hybrid.plugins.plugin_utils.action_base import ControllerAction
from ansible_collections.changeward.hybrid.plugins.plugin_utils.labels import host_label
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model

SOURCE = "changeward.hybrid.ring_verdict"
STARTED = "io.changeward.ring.started"
# The ring hosts' variables the ring_rollout role leaves (documented in the module's notes).
REACH_VAR = "ring_rollout_reach"
APPLIED_VAR = "ring_rollout_applied"
ERROR_VAR = "ring_rollout_apply_error"
ROLLBACK_VAR = "ring_rollout_rollback"
# Keys of the ring's state that each state hands to the next through `previous`.
CARRIED = {
    "started": ("ring", "since", "started", "breaker", "unreachable_hosts"),
    "applied": ("failed_hosts", "apply_errors", "bake", "judge", "budget"),
    "decided": (
        "case",
        "action",
        "status",
        "trip",
        "failure",
        "count",
        "reason",
        "evidence",
        "rollback",
        "watch_summary",
        "judge_summary",
        "synthetic_summary",
        "anomaly_summary",
    ),
}
ORDER = ("started", "applied", "decided", "recorded")

ARGUMENT_SPEC = {
    "state": {"type": "str", "required": True, "choices": list(ORDER)},
    "change_id": {"type": "str", "required": True},
    "plan": {"type": "dict"},
    "breaker": {"type": "dict"},
    "previous": {"type": "dict"},
    "judge_rings": {"type": "list", "elements": "str", "default": ["canary"]},
    "error_budget": {"type": "bool", "default": True},
    "watch": {"type": "raw"},
    "judge": {"type": "raw"},
    "synthetic": {"type": "raw"},
    "synthetic_required": {"type": "bool", "default": False},
    "anomaly": {"type": "raw"},
    "anomaly_required": {"type": "bool", "default": False},
    "budget": {"type": "raw"},
    "on_inconclusive": {"type": "str", "default": "rollback", "choices": list(rollout.ON_INCONCLUSIVE)},
    "rollback_earlier": {"type": "bool", "default": False},
    "ring_results": {"type": "list", "elements": "dict", "default": []},
    "breaker_updates": {"type": "list", "elements": "raw", "default": []},
    "earlier": {"type": "list", "elements": "raw", "default": []},
}  # plus the group's ledger options (ledger, key), which ControllerAction adds

SAY = {
    "promote": "passed",
    "rollback": "rolling back",
    "hold": "held",
}


def _say(line: str) -> None:
    """Progress at the default verbosity: a person following the run sees each ring as it goes."""
    Display().display(line)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class ActionModule(ControllerAction):
    NAME = "ring_verdict"
    ARGUMENT_SPEC = ARGUMENT_SPEC
    ARGUMENT_RULES = {
        "required_if": [
            ["state", "started", ["plan", "breaker"]],
            ["state", "applied", ["previous"]],
            ["state", "decided", ["previous"]],
            ["state", "recorded", ["previous"]],
        ]
    }
    RAISE_ERRORS = True

    def ensure(self, args, task_vars):
        if not model.CHANGE_ID_RE.match(args["change_id"]):
            raise rollout.VerdictError(f"change_id must match {model.CHANGE_ID_RE.pattern}, got {args['change_id']!r}")
        hostvars = task_vars.get("hostvars") or {}
        state = args["state"]
        if state == "started":
            return self.ensure_started(args, task_vars, hostvars)
        previous = self._previous(args)
        if state == "applied":
            return self.ensure_applied(args, previous, hostvars)
        if state == "decided":
            return self.ensure_decided(args, previous, hostvars)
        return self.ensure_recorded(args, previous, hostvars)

    # -- inputs ---------------------------------------------------------------------------------------------------
    @staticmethod
    def _previous(args) -> dict:
        """The ring's state from the previous state of this action, checked to be the one before this state."""
        want = ORDER[ORDER.index(args["state"]) - 1]
        previous = args["previous"]
        if previous.get("phase") != want:
            raise rollout.VerdictError(
                f"state={args['state']} needs previous: the registered result of state={want} for this ring, got "
                + (f"one of state={previous['phase']}" if previous.get("phase") else "something else")
            )
        if previous.get("change_id") != args["change_id"]:
            raise rollout.VerdictError(
                f"previous belongs to change {previous.get('change_id')!r}, not {args['change_id']!r}"
            )
        return {k: previous.get(k) for state in ORDER[: ORDER.index(want) + 1] for k in CARRIED.get(state, ())}

    @staticmethod
    def _hostvar(hostvars, host: str, name: str):
        if host not in hostvars:
            raise rollout.VerdictError(f"host {host} of the ring is not in the inventory")
        found = hostvars[host]
        return found.get(name) if hasattr(found, "get") else None

    def _capabilities(self, hostvars, hosts) -> dict:
        """rollback_capability per host (its label; none without one, as the snapshot step takes it)."""
        unknown = [h for h in hosts if h not in hostvars]
        if unknown:
            raise rollout.VerdictError(f"hosts {', '.join(unknown)} are not in the inventory")
        return {host: str(host_label(hostvars[host], "rollback_capability", "none")) for host in hosts}

    @staticmethod
    def _ring_of(plan: Mapping, batch) -> dict:
        rings, placed = plan.get("rings"), plan.get("add_hosts")
        if not isinstance(rings, list) or not isinstance(placed, list):
            raise rollout.VerdictError("plan must be a registered changeward.hybrid.rings result (rings, add_hosts)")
        batch = [str(h) for h in batch or []]
        if not batch:
            raise rollout.VerdictError("the play has no host in this batch")
        index = next((p.get("ring") for p in placed if isinstance(p, Mapping) and p.get("host") == batch[0]), None)
        if not isinstance(index, int) or not 0 <= index < len(rings):
            raise rollout.VerdictError(f"host {batch[0]} is in no ring of the plan")
        ring = rings[index]
        if sorted(batch) != sorted(ring.get("hosts") or []):
            raise rollout.VerdictError(
                f"batch {batch} is not ring {ring.get('name')} {ring.get('hosts')}: run the play over the plan's "
                "rollout group with order inventory and serial set to the plan's sizes"
            )
        return dict(ring)

    # -- started --------------------------------------------------------------------------------------------------
    def ensure_started(self, args, task_vars, hostvars) -> dict:
        ring = self._ring_of(args["plan"], task_vars.get("ansible_play_batch"))
        name, hosts = ring["name"], list(ring["hosts"])
        checked = args["breaker"]
        if "allowed" not in checked and not checked.get("failed"):
            raise rollout.VerdictError("breaker must be the registered result of circuit_breaker state=checked")
        breaker = {k: checked.get(k) for k in ("allowed", "state", "reason", "failed", "msg") if k in checked}
        admitted = bool(checked.get("allowed")) and not checked.get("failed")
        unreachable = []
        if admitted:
            for host in hosts:
                reach = self._hostvar(hostvars, host, REACH_VAR)
                if isinstance(reach, Mapping) and reach.get("unreachable"):
                    unreachable.append(host)
        since = time.time()
        out = {
            "phase": "started",
            "change_id": args["change_id"],
            "ring": ring,
            "since": since,
            "started": admitted,
            "breaker": breaker,
            # not "unreachable": Ansible takes that result key for the task's own reachability (a bool)
            "unreachable_hosts": unreachable,
            "changed": False,
            "recorded": False,
        }
        if not admitted:  # the decision says why, as the ring's verdict
            return out
        data = {
            "ring": name,
            "hosts": hosts,
            "since": since,
            "bake_time": ring.get("bake_time"),
            "breaker": checked.get("state"),
            "unreachable": unreachable,
        }
        out.update(self._record(args, [model.new_event(STARTED, args["change_id"], data, source=SOURCE)]))
        line = f"ring {name}: started on {', '.join(hosts)}"
        if ring.get("bake_time"):
            line += f" (bake {ring['bake_time']})"
        if unreachable:
            line += f"; unreachable, not changed: {', '.join(unreachable)}"
        _say(line)
        return out

    # -- applied --------------------------------------------------------------------------------------------------
    def ensure_applied(self, args, previous, hostvars) -> dict:
        ring = previous["ring"]
        hosts, unreachable = list(ring["hosts"]), list(previous["unreachable_hosts"] or [])
        failed, errors = [], {}
        if previous["started"]:
            for host in hosts:
                if host in unreachable:
                    failed.append(host)
                elif self._hostvar(hostvars, host, APPLIED_VAR) is not True:
                    failed.append(host)
                    errors[host] = self._hostvar(hostvars, host, ERROR_VAR)
        bake = bool(previous["started"]) and not failed
        judge = bake and ring["name"] in args["judge_rings"] and bool(ring.get("baseline"))
        out = {
            "phase": "applied",
            "change_id": args["change_id"],
            **previous,
            "failed_hosts": failed,
            "apply_errors": rollout.apply_errors(failed, unreachable, errors),
            "bake": bake,
            "judge": judge,
            "budget": bake and args["error_budget"],
            "changed": False,
        }
        if bake:
            _say(f"ring {ring['name']}: applied on {_plural(len(hosts), 'host')}, watching it bake")
        elif previous["started"]:
            _say(f"ring {ring['name']}: not applied on {', '.join(failed)} - not baked")
        return out

    # -- decided --------------------------------------------------------------------------------------------------
    def ensure_decided(self, args, previous, hostvars) -> dict:
        ring = previous["ring"]
        decision = rollout.decide(
            ring_hosts=ring["hosts"],
            breaker=previous["breaker"],
            unreachable=previous["unreachable_hosts"],
            failed_hosts=previous["failed_hosts"],
            watch=args["watch"],
            judge=args["judge"],
            budget=args["budget"],
            judge_required=bool(previous["judge"]),
            budget_required=bool(previous["budget"]),
            on_inconclusive=args["on_inconclusive"],
            ring=ring["name"],
            synthetic=args["synthetic"],
            synthetic_required=args["synthetic_required"],
            anomaly=args["anomaly"],
            anomaly_required=args["anomaly_required"],
        )
        earlier_hosts = [h for r in args["ring_results"] for h in r.get("hosts") or []]
        targets = rollout.rollback_targets(
            decision,
            ring["hosts"],
            previous["unreachable_hosts"] or [],
            self._capabilities(hostvars, list(ring["hosts"]) + earlier_hosts),
            args["ring_results"],
            args["rollback_earlier"],
        )
        out = {
            "phase": "decided",
            "change_id": args["change_id"],
            **previous,
            **decision.as_dict(),
            "rollback": targets,
            "watch_summary": rollout.watch_summary(args["watch"]),
            "judge_summary": rollout.judge_summary(args["judge"]),
            "synthetic_summary": rollout.synthetic_summary(args["synthetic"]),
            "anomaly_summary": rollout.anomaly_summary(args["anomaly"]),
            "changed": False,
        }
        verb = (
            "unreachable" if decision.status is rollout.RingStatus.UNREACHABLE else SAY.get(decision.action, "halted")
        )
        _say(f"ring {ring['name']}: {verb} - {decision.reason}")
        return out

    # -- recorded -------------------------------------------------------------------------------------------------
    def ensure_recorded(self, args, previous, hostvars) -> dict:
        ring, targets = previous["ring"], previous["rollback"] or {}
        unreachable = list(previous["unreachable_hosts"] or [])
        rolled_back = previous["action"] == rollout.RingAction.ROLLBACK
        events, rollback, rolled_back_at = [], None, None
        if rolled_back:
            rolled_back_at = time.time()
            per_host = {}
            for host in ring["hosts"]:
                registered = self._hostvar(hostvars, host, ROLLBACK_VAR) if host in targets.get("hosts", []) else None
                per_host[host] = rollout.host_rollback(
                    registered,
                    unreachable=host in unreachable,
                    not_restorable=host in targets.get("not_restorable", []),
                )
                events += self._event_of(registered, args["change_id"])
            for item in args["earlier"]:
                events += self._event_of(item, args["change_id"])
            rollback = {
                "hosts": per_host,
                "earlier": rollout.earlier_summary(args["earlier"]),
                "earlier_not_restorable": list(targets.get("earlier_not_restorable") or []),
            }
        status = rollout.RingStatus(previous["status"])
        result = rollout.ring_result(
            ring,
            status,
            previous["reason"],
            since=previous["since"],
            ended=time.time(),
            failed_hosts=previous["failed_hosts"] or [],
            unreachable=unreachable,
            errors=previous["apply_errors"] or {},
            watch=previous["watch_summary"],
            judge=previous["judge_summary"],
            synthetic=previous["synthetic_summary"],
            anomaly=previous.get("anomaly_summary"),
            breaker=self._breaker_state(args["breaker_updates"], previous["breaker"]),
            rollback=rollback,
            rolled_back_at=rolled_back_at,
        )
        events.append(model.new_event(f"io.changeward.ring.{status}", args["change_id"], result, source=SOURCE))
        out = {
            "phase": "recorded",
            "change_id": args["change_id"],
            "result": result,
            "ring_results": [*args["ring_results"], result],
            "halted": status is not rollout.RingStatus.PASSED,
            "halt_reason": "" if status is rollout.RingStatus.PASSED else f"{ring['name']}: {previous['reason']}",
            "changed": False,
        }
        out.update(self._record(args, events))
        if rollback:
            done = [
                f"{h} {'verified' if r['verified'] else 'NOT verified'}"
                if r["rolled_back"]
                else f"{h} not rolled back: {r['error'] or r['note']}"
                for h, r in rollback["hosts"].items()
            ]
            _say(f"ring {ring['name']}: {status.value.replace('_', ' ')} ({'; '.join(done)})")
        if out["halted"]:
            _say(f"rollout halted at ring {ring['name']}")
        return out

    @staticmethod
    def _event_of(registered, change_id: str) -> list:
        event = registered.get("ledger_event") if isinstance(registered, Mapping) else None
        if not isinstance(event, Mapping):
            return []
        if event.get("subject") != change_id:
            raise rollout.VerdictError(
                f"a rollback event belongs to change {event.get('subject')!r}, not {change_id!r}; not recorded"
            )
        return [dict(event)]

    @staticmethod
    def _breaker_state(updates, checked) -> str | None:
        """The breaker's state after the ring: the last update that ran (open, failure), else the check's."""
        for update in reversed(updates or []):
            if rollout.ran(update) and isinstance(update, Mapping) and update.get("state"):
                return update["state"]
        return (checked or {}).get("state")

    # -- the ledger -----------------------------------------------------------------------------------------------
    def _record(self, args, events) -> dict:
        """Append events to the change (all or none; an event already there is not appended twice)."""
        from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

        events = [model.validate_event(e) for e in events]
        if self._task.check_mode:
            return {"recorded": False, "would_record": [e["type"] for e in events]}
        target = self.ledger_target(args)
        with open_ledger(target, key=args.get("key"), create=False, source=SOURCE) as ledger:
            if ledger.get_change(args["change_id"]) is None:
                raise rollout.VerdictError(
                    f"change {args['change_id']} is not in the ledger {ledger.target}; the ring is not recorded"
                )
            fresh = [e for e in events if ledger.entry_by_event_id(e["id"]) is None]
            appended = ledger.append_many(fresh) if fresh else []
            where = ledger.target
        return {
            "changed": bool(appended),
            "recorded": True,
            "ledger": where,
            "appended": [
                {"seq": a.seq, "event_id": a.event_id, "type": e["type"]} for a, e in zip(appended, fresh, strict=True)
            ],
        }
