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

from portal import migrations
from portal.db import make_engine
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
