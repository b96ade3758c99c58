"""One erasure engine per request at a time, across every worker and cron: a lock that dies with its
holder, so a run killed at any moment (kill -9 included) never leaves a request locked.

PostgreSQL: a session-level advisory lock on a connection of its own, released by the server when
that connection ends. SQLite (one machine by nature): flock on a file beside the store's keys, which
the kernel releases when the process ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, text

from portal.core.settings import Settings

# pg_try_advisory_lock(class, request id): the two-key space, apart from every one-key lock.
_PG_CLASS = 0x65726173  # "eras"


@contextlib.contextmanager
def held(engine: Engine, settings: Settings, request_id: int) -> Iterator[bool]:
    """True inside the block if this process now runs request `request_id`; False if another does."""
    if engine.dialect.name == "postgresql":
        with _postgres(engine, request_id) as got:
            yield got
    else:
        with _file(settings.var_dir / "locks" / f"erasure-{request_id}.lock") as got:
            yield got


@contextlib.contextmanager
def _postgres(engine: Engine, request_id: int) -> Iterator[bool]:
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        got = bool(
            conn.execute(
                text("SELECT pg_try_advisory_lock(:c, :r)"), {"c": _PG_CLASS, "r": request_id}
            ).scalar()
        )
        try:
            yield got
        finally:
            if got:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:c, :r)"), {"c": _PG_CLASS, "r": request_id})
                except Exception:
                    # A pooled connection must never keep the lock: drop the connection instead.
                    conn.invalidate()
                    raise
    finally:
        conn.close()


@contextlib.contextmanager
def _file(path: Path) -> Iterator[bool]:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        # The holder before us may have removed the file after we opened it: then our lock is on a
        # file nobody else will open, and someone may hold the new one.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            yield False
            return
        try:
            yield True
        finally:
            # Removed while locked: the next run creates a fresh file (see the check above).
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    finally:
        os.close(fd)
