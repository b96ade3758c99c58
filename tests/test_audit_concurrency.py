"""Concurrent writers (threads, and separate processes) produce one gap-free, unforked chain."""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Any

import pytest
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import checkpoints
from portal.audit.verifier import verify
from portal.core.clock import Clock
from portal.core.context import Ctx
from portal.core.errors import AuditError
from portal.core.settings import Settings, load
from portal.core.store import WriteNeeded, make_engine, session_factory, transaction
from tests.conftest import Store

WRITERS = 8
APPENDS = 500


def _env(settings: Settings) -> dict[str, str]:
    return {
        "PORTAL_VAR_DIR": str(settings.var_dir),
        "PORTAL_DATABASE_URL": settings.database_url,
        "PORTAL_SECRET_KEY": settings.secret_key.decode(),
        "PORTAL_BASE_URL": settings.base_url,
    }


def append_many(env: dict[str, str], writer: int, appends: int) -> list[str]:
    """One writer: `appends` separate transactions, each appending one entry. Returns its errors."""
    settings = load(env)
    engine = make_engine(settings.database_url)
    factory = session_factory(engine)
    errors: list[str] = []
    clock = Clock()
    try:
        for i in range(appends):
            try:
                with transaction(factory) as session:
                    ctx = Ctx(session=session, settings=settings, now=clock.now(), actor=f"account:{writer}")
                    audit.record(ctx, "test.concurrent", subject_id=writer, details={"w": writer, "i": i})
            except Exception as exc:  # collected, so the test can show every failure
                errors.append(f"{type(exc).__name__}: {exc} / {exc.__cause__!r}")
    finally:
        engine.dispose()
    return errors


def _check(store: Store, errors: list[str], elapsed: float, mode: str) -> None:
    assert errors == [], errors[:5]
    assert not any("locked" in e for e in errors)
    rows = store.scalar("SELECT count(*) FROM audit_entry")
    assert rows == WRITERS * APPENDS
    assert store.scalar("SELECT min(seq) FROM audit_entry") == 1
    assert store.scalar("SELECT max(seq) FROM audit_entry") == WRITERS * APPENDS
    with store.ctx() as ctx:
        checkpoints.create_checkpoint(ctx)
    public = checkpoints.load_or_create_key(store.settings.audit_key_path).public_key()
    result = verify(store.engine, public)
    assert result.ok, result.reason
    assert result.count == WRITERS * APPENDS
    per_writer = store.scalar("SELECT count(DISTINCT actor) FROM audit_entry")
    assert per_writer == WRITERS
    print(f"{store.kind} {mode}: {WRITERS}x{APPENDS} appends in {elapsed:.1f} s")


@pytest.mark.slow
def test_threads_append_gap_free(store: Store) -> None:
    env = _env(store.settings)
    errors: list[str] = []
    lock = threading.Lock()

    def run(writer: int) -> None:
        found = append_many(env, writer, APPENDS)
        with lock:
            errors.extend(found)

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    _check(store, errors, time.perf_counter() - started, "threads")


@pytest.mark.slow
def test_processes_append_gap_free(store: Store) -> None:
    env = _env(store.settings)
    started = time.perf_counter()
    spawn: Any = multiprocessing.get_context("spawn")
    with spawn.Pool(WRITERS) as pool:
        results = pool.starmap(append_many, [(env, w, APPENDS) for w in range(WRITERS)])
    errors = [e for found in results for e in found]
    _check(store, errors, time.perf_counter() - started, "processes")


def test_an_append_outside_a_write_transaction_is_refused_on_sqlite(sqlite_store: Store) -> None:
    """SQLite's half of the append lock: appends need the write lock the transaction took at BEGIN
    IMMEDIATE. In a read snapshot (plain BEGIN) two writers could read the same last entry, so the
    writer refuses instead of forking the chain."""
    store = sqlite_store
    with store.ctx() as ctx:
        audit.record(ctx, "test.first")
    with store.engine.connect() as conn:
        reader = conn.execution_options(portal_read_only=True)
        with Session(bind=reader) as session, session.begin():
            ctx = Ctx(session=session, settings=store.settings, now=store.clock.now())
            # A read-first unit of work is told to run again as a writer (WriteNeeded); any other
            # snapshot is refused outright (AuditError).
            with pytest.raises((AuditError, WriteNeeded)):
                audit.record(ctx, "test.from_a_snapshot")
    assert store.scalar("SELECT count(*) FROM audit_entry") == 1
    # The threads test above runs on SQLite as well: eight writers, one gap-free chain.
