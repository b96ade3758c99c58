"""`rows.all_rows` gives exactly the rows, types and order a plain execute gives, on both stores
(SQLite reads them as one JSON value, both read from the driver itself), including ties broken by
a second key, NULL columns and bound parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, insert, null, select, text
from sqlalchemy.exc import StatementError

from portal.core.rows import all_rows
from portal.core.store import WriteNeeded, transaction
from portal.models import metadata
from tests import sitedata_factory as f
from tests.conftest import Store

LOG = metadata.tables["log_record"].c


def test_all_rows_match_a_plain_read_in_order_and_type(store: Store) -> None:
    me = f.subject(store)
    source = f.source(store)
    # Runs of three records share a time: the id decides their order, descending like the time.
    f.log_records(store, me, 40, source_id=source, same_time_every=3, step=timedelta(seconds=90))
    f.log_records(store, me, 5, source_id=source, referrer=None, path='/café/ünïcode/"quoted"/{i}')
    f.log_records(store, f.subject(store), 7, source_id=source)  # someone else's
    stmt = (
        select(LOG.id, LOG.at, LOG.method, LOG.path, LOG.status, LOG.referrer, LOG.ip, null())
        .where(LOG.subject_id == me)
        .order_by(LOG.at.desc(), LOG.id.desc())
        .limit(30)
    )
    with store.ctx() as ctx:
        plain = [tuple(r) for r in ctx.session.execute(stmt)]
        packed = all_rows(ctx.session, stmt, {})
    assert len(plain) == 30
    assert packed == plain
    assert [type(v) for v in packed[0]] == [type(v) for v in plain[0]]
    assert packed[0][1].tzinfo is not None


def test_no_rows_is_an_empty_list(store: Store) -> None:
    stmt = select(LOG.id, LOG.at).where(LOG.subject_id == -1).order_by(LOG.at.desc(), LOG.id.desc())
    with store.ctx() as ctx:
        assert all_rows(ctx.session, stmt, {}) == []


def test_moments_read_exactly_as_sqlalchemy_reads_them(store: Store) -> None:
    """Dates come back aware, in UTC, to the microsecond; on SQLite a value in a form SQLAlchemy does
    not write (an offset, a "T") is still read as SQLAlchemy reads it, not refused."""
    me = f.subject(store)
    source = f.source(store)
    newest = datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC)  # the night Europe's clocks change
    f.log_records(store, me, 3, source_id=source, newest=newest, step=timedelta(microseconds=1))
    if store.kind == "sqlite":
        with store.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE log_record SET at = '2026-01-02T03:04:05+02:00' WHERE id = "
                    "(SELECT max(id) FROM log_record)"
                )
            )  # fmt: skip  (the oldest)
    stmt = select(LOG.id, LOG.at).where(LOG.subject_id == me).order_by(LOG.at.desc(), LOG.id.desc())
    with store.ctx() as ctx:
        plain = [tuple(r) for r in ctx.session.execute(stmt)]
        packed = all_rows(ctx.session, stmt, {})
    assert packed == plain
    assert packed[0][1] == newest
    assert all(at.utcoffset() == timedelta(0) for _, at in packed)
    if store.kind == "sqlite":
        assert datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC) in [at for _, at in packed]


def test_parameters_are_bound_as_sqlalchemy_binds_them(store: Store) -> None:
    """A moment compared as the store keeps it, the statement's own LIMIT, and a clear error for a
    parameter nobody gave (SQLite's rows are read from the driver, with the statement's binds)."""
    me = f.subject(store)
    source = f.source(store)
    newest = datetime(2026, 5, 1, 12, tzinfo=UTC)
    f.log_records(store, me, 20, source_id=source, newest=newest, step=timedelta(hours=1))
    since = bindparam("since", type_=LOG.at.type)
    stmt = (
        select(LOG.id, LOG.at)
        .where(LOG.subject_id == bindparam("me"), LOG.at >= since)
        .order_by(LOG.at.desc(), LOG.id.desc())
        .limit(4)
    )
    # The same instant written in another zone: bound as UTC, as SQLAlchemy binds it.
    params = {"me": me, "since": (newest - timedelta(hours=5)).astimezone(timezone(timedelta(hours=-7)))}
    with store.ctx() as ctx:
        plain = [tuple(r) for r in ctx.session.execute(stmt, params)]
        packed = all_rows(ctx.session, stmt, params)
        assert packed == plain and len(packed) == 4
        assert [at for _, at in all_rows(ctx.session, stmt.limit(10), params)][-1] == newest - timedelta(
            hours=5
        )
        with pytest.raises((KeyError, StatementError), match="since"):
            all_rows(ctx.session, stmt, {"me": me})


def test_a_read_that_would_write_is_stopped_before_it_reaches_the_store(store: Store) -> None:
    """The rows come from the driver itself, but the read-only guard still sees the statement: a
    page view's read-only attempt never writes, even through a data-modifying WITH."""
    cookie = metadata.tables["unclassified_cookie"]
    now = store.clock.now()
    planted = insert(cookie).values(name="planted", seen=1, first_seen=now, last_seen=now)
    written = planted.returning(cookie.c.name).cte("written")
    stmt = select(written.c.name).order_by(written.c.name)
    with pytest.raises(WriteNeeded), transaction(store.factory, read_only=True) as session:
        all_rows(session, stmt, {})
    with store.ctx() as ctx:
        assert ctx.session.execute(select(cookie.c.name)).all() == []
