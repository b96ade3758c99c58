"""The SQLite store is configured safely, and the app refuses to start on one that is not."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from portal.core.errors import ConfigError
from portal.core.store import check_engine
from tests.conftest import Store


def test_sqlite_pragmas(sqlite_store: Store) -> None:
    with sqlite_store.engine.connect() as conn:
        pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") >= 5000
        assert pragma("synchronous") == 2  # FULL
        assert pragma("secure_delete") == 1  # deleted content is zeroed in the file
    check_engine(sqlite_store.engine)


def test_an_unsafely_configured_sqlite_engine_is_refused(sqlite_store: Store) -> None:
    plain = create_engine(sqlite_store.settings.database_url)  # no pragmas: foreign keys off
    with pytest.raises(ConfigError, match="foreign_keys"):
        check_engine(plain)
    plain.dispose()


def test_writes_take_the_lock_up_front(sqlite_store: Store) -> None:
    """Two writers never deadlock on a lock upgrade: the second waits at BEGIN IMMEDIATE."""
    import threading

    from portal import audit

    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(25):
                with sqlite_store.ctx() as ctx:
                    audit.record(ctx, "test.concurrent")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sqlite_store.scalar("SELECT max(seq) FROM audit_entry") == 100
