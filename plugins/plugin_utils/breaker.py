# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Circuit breaker per service, kept in the ledger so every run, controller and AWX slice sees one state.

The state is never stored anywhere else: it is the latest transition event of the ledger subject
``breaker:<service>`` (``io.changeward.breaker.opened`` / ``half_opened`` / ``closed``; no event means
closed). Failures, refusals and trial starts are events of the same subject. Every decision reads the state
and appends its event inside one ledger write transaction (SQLite BEGIN IMMEDIATE, PostgreSQL row lock on
the head), so two runs deciding at once are serialised: one trips the breaker, the other sees it open.

    closed --trip / failures reach a threshold--> open --authorised person--> half_open
    half_open --the trial change succeeds, or an authorised person--> closed
    half_open --the trial change fails--> open

While open, every rollout of the service is refused. In half_open exactly one change (the first admitted,
the trial) may proceed; others are refused until the trial ends.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError
from ansible_collections.changeward.hybrid.plugins.plugin_utils.identity import Identity
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.model import new_event, utc_now

SUBJECT_PREFIX = "breaker:"
OPENED = "io.changeward.breaker.opened"
HALF_OPENED = "io.changeward.breaker.half_opened"
CLOSED = "io.changeward.breaker.closed"
FAILURE = "io.changeward.breaker.failure_recorded"
REFUSED = "io.changeward.breaker.refused"
TRIAL = "io.changeward.breaker.trial_started"
TRANSITIONS = {OPENED: "open", HALF_OPENED: "half_open", CLOSED: "closed"}
WRITTEN_HERE = frozenset({*TRANSITIONS, FAILURE, TRIAL})  # the events the state is read from
STATES = ("closed", "open", "half_open")
FAILURE_KINDS = ("ring", "host")
DEFAULT_AUTHORISED_ROLES = ("change-manager", "incident-commander")
SERVICE_RE = re.compile(r"\A[A-Za-z0-9_.:-]{1,100}\Z")
SOURCE = "changeward.hybrid.circuit_breaker"


class BreakerError(ChangewardError):
    """The breaker cannot decide; the rollout must not proceed."""


class BreakerInputError(BreakerError, ValueError):
    """The request is wrong: unknown service name, a transition the state does not allow, bad thresholds."""


class BreakerUntrusted(BreakerError):
    """The ledger holds a breaker event the breaker did not write: its state cannot be trusted."""

    CONTROL = "circuit breaker"


class NotAuthorised(BreakerError):
    """The identity of the run may not move this breaker."""


@dataclass(frozen=True)
class Thresholds:
    """Failures (since the breaker last closed, within ``window`` seconds) that open it."""

    rings: int = 2
    hosts: int = 3
    window: float = 86400.0

    def __post_init__(self):
        for name in ("rings", "hosts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BreakerInputError(f"failure threshold {name} must be an integer >= 1, got {value!r}")
        if not (isinstance(self.window, (int, float)) and self.window > 0):
            raise BreakerInputError(f"failure window must be > 0 seconds, got {self.window!r}")

    def as_dict(self) -> dict:
        return {"rings": self.rings, "hosts": self.hosts, "window_seconds": self.window}


@dataclass
class State:
    service: str
    state: str = "closed"
    since: str | None = None
    seq: int | None = None
    reason: str | None = None
    change_id: str | None = None
    by: dict | None = None
    trial: str | None = None
    failures: list = field(default_factory=list)

    def counts(self, window: float, now: datetime.datetime) -> dict:
        """Failed rings and hosts recorded since the last transition, within ``window`` seconds of ``now``."""
        out = {"rings": 0, "hosts": 0}
        for f in self.failures:
            if (now - _parse_time(f["time"])).total_seconds() <= window:
                out[f["kind"] + "s"] += int(f["count"])
        return out

    def as_dict(self) -> dict:
        return {
            "service": self.service,
            "state": self.state,
            "since": self.since,
            "seq": self.seq,
            "reason": self.reason,
            "change_id": self.change_id,
            "by": self.by,
            "trial": self.trial,
            "failures": list(self.failures),
        }


def _parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def subject(service: str) -> str:
    if not isinstance(service, str) or not SERVICE_RE.match(service):
        raise BreakerInputError(f"service must be 1-100 letters, digits or _.:-, got {service!r}")
    return SUBJECT_PREFIX + service


def _newest_first(ledger, subj: str):
    """Events of ``subj``, newest first; read inside the caller's transaction (the API joins it)."""
    for entry in ledger.iter_events(subject=subj, newest_first=True):
        yield entry.seq, entry.event


def _read(ledger, service: str) -> State:
    state = State(service)
    trials = []
    for seq, event in _newest_first(ledger, subject(service)):
        kind = event["type"]
        data = event.get("data") or {}
        if kind in WRITTEN_HERE and event.get("source") != SOURCE:
            # ledger_record refuses breaker events (control_events.RESERVED); one from elsewhere was forged
            raise BreakerUntrusted(
                f"the ledger {ledger.target} has a breaker event for service {service} at seq {seq} ({kind}) that "
                f"changeward.hybrid.circuit_breaker did not write (source {event.get('source')!r}); the breaker "
                "cannot be trusted and stays shut for every change - have the ledger operator investigate"
            )
        if kind in TRANSITIONS:
            state.state = TRANSITIONS[kind]
            state.since = event["time"]
            state.seq = seq
            state.reason = data.get("reason")
            state.change_id = data.get("change_id")
            state.by = data.get("by")
            break
        if kind == FAILURE:
            state.failures.append(
                {
                    "time": event["time"],
                    "kind": data.get("kind"),
                    "count": data.get("count", 1),
                    "change_id": data.get("change_id"),
                    "reason": data.get("reason"),
                }
            )
        elif kind == TRIAL:
            trials.append(data.get("change_id"))
    state.failures.reverse()
    if state.state == "half_open" and trials:
        state.trial = trials[-1]  # the first trial started after the breaker went half-open
    return state


def status(ledger, service: str) -> State:
    """The breaker's current state (a consistent read; nothing is written)."""
    with ledger.snapshot():
        return _read(ledger, service)


def _lock(ledger, check_mode: bool):
    """The write lock a decision reads and records under; in check mode one consistent read instead (the ledger is
    opened read-only then, and nothing is recorded)."""
    return ledger.backend.read() if check_mode else ledger.backend.write()


def _event(ledger, kind: str, service: str, data: Mapping) -> dict:
    payload = {"service": service, **data}
    # always this source: the reader trusts only what the breaker wrote
    appended = ledger.append(new_event(kind, subject(service), payload, source=SOURCE))
    return {"type": kind, "seq": appended.seq, "event_id": appended.event_id}


def _decision(state: State, *, changed: bool, previous: str, events: list, **extra) -> dict:
    return {
        "state": state.state,
        "previous_state": previous,
        "changed": changed,
        "events": events,
        "breaker": state.as_dict(),
        **extra,
    }


def admit(ledger, service: str, change_id: str, *, check_mode: bool = False) -> dict:
    """May ``change_id`` roll out (or go on rolling out) ``service`` now?

    closed: yes. open: no (the refusal is recorded). half_open: yes for the trial change - the first change
    admitted after the breaker went half-open - and no for any other while the trial runs.
    """
    _change_id(change_id)
    with _lock(ledger, check_mode):
        state = _read(ledger, service)
        previous = state.state
        events = []
        if state.state == "closed":
            return _decision(state, changed=False, previous=previous, events=events, allowed=True, reason="closed")
        if state.state == "half_open" and state.trial in (None, change_id):
            reason = f"half-open: {change_id} is the trial change"
            if state.trial is None:
                if not check_mode:
                    events.append(_event(ledger, TRIAL, service, {"change_id": change_id}))
                state.trial = change_id
            return _decision(state, changed=bool(events), previous=previous, events=events, allowed=True, reason=reason)
        if state.state == "open":
            reason = (
                f"the circuit breaker of {service} is open since {state.since}"
                + (f" (opened by change {state.change_id}" if state.change_id else " (")
                + (f": {state.reason})" if state.reason else ")")
                + "; an authorised person must move it to half-open first"
            )
        else:
            reason = f"the circuit breaker of {service} is half-open and change {state.trial} is its trial"
        if not check_mode:
            events.append(
                _event(ledger, REFUSED, service, {"change_id": change_id, "state": state.state, "reason": reason})
            )
        return _decision(state, changed=bool(events), previous=previous, events=events, allowed=False, reason=reason)


def trip(
    ledger,
    service: str,
    change_id: str | None,
    reason: str,
    evidence: Mapping | None = None,
    *,
    check_mode: bool = False,
) -> dict:
    """Open the breaker (from closed or half-open). Already open: the failure is recorded, the state stays."""
    if not reason:
        raise BreakerInputError("opening a breaker needs a reason")
    with _lock(ledger, check_mode):
        state = _read(ledger, service)
        previous = state.state
        data = {"change_id": change_id, "reason": reason, "evidence": dict(evidence or {}), "from": previous}
        events = []
        if state.state == "open":
            if not check_mode:
                failure = {**data, "kind": "ring", "count": 1, "note": "breaker already open"}
                events.append(_event(ledger, FAILURE, service, failure))
            return _decision(state, changed=bool(events), previous=previous, events=events)
        if not check_mode:
            events.append(_event(ledger, OPENED, service, data))
        _opened(state, change_id, reason)
        return _decision(state, changed=True, previous=previous, events=events)


def _opened(state: State, change_id, reason) -> None:
    state.state, state.since, state.reason, state.change_id = "open", utc_now(), reason, change_id
    state.trial, state.failures, state.by = None, [], None


def record_failure(
    ledger,
    service: str,
    change_id: str | None,
    kind: str,
    count: int = 1,
    reason: str = "",
    evidence: Mapping | None = None,
    *,
    thresholds: Thresholds | None = None,
    check_mode: bool = False,
    now: datetime.datetime | None = None,
) -> dict:
    """Record failed rings or hosts; open the breaker when they reach a threshold, or when the trial fails."""
    if kind not in FAILURE_KINDS:
        raise BreakerInputError(f"failure kind must be one of {', '.join(FAILURE_KINDS)}, got {kind!r}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise BreakerInputError(f"failure count must be an integer >= 1, got {count!r}")
    thresholds = thresholds or Thresholds()
    now = now or datetime.datetime.now(datetime.timezone.utc)
    with _lock(ledger, check_mode):
        state = _read(ledger, service)
        previous = state.state
        data = {
            "change_id": change_id,
            "kind": kind,
            "count": count,
            "reason": reason,
            "evidence": dict(evidence or {}),
        }
        events = [] if check_mode else [_event(ledger, FAILURE, service, data)]
        state.failures.append(
            {"time": now.isoformat(), **{k: data[k] for k in ("kind", "count", "change_id", "reason")}}
        )
        counts = state.counts(thresholds.window, now)
        why = None
        if state.state == "half_open" and change_id is not None and change_id == state.trial:
            why = f"the trial change {change_id} failed: {reason or kind + ' failure'}"
        elif state.state == "closed" and (counts["rings"] >= thresholds.rings or counts["hosts"] >= thresholds.hosts):
            why = (
                f"{counts['rings']} failed ring(s) and {counts['hosts']} failed host(s) within "
                f"{thresholds.window:g}s reach the thresholds ({thresholds.rings} rings, {thresholds.hosts} hosts)"
            )
        if why:
            if not check_mode:
                opened = {"change_id": change_id, "reason": why, "evidence": {"counts": counts}, "from": previous}
                events.append(_event(ledger, OPENED, service, opened))
            _opened(state, change_id, why)
        return _decision(state, changed=bool(events) or bool(why), previous=previous, events=events, counts=counts)


def authorised(policy, identity: Identity, roles: Iterable[str] = DEFAULT_AUTHORISED_ROLES) -> tuple[bool, str]:
    """May ``identity`` move a breaker? An approver of the gate policy holding one of ``roles``, human."""
    roles = list(roles)
    entry = policy.approver(identity.name)
    if entry is None:
        return False, f"{identity.name} ({identity.source}) is not an approver in the gate policy"
    granted = sorted(set(entry.get("roles") or ()) & set(roles))
    if not granted:
        return False, f"{identity.name} holds none of the roles {', '.join(roles)} that may move a circuit breaker"
    if entry.get("kind") == "service" or policy.is_service_account(identity.name):
        return False, f"{identity.name} is a service account; only a person may move a circuit breaker"
    return True, f"{identity.name} ({identity.source}) holds {', '.join(granted)}"


def half_open(
    ledger,
    service: str,
    identity: Identity,
    policy,
    *,
    reason: str,
    roles: Iterable[str] = DEFAULT_AUTHORISED_ROLES,
    check_mode: bool = False,
) -> dict:
    """An authorised person lets one trial change through an open breaker."""
    if not reason:
        raise BreakerInputError("moving a breaker to half-open needs a reason (what was fixed)")
    ok, why = authorised(policy, identity, roles)
    if not ok:
        # The refusal is recorded (committed) before the error is raised.
        if not check_mode:
            with ledger.backend.write():
                _event(ledger, REFUSED, service, {"reason": why, "requested": "half_open", "by": identity.as_dict()})
        raise NotAuthorised(f"circuit breaker {service}: {why}")
    with _lock(ledger, check_mode):
        state = _read(ledger, service)
        previous = state.state
        if state.state == "half_open":
            return _decision(state, changed=False, previous=previous, events=[])
        if state.state != "open":
            raise BreakerInputError(f"circuit breaker {service} is {state.state}; only an open breaker goes half-open")
        events = []
        if not check_mode:
            data = {"reason": reason, "by": identity.as_dict(), "authorisation": why, "from": previous}
            events.append(_event(ledger, HALF_OPENED, service, data))
        state.state, state.since, state.reason, state.by, state.trial = (
            "half_open",
            utc_now(),
            reason,
            identity.as_dict(),
            None,
        )
        return _decision(state, changed=True, previous=previous, events=events)


def close(
    ledger,
    service: str,
    *,
    change_id: str | None = None,
    identity: Identity | None = None,
    policy=None,
    reason: str = "",
    roles: Iterable[str] = DEFAULT_AUTHORISED_ROLES,
    check_mode: bool = False,
) -> dict:
    """Close a half-open breaker: its trial change succeeded (``change_id``), or an authorised person says so."""
    by_person = None
    if identity is not None and policy is not None:
        ok, why = authorised(policy, identity, roles)
        if not ok:
            if not check_mode:
                with ledger.backend.write():
                    _event(ledger, REFUSED, service, {"reason": why, "requested": "closed", "by": identity.as_dict()})
            raise NotAuthorised(f"circuit breaker {service}: {why}")
        by_person = {"by": identity.as_dict(), "authorisation": why}
    with _lock(ledger, check_mode):
        state = _read(ledger, service)
        previous = state.state
        if state.state == "closed":
            return _decision(state, changed=False, previous=previous, events=[])
        if state.state == "open":
            raise BreakerInputError(
                f"circuit breaker {service} is open; an authorised person moves it to half-open and a trial "
                "change must succeed (or that person closes it) before it closes"
            )
        data = {"from": previous, "reason": reason}
        if change_id is not None and change_id == state.trial:
            data.update(change_id=change_id, reason=reason or f"trial change {change_id} succeeded")
        elif by_person is not None:
            if not reason:
                raise BreakerInputError("closing a breaker by hand needs a reason")
            data.update(by_person)
        else:
            raise NotAuthorised(
                f"circuit breaker {service} is half-open with trial {state.trial or '(none yet)'}; only that trial "
                "change succeeding or an authorised person closes it"
            )
        events = [] if check_mode else [_event(ledger, CLOSED, service, data)]
        state.state, state.since, state.reason, state.trial, state.failures = (
            "closed",
            utc_now(),
            data["reason"],
            None,
            [],
        )
        return _decision(state, changed=True, previous=previous, events=events)


def _change_id(change_id) -> None:
    if not isinstance(change_id, str) or not change_id.strip():
        raise BreakerInputError(f"change_id must be a non-empty string, got {change_id!r}")
