"""Migrations: one head, upgrade from empty, downgrade/upgrade round trip, models match — on both engines."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine, make_url

from portal.core import migrations
from portal.core.store import make_engine
from portal.models import metadata
from tests.conftest import PG_URL, require_postgres


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A brand-new, empty database (not the shared test store)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    require_postgres()
    name = f"portal_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_single_head() -> None:
    assert len(migrations.heads()) == 1


def test_upgrade_from_empty_creates_every_table_and_matches_models(empty_engine: Engine) -> None:
    migrations.upgrade(empty_engine)
    tables = set(inspect(empty_engine).get_table_names())
    assert set(metadata.tables) <= tables
    assert migrations.current(empty_engine) == migrations.heads()[0]
    assert migrations.differences(empty_engine) == []


def test_downgrade_to_base_and_upgrade_again(empty_engine: Engine) -> None:
    migrations.upgrade(empty_engine)
    migrations.downgrade(empty_engine, "base")
    assert set(inspect(empty_engine).get_table_names()) - {"alembic_version"} == set()
    migrations.upgrade(empty_engine)
    assert migrations.differences(empty_engine) == []


def test_each_step_downgrades_and_upgrades(empty_engine: Engine) -> None:
    from alembic.script import ScriptDirectory

    revisions = list(reversed(list(ScriptDirectory.from_config(migrations.alembic_config()).walk_revisions())))
    for rev in revisions:
        migrations.upgrade(empty_engine, rev.revision)
        migrations.downgrade(empty_engine, rev.down_revision or "base")
        migrations.upgrade(empty_engine, rev.revision)
    assert migrations.differences(empty_engine) == []


def test_portal_db_check_command(tmp_path: Path) -> None:
    env = {**os.environ, "PORTAL_VAR_DIR": str(tmp_path), "PORTAL_DATABASE_URL": ""}
    env.pop("PORTAL_DATABASE_URL")
    run = lambda *args: subprocess.run([sys.executable, "-m", "portal", "db", *args], capture_output=True, text=True, env=env)  # noqa: E731
    before = run("check")
    assert before.returncode != 0 and "run" not in before.stdout
    assert run("upgrade").returncode == 0
    after = run("check")
    assert after.returncode == 0 and after.stdout.startswith("OK"), after.stderr


def test_0005_gives_stored_log_records_their_line_ids_and_holds_each_line_to_one_row(
    empty_engine: Engine,
) -> None:
    from sqlalchemy.exc import IntegrityError

    from portal.models.sitedata import log_record_id

    migrations.upgrade(empty_engine, "0004")
    row = "(:src, :line, '2026-11-01 10:00:00', '198.51.100.7', 200, '')"
    insert = text(f"INSERT INTO log_record (source_id, line_no, at, ip, status, site) VALUES {row}")
    with empty_engine.begin() as conn:
        conn.execute(
            text(
                'INSERT INTO ingest_source (id, site, path, fingerprint, fingerprint_bytes, "offset", lines,'
                " format, created_at, updated_at) VALUES (7, '', 'a.log', 'f', 1, 0, 0, 'combined',"
                " '2026-11-01', '2026-11-01')"
            )
        )
        for line in (1, 2, 3):
            conn.execute(insert, {"src": 7, "line": line})  # ids 1, 2, 3 from the sequence
    migrations.upgrade(empty_engine, "0005")

    def ids() -> list[tuple[int, int]]:
        with empty_engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text("SELECT id, line_no FROM log_record ORDER BY id"))]

    assert ids() == [(log_record_id(7, n), n) for n in (1, 2, 3)]
    # The primary key alone now refuses a second row for a line, whatever else the row says.
    again = text(
        f"INSERT INTO log_record (id, source_id, line_no, at, ip, status, site) VALUES (:id, {row[1:]}"
    )
    with pytest.raises(IntegrityError), empty_engine.begin() as conn:
        conn.execute(again, {"id": log_record_id(7, 2), "src": 7, "line": 2})
    with empty_engine.begin() as conn:
        conn.execute(again, {"id": log_record_id(7, 4), "src": 7, "line": 4})
    assert [line for _id, line in ids()] == [1, 2, 3, 4]
    # Downgraded, rows without an id are numbered after the highest again.
    migrations.downgrade(empty_engine, "0004")
    with empty_engine.begin() as conn:
        conn.execute(insert, {"src": 7, "line": 5})
    assert ids()[-1] == (log_record_id(7, 4) + 1, 5)


def test_0013_tallies_the_log_records_each_subject_already_has(empty_engine: Engine) -> None:
    from portal.models.sitedata import log_record_id
    from portal.subjects import tally

    migrations.upgrade(empty_engine, "0012")
    with empty_engine.begin() as conn:
        conn.execute(text("INSERT INTO subject (id, kind, created_at) VALUES (1, 'browser', '2026-11-01'), "
                          "(2, 'browser', '2026-11-01'), (3, 'account', '2026-11-01')"))  # fmt: skip
        for line, subject in enumerate((1, 1, 1, 2, None, None), 1):
            conn.execute(
                text("INSERT INTO log_record (id, source_id, line_no, subject_id, at, ip, status, site) "
                     "VALUES (:id, 7, :line, :subject, '2026-11-01 10:00:00', '198.51.100.7', 200, '')"),
                {"id": log_record_id(7, line), "line": line, "subject": subject},
            )  # fmt: skip
    migrations.upgrade(empty_engine, "0013")
    with empty_engine.connect() as conn:
        counts = dict(conn.execute(text("SELECT id, log_records FROM subject")).all())
        assert counts == {1: 3, 2: 1, 3: 0}
        assert tally.mismatches(conn) == []


def test_log_record_ids_name_no_line_outside_their_bits() -> None:
    from portal.models.sitedata import MAX_LINE_NO, MAX_SOURCE_ID, log_record_id

    assert log_record_id(1, 0) == 2**40 and log_record_id(MAX_SOURCE_ID, MAX_LINE_NO) == 2**63 - 1
    for source, line in ((0, 1), (MAX_SOURCE_ID + 1, 1), (1, MAX_LINE_NO + 1), (1, -1)):
        with pytest.raises(ValueError, match="no log record id"):
            log_record_id(source, line)
