# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What SQLite and PostgreSQL ledgers share: one schema, the same statements, the same transactions.

A backend only stores and fetches rows. Hashing, checkpoints and validation live in api.py, once, so both
backends keep exactly the same chain. Writers call ``write()``: it takes the ledger's write lock (SQLite
BEGIN IMMEDIATE, PostgreSQL SELECT ... FOR UPDATE on the head row), so concurrent appenders queue up and
the chain never forks. Readers call ``read()`` for a consistent snapshot.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import NamedTuple

from .chain import GENESIS_HASH, HASH_ALG, is_hash
from .errors import LedgerCorrupt

SCHEMA_VERSION = "1"
FORMAT = "changeward-ledger/1"
# Every query column of ledger_events (event_id, type, subject, event_time, is_record) is a copy of what the
# hashed body says (model.row_columns). Queries never select on those copies: they select on expressions
# over the body itself (each backend's X_* below), served by expression indexes, so editing a column can
# neither move a row into another change's answer nor hide it from its own. Readers still compare the
# copies with the body and refuse a row that disagrees (api._entry); ledger_verify reports it.
# The indexes are created with the schema, and added to a ledger made before they existed when it is next
# opened for writing (same schema version). Earlier versions indexed the columns (ledger_events_subject,
# ledger_events_type); a ledger that has those keeps them, unused.
# The columns a row is read with (Entry's fields, in order).
ROW = "seq, prev_hash, hash, body, event_id, type, subject, event_time, is_record"
# ledger_meta keys of a pruned ledger: the seq and hash its live chain starts after (see start()).
PRUNED_SEQ = "pruned_through_seq"
PRUNED_HASH = "pruned_through_hash"


def warn(sink: list, message: str) -> None:
    """Keep a warning for the caller (Ledger.warnings) and show it the way Ansible shows warnings."""
    sink.append(message)
    try:
        from ansible.utils.display import Display
    except ImportError:  # used outside Ansible (bench, scripts): Python's warnings
        import warnings

        warnings.warn(message, stacklevel=3)
    else:
        Display().warning(message)


class Entry(NamedTuple):
    """One stored event: its place in the chain, the canonical event text and the stored query columns."""

    seq: int
    prev_hash: str
    hash: str
    body: str
    event_id: object = None
    type: object = None
    subject: object = None
    time: object = None
    is_record: object = None

    @classmethod
    def of(cls, row) -> Entry:
        return cls(int(row[0]), *row[1:])

    def columns(self) -> tuple:
        """(event_id, type, subject, time, is_record) as stored."""
        return (self.event_id, self.type, self.subject, self.time, self.is_record)


class SqlBackend:
    """Statement layer over a DB-API connection. Subclasses set ``kind``, ``target``, ``_param``."""

    kind = "sql"
    target = "?"
    _param = "?"
    # SQL expressions over the hashed body (set by each backend) and the indexes that serve them.
    X_SUBJECT = X_TYPE = X_ID = X_TIME = X_RECORD = X_TIME_SEC = ""
    DISTINCT = "IS NOT"  # null-safe "differs from"
    INDEXES: tuple = ()

    def __init__(self):
        self.warnings: list = []  # what opening it had to fix (a loose file mode), for the caller to show
        self._conn = None
        self._cur = None
        self._depth = 0
        self._writing = False

    # -- driver specifics -------------------------------------------------------------------------
    def _guard(self, what: str):  # pragma: no cover - overridden
        raise NotImplementedError

    def _begin_write(self, cur) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _begin_read(self, cur) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _sql(self, statement: str) -> str:
        return statement if self._param == "?" else statement.replace("?", self._param)

    # -- transactions -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _txn(self, begin, what: str) -> Iterator:
        writing = begin == self._begin_write
        if self._depth:  # already inside a transaction of ours: join it
            if writing and not self._writing:
                raise RuntimeError("ledger: a write cannot start inside a read snapshot")
            self._depth += 1
            try:
                with self._guard(what):  # a driver error inside is a typed LedgerError here too
                    yield self._cur
            finally:
                self._depth -= 1
            return
        with self._guard(what):
            cur = self._conn.cursor()
            begin(cur)
            self._cur, self._depth, self._writing = cur, 1, writing
            try:
                yield cur
            except BaseException:
                self._depth = 0
                with contextlib.suppress(Exception):
                    cur.execute("ROLLBACK")
                raise
            self._depth = 0
            cur.execute("COMMIT")

    def write(self):
        """Exclusive write transaction; committed (durably) when the block ends without error."""
        return self._txn(self._begin_write, "append to")

    def read(self):
        """Consistent read snapshot."""
        return self._txn(self._begin_read, "read")

    @contextlib.contextmanager
    def tolerant(self):
        """Statements inside may fail without spoiling the transaction around them (PostgreSQL: a savepoint)."""
        yield

    def _one(self, statement: str, args=()):
        with self.read() as cur:
            cur.execute(self._sql(statement), args)
            return cur.fetchone()

    def _all(self, statement: str, args=()):
        with self.read() as cur:
            cur.execute(self._sql(statement), args)
            return cur.fetchall()

    # -- meta ------------------------------------------------------------------------------------------
    def meta(self) -> dict:
        return dict(self._all("SELECT key, value FROM ledger_meta"))

    def _init_rows(self, cur, ledger_id: str, interval: int, created: str) -> None:
        """Rows a fresh ledger starts with (no-ops when they exist already)."""
        rows = {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "ledger_id": ledger_id,
            "checkpoint_interval": str(interval),
            "hash_alg": HASH_ALG,
            "created": created,
        }
        for key, value in rows.items():
            cur.execute(
                self._sql("INSERT INTO ledger_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"),
                (key, value),
            )
        cur.execute(
            self._sql("INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, ?) ON CONFLICT (id) DO NOTHING"),
            (GENESIS_HASH,),
        )

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO ledger_meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                ),
                (key, value),
            )

    # -- head and events -------------------------------------------------------------------------------
    def head(self) -> tuple[int, str]:
        """(seq, hash) of the head row: what the last committed append left."""
        row = self._one("SELECT seq, hash FROM ledger_head WHERE id = 1")
        if row is None:
            raise LedgerCorrupt(f"{self.kind} ledger {self.target} has no head row")
        return int(row[0]), row[1]

    def checked_head(self, cur) -> tuple[int, str]:
        """Head for an append: the head row must agree with the last event, or nothing is written."""
        cur.execute("SELECT seq, hash FROM ledger_head WHERE id = 1")
        head = cur.fetchone()
        cur.execute("SELECT seq, hash FROM ledger_events ORDER BY seq DESC LIMIT 1")
        last = cur.fetchone() or (0, GENESIS_HASH)
        if head is None or (int(head[0]), head[1]) != (int(last[0]), last[1]):
            raise LedgerCorrupt(
                f"{self.kind} ledger {self.target}: head row {tuple(head) if head else None} does not match the "
                f"last event (seq {last[0]}); refusing to append to a damaged chain - run ledger_verify"
            )
        return int(head[0]), head[1]

    def insert_entries(self, cur, rows) -> None:
        """rows: (seq, event_id, type, subject, time, is_record, prev_hash, hash, body)."""
        cur.executemany(
            self._sql(
                "INSERT INTO ledger_events (seq, event_id, type, subject, event_time, is_record, prev_hash, hash, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            rows,
        )

    def set_head(self, cur, seq: int, entry_hash: str) -> None:
        cur.execute(self._sql("UPDATE ledger_head SET seq = ?, hash = ? WHERE id = 1"), (seq, entry_hash))

    def entries(
        self, after_seq: int = 0, limit: int | None = None, batch: int = 2000, *, columns: bool = True
    ) -> Iterator[Entry]:
        """Entries with seq > after_seq in seq order, fetched in batches (call inside read() for a snapshot).

        columns=False leaves the copied query columns out (None): the verifier's pass, which checks them apart.
        """
        remaining = limit
        wanted = ROW if columns else "seq, prev_hash, hash, body"
        while remaining is None or remaining > 0:
            n = batch if remaining is None else min(batch, remaining)
            rows = self._all(
                f"SELECT {wanted} FROM ledger_events WHERE seq > ? ORDER BY seq LIMIT ?",  # noqa: S608
                (after_seq, n),
            )
            for row in rows:
                yield Entry.of(row)
            if len(rows) < n:
                return
            after_seq = int(rows[-1][0])
            if remaining is not None:
                remaining -= len(rows)

    def select_entries(
        self,
        *,
        subject: str | None = None,
        types: tuple = (),
        after_seq: int = 0,
        before_seq: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        batch: int = 500,
        second_from: str | None = None,
        second_to: str | None = None,
    ) -> Iterator[Entry]:
        """Entries of one subject and/or of some types, streamed in batches (keyset paging on seq).

        Selected on the hashed body (the subject, type and time expressions and their indexes), never on the
        stored copies. ``types`` empty means every type; callers validate their arguments (api.Ledger.events
        does). second_from / second_to: only events whose time, to the second (``YYYY-MM-DDTHH:MM:SS``), is
        within these bounds, both inclusive - the caller compares the exact times.
        """
        filters, fixed = [], []
        if subject is not None:
            filters.append(f"{self.X_SUBJECT} = ?")
            fixed.append(subject)
        if types:
            filters.append(f"{self.X_TYPE} IN ({', '.join('?' * len(types))})")
            fixed.extend(types)
        if second_from is not None:
            filters.append(f"{self.X_TIME_SEC} >= ?")
            fixed.append(second_from)
        if second_to is not None:
            filters.append(f"{self.X_TIME_SEC} <= ?")
            fixed.append(second_to)
        order = "DESC" if newest_first else "ASC"
        low, high, remaining = after_seq, before_seq, limit
        while remaining is None or remaining > 0:
            n = batch if remaining is None else min(batch, remaining)
            where, args = ["seq > ?", *filters], [low, *fixed]
            if high is not None:
                where.insert(1, "seq < ?")
                args.insert(1, high)
            # Only fixed fragments and placeholders are joined here; every value goes as a parameter.
            rows = self._all(
                f"SELECT {ROW} FROM ledger_events WHERE {' AND '.join(where)}"  # noqa: S608
                f" ORDER BY seq {order} LIMIT ?",
                (*args, n),
            )
            for row in rows:
                yield Entry.of(row)
            if len(rows) < n:
                return
            if newest_first:
                high = int(rows[-1][0])
            else:
                low = int(rows[-1][0])
            if remaining is not None:
                remaining -= len(rows)

    def last_entry(self) -> Entry | None:
        row = self._one(f"SELECT {ROW} FROM ledger_events ORDER BY seq DESC LIMIT 1")  # noqa: S608
        return Entry.of(row) if row else None

    def checkpoint_rows(self) -> list:
        """(seq column, body, hash column, time column) of every stored checkpoint, in seq order."""
        return [
            (int(r[0]), r[1], r[2], r[3])
            for r in self._all("SELECT seq, body, hash, cp_time FROM ledger_checkpoints ORDER BY seq")
        ]

    def entry(self, seq: int) -> Entry | None:
        row = self._one(f"SELECT {ROW} FROM ledger_events WHERE seq = ?", (seq,))  # noqa: S608
        return Entry.of(row) if row else None

    def entry_by_event_id(self, event_id: str) -> Entry | None:
        """The entry whose hashed body has this id (the id expression's index, not the event_id column)."""
        row = self._one(
            f"SELECT {ROW} FROM ledger_events WHERE {self.X_ID} = ? ORDER BY seq LIMIT 1",  # noqa: S608
            (event_id,),
        )
        return Entry.of(row) if row else None

    def column_suspects(self) -> set:
        """Seqs of the rows whose stored query columns differ from their body's (one pass in the database,
        much faster than parsing every body in Python; the verifier confirms each in Python)."""
        cmp = self.DISTINCT
        checks = " OR ".join(
            (
                f"event_id {cmp} {self.X_ID}",
                f"type {cmp} {self.X_TYPE}",
                f"subject {cmp} {self.X_SUBJECT}",
                f"event_time {cmp} {self.X_TIME}",
                f"is_record {cmp} (CASE WHEN {self.X_RECORD} THEN 1 ELSE 0 END)",
            )
        )
        return {int(r[0]) for r in self._all(f"SELECT seq FROM ledger_events WHERE {checks}")}  # noqa: S608

    def count(self) -> int:
        return int(self._one("SELECT count(*) FROM ledger_events")[0])

    def latest_record(self, cur, subject: str) -> Entry | None:
        """The newest entry of ``subject`` whose hashed body carries a change record."""
        cur.execute(
            self._sql(
                f"SELECT {ROW} FROM ledger_events WHERE {self.X_SUBJECT} = ? AND {self.X_RECORD}"  # noqa: S608
                " ORDER BY seq DESC LIMIT 1"
            ),
            (subject,),
        )
        row = cur.fetchone()
        return Entry.of(row) if row else None

    def record_subjects(self) -> list:
        rows = self._all(
            f"SELECT DISTINCT {self.X_SUBJECT} FROM ledger_events WHERE {self.X_RECORD} ORDER BY 1"  # noqa: S608
        )
        return [r[0] for r in rows]

    # -- pruning (plugin_utils/retention: only after a verified archive) --------------------------------------
    def start(self) -> tuple[int, str]:
        """(seq, hash) the live chain starts after: (0, 64 zeros), or where it was pruned through.

        The metadata row is unsigned; the verifier holds it to the signed checkpoint kept at that seq and to the
        chain's latest io.changeward.ledger.pruned event."""
        meta = self.meta()
        seq, h = meta.get(PRUNED_SEQ), meta.get(PRUNED_HASH)
        if seq is None and h is None:
            return 0, GENESIS_HASH
        if not (isinstance(seq, str) and seq.isdigit() and is_hash(h)):
            raise LedgerCorrupt(
                f"{self.kind} ledger {self.target}: its pruned-through metadata ({seq!r}, {h!r}) is malformed; "
                "run ledger_verify"
            )
        return int(seq), h

    def prune_through(self, cur, seq: int, entry_hash: str) -> int:
        """Delete the events up to seq and the checkpoints before it (the one at seq stays: the live chain's
        signed start), and record where the chain now starts. Inside the caller's write transaction."""
        cur.execute(self._sql("SELECT count(*) FROM ledger_events WHERE seq <= ?"), (seq,))
        deleted = int(cur.fetchone()[0])
        cur.execute(self._sql("DELETE FROM ledger_events WHERE seq <= ?"), (seq,))
        cur.execute(self._sql("DELETE FROM ledger_checkpoints WHERE seq < ?"), (seq,))
        for key, value in ((PRUNED_SEQ, str(seq)), (PRUNED_HASH, entry_hash)):
            cur.execute(
                self._sql(
                    "INSERT INTO ledger_meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                ),
                (key, value),
            )
        return deleted

    # -- checkpoints -----------------------------------------------------------------------------------
    def insert_checkpoint(self, cur, seq: int, entry_hash: str, time: str, body: str) -> None:
        cur.execute(
            self._sql("INSERT INTO ledger_checkpoints (seq, hash, cp_time, body) VALUES (?, ?, ?, ?)"),
            (seq, entry_hash, time, body),
        )

    def checkpoint_body(self, seq: int, cur=None):
        if cur is not None:
            cur.execute(self._sql("SELECT body FROM ledger_checkpoints WHERE seq = ?"), (seq,))
            row = cur.fetchone()
        else:
            row = self._one("SELECT body FROM ledger_checkpoints WHERE seq = ?", (seq,))
        return row[0] if row else None

    def checkpoint_bodies(self, after_seq: int = 0, limit: int | None = None) -> list:
        if limit is None:
            rows = self._all("SELECT body FROM ledger_checkpoints WHERE seq > ? ORDER BY seq", (after_seq,))
        else:
            rows = self._all(
                "SELECT body FROM ledger_checkpoints WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit)
            )
        return [r[0] for r in rows]

    def latest_checkpoint_body(self):
        row = self._one("SELECT body FROM ledger_checkpoints ORDER BY seq DESC LIMIT 1")
        return row[0] if row else None

    # -- sink cursors ----------------------------------------------------------------------------------
    def cursor_seq(self, sink: str, cur=None):
        statement = self._sql("SELECT seq FROM ledger_cursors WHERE sink = ?")
        if cur is None:
            row = self._one("SELECT seq FROM ledger_cursors WHERE sink = ?", (sink,))
        else:
            cur.execute(statement, (sink,))
            row = cur.fetchone()
        return int(row[0]) if row else None

    def set_cursor(self, cur, sink: str, seq: int, time: str) -> None:
        cur.execute(
            self._sql(
                "INSERT INTO ledger_cursors (sink, seq, updated) VALUES (?, ?, ?) "
                "ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq, updated = excluded.updated"
            ),
            (sink, seq, time),
        )

    def cursors(self) -> dict:
        return {r[0]: int(r[1]) for r in self._all("SELECT sink, seq FROM ledger_cursors ORDER BY sink")}

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
