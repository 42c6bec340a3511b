# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one ledger API every part of the collection uses (see docs/ledger.md).

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

with open_ledger() as ledger:                      # CHANGEWARD_LEDGER / CHANGEWARD_LEDGER_KEY
    ledger.open_change(record)
    ledger.append(event)                           # durable when it returns
    for entry in ledger.pending("syslog", limit=500):
        ...deliver entry.event...
        ledger.advance_cursor("syslog", entry.seq)
"""

from __future__ import annotations

import itertools
import json
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from typing import NamedTuple

# Reserved control events: only Ledger.rotate_key / Ledger.prune write them.
from ansible_collections.changeward.hybrid.plugins.plugin_utils.control_events import KEY_ROTATED, LEDGER_PRUNED

from .backend import Entry
from .canonical import canonical_text, parse_json
from .chain import entry_hash
from .checkpoint import Ed25519Key, load_key, make_checkpoint, rotation_statement, sign_object
from .errors import LedgerConfigError, LedgerCorrupt, LedgerInvalidInput, LedgerKeyError, LedgerRowMismatch
from .model import (
    CHANGE_CLOSED,
    CHANGE_OPENED,
    CHANGE_UPDATED,
    ROW_COLUMNS,
    close_record,
    new_event,
    row_columns,
    update_record,
    utc_now,
    validate_event,
    validate_record,
)
from .postgres_backend import PostgresBackend, is_dsn
from .sqlite_backend import SQLiteBackend
from .timerange import window as time_window

ENV_LEDGER = "CHANGEWARD_LEDGER"
ENV_KEY = "CHANGEWARD_LEDGER_KEY"
ENV_INTERVAL = "CHANGEWARD_LEDGER_CHECKPOINT_INTERVAL"
ENV_TIMEOUT = "CHANGEWARD_LEDGER_TIMEOUT"
ENV_PG_SCHEMA = "CHANGEWARD_LEDGER_PG_SCHEMA"
DEFAULT_INTERVAL = 100
# Check mode: while set (ControllerAction.run sets it for a task in check mode), open_ledger creates no ledger
# and opens an existing one read-only - no schema, index, file mode or event is written, whatever the caller asks.
READ_ONLY: ContextVar[bool] = ContextVar("changeward_ledger_read_only", default=False)
DEFAULT_TIMEOUT = 10.0
MAX_EVENT_BYTES = 1024 * 1024


def default_path() -> str:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(state, "changeward", "ledger.db")


class Appended(NamedTuple):
    seq: int
    hash: str
    event_id: str
    checkpoint: dict | None


class LedgerEntry(NamedTuple):
    """An event as stored: its seq, chain links and the event itself."""

    seq: int
    prev_hash: str
    hash: str
    event: dict

    def as_dict(self) -> dict:
        return {"seq": self.seq, "prev_hash": self.prev_hash, "hash": self.hash, "event": self.event}


def checked_event(raw: Entry, target: str = "") -> dict:
    """The event a stored row holds, once the row is shown to agree with it; else LedgerRowMismatch.

    The stored hash must be the hash of the stored content at the stored seq, and every query column
    (event_id, type, subject, event_time, is_record) must be what that hashed content says. A reader answers
    only from the hashed body, and refuses a row whose copies disagree with it rather than guessing which is
    right. (The link to the previous entry is ledger_verify's business: it needs the neighbours.)
    """
    where = f"ledger {target}: the stored row at seq {raw.seq}" if target else f"the stored row at seq {raw.seq}"
    try:
        event = json.loads(raw.body)
    except (TypeError, ValueError):
        raise LedgerRowMismatch(
            f"{where} is not valid JSON; refusing to read it - run ledger_verify", raw.seq
        ) from None
    if not isinstance(event, dict) or entry_hash(raw.seq, raw.prev_hash, raw.body) != raw.hash:
        raise LedgerRowMismatch(
            f"{where} does not match its stored hash (its content, seq or links were edited); refusing to read it "
            "- run ledger_verify",
            raw.seq,
        )
    stored = raw.columns()
    if stored != (None,) * len(stored):  # the columns were read with the row
        for name, have, want in zip(ROW_COLUMNS, stored, row_columns(event), strict=True):
            if have != want:
                raise LedgerRowMismatch(
                    f"{where}: its {name} column holds {have!r} but its hashed event says {want!r}; refusing to read "
                    "it - run ledger_verify",
                    raw.seq,
                )
    return event


def _entry(raw: Entry, target: str = "") -> LedgerEntry:
    return LedgerEntry(raw.seq, raw.prev_hash, raw.hash, checked_event(raw, target))


def open_backend(target: str, *, create: bool, readonly: bool = False, timeout: float | None = None, schema=None):
    """A backend for a path or DSN (``postgresql://`` or ``postgres://`` => PostgreSQL)."""
    if not isinstance(target, str) or not target.strip():
        raise LedgerConfigError("no ledger given: pass a SQLite path or a postgresql:// DSN (or set CHANGEWARD_LEDGER)")
    if timeout is None:
        timeout = _env_number(ENV_TIMEOUT, DEFAULT_TIMEOUT, float)
    if timeout <= 0:
        raise LedgerConfigError(f"ledger timeout must be positive, got {timeout}")
    if is_dsn(target):
        schema = schema if schema is not None else (os.environ.get(ENV_PG_SCHEMA) or None)
        return PostgresBackend(target, create=create, readonly=readonly, timeout=timeout, schema=schema)
    if "://" in target:
        raise LedgerConfigError(f"unsupported ledger URL scheme in {target.split('://', 1)[0]}://...")
    return SQLiteBackend(target, create=create, readonly=readonly, timeout=timeout)


def _env_number(name: str, default, kind):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise LedgerConfigError(f"{name} must be a number, got {raw!r}") from None


def open_ledger(
    target: str | None = None,
    *,
    key=None,
    checkpoint_interval: int | None = None,
    create: bool = True,
    readonly: bool = False,
    timeout: float | None = None,
    schema: str | None = None,
    source: str | None = None,
) -> Ledger:
    """Open (and by default create) a ledger.

    target: SQLite path or ``postgresql://`` DSN; default CHANGEWARD_LEDGER, else default_path().
    key: checkpoint signing key material; default CHANGEWARD_LEDGER_KEY. Needed to append when the
        ledger takes periodic checkpoints (interval > 0); never needed to read.
    checkpoint_interval: for a new ledger (default CHANGEWARD_LEDGER_CHECKPOINT_INTERVAL or 100; 0 = only
        on demand). An existing ledger keeps the interval it was created with; a different explicit
        value is an error rather than silently ignored.
    """
    if target is None:
        target = os.environ.get(ENV_LEDGER) or default_path()
    if key is None:
        key = os.environ.get(ENV_KEY) or None
    explicit_interval = checkpoint_interval is not None
    if checkpoint_interval is None:
        checkpoint_interval = _env_number(ENV_INTERVAL, DEFAULT_INTERVAL, int)
    if isinstance(checkpoint_interval, bool) or not isinstance(checkpoint_interval, int) or checkpoint_interval < 0:
        raise LedgerConfigError(f"checkpoint interval must be an integer >= 0, got {checkpoint_interval!r}")
    signer = load_key(key) if key is not None else None
    if READ_ONLY.get():
        create, readonly = False, True
    backend = open_backend(target, create=create and not readonly, readonly=readonly, timeout=timeout, schema=schema)
    try:
        if create and not readonly and not backend.exists():
            backend.initialise(ledger_id=str(uuid.uuid4()), interval=checkpoint_interval, created=utc_now())
        meta = backend.check_schema()
        if not readonly:
            backend.ensure_indexes()
        stored = int(meta.get("checkpoint_interval", "0"))
        if explicit_interval and stored != checkpoint_interval:
            raise LedgerConfigError(
                f"ledger {backend.target} was created with checkpoint interval {stored}, not {checkpoint_interval}"
            )
        return Ledger(backend, meta, signer=signer, source=source)
    except BaseException:
        backend.close()
        raise


class Ledger:
    """Append-only, hash-chained store of change records and events. Not thread-safe: one per thread."""

    def __init__(self, backend, meta: Mapping, *, signer=None, source: str | None = None):
        self.backend = backend
        self.ledger_id = meta["ledger_id"]
        self.checkpoint_interval = int(meta.get("checkpoint_interval", "0"))
        self.created = meta.get("created")
        self.signer = signer
        self.source = source
        self._key_checked_at = None  # head seq at which the signer was last known current (see rotate_key)

    # -- lifecycle ---------------------------------------------------------------------------------
    def close(self) -> None:
        self.backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def warnings(self) -> list:
        """What opening the ledger had to fix, e.g. a ledger file others could read, made 0600."""
        return list(self.backend.warnings)

    @property
    def target(self) -> str:
        """Where the ledger lives (a PostgreSQL DSN is shown without its password)."""
        return self.backend.target

    # -- appending ----------------------------------------------------------------------------------
    def append(self, event: Mapping) -> Appended:
        """Append one event; durably committed when this returns. Raises a LedgerError otherwise."""
        return self.append_many([event])[0]

    def append_many(self, events: Iterable[Mapping]) -> list:
        """Append events in order, in one transaction (all or none)."""
        prepared = [self._prepare(e) for e in events]
        if not prepared:
            return []
        self._require_signer()
        with self.backend.write() as cur:
            return self._append_locked(cur, prepared)

    def _require_signer(self) -> None:
        if self.checkpoint_interval and self.signer is None:
            raise LedgerKeyError(
                f"ledger {self.target} takes a signed checkpoint every {self.checkpoint_interval} events but no "
                f"checkpoint key was given (set {ENV_KEY} or pass key=)"
            )

    @staticmethod
    def _prepare(event: Mapping) -> tuple:
        validate_event(event)
        body = canonical_text(event)
        if len(body) > MAX_EVENT_BYTES:
            raise LedgerInvalidInput(f"event {event['id']} is {len(body)} bytes; the limit is {MAX_EVENT_BYTES}")
        return event, body

    def _append_locked(self, cur, prepared, seal: bool = False, seal_time: str | None = None) -> list:
        # seal: also sign the last event (when a key is at hand), so a closed change is covered by a
        # checkpoint at once instead of waiting for the next multiple of the interval.
        seq, prev = self.backend.checked_head(cur)
        self._check_signer_current(seq)
        rows, results, checkpoints = [], [], []
        for event, body in prepared:
            seq += 1
            h = entry_hash(seq, prev, body)
            rows.append((seq, *row_columns(event), prev, h, body))
            cp = None
            last = len(results) == len(prepared) - 1
            if (self.checkpoint_interval and seq % self.checkpoint_interval == 0) or (
                seal and last and self.signer is not None
            ):
                cp = self._sign(seq, h, seal_time if last else None)
                checkpoints.append(cp)
            results.append(Appended(seq, h, event["id"], cp))
            prev = h
        self.backend.insert_entries(cur, rows)
        for cp in checkpoints:
            self.backend.insert_checkpoint(cur, cp["seq"], cp["hash"], cp["time"], canonical_text(cp))
        self.backend.set_head(cur, seq, prev)
        self._key_checked_at = seq if self.signer is not None else None
        return results

    def _sign(self, seq: int, h: str, time: str | None = None) -> dict:
        if self.signer is None:
            raise LedgerKeyError(f"a checkpoint of ledger {self.target} must be signed but no key was given")
        return make_checkpoint(
            self.signer, ledger_id=self.ledger_id, seq=seq, entry_hash=h, interval=self.checkpoint_interval, time=time
        )

    # -- signing key rotation ------------------------------------------------------------------------------
    def _check_signer_current(self, head_seq: int | None = None) -> None:
        """A writer holding a key the ledger rotated out is refused at once, not only when a checkpoint is due.

        Called under the write lock with the head's seq: when the head is where this Ledger's own last append
        (or check) left it, nobody else wrote - so nobody rotated - and the lookup is skipped.
        """
        if self.signer is None or (head_seq is not None and head_seq == self._key_checked_at):
            return
        current = self.current_key()
        if current is not None and current[0] != self.signer.key_id:
            raise LedgerKeyError(
                f"ledger {self.target} rotated its checkpoint key to {current[0]} at seq {current[1]}; key "
                f"{self.signer.key_id} is retired and signs nothing more (use the new key)"
            )
        self._key_checked_at = head_seq

    def current_key(self):
        """(key id, seq) of the latest key rotation, or None when the ledger never rotated its key.

        A prune event names the key of the latest rotation at that time (its rotation may have been pruned)."""
        for entry in self.iter_events(types=[KEY_ROTATED, LEDGER_PRUNED], newest_first=True, limit=1):
            key_id = entry.event["data"].get("key_id")
            return (key_id, entry.seq) if key_id else None
        return None

    def rotate_key(self, new_key, *, reason: str | None = None) -> dict:
        """Hand checkpoint signing over from the current key (``key`` of open_ledger) to ``new_key``.

        One transaction appends an ``io.changeward.ledger.key_rotated`` event - the ledger, the key retired, the
        key taking over (an Ed25519 public key in full), signed by both keys - and seals it with a checkpoint
        signed by the retiring key. Every later checkpoint must be the new key's: this Ledger signs with it
        from now on, the retired key is refused (LedgerKeyError), and ledger_verify reports a checkpoint
        signed after the rotation with any other key.
        """
        old = self.signer
        if old is None or not old.can_sign:
            raise LedgerKeyError(f"rotating the key of ledger {self.target} needs the current signing key")
        new = load_key(new_key)
        if not new.can_sign:
            raise LedgerKeyError(f"the new key {new.key_id} can only verify; the ledger needs a signing key")
        if new.key_id == old.key_id:
            raise LedgerInvalidInput(f"the new key is the current key {old.key_id}; nothing to rotate")
        if reason is not None and (not isinstance(reason, str) or not reason.strip()):
            raise LedgerInvalidInput("the reason for a key rotation must be a non-empty string when given")
        with self.backend.write() as cur:
            time = utc_now()
            data = {
                "ledger_id": self.ledger_id,
                "previous_key_id": old.key_id,
                "key_id": new.key_id,
                "alg": new.alg,
                "public_key": new.public_text() if isinstance(new, Ed25519Key) else None,
                "time": time,
            }
            statement = rotation_statement(data)
            data["endorsement"] = sign_object(old, statement)
            data["acceptance"] = sign_object(new, statement)
            if reason is not None:
                data["reason"] = reason
            event = new_event(KEY_ROTATED, f"ledger:{self.ledger_id}", data, source=self.source, time=time)
            # The retiring key's last signature is dated the rotation itself, so "valid until the rotation" holds.
            appended = self._append_locked(cur, [self._prepare(event)], seal=True, seal_time=time)[0]
        self.signer = new
        return {
            "seq": appended.seq,
            "hash": appended.hash,
            "event_id": appended.event_id,
            "previous_key_id": old.key_id,
            "key_id": new.key_id,
            "checkpoint": appended.checkpoint,
        }

    def record(self, event_type: str, subject: str, data: Mapping | None = None, **kwargs) -> Appended:
        """Build a CloudEvent (new_event) and append it."""
        kwargs.setdefault("source", self.source)
        return self.append(new_event(event_type, subject, data, **kwargs))

    # -- change records -----------------------------------------------------------------------------
    def open_change(self, record: Mapping, data: Mapping | None = None) -> Appended:
        """Record a new change (an io.changeward.change.opened event carrying the record)."""
        validate_record(record)
        if record["status"] != "open":
            raise LedgerInvalidInput(f"change {record['id']!r}: a change is opened with status open")
        self._require_signer()
        with self.backend.write() as cur:
            if self._latest_record(cur, record["id"]) is not None:
                raise LedgerInvalidInput(f"change {record['id']!r} is already in the ledger")
            event = new_event(CHANGE_OPENED, record["id"], {**(data or {}), "record": record}, source=self.source)
            return self._append_locked(cur, [self._prepare(event)])[0]

    def update_change(
        self,
        change_id: str,
        set_fields: Mapping | None = None,
        add: Mapping | None = None,
        *,
        event_type: str = CHANGE_UPDATED,
        data: Mapping | None = None,
    ) -> Appended:
        """Change fields of a record (``add`` extends list fields) under the write lock: no lost updates."""
        return self._transition(change_id, lambda r: update_record(r, set_fields, add), event_type, data)

    def close_change(self, change_id: str, outcome: str, observations, data: Mapping | None = None) -> Appended:
        """Close a change with its outcome; at least one observation is required."""
        return self._transition(change_id, lambda r: close_record(r, outcome, observations), CHANGE_CLOSED, data)

    def _transition(self, change_id, change, event_type, data) -> Appended:
        self._require_signer()
        with self.backend.write() as cur:
            current = self._latest_record(cur, change_id)
            if current is None:
                raise LedgerInvalidInput(f"change {change_id!r} is not in the ledger")
            record = change(current)
            event = new_event(event_type, change_id, {**(data or {}), "record": record}, source=self.source)
            return self._append_locked(cur, [self._prepare(event)], seal=event_type == CHANGE_CLOSED)[0]

    def get_change(self, change_id: str) -> dict | None:
        """The current state of a change record (from its latest record event), or None.

        Raises LedgerRowMismatch when that event's row disagrees with its hashed body: never another change's
        record, never an older state of this one chosen by an edited column.
        """
        with self.backend.read() as cur:
            return self._latest_record(cur, change_id)

    def _latest_record(self, cur, change_id: str) -> dict | None:
        raw = self.backend.latest_record(cur, change_id)
        if raw is None:
            return None
        event = checked_event(raw, self.target)
        record = event.get("data", {}).get("record") if isinstance(event.get("data"), dict) else None
        if event.get("subject") != change_id or not isinstance(record, dict) or record.get("id") != change_id:
            raise LedgerRowMismatch(
                f"ledger {self.target}: the stored row at seq {raw.seq} was selected as change {change_id!r}'s record "
                f"but its hashed event is {event.get('subject')!r}'s; refusing to read it - run ledger_verify",
                raw.seq,
            )
        return record

    def change_ids(self) -> list:
        return self.backend.record_subjects()

    # -- reading ------------------------------------------------------------------------------------------
    def head(self) -> tuple[int, str]:
        """(seq, hash) of the last event; (0, 64 zeros) for an empty ledger."""
        return self.backend.head()

    def entries(self, after_seq: int = 0, limit: int | None = None) -> Iterator[LedgerEntry]:
        """Events with seq > after_seq, in order, streamed (use inside ``snapshot()`` for consistency)."""
        for raw in self.backend.entries(after_seq, limit):
            yield _entry(raw, self.target)

    def events_after(self, seq: int, limit: int = 1000) -> list:
        """Up to ``limit`` entries after ``seq``, in order."""
        return list(self.entries(seq, limit))

    def events(
        self,
        subject: str | None = None,
        types: str | Iterable[str] | None = None,
        *,
        after_seq: int = 0,
        before_seq: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        start_time=None,
        end_time=None,
    ) -> list:
        """Entries of one subject and/or of the given event types, in seq order (indexed on both backends).

        subject: the CloudEvents subject (a change id, ``breaker:<service>``...); None = any subject.
        types: one event type or several; None = any type.
        after_seq / before_seq: only entries with after_seq < seq < before_seq.
        limit: at most this many; newest_first: from the newest down (with limit: the latest ones).
        start_time / end_time: only events whose hashed time is in [start_time, end_time) - instants as
        timeparse reads them (ISO 8601 with an offset, unix seconds, 'now'); the time index serves them.
        """
        return list(
            self.iter_events(
                subject,
                types,
                after_seq=after_seq,
                before_seq=before_seq,
                limit=limit,
                newest_first=newest_first,
                start_time=start_time,
                end_time=end_time,
            )
        )

    def iter_events(
        self,
        subject: str | None = None,
        types: str | Iterable[str] | None = None,
        *,
        after_seq: int = 0,
        before_seq: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        start_time=None,
        end_time=None,
    ) -> Iterator[LedgerEntry]:
        """Like events(), streamed in batches: stop early without reading the rest.

        Inside ``snapshot()`` (or a write transaction) every batch sees the same state.
        """
        if subject is not None and (not isinstance(subject, str) or not subject):
            raise LedgerInvalidInput(f"subject must be a non-empty string or None, got {subject!r}")
        if types is None:
            wanted = ()
        else:
            wanted = (types,) if isinstance(types, str) else tuple(types)
            if not wanted or not all(isinstance(t, str) and t for t in wanted):
                raise LedgerInvalidInput(f"types must be an event type or a non-empty list of them, got {types!r}")
            wanted = tuple(dict.fromkeys(wanted))
        for name, value, minimum in (("after_seq", after_seq, 0), ("before_seq", before_seq, 1), ("limit", limit, 0)):
            if value is None and name != "after_seq":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise LedgerInvalidInput(f"{name} must be an integer >= {minimum}, got {value!r}")
        span = time_window(start_time, end_time)
        # Arguments are checked now, not at the first next(): a bad query fails where it is made.
        raws = self.backend.select_entries(
            subject=subject,
            types=wanted,
            after_seq=after_seq,
            before_seq=before_seq,
            # The time bounds select whole seconds: the limit is applied after the exact comparison.
            limit=None if span.bounded else limit,
            newest_first=bool(newest_first),
            second_from=span.second_from(),
            second_to=span.second_to(),
        )
        selected = (self._selected(raw, subject, wanted) for raw in raws)
        if not span.bounded:
            return selected
        inside = (e for e in selected if span.holds(e.event.get("time")))
        return inside if limit is None else itertools.islice(inside, limit)

    def seq_span(self, start_time=None, end_time=None) -> tuple | None:
        """(first seq, last seq) of the events whose time is in [start_time, end_time), None when there are none.

        The chain between them is what an export of that time range holds: contiguous, so it verifies, and
        with any event recorded in between with a clock outside the window (header ``range`` shows the times).
        """
        with self.snapshot():
            first = next(self.iter_events(start_time=start_time, end_time=end_time, limit=1), None)
            if first is None:
                return None
            last = next(self.iter_events(start_time=start_time, end_time=end_time, limit=1, newest_first=True))
        return first.seq, last.seq

    def _selected(self, raw: Entry, subject, types) -> LedgerEntry:
        """A row a query selected, checked against its hashed body and against the query itself."""
        entry = _entry(raw, self.target)
        event = entry.event
        if (subject is not None and event.get("subject") != subject) or (types and event.get("type") not in types):
            raise LedgerRowMismatch(
                f"ledger {self.target}: the stored row at seq {raw.seq} answered a query for "
                f"{subject or 'any subject'} / {', '.join(types) or 'any type'} but its hashed event is "
                f"{event.get('subject')!r} / {event.get('type')!r}; refusing to read it - run ledger_verify",
                raw.seq,
            )
        return entry

    def entry(self, seq: int) -> LedgerEntry | None:
        raw = self.backend.entry(seq)
        return _entry(raw, self.target) if raw else None

    def entry_by_event_id(self, event_id: str) -> LedgerEntry | None:
        raw = self.backend.entry_by_event_id(event_id)
        if not raw:
            return None
        entry = _entry(raw, self.target)
        if entry.event.get("id") != event_id:
            raise LedgerRowMismatch(
                f"ledger {self.target}: the stored row at seq {raw.seq} answered event id {event_id!r} but its hashed "
                f"event is {entry.event.get('id')!r}; refusing to read it - run ledger_verify",
                raw.seq,
            )
        return entry

    def snapshot(self):
        """Context manager: reads inside see one consistent state of the ledger."""
        return self.backend.read()

    # -- pruning -------------------------------------------------------------------------------------------
    def start(self) -> tuple[int, str]:
        """(seq, hash) the live chain starts after: (0, 64 zeros) unless it was pruned (see prune)."""
        return self.backend.start()

    def prune(self, through_seq: int, data: Mapping, guard=None) -> dict:
        """Remove the events up to ``through_seq`` from the live ledger, recording it in the chain.

        Only plugin_utils/retention calls this, after it read back and verified the archive holding them. In one
        write transaction: ``guard(self)`` runs under the write lock (it raises to refuse, e.g. a legal hold
        covering the range), an ``io.changeward.ledger.pruned`` event (subject ``ledger:<id>``; ``data`` plus the
        range, the hash at ``through_seq`` and the signed checkpoint there) is appended and sealed, then the events
        up to ``through_seq`` and the checkpoints before it are deleted. The checkpoint at ``through_seq`` stays:
        the live chain now starts after it (``start()``), and ledger_verify holds that start to it and to the
        prune event. ``through_seq`` must carry a stored checkpoint of that event's hash.
        """
        if self.signer is None or not self.signer.can_sign:
            raise LedgerKeyError(f"pruning ledger {self.target} needs the signing key ({ENV_KEY})")
        if isinstance(through_seq, bool) or not isinstance(through_seq, int) or through_seq < 1:
            raise LedgerInvalidInput(f"through_seq must be an integer >= 1, got {through_seq!r}")
        with self.backend.write() as cur:
            head_seq, _head = self.backend.checked_head(cur)
            self._check_signer_current(head_seq)
            start_seq, _start = self.backend.start()
            if through_seq <= start_seq or through_seq > head_seq:
                raise LedgerInvalidInput(
                    f"cannot prune ledger {self.target} through seq {through_seq}: its live chain holds seqs "
                    f"{start_seq + 1}..{head_seq}"
                )
            raw = self.backend.entry(through_seq)
            if raw is None:
                raise LedgerCorrupt(f"ledger {self.target} has no event {through_seq}; run ledger_verify")
            entry = _entry(raw, self.target)
            body = self.backend.checkpoint_body(through_seq, cur)
            checkpoint = parse_json(body) if body is not None else None
            if not isinstance(checkpoint, dict) or checkpoint.get("hash") != entry.hash:
                raise LedgerInvalidInput(
                    f"ledger {self.target} has no signed checkpoint of event {through_seq}: prune only through a "
                    "checkpointed seq (the live chain starts from it)"
                )
            if guard is not None:
                guard(self)
            rotated = self.current_key()
            event = new_event(
                LEDGER_PRUNED,
                f"ledger:{self.ledger_id}",
                {
                    **data,
                    "ledger_id": self.ledger_id,
                    "from_seq": start_seq + 1,
                    "through_seq": through_seq,
                    "through_hash": entry.hash,
                    "checkpoint": checkpoint,
                    "key_id": rotated[0] if rotated else None,
                },
                source=self.source,
            )
            appended = self._append_locked(cur, [self._prepare(event)], seal=True)[0]
            deleted = self.backend.prune_through(cur, through_seq, entry.hash)
        return {
            "seq": appended.seq,
            "hash": appended.hash,
            "event_id": appended.event_id,
            "from_seq": start_seq + 1,
            "through_seq": through_seq,
            "through_hash": entry.hash,
            "deleted": deleted,
            "checkpoint": appended.checkpoint,
        }

    # -- checkpoints --------------------------------------------------------------------------------
    def checkpoint(self) -> dict | None:
        """A signed checkpoint at the current head (the existing one if the head already has one).

        None for an empty ledger. Needs the signing key.
        """
        if self.signer is None:
            raise LedgerKeyError(f"an on-demand checkpoint of ledger {self.target} needs the signing key ({ENV_KEY})")
        with self.backend.write() as cur:
            seq, h = self.backend.checked_head(cur)
            self._check_signer_current(seq)
            if seq == 0:
                return None
            existing = self.backend.checkpoint_body(seq, cur)
            if existing is not None:
                return json.loads(existing)
            cp = self._sign(seq, h)
            self.backend.insert_checkpoint(cur, seq, h, cp["time"], canonical_text(cp))
            return cp

    def checkpoints(self, after_seq: int = 0, limit: int | None = None) -> list:
        """Stored checkpoints with seq > after_seq, in order (ship these to sinks as anchors)."""
        return [json.loads(b) for b in self.backend.checkpoint_bodies(after_seq, limit)]

    def latest_checkpoint(self) -> dict | None:
        body = self.backend.latest_checkpoint_body()
        return json.loads(body) if body is not None else None

    # -- sink cursors (the outbox) -------------------------------------------------------------------
    @staticmethod
    def _sink_name(sink) -> str:
        if not isinstance(sink, str) or not sink.strip() or len(sink) > 200:
            raise LedgerInvalidInput(f"sink name must be a non-empty string of at most 200 characters, got {sink!r}")
        return sink

    def get_cursor(self, sink: str) -> int:
        """Seq of the last event delivered to ``sink`` (0 when it has received nothing)."""
        seq = self.backend.cursor_seq(self._sink_name(sink))
        return seq or 0

    def advance_cursor(self, sink: str, seq: int) -> int:
        """Mark events up to ``seq`` as delivered to ``sink``; returns the cursor.

        Cursors only move forward (an older acknowledgement arriving late changes nothing) and never past
        the head (acknowledging events that do not exist is a bug, so it is an error).
        """
        sink = self._sink_name(sink)
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise LedgerInvalidInput(f"cursor seq must be an integer >= 0, got {seq!r}")
        with self.backend.write() as cur:
            head = self.backend.checked_head(cur)[0]
            if seq > head:
                raise LedgerInvalidInput(f"cannot advance cursor {sink!r} to {seq}: the ledger ends at {head}")
            current = self.backend.cursor_seq(sink, cur) or 0
            if seq > current:
                self.backend.set_cursor(cur, sink, seq, utc_now())
                return seq
            return current

    def pending(self, sink: str, limit: int = 1000) -> list:
        """Entries not yet delivered to ``sink`` (after its cursor), in order, at most ``limit``."""
        return self.events_after(self.get_cursor(sink), limit)

    def cursors(self) -> dict:
        return self.backend.cursors()

    # -- verification and export ---------------------------------------------------------------------
    def verify(self, key=None, anchor=None, **kwargs):
        """Verify this ledger (see verify.verify_ledger); key defaults to the signing key."""
        from .verify import DbSource, verify_source

        keys = key if key is not None else self.signer
        return verify_source(DbSource(self.backend), key=keys, anchor=anchor, **kwargs)

    def export_jsonl(
        self,
        dest,
        after_seq: int | None = None,
        *,
        sign: bool = True,
        previous=None,
        through_seq: int | None = None,
        window: Mapping | None = None,
    ):
        """Write a JSONL export for auditors (see export.export_jsonl): its header is signed with the signing
        key when this Ledger has one (``sign=False`` to leave it unsigned); ``previous`` chains it to the
        export before; ``through_seq`` ends it there; ``window`` (start_time/end_time) goes in its header."""
        from .export import export_jsonl

        key = self.signer if sign and self.signer is not None and self.signer.can_sign else None
        if key is not None:
            self._check_signer_current()  # a retired key signs no header either
        return export_jsonl(
            self.backend, dest, after_seq=after_seq, key=key, previous=previous, through_seq=through_seq, window=window
        )


def load_anchor(anchor):
    """An anchor checkpoint from a dict, a JSON string, or a path to a JSON file."""
    if anchor is None or isinstance(anchor, Mapping):
        return anchor
    if isinstance(anchor, str):
        text = anchor.strip()
        if not text.startswith("{"):
            try:
                with open(os.path.expanduser(text), encoding="utf-8") as fh:
                    text = fh.read()
            except OSError as exc:
                raise LedgerInvalidInput(f"cannot read anchor file {anchor}: {exc.strerror}") from None
        value = parse_json(text)
        if isinstance(value, Mapping) and isinstance(value.get("checkpoint"), Mapping):
            value = value["checkpoint"]  # a checkpoint line of a JSONL export
        return value
    raise LedgerInvalidInput(f"anchor must be a checkpoint object or a path to one, got {type(anchor).__name__}")


__all__ = [
    "ENV_KEY",
    "ENV_LEDGER",
    "Appended",
    "Ledger",
    "LedgerCorrupt",
    "LedgerEntry",
    "load_anchor",
    "open_backend",
    "open_ledger",
]
