# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL ledger (psycopg 3): the same schema and statements as SQLite, for many controllers.

Appenders serialise on ``SELECT ... FROM ledger_head ... FOR UPDATE``: the head row is the chain's tip,
so whoever holds its row lock is the only one extending the chain until commit. The lock wait, the
connection and every statement are bounded by timeouts, so a busy or dead server gives a clear error
instead of a hung playbook. psycopg is imported only when a PostgreSQL ledger is opened.
"""

from __future__ import annotations

import contextlib
import re
from urllib.parse import urlsplit, urlunsplit

from .backend import SCHEMA_VERSION, SqlBackend
from .errors import LedgerConfigError, LedgerCorrupt, LedgerInvalidInput, LedgerLocked, LedgerUnavailable

# Arbitrary but fixed: serialises schema creation by concurrent first openers of one database.
INIT_LOCK_KEY = 0x63776C6467  # "cwldg"
SCHEMA_RE = re.compile(r"\A[a-z_][a-z0-9_]{0,62}\Z")

# The hashed body's subject, type, id and "carries a record" (backend.py: queries select on these). The body
# is text (byte-exact); the cast to json (not jsonb, which refuses \u0000) is immutable, so it can be indexed.
X_SUBJECT = "((body::json) ->> 'subject')"
X_TYPE = "((body::json) ->> 'type')"
X_ID = "((body::json) ->> 'id')"
X_TIME = "((body::json) ->> 'time')"
X_RECORD = "(json_typeof((body::json) -> 'data' -> 'record') = 'object')"
# The time to the second, as in sqlite_backend.py (substr is immutable, so it can be indexed).
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
    "CREATE TABLE IF NOT EXISTS ledger_meta (key text PRIMARY KEY, value text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ledger_head (id smallint PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL,"
    " hash text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ledger_events (seq bigint PRIMARY KEY, event_id text NOT NULL UNIQUE,"
    " type text NOT NULL, subject text NOT NULL, event_time text NOT NULL, is_record smallint NOT NULL DEFAULT 0,"
    " prev_hash text NOT NULL, hash text NOT NULL, body text NOT NULL)",
    *(statement for _name, statement in INDEXES),
    "CREATE TABLE IF NOT EXISTS ledger_checkpoints (seq bigint PRIMARY KEY, hash text NOT NULL,"
    " cp_time text NOT NULL, body text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ledger_cursors (sink text PRIMARY KEY, seq bigint NOT NULL, updated text NOT NULL)",
)


def is_dsn(target) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def redact_dsn(dsn: str) -> str:
    """The DSN without its password (for messages)."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "postgresql://<unparsable DSN>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, hostport = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
    query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


class PostgresBackend(SqlBackend):
    kind = "PostgreSQL"
    _param = "%s"
    X_SUBJECT, X_TYPE, X_ID, X_TIME, X_RECORD, INDEXES = X_SUBJECT, X_TYPE, X_ID, X_TIME, X_RECORD, INDEXES
    X_TIME_SEC = X_TIME_SEC
    DISTINCT = "IS DISTINCT FROM"

    def __init__(
        self, dsn: str, *, create: bool = True, readonly: bool = False, timeout: float = 10.0, schema: str | None = None
    ):
        super().__init__()
        self.target = redact_dsn(dsn)
        self.timeout = float(timeout)
        self.readonly = readonly
        if schema is not None and not SCHEMA_RE.match(schema):
            raise LedgerConfigError(f"PostgreSQL schema name must match {SCHEMA_RE.pattern}, got {schema!r}")
        self.schema = schema
        try:
            import psycopg
        except ImportError:
            raise LedgerUnavailable("the psycopg package (version 3) is required for a PostgreSQL ledger") from None
        self._psycopg = psycopg
        try:
            self._conn = psycopg.connect(
                dsn,
                autocommit=True,
                connect_timeout=max(2, round(self.timeout)),
                application_name="changeward-ledger",
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
            )
        except psycopg.Error as exc:
            raise LedgerUnavailable(f"cannot connect to PostgreSQL ledger {self.target}: {_first_line(exc)}") from None
        except Exception as exc:  # e.g. a malformed DSN
            raise LedgerConfigError(f"cannot use PostgreSQL DSN {self.target}: {_first_line(exc)}") from None
        try:
            with self._guard("open"):
                ms = int(self.timeout * 1000)
                self._conn.execute(f"SET lock_timeout = {ms}")
                self._conn.execute(f"SET statement_timeout = {max(30000, 3 * ms)}")
                self._conn.execute(f"SET idle_in_transaction_session_timeout = {max(60000, 6 * ms)}")
                if schema:
                    if create and not readonly:
                        # Concurrent CREATE SCHEMA IF NOT EXISTS can still collide: serialise first openers.
                        with self._conn.transaction():
                            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (INIT_LOCK_KEY,))
                            self._conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                    self._conn.execute(f'SET search_path TO "{schema}"')
        except Exception:
            self.close()
            raise

    @contextlib.contextmanager
    def _guard(self, what: str):
        errors = self._psycopg.errors
        try:
            yield
        except errors.UniqueViolation as exc:
            if "event_id" in str(exc):
                raise LedgerInvalidInput(
                    f"PostgreSQL ledger {self.target}: an event with that id is already recorded"
                ) from None
            raise LedgerCorrupt(f"PostgreSQL ledger {self.target}: integrity error during {what}: {exc}") from None
        except (errors.LockNotAvailable, errors.QueryCanceled, errors.DeadlockDetected) as exc:
            raise LedgerLocked(
                f"PostgreSQL ledger {self.target}: gave up waiting after {self.timeout:g}s ({what}): {_first_line(exc)}"
            ) from None
        except (errors.UndefinedTable, errors.UndefinedColumn) as exc:
            raise LedgerCorrupt(f"{self.target} is not a changeward ledger ({_first_line(exc)})") from None
        except self._psycopg.DataError as exc:  # e.g. a body the expression indexes cannot read as JSON
            raise LedgerCorrupt(
                f"PostgreSQL ledger {self.target}: stored data cannot be read during {what} ({_first_line(exc)}); "
                "run ledger_verify"
            ) from None
        except self._psycopg.OperationalError as exc:
            raise LedgerUnavailable(
                f"PostgreSQL ledger {self.target} failed during {what}: {_first_line(exc)}"
            ) from None
        except self._psycopg.Error as exc:
            raise LedgerUnavailable(f"PostgreSQL ledger {self.target}: cannot {what}: {_first_line(exc)}") from None

    @contextlib.contextmanager
    def tolerant(self):
        # A failed statement aborts a PostgreSQL transaction; roll back to here so the snapshot goes on.
        with self.read() as cur:
            cur.execute("SAVEPOINT ledger_tolerant")
            try:
                yield
            except BaseException:
                cur.execute("ROLLBACK TO SAVEPOINT ledger_tolerant")
                raise
            cur.execute("RELEASE SAVEPOINT ledger_tolerant")

    def column_suspects(self) -> set:
        """As SqlBackend's, parsing each body once (json_to_record) rather than once per column."""
        rows = self._all(
            "SELECT seq FROM ledger_events,"
            " json_to_record(body::json) AS b(id text, type text, subject text, time text, data json)"
            " WHERE event_id IS DISTINCT FROM b.id OR ledger_events.type IS DISTINCT FROM b.type"
            " OR ledger_events.subject IS DISTINCT FROM b.subject OR event_time IS DISTINCT FROM b.time"
            " OR is_record IS DISTINCT FROM (CASE WHEN json_typeof(b.data -> 'record') = 'object' THEN 1 ELSE 0 END)"
        )
        return {int(r[0]) for r in rows}

    def _begin_write(self, cur) -> None:
        if self.readonly:
            raise LedgerUnavailable(f"PostgreSQL ledger {self.target} was opened read-only")
        cur.execute("BEGIN")
        cur.execute("SELECT seq FROM ledger_head WHERE id = 1 FOR UPDATE")

    def _begin_read(self, cur) -> None:
        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def initialise(self, *, ledger_id: str, interval: int, created: str) -> None:
        with self._guard("create"):
            cur = self._conn.cursor()
            cur.execute("BEGIN")
            try:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (INIT_LOCK_KEY,))
                for statement in DDL:
                    cur.execute(statement)
                self._init_rows(cur, ledger_id, interval, created)
            except BaseException:
                with contextlib.suppress(Exception):
                    cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def ensure_indexes(self) -> None:
        """Add the query indexes a ledger made by an older version lacks (a catalog read otherwise).

        Checked first so the usual open takes no table lock: CREATE INDEX would wait for running appends.
        """
        missing = [
            statement for name, statement in self.INDEXES if self._one("SELECT to_regclass(%s)", (name,))[0] is None
        ]
        if not missing:
            return
        with self._guard("index"):
            cur = self._conn.cursor()
            cur.execute("BEGIN")
            try:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (INIT_LOCK_KEY,))
                for statement in missing:
                    cur.execute(statement)
            except BaseException:
                with contextlib.suppress(Exception):
                    cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def exists(self) -> bool:
        row = self._one("SELECT to_regclass('ledger_meta')")
        return row is not None and row[0] is not None

    def check_schema(self) -> dict:
        if not self.exists():
            raise LedgerCorrupt(f"{self.target} holds no changeward ledger (no ledger_meta table)")
        meta = self.meta()
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise LedgerCorrupt(
                f"PostgreSQL ledger {self.target} has schema version {meta.get('schema_version')!r}; "
                f"this collection reads {SCHEMA_VERSION}"
            )
        return meta


def _first_line(exc) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
