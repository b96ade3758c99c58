"""log_record after migration 0004, on both stores: no foreign keys (`portal db check` counts
orphans and checks the tallies of records instead), a partial subject index every read by subject
still uses, BRIN on time (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from click.testing import CliRunner
from sqlalchemy import event, inspect, text

from portal.cli import main as cli
from portal.ingest import integrity
from portal.models.sitedata import log_record_id
from portal.subjects import holdings, logbrowse, registry, tally
from tests import sitedata_factory as f
from tests.conftest import Store

INDEX = "ix_log_record_subject_at"


def _orphan(store: Store, *, source_id: int, subject_id: int | None, line_no: int) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO log_record (id, source_id, line_no, subject_id, at, ip, status, site) "
                "VALUES (:id, :src, :line, :subject, :at, '198.51.100.9', 200, '')"
            ),
            {
                "id": log_record_id(source_id, line_no),
                "src": source_id,
                "line": line_no,
                "subject": subject_id,
                "at": store.clock.now(),
            },
        )


def test_schema_has_no_foreign_keys_a_partial_subject_index_and_brin_on_postgres(store: Store) -> None:
    # Alembic's compare sees neither an index's WHERE nor its access method: check them here.
    assert inspect(store.engine).get_foreign_keys("log_record") == []
    query = (
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'log_record'"
        if store.kind == "sqlite"
        else "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'log_record'"
    )
    with store.engine.connect() as conn:
        defs: dict[str, str] = {name: sql or "" for name, sql in conn.execute(text(query)).all()}
    if store.kind == "sqlite":
        assert defs[INDEX].endswith("WHERE subject_id IS NOT NULL")
        assert "WHERE" not in defs["ix_log_record_at"]
    else:
        assert "USING btree (subject_id, at, id) WHERE (subject_id IS NOT NULL)" in defs[INDEX]
        assert "USING brin (at)" in defs["ix_log_record_at"]


def test_orphans_are_counted_and_fail_db_check(cli_env: Store) -> None:
    store = cli_env
    src = f.source(store)
    who = f.subject(store)
    f.log_records(store, who, 3, source_id=src)
    f.log_records(store, None, 2, source_id=src)
    runner = CliRunner()

    with store.engine.connect() as conn:
        assert integrity.orphans(conn) == integrity.Orphans(0, 0)
    ok = runner.invoke(cli, ["db", "check"])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("OK: ") and "no orphaned log records" in ok.stdout

    _orphan(store, source_id=src, subject_id=who + 1000, line_no=10_001)
    _orphan(store, source_id=src, subject_id=who + 1001, line_no=10_002)
    with store.engine.connect() as conn:
        assert integrity.orphans(conn) == integrity.Orphans(2, 0)
    bad = runner.invoke(cli, ["db", "check"])
    assert bad.exit_code != 0
    assert bad.stderr.strip() == (
        "error: orphaned log records: 2 log_record rows name a missing subject, 0 a missing ingest_source"
    )

    _orphan(store, source_id=src + 1000, subject_id=None, line_no=1)
    with store.engine.connect() as conn:
        assert integrity.orphans(conn) == integrity.Orphans(2, 1)
    bad = runner.invoke(cli, ["db", "check"])
    assert (
        bad.exit_code != 0
        and "2 log_record rows name a missing subject, 1 a missing ingest_source" in bad.stderr
    )


def test_a_wrong_tally_fails_db_check_and_recount_sets_it_from_the_records(cli_env: Store) -> None:
    """The overview's count of log records is each subject's tally; a hand edit that bypasses it is
    caught by `portal db check` and mended by `portal db recount`."""
    store = cli_env
    src = f.source(store)
    who, other = f.subject(store), f.subject(store)
    f.log_records(store, who, 3, source_id=src)
    f.log_records(store, other, 2, source_id=src)
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "check"]).exit_code == 0

    _orphan(store, source_id=src, subject_id=who, line_no=20_001)  # bare SQL: no tally
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE subject SET log_records = 7 WHERE id = :s"), {"s": other})
        assert tally.mismatches(conn) == [(who, 3, 4), (other, 7, 2)]
    bad = runner.invoke(cli, ["db", "check"])
    assert bad.exit_code != 0
    assert bad.stderr.strip() == (
        f"error: 2 subjects' tallies of log records are wrong (subject {who}: 3 counted, 4 held, "
        f"subject {other}: 7 counted, 2 held); `portal db recount` sets them from the records"
    )

    mended = runner.invoke(cli, ["db", "recount"])
    assert (
        mended.exit_code == 0
        and mended.stdout.strip() == "2 subjects' tallies of log records set from their records"
    )
    assert runner.invoke(cli, ["db", "check"]).exit_code == 0
    with store.ctx() as ctx:
        shown = {s.category.key: s.count for s in holdings.overview(ctx, who)}
    assert shown["log_records"] == 4


@contextmanager
def _captured(store: Store) -> Iterator[list[tuple[str, Any]]]:
    """Every SELECT on log_record the store runs meanwhile, with its driver-level parameters."""
    seen: list[tuple[str, Any]] = []

    def grab(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and "log_record" in statement:
            seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", grab)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", grab)


def _plan(store: Store, statement: str, parameters: Any) -> str:
    with store.engine.begin() as conn:
        if store.kind == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            return "\n".join(str(r[-1]) for r in rows)
        # A test store is small enough for a sequential scan to win; ask which index the planner
        # can use, which is the question: does `subject_id = …` match the partial index?
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        return "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).all())


def test_reads_by_subject_use_the_partial_subject_index(store: Store) -> None:
    src = f.source(store)
    me, other = f.subject(store), f.subject(store)
    f.log_records(store, me, 120, source_id=src, same_time_every=3)
    f.log_records(store, other, 30, source_id=src)
    f.log_records(store, None, 300, source_id=src)  # lines that carried no identifier
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    everything = logbrowse.LogFilter()
    last_week = logbrowse.LogFilter(start=(store.clock.now() - timedelta(days=7)).date())

    with store.ctx() as ctx:
        first = logbrowse.page(ctx, me, everything, None)
        assert first.next is not None
        with _captured(store) as seen:
            logbrowse.page(ctx, me, everything, first.next)  # the keyset page, (at, id) < cursor
            logbrowse.page(ctx, me, last_week, None)
            logbrowse.activity(ctx, me, everything)
    with store.engine.connect() as conn:
        found = registry.scope(conn, store.settings.secret_key, me)
    with store.engine.connect() as conn, _captured(store) as exported:
        conn.execute(registry.statement(registry.by_key("log_records"), found)).all()
    assert len(seen) == 3 and len(exported) == 1
    # Planned only now: on SQLite the reads' transaction held the write lock.
    plans = [_plan(store, statement, parameters) for statement, parameters in seen + exported]

    for plan in plans:
        assert INDEX in plan, plan
    # The keyset page walks the index in order: no sort step on either store.
    assert "TEMP B-TREE" not in plans[0] and "Sort" not in plans[0], plans[0]
