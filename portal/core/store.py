"""Engines and sessions for both stores; SQLite is tuned for safe concurrent writers."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from portal.core.errors import AuditError, ConfigError
from portal.core.files import create_private_file, sqlite_path

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Every writer in the project takes this lock on PostgreSQL before appending to the audit chain.
AUDIT_LOCK_ID = 0x706F7274  # "port"
READ_ONLY_OPTION = "portal_read_only"
# Set on a SQLite connection for the transaction it is in: True when that began with BEGIN IMMEDIATE.
WRITE_LOCK_INFO = "portal_write_lock"
# What a read-first unit of work may not send: changes, and row or advisory locks taken to change.
_WRITE_VERBS = (
    "INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE", "CREATE", "DROP", "ALTER", "TRUNCATE", "COPY"
)  # fmt: skip
_MAY_LOCK = re.compile(r"FOR |for |pg_")  # a cheap first look; most statements have none of these
_LOCKS = re.compile(
    r"\bFOR\s+(NO\s+KEY\s+)?UPDATE\b|\bFOR\s+(KEY\s+)?SHARE\b|\bpg_(try_)?advisory_xact_lock\b", re.I
)
# A data-modifying WITH (PostgreSQL): its verb is WITH, its changes are in the middle.
_WRITING_CTE = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE)\b", re.I)
T = TypeVar("T")


# A quick read (below) may hold its caller for this long in SQLite's own work before it is
# interrupted; the progress handler that checks costs ~1 µs each QUICK_READ_STEPS instructions.
QUICK_READ_SECONDS = 0.004
QUICK_READ_STEPS = 2_000


class WriteNeeded(Exception):
    """A read-first unit of work is about to write: it is rolled back and run again as a writer."""


class HandOver(Exception):
    """A quick read could not finish quickly (too long, a lock, its connection busy): run it on a thread."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine whose connections are configured the way the portal needs them."""
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None and path.parent.is_dir():
            create_private_file(path)  # SQLite gives its -wal and -shm files the store's mode
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, **kwargs.pop("connect_args", {})}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True, **kwargs)
    event.listen(engine, "before_cursor_execute", _refuse_writes_when_read_only)
    return engine


def _refuse_writes_when_read_only(
    conn: Connection, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
) -> None:
    # Raised before the statement reaches the store, so the read-only attempt has changed nothing.
    if not conn.get_execution_options().get(READ_ONLY_OPTION):
        return
    # Checked on every statement of every page view: the verb first, the regex only when needed.
    verb = statement.lstrip()[:8].upper()
    if verb.startswith(_WRITE_VERBS) or (_MAY_LOCK.search(statement) and _LOCKS.search(statement)):
        raise WriteNeeded(verb.split(None, 1)[0])
    if verb.startswith("WITH") and _WRITING_CTE.search(statement):
        raise WriteNeeded("WITH")
    # PostgreSQL runs a read-only attempt without a transaction (see `transaction`), and a
    # server-side cursor (yield_per) lives only inside one: run that unit of work in one instead.
    streamed = _context is not None and _context.execution_options.get("stream_results")
    if streamed and conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        raise WriteNeeded("server-side cursor")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=FULL")
        # Deleted and overwritten content is zeroed in the file, not left in free space: a deletion
        # (search terms, cookie values, erasure) leaves no copy in the database's bytes.
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Taking the write lock up front avoids the deadlock-prone upgrade from a read
        # transaction, which is what makes SQLite report "database is locked" under load.
        # Read-only work (page views, exports) asks for a plain BEGIN: a WAL snapshot that blocks no writer.
        read_only = conn.get_execution_options().get(READ_ONLY_OPTION)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
        conn.info[WRITE_LOCK_INFO] = not read_only


def check_engine(engine: Engine) -> None:
    """Refuse to start on a store that is not configured safely."""
    try:
        with engine.connect() as conn:
            if engine.dialect.name != "sqlite":
                conn.execute(text("SELECT 1"))
                return
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous", "secure_delete")
            }
    except Exception as exc:  # the driver's message is the useful part
        raise ConfigError(f"cannot open the store: {exc.__class__.__name__}: {exc}") from exc
    expected = {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 2, "secure_delete": 1}
    for name, want in expected.items():
        if str(pragmas[name]).lower() != str(want):
            raise ConfigError(f"SQLite store has {name}={pragmas[name]}, expected {want}")
    if int(pragmas["busy_timeout"] or 0) < 5000:
        raise ConfigError(f"SQLite busy_timeout is {pragmas['busy_timeout']} ms, expected >= 5000")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session], *, read_only: bool = False) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception.

    `read_only`: a plain BEGIN on SQLite (a WAL snapshot: it neither waits for nor blocks the
    writer); on PostgreSQL no BEGIN and no COMMIT at all (the driver's autocommit). Under READ
    COMMITTED each statement sees its own snapshot either way, so the transaction bought nothing
    but two round trips per page view. Anything that would write raises WriteNeeded before it is
    sent (`_refuse_writes_when_read_only`), row and advisory locks included.
    """
    with factory() as session, session.begin():
        if read_only:
            options: dict[str, Any] = {READ_ONLY_OPTION: True}
            if session.get_bind().dialect.name == "postgresql":
                options["isolation_level"] = "AUTOCOMMIT"
            session.connection(execution_options=options)
        yield session


def run_transaction(factory: sessionmaker[Session], fn: Callable[[Session], T], *, read_first: bool) -> T:
    """`fn` in one unit of work; with `read_first` it runs read-only, and again as a writer if it must write.

    Page views mostly change nothing: read-only they never queue for SQLite's single write lock,
    and the few that must write (a session touched once a minute, a flash message consumed, a
    browser's data claimed) pay one rerun. `fn` must have no effect outside the session before its
    first write, which holds for the portal's services (mail goes through the outbox table).
    """
    if read_first:
        try:
            with transaction(factory, read_only=True) as session:
                return fn(session)
        except WriteNeeded:
            pass
    with transaction(factory) as session:
        return fn(session)


class QuickReader:
    """Read-only units of work run on the calling thread (the event loop's), on SQLite only.

    A page view's store work run on a thread cost it more than the work itself: the hop to and
    from the thread, and the thread's Python slowed by the GIL it shares with the loop's thread.
    Run here, one worker under 50 clients served 1.5-1.8x the requests of every page. A WAL reader
    never waits for the writer, so a read may run where waiting is not allowed, as long as it is
    short: SQLite's progress handler interrupts one that runs longer than QUICK_READ_SECONDS, a
    busy database (recovery after a crash) is not waited for (busy_timeout 0), and either way the
    unit of work is handed over to a thread. So is one that must write (WriteNeeded), and all of
    them on PostgreSQL, whose every statement waits on the server.

    One connection, used by one caller at a time (an event loop runs one unit of work at a time;
    a second loop in the process, as in tests, finds it taken and hands over).
    """

    def __init__(self, engine: Engine) -> None:
        url = engine.url.render_as_string(hide_password=False)
        self.engine = make_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        event.listen(self.engine, "connect", _no_busy_wait)
        self.factory = session_factory(self.engine)
        self._taken = threading.Lock()

    def run(self, fn: Callable[[Session], T]) -> T:
        """`fn` in a read-only unit of work, here and now; or WriteNeeded, or HandOver."""
        if not self._taken.acquire(blocking=False):
            raise HandOver("in use")
        try:
            with transaction(self.factory, read_only=True) as session:
                raw: Any = session.connection().connection.driver_connection
                # CPU time of this thread, not the clock's: a worker the kernel set aside for a
                # moment (two workers and the load on two CPUs) has not read for longer.
                deadline = time.thread_time() + QUICK_READ_SECONDS
                raw.set_progress_handler(lambda: time.thread_time() > deadline, QUICK_READ_STEPS)
                try:
                    return fn(session)
                finally:
                    raw.set_progress_handler(None, 0)
        except OperationalError as exc:  # interrupted, or locked: the thread's attempt waits as it must
            raise HandOver(str(exc.orig)) from exc
        finally:
            self._taken.release()

    def close(self) -> None:
        self.engine.dispose()


def quick_reader(engine: Engine) -> QuickReader | None:
    return QuickReader(engine) if engine.dialect.name == "sqlite" else None


def _no_busy_wait(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA busy_timeout=0")


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one consistent state and holds no write lock (for exports)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        else:
            conn = conn.execution_options(**{READ_ONLY_OPTION: True})
        with conn.begin():
            yield conn


def lock_for_audit(session: Session) -> None:
    """Serialize audit appends across processes: PostgreSQL takes an advisory lock; on SQLite the
    transaction must already hold the write lock (BEGIN IMMEDIATE), or two appends could read the
    same last entry. A transaction without it (a read-only snapshot) may not append at all; a
    read-first unit of work is run again as a writer."""
    conn = session.connection()
    if conn.get_execution_options().get(READ_ONLY_OPTION):
        raise WriteNeeded("audit entry")
    if conn.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": AUDIT_LOCK_ID})
    elif not conn.info.get(WRITE_LOCK_INFO):
        raise AuditError("audit entries can only be appended in a write transaction (BEGIN IMMEDIATE)")


def redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def executemany(conn: Session | Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """One statement for many rows through the driver itself, in the transaction of `conn` (a
    Session or a Connection; for hot paths: SQLAlchemy's per-parameter processing cost more than
    the statement). `sql` uses `?` placeholders; values must already be what the driver stores
    (times as text on SQLite, as `portal.ingest.batches.sqlite_time` writes them). Only for
    writes: a read-first unit of work refuses them here, as its listener would have (the driver
    is not listened to)."""
    connection = conn.connection() if isinstance(conn, Session) else conn
    if connection.get_execution_options().get(READ_ONLY_OPTION):
        raise WriteNeeded(sql.lstrip().split(None, 1)[0].upper())
    dbapi: Any = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        with dbapi.cursor() as cur:
            cur.executemany(sql.replace("?", "%s"), rows)
    else:
        dbapi.executemany(sql, rows)
