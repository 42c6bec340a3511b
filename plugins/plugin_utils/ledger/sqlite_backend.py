# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SQLite ledger: one file, WAL, synchronous=FULL, BEGIN IMMEDIATE for every append.

WAL lets readers (verification, shipping) run beside a writer; BEGIN IMMEDIATE takes the write lock
before the head is read, so two ansible-playbook runs appending at once queue on the busy timeout instead
of forking the chain; synchronous=FULL in WAL mode makes a commit durable before append() returns.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from urllib.parse import quote

from .backend import SCHEMA_VERSION, SqlBackend, warn
from .errors import LedgerCorrupt, LedgerError, LedgerInvalidInput, LedgerLocked, LedgerUnavailable

SQLITE_MAGIC = b"SQLite format 3\x00"

# The hashed body's subject, type, id and "carries a record" (backend.py: queries select on these).
X_SUBJECT = "json_extract(body, '$.subject')"
X_TYPE = "json_extract(body, '$.type')"
X_ID = "json_extract(body, '$.id')"
X_TIME = "json_extract(body, '$.time')"
X_RECORD = "json_type(body, '$.data.record') = 'object'"
# The time to the second (RFC 3339 times differ in their fraction digits, so whole times do not sort as text;
# their first 19 characters do): time-range queries select on it, and api.py compares the exact times.
X_TIME_SEC = f"substr({X_TIME}, 1, 19)"
INDEXES = (
    (
        "ledger_events_body_subject",
        f"CREATE INDEX IF NOT EXISTS ledger_events_body_subject ON ledger_events ({X_SUBJECT}, seq)",
    ),
    ("ledger_events_body_type", f"CREATE INDEX IF NOT EXISTS ledger_events_body_type ON ledger_events ({X_TYPE}, seq)"),
    ("ledger_events_body_id", f"CREATE INDEX IF NOT EXISTS ledger_events_body_id ON ledger_events ({X_ID})"),
    (
        "ledger_events_body_record",
        f"CREATE INDEX IF NOT EXISTS ledger_events_body_record ON ledger_events ({X_SUBJECT}, seq) WHERE {X_RECORD}",
    ),
    ("ledger_events_body_time", f"CREATE INDEX IF NOT EXISTS ledger_events_body_time ON ledger_events ({X_TIME_SEC})"),
)

DDL = (
    "CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ledger_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL,"
    " hash TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ledger_events (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE,"
    " type TEXT NOT NULL, subject TEXT NOT NULL, event_time TEXT NOT NULL, is_record INTEGER NOT NULL DEFAULT 0,"
    " prev_hash TEXT NOT NULL, hash TEXT NOT NULL, body TEXT NOT NULL)",
    *(statement for _name, statement in INDEXES),
    "CREATE TABLE IF NOT EXISTS ledger_checkpoints (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL,"
    " cp_time TEXT NOT NULL, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ledger_cursors (sink TEXT PRIMARY KEY, seq INTEGER NOT NULL, updated TEXT NOT NULL)",
)


def is_sqlite_file(path: str) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC


class SQLiteBackend(SqlBackend):
    kind = "SQLite"
    X_SUBJECT, X_TYPE, X_ID, X_TIME, X_RECORD, INDEXES = X_SUBJECT, X_TYPE, X_ID, X_TIME, X_RECORD, INDEXES
    X_TIME_SEC = X_TIME_SEC

    def __init__(self, path: str, *, create: bool = True, readonly: bool = False, timeout: float = 10.0):
        super().__init__()
        self.path = os.path.abspath(os.path.expanduser(path))
        self.target = self.path
        self.timeout = float(timeout)
        self.readonly = readonly
        self._prepare_file(create and not readonly)
        try:
            if readonly:
                self._conn = sqlite3.connect(
                    f"file:{quote(self.path)}?mode=ro", uri=True, timeout=self.timeout, isolation_level=None
                )
            else:
                self._conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise LedgerUnavailable(f"cannot open SQLite ledger {self.path}: {exc}") from None
        try:
            with self._guard("open"):
                self._conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
                if not readonly:
                    mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                    if str(mode).lower() != "wal":
                        raise LedgerUnavailable(
                            f"SQLite ledger {self.path}: cannot switch to WAL (journal_mode {mode})"
                        )
                    self._conn.execute("PRAGMA synchronous = FULL")
        except LedgerError:
            self.close()
            raise

    def _prepare_file(self, create: bool) -> None:
        if os.path.exists(self.path):
            if os.path.isdir(self.path):
                raise LedgerUnavailable(f"SQLite ledger {self.path} is a directory")
            try:
                if os.path.getsize(self.path) and not is_sqlite_file(self.path):
                    raise LedgerCorrupt(f"{self.path} is not a SQLite database (bad header); not a ledger")
            except OSError as exc:
                raise LedgerUnavailable(f"cannot read SQLite ledger {self.path}: {exc.strerror}") from None
            if not self.readonly:  # a reader (ledger_verify) changes nothing about what it checks
                self._tighten()
            return
        if not create:
            raise LedgerUnavailable(f"SQLite ledger {self.path} does not exist")
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            # Create it private before SQLite does (SQLite would honour the umask); -wal/-shm copy the mode.
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as exc:
            raise LedgerUnavailable(f"cannot create SQLite ledger {self.path}: {exc.strerror}") from None

    def _tighten(self) -> None:
        """An existing ledger file (and its -wal/-shm) readable or writable by others is made 0600, with a
        warning; one that cannot be (another owner) is refused rather than written to."""
        for path in (self.path, self.path + "-wal", self.path + "-shm"):
            try:
                mode = stat.S_IMODE(os.stat(path).st_mode)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise LedgerUnavailable(f"cannot inspect SQLite ledger file {path}: {exc.strerror}") from None
            if not mode & 0o077:
                continue
            try:
                os.chmod(path, mode & 0o600)
            except OSError as exc:
                raise LedgerUnavailable(
                    f"SQLite ledger file {path} has mode {mode:04o} (others may read or write it) and cannot be made "
                    f"0600 ({exc.strerror}); refusing to use it - fix its mode or owner"
                ) from None
            warn(
                self.warnings, f"SQLite ledger file {path} had mode {mode:04o}; it was tightened to {mode & 0o600:04o}"
            )

    @contextlib.contextmanager
    def _guard(self, what: str):
        try:
            yield
        except sqlite3.IntegrityError as exc:
            if "event_id" in str(exc):
                raise LedgerInvalidInput(
                    f"SQLite ledger {self.path}: an event with that id is already recorded"
                ) from None
            raise LedgerCorrupt(f"SQLite ledger {self.path}: integrity error during {what}: {exc}") from None
        except sqlite3.OperationalError as exc:
            msg = str(exc)
            if "locked" in msg or "busy" in msg:
                raise LedgerLocked(
                    f"SQLite ledger {self.path} is locked by another process; gave up after {self.timeout:g}s ({what})"
                ) from None
            if "malformed JSON" in msg:  # a body the expression indexes or queries cannot read
                raise LedgerCorrupt(
                    f"SQLite ledger {self.path}: a stored event is not valid JSON ({what}); run ledger_verify"
                ) from None
            if "no such table" in msg or "no such column" in msg:
                raise LedgerCorrupt(f"{self.path} is a SQLite database but not a changeward ledger ({msg})") from None
            raise LedgerUnavailable(f"cannot {what} SQLite ledger {self.path}: {msg}") from None
        except sqlite3.DatabaseError as exc:
            raise LedgerCorrupt(f"SQLite ledger {self.path} is corrupt or not a database: {exc}") from None

    def _begin_write(self, cur) -> None:
        if self.readonly:
            raise LedgerUnavailable(f"SQLite ledger {self.path} was opened read-only")
        cur.execute("BEGIN IMMEDIATE")

    def _begin_read(self, cur) -> None:
        cur.execute("BEGIN")

    def exists(self) -> bool:
        """True when the file holds a ledger (its ledger_meta table)."""
        with self._guard("open"):
            return bool(
                self._conn.execute(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'ledger_meta'"
                ).fetchone()[0]
            )

    def initialise(self, *, ledger_id: str, interval: int, created: str) -> None:
        """Create the schema and first rows if missing (concurrent openers serialise on the write lock)."""
        with self.write() as cur:
            cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            tables = {r[0] for r in cur.fetchall()}
            if tables and "ledger_meta" not in tables:
                raise LedgerCorrupt(f"{self.path} is a SQLite database of something else, not a changeward ledger")
            for statement in DDL:
                cur.execute(statement)
            self._init_rows(cur, ledger_id, interval, created)

    def ensure_indexes(self) -> None:
        """Add the query indexes a ledger made by an older version lacks (a no-op read otherwise)."""
        with self._guard("index"):
            have = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        missing = [statement for name, statement in INDEXES if name not in have]
        if missing:
            with self.write() as cur:
                for statement in missing:
                    cur.execute(statement)

    def check_schema(self) -> dict:
        if not self.exists():
            raise LedgerCorrupt(f"{self.path} is a SQLite database but not a changeward ledger (no ledger_meta)")
        meta = self.meta()
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise LedgerCorrupt(
                f"SQLite ledger {self.path} has schema version {meta.get('schema_version')!r}; "
                f"this collection reads {SCHEMA_VERSION}"
            )
        return meta
