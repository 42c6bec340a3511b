# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every sink shares: the shipped item, option validation, deadlines.

A sink's ``deliver(items, deadline)`` returns only when the receiver has accepted every item (an HTTP 2xx,
a Splunk indexer acknowledgement, a syslog server that read the whole stream, an fsync), and raises
DeliveryError otherwise. The outbox advances the sink's cursor only after ``deliver`` returns, so a failure
at any point means "send again later" (at-least-once; receivers deduplicate on the item id).
"""

from __future__ import annotations

import ipaddress
import os
import re
import time
import uuid
from collections.abc import Mapping
from typing import NamedTuple

from .errors import DeliveryError, SinkConfigError

# Fixed namespace so a checkpoint gets the same dedupe id on every delivery attempt and from every controller.
CHECKPOINT_NAMESPACE = uuid.UUID("9a1f6c2e-5d4b-4e8a-9c3f-0b7d2e6a1c58")
SINK_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
MISSING = object()


class Item(NamedTuple):
    """One thing to ship: an event (with its chain links) or a signed checkpoint."""

    kind: str  # "event" or "checkpoint"
    seq: int
    id: str  # dedupe id: the event's CloudEvents id, or a uuid5 of ledger id and checkpoint seq
    time: str  # RFC 3339 UTC
    body: dict  # what receivers get (JSON)


def event_item(ledger_id: str, entry) -> Item:
    """An Item from a ledger entry (api.LedgerEntry)."""
    event = entry.event
    body = {
        "kind": "event",
        "id": event["id"],
        "ledger_id": ledger_id,
        "seq": entry.seq,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
        "event": event,
    }
    return Item("event", entry.seq, event["id"], event["time"], body)


def checkpoint_id(ledger_id: str, seq: int) -> str:
    return str(uuid.uuid5(CHECKPOINT_NAMESPACE, f"{ledger_id}/checkpoint/{seq}"))


def checkpoint_item(ledger_id: str, checkpoint: Mapping) -> Item:
    cid = checkpoint_id(ledger_id, checkpoint["seq"])
    body = {
        "kind": "checkpoint",
        "id": cid,
        "ledger_id": ledger_id,
        "seq": checkpoint["seq"],
        "checkpoint": dict(checkpoint),
    }
    return Item("checkpoint", checkpoint["seq"], cid, checkpoint["time"], body)


def remaining(deadline: float, what: str, cap: float) -> float:
    """Seconds left before ``deadline`` (monotonic), at most ``cap``; DeliveryError when none are left."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeliveryError(f"{what}: no time left in this shipping pass")
    return min(left, cap)


# -- option validation ---------------------------------------------------------------------------------


def _kind_check(sink, field, value, kind):
    if kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise SinkConfigError(sink, field, f"must be a non-empty string, got {type(value).__name__}")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise SinkConfigError(sink, field, f"must be true or false, got {value!r}")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise SinkConfigError(sink, field, f"must be an integer, got {value!r}")
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SinkConfigError(sink, field, f"must be a number, got {value!r}")
        value = float(value)
    elif kind == "dict":
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise SinkConfigError(sink, field, "must be a mapping of strings to strings")
        value = dict(value)
    return value


class Option(NamedTuple):
    kind: str
    default: object = MISSING  # MISSING = required
    low: object = None
    high: object = None
    choices: tuple = ()
    secret: bool = False  # never shown in messages


COMMON_OPTIONS = {
    "name": Option("str"),
    "type": Option("str"),
    "enabled": Option("bool", True),
    "batch_size": Option("int", 100, 1, 1000),
    "timeout": Option("float", 5.0, 0.1, 120.0),
    "max_attempts": Option("int", 5, 1, 100),
    "backoff": Option("float", 0.5, 0.0, 60.0),
    "max_backoff": Option("float", 10.0, 0.0, 600.0),
}


def validate_options(raw: Mapping, options: Mapping) -> dict:
    """Check ``raw`` against ``options``; returns values with defaults filled. Errors name sink and field."""
    name = raw.get("name") if isinstance(raw.get("name"), str) else None
    unknown = sorted(set(raw) - set(options))
    if unknown:
        raise SinkConfigError(name, unknown[0], f"unknown field (known: {', '.join(sorted(options))})")
    out = {}
    for field, opt in options.items():
        value = raw.get(field, MISSING)
        if value is MISSING or value is None:
            if opt.default is MISSING:
                raise SinkConfigError(name, field, "is required")
            out[field] = opt.default
            continue
        value = _kind_check(name, field, value, opt.kind)
        if opt.choices and value not in opt.choices:
            raise SinkConfigError(name, field, f"must be one of {', '.join(map(str, opt.choices))}, got {value!r}")
        if opt.low is not None and value < opt.low:
            raise SinkConfigError(name, field, f"must be at least {opt.low}, got {value}")
        if opt.high is not None and value > opt.high:
            raise SinkConfigError(name, field, f"must be at most {opt.high}, got {value}")
        out[field] = value
    if not SINK_NAME_RE.match(out["name"]):
        raise SinkConfigError(out["name"], "name", "must be 1-64 of letters, digits, '.', '_' and '-'")
    return out


def resolve_secret(spec: Mapping, field: str, *, required: bool) -> str | None:
    """The secret in ``field``, or read from the environment variable named in ``<field>_env``."""
    direct = spec.get(field)
    env_name = spec.get(f"{field}_env")
    if direct and env_name:
        raise SinkConfigError(spec["name"], field, f"give either {field} or {field}_env, not both")
    if env_name:
        value = os.environ.get(env_name)
        if not value:
            raise SinkConfigError(spec["name"], f"{field}_env", f"environment variable {env_name} is not set or empty")
        return value
    if direct:
        return direct
    if required:
        raise SinkConfigError(spec["name"], field, f"is required (give {field} or {field}_env)")
    return None


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses written as such (no DNS lookup: names can change)."""
    host = (host or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(spec: Mapping, field: str, secure: bool, host: str) -> None:
    """Refuse sending audit events (and the sink's credentials) without TLS to anything but loopback, unless
    the operator set ``allow_insecure_transport: true`` on the sink."""
    if secure or is_loopback(host) or spec.get("allow_insecure_transport"):
        return
    raise SinkConfigError(
        spec["name"],
        field,
        f"sends to {host} without TLS; use TLS (https, or tls: true for syslog), or set "
        "allow_insecure_transport: true on the sink to accept that the events and credentials cross the network "
        "in clear text",
    )


def check_readable(spec: Mapping, field: str) -> None:
    path = spec.get(field)
    if path and not os.access(os.path.expanduser(path), os.R_OK):
        raise SinkConfigError(spec["name"], field, f"file {path} does not exist or is not readable")


class Sink:
    """Base class. Subclasses set TYPE and OPTIONS and implement deliver()."""

    TYPE = ""
    OPTIONS: dict = {}

    def __init__(self, spec: Mapping):
        self.spec = dict(spec)
        self.name = spec["name"]
        self.batch_size = spec["batch_size"]
        self.timeout = spec["timeout"]
        self.max_attempts = spec["max_attempts"]
        self.backoff = spec["backoff"]
        self.max_backoff = spec["max_backoff"]
        self.ledger_id = None
        self.checkpoint_interval = None

    @classmethod
    def all_options(cls) -> dict:
        return {**COMMON_OPTIONS, **cls.OPTIONS}

    def bind(self, ledger_id: str, checkpoint_interval: int) -> None:
        """Tell the sink which ledger it ships (called by the outbox before delivering)."""
        self.ledger_id = ledger_id
        self.checkpoint_interval = checkpoint_interval

    def describe(self) -> str:
        """Where this sink delivers, for messages (never with secrets)."""
        return self.TYPE

    def deliver(self, items: list, deadline: float) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release connections and files."""

    def __repr__(self):
        return f"<{type(self).__name__} {self.name} -> {self.describe()}>"
