"""Page views' reads on SQLite run on the event loop itself, and only while they are quick.

What must wait (a write, a long read, PostgreSQL) goes to a page thread and gives the same answer.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, literal, select, text
from sqlalchemy.orm import Session

from portal.core.rows import all_rows
from portal.core.store import HandOver, QuickReader, quick_reader
from portal.web.threads import unit_of_work
from tests.conftest import Store

# SQLite counting this far takes a good part of a second: far beyond a quick read's few milliseconds.
LONG_COUNT = text(
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) SELECT count(*) FROM n"
)


def run_unit(
    store: Store, quick: QuickReader | None, fn: Callable[[Session], Any], *, read_first: bool = True
) -> tuple[Any, int]:
    """unit_of_work's answer, and the thread its event loop ran on: a loop of its own, in a thread
    of its own (under xdist a browser test may leave an event loop set in the main thread)."""
    out: list[Any] = []

    async def main() -> Any:
        return await unit_of_work(store.factory, quick, fn, read_first=read_first)

    loop = threading.Thread(target=lambda: out.append(asyncio.run(main())))
    loop.start()
    loop.join(60)
    assert out, "the unit of work did not finish"
    return out[0], loop.ident or 0


def where(fn: Callable[[Session], Any]) -> tuple[list[int], Callable[[Session], Any]]:
    """`fn`, noting the thread of each attempt."""
    threads: list[int] = []

    def noted(session: Session) -> Any:
        threads.append(threading.get_ident())
        return fn(session)

    return threads, noted


@pytest.fixture
def quick(sqlite_store: Store) -> Iterator[QuickReader]:
    reader = QuickReader(sqlite_store.engine)
    yield reader
    reader.close()


def test_a_short_read_runs_on_the_loops_own_thread(sqlite_store: Store, quick: QuickReader) -> None:
    threads, fn = where(lambda s: s.execute(text("SELECT count(*) FROM account")).scalar_one())
    assert run_unit(sqlite_store, quick, fn) == (0, threads[0])  # one attempt, on the loop's thread


def test_a_long_read_is_interrupted_and_run_on_a_thread_in_full(
    sqlite_store: Store, quick: QuickReader
) -> None:
    with pytest.raises(HandOver, match="interrupted"):
        quick.run(lambda s: s.execute(LONG_COUNT).scalar_one())
    threads, fn = where(lambda s: s.execute(LONG_COUNT).scalar_one())
    assert run_unit(sqlite_store, quick, fn) == (3_000_000, threads[0])
    assert len(threads) == 2 and threads[1] != threads[0]


def test_a_read_that_must_write_is_run_again_as_a_writer_on_a_thread(
    sqlite_store: Store, quick: QuickReader
) -> None:
    def write(session: Session) -> int:
        session.execute(text("CREATE TABLE IF NOT EXISTS scratch (x INTEGER)"))
        session.execute(text("INSERT INTO scratch VALUES (7)"))
        return 1

    threads, fn = where(write)
    assert run_unit(sqlite_store, quick, fn) == (1, threads[0])
    assert len(threads) == 2 and threads[1] != threads[0]
    with sqlite_store.engine.connect() as conn:
        assert conn.execute(text("SELECT x FROM scratch")).scalars().all() == [7]  # once


def test_a_quick_read_does_not_wait_for_a_writer_holding_the_lock(
    sqlite_store: Store, quick: QuickReader
) -> None:
    with sqlite_store.engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch (x INTEGER)"))
    writer = sqlite3.connect(sqlite_store.engine.url.database or "", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO scratch VALUES (1)")
    try:
        threads, fn = where(lambda s: s.execute(text("SELECT count(*) FROM scratch")).scalar_one())
        # The snapshot before the writer's change, on the loop's thread at the first attempt.
        assert run_unit(sqlite_store, quick, fn) == (0, threads[0]) and len(threads) == 1
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_second_caller_while_the_connection_is_busy_is_handed_over(
    sqlite_store: Store, quick: QuickReader
) -> None:
    inside, release = threading.Event(), threading.Event()
    outcome: list[object] = []

    def hold(_session: Session) -> None:
        inside.set()
        release.wait(10)

    holder = threading.Thread(target=lambda: outcome.append(quick.run(hold)))
    holder.start()
    try:
        assert inside.wait(10)
        with pytest.raises(HandOver, match="in use"):
            quick.run(lambda s: None)
        threads, fn = where(lambda s: s.execute(text("SELECT 1")).scalar_one())
        answer, loop = run_unit(sqlite_store, quick, fn)
        assert answer == 1 and len(threads) == 1 and threads[0] != loop
    finally:
        release.set()
        holder.join()
    assert outcome == [None]


def test_postgresql_reads_always_go_to_a_thread(store: Store) -> None:
    """Every PostgreSQL statement waits on the server: never on the loop."""
    reader = quick_reader(store.engine)
    try:
        assert (reader is None) == (store.kind == "postgresql")
        threads, fn = where(lambda s: s.execute(text("SELECT 1")).scalar_one())
        answer, loop = run_unit(store, reader, fn)
        assert answer == 1 and len(threads) == 1
        assert (threads[0] != loop) == (store.kind == "postgresql")
    finally:
        if reader is not None:
            reader.close()


def test_a_long_page_read_is_interrupted_and_run_on_a_thread_in_full(
    sqlite_store: Store, quick: QuickReader
) -> None:
    """A page's rows are read from the driver itself (rows.all_rows): its interruption hands the
    unit of work over all the same, as SQLAlchemy's OperationalError."""
    n = select(literal(1).label("i")).cte("n", recursive=True)
    n = n.union_all(select(n.c.i + 1).where(n.c.i < 3_000_000))
    stmt = select(func.count().label("c")).select_from(n)
    with pytest.raises(HandOver, match="interrupted"):
        quick.run(lambda s: all_rows(s, stmt, {}))
    threads, fn = where(lambda s: all_rows(s, stmt, {}))
    assert run_unit(sqlite_store, quick, fn) == ([(3_000_000,)], threads[0])
    assert len(threads) == 2 and threads[1] != threads[0]
