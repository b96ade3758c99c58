"""`rows.all_rows` gives exactly the rows, types and order a plain execute gives, on both stores
(SQLite reads them as one JSON value), including ties broken by a second key and NULL columns."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import null, select

from portal.core.rows import all_rows
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
