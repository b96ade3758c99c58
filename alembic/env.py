"""Alembic environment: runs against the connection the portal hands over, or the configured URL."""

from __future__ import annotations

from alembic import context
from portal import models
from portal.core.store import make_engine

config = context.config


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=models.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from portal.core.settings import load

    engine = make_engine(config.get_main_option("sqlalchemy.url") or load().database_url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
