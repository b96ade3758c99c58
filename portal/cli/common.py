"""What every command shares: settings, the store, and turning project errors into one clear line."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from portal.core.clock import Clock
from portal.core.context import Ctx
from portal.core.errors import PortalError
from portal.core.files import sqlite_path
from portal.core.settings import Settings, load
from portal.core.store import check_engine, make_engine, session_factory, transaction

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(fn: F) -> F:
    """A bad setting or input stops the command with one line on stderr and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PortalError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def open_store(settings: Settings | None = None) -> tuple[Settings, Engine, sessionmaker[Session]]:
    settings = settings or load()
    engine = make_engine(settings.database_url)
    check_engine(engine)
    return settings, engine, session_factory(engine)


def private_paths(settings: Settings) -> list[Path]:
    """What must stay private to the portal's account: the var directory, store, secret and keys."""
    paths = [settings.var_dir, settings.var_dir / "secret.key", settings.audit_key_path]
    store = sqlite_path(settings.database_url)
    if store is not None:
        paths += [store, Path(f"{store}-wal"), Path(f"{store}-shm")]
    return paths


@contextmanager
def cli_ctx(settings: Settings | None = None) -> Iterator[Ctx]:
    """A transaction acting as `system`, for commands that change state."""
    settings, engine, factory = open_store(settings)
    try:
        with transaction(factory) as session:
            yield Ctx(session=session, settings=settings, now=Clock().now(), actor="system")
    finally:
        engine.dispose()
