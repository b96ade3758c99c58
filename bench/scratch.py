"""A scratch PostgreSQL database for one benchmark: created from a server URL, dropped afterwards."""

from __future__ import annotations

import argparse
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """The URL of a new, empty database on that server; it is dropped when the block ends."""
    name = f"portal_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def settle(url: str) -> None:
    """What autovacuum does within a minute or so of a bulk load, done at once (PostgreSQL only): a
    benchmark that starts seconds after `portal demo` would otherwise measure index-only scans (the
    overview's count of a person's log records) that visit every row's heap page, because no
    visibility map is set yet, and plans made from empty statistics."""
    if not url.startswith("postgresql"):
        return
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def on_each_store(args: argparse.Namespace, run: Callable[[str, Path, argparse.Namespace], bool], prefix: str) -> int:
    """`run(url, var_dir, args)` on a new SQLite store (unless --no-sqlite) and on a scratch PostgreSQL
    database (with --postgres URL); prints the verdict and returns the exit status."""
    ok = True
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            ok = run(f"sqlite:///{tmp}/portal.db", Path(tmp), args)
    if args.postgres:
        with scratch_database(args.postgres) as url, tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            ok = run(url, Path(tmp), args) and ok
    print("OK" if ok else "TARGET MISSED")
    return 0 if ok else 1
