"""A page view that changes nothing writes nothing, so it never waits for the store's writer.

An ingest batch, an export being marked ready or another worker's login holds SQLite's single
write lock (PostgreSQL: row and table locks) for a while; readers must be served meanwhile.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import text

from portal.core.store import executemany, read_snapshot, run_transaction
from portal.models import metadata
from tests import sitedata_factory as f
from tests.conftest import Client, Portal, Store

PAGES = (
    "/", "/account", "/my", "/my/cookies", "/my/search", "/my/logs", "/my/logs/activity", "/my/consent",
    "/my/export", "/my/receipts", "/browser",
)  # fmt: skip


@contextmanager
def writer_holding_every_lock(store: Store) -> Iterator[None]:
    """Another connection in the middle of a long write."""
    if store.kind == "sqlite":
        conn = sqlite3.connect(store.engine.url.database or "", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    with store.engine.connect() as pg:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        pg.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))  # reads pass, writes wait
        try:
            yield
        finally:
            pg.rollback()


def finishes_within(seconds: float, work: Callable[[], object]) -> bool:
    done = threading.Event()

    def run() -> None:
        work()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done.wait(seconds)


def person_with_data(portal: Portal) -> Client:
    """Ann, logged in, with data on every page, each page viewed once: a first view may change
    something (consume the login's flash, seed the catalog)."""
    ann = portal.client()
    portal.verified_user(ann, "ann@example.com")
    me = f.account_subject(portal.store, "ann@example.com")
    f.cookie(portal.store, me, "site_id", "ann-identifier-0001")
    f.preference(portal.store, me, "cheap flights")
    f.log_records(portal.store, me, 12, source_id=f.source(portal.store))
    for path in PAGES:
        ann.get(path)
    return ann


def test_pages_are_served_while_another_connection_writes(portal: Portal) -> None:
    ann = person_with_data(portal)
    statuses: dict[str, int] = {}

    def browse() -> None:
        for path in PAGES:
            statuses[path] = ann.get(path).status_code

    with writer_holding_every_lock(portal.store):
        served = finishes_within(15, browse)
    assert served, f"page views waited for the writer; served before it finished: {statuses}"
    assert statuses == dict.fromkeys(PAGES, 200)


def test_session_activity_is_recorded_after_the_answer_so_the_page_never_waits_for_it(portal: Portal) -> None:
    ann = portal.client()
    portal.verified_user(ann, "ann@example.com")
    ann.get("/account")
    portal.store.clock.advance(minutes=5)  # the session's last activity is now worth recording
    before = last_seen(portal.store)
    answered, finished = threading.Event(), threading.Event()
    cookie = f"portal_session={ann.cookies.get('portal_session')}"

    async def view() -> None:
        # The ASGI call itself: a test client would only return once the app has returned.
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": "/account", "raw_path": b"/account", "query_string": b"",
            "root_path": "", "headers": [(b"host", b"testserver"), (b"cookie", cookie.encode())],
            "client": ("203.0.113.7", 50000), "server": ("testserver", 80),
        }  # fmt: skip

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, object]) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                answered.set()

        await portal.app(scope, receive, send)  # type: ignore[operator]
        finished.set()

    with writer_holding_every_lock(portal.store):
        threading.Thread(target=lambda: asyncio.run(view()), daemon=True).start()
        assert answered.wait(10), "the page waited for the writer"
        assert not finished.wait(0.5)  # recording the activity is a write: it waits for the lock
        assert last_seen(portal.store) == before
    assert finished.wait(15)
    assert last_seen(portal.store) != before


def last_seen(store: Store) -> object:
    with read_snapshot(store.engine) as conn:  # reads while the writer holds its lock
        return conn.execute(text("SELECT last_seen_at FROM web_session WHERE account_id IS NOT NULL")).scalar()


def test_read_first_work_runs_once_when_it_only_reads_and_again_as_a_writer_when_it_writes(
    store: Store,
) -> None:
    runs: list[str] = []

    def reads(session):  # type: ignore[no-untyped-def]
        runs.append("reads")
        return session.execute(text("SELECT count(*) FROM subject")).scalar()

    def writes(session):  # type: ignore[no-untyped-def]
        runs.append("writes")
        session.execute(text("SELECT count(*) FROM subject"))
        session.execute(
            text("INSERT INTO subject (kind, created_at) VALUES ('browser', CURRENT_TIMESTAMP)")
        )
        return "done"

    assert run_transaction(store.factory, reads, read_first=True) == 0
    assert runs == ["reads"]
    runs.clear()
    assert run_transaction(store.factory, writes, read_first=True) == "done"
    assert runs == ["writes", "writes"]  # the read-only attempt stopped before its insert
    assert store.scalar("SELECT count(*) FROM subject") == 1


def test_a_write_hidden_behind_with_is_refused_in_the_read_only_attempt_and_done_by_the_writer(
    store: Store,
) -> None:
    """The read-only attempt has no transaction of its own on PostgreSQL (and a plain BEGIN on
    SQLite), so nothing but the guard stops a write there: its verb may be WITH."""
    runs: list[str] = []

    def writes(session):  # type: ignore[no-untyped-def]
        runs.append("writes")
        session.execute(
            text(
                "WITH made AS (SELECT 'browser' AS kind) "
                "INSERT INTO subject (kind, created_at) SELECT kind, CURRENT_TIMESTAMP FROM made"
            )
        )
        return "done"

    assert run_transaction(store.factory, writes, read_first=True) == "done"
    assert runs == ["writes", "writes"]
    assert store.scalar("SELECT count(*) FROM subject") == 1


def test_a_write_through_the_driver_is_refused_in_the_read_only_attempt_and_done_by_the_writer(
    store: Store,
) -> None:
    """Hot paths write through the driver (store.executemany), where no statement listener looks:
    the helper itself refuses to write in the read-only attempt (on PostgreSQL that attempt runs
    in autocommit, so a write let through would stay even if the work then failed)."""
    subject = f.subject(store)
    runs: list[str] = []

    def writes(session):  # type: ignore[no-untyped-def]
        runs.append("writes")
        executemany(session, "UPDATE subject SET log_records = log_records + ? WHERE id = ?", [(2, subject)])
        return "done"

    assert run_transaction(store.factory, writes, read_first=True) == "done"
    assert runs == ["writes", "writes"]
    assert store.scalar("SELECT log_records FROM subject WHERE id = :s", s=subject) == 2
    with store.engine.begin() as conn:  # as it was: every store test ends with the tallies right
        conn.execute(text("UPDATE subject SET log_records = 0"))


def test_a_streamed_read_works_in_read_first_work(store: Store) -> None:
    """yield_per needs a server-side cursor on PostgreSQL, which lives only inside a transaction:
    that unit of work runs in one (the staff metrics page reads requests this way)."""
    with store.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO subject (kind, created_at) VALUES ('browser', CURRENT_TIMESTAMP)"), [{}] * 3
        )

    def streams(session):  # type: ignore[no-untyped-def]
        stmt = text("SELECT id FROM subject ORDER BY id").execution_options(yield_per=2)
        return [row[0] for row in session.execute(stmt)]

    assert len(run_transaction(store.factory, streams, read_first=True)) == 3
