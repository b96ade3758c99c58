"""A person with rows in every category of the registry, and what the erasure tests check of them:
every text cell of every table, the SQLite file's bytes, the var directory, other people's rows."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import LargeBinary, String, Text, TypeDecorator, select, text, update
from sqlalchemy.engine import make_url

from portal.models import Identifier, metadata
from portal.requests import actions
from portal.subjects import identity, registry
from tests import sitedata_factory as f
from tests.conftest import STRONG_PASSWORD, Client, Portal, Store
from tests.export_seed import download_link, seed
from tests.request_util import account_subject

Rows = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


@dataclass
class Person:
    email: str
    subject: int
    client: Client
    site_cookie: str  # an identification-cookie value with its real keyed hash (ingest finds it)
    site_user: str
    ip: str
    needles: list[str]  # strings only this person's data holds: none may survive their erasure


def person(portal: Portal, email: str, marker: str, ip: str) -> Person:
    """A verified member with rows in every category: identifiers, a site account, log records (some
    from a browser merged into them), search terms, promotional mail, consent history, a request
    with free text and a staff note on it, a prepared download, mail, audit entries, a session."""
    store = portal.store
    client = portal.client(ip=ip)
    portal.verified_user(client, email)
    subject = f.account_subject(store, email)
    seed(store, subject, marker, logs=30)
    with store.ctx() as ctx:  # the seed's value hashes are placeholders: make them the real ones
        for ident in ctx.session.scalars(select(Identifier).where(Identifier.subject_id == subject)):
            digest = identity.value_hash(ctx, ident.kind, ident.name, ident.value)
            ctx.session.execute(update(Identifier).where(Identifier.id == ident.id).values(value_hash=digest))
    browser = f.subject(store, "browser")
    cookie = f"{marker}-laptop-cookie"
    f.cookie(store, browser, "site_id", cookie)
    f.log_records(
        store, browser, 12, source_id=f.source(store, f"/logs/{zlib.crc32(marker.encode())}"), ip=ip,
        path=f"/watch/{marker}-{{i}}", referrer=f"https://www.google.com/search?q={marker}+films",
    )  # fmt: skip
    with store.ctx() as ctx:
        identity.merge(ctx, subject, browser, "test: a browser of theirs")
    r = client.submit(
        "/my/requests/new", {"kind": "rectification", "details": f"My name is {marker} Smith, not Smyth."},
        form_page="/my/requests/new?kind=rectification",
    )  # fmt: skip
    assert r.status_code == 303, r.text
    rectification = int(r.headers["location"].rsplit("/", 1)[1])
    with store.ctx(actor=_agent(store)) as ctx:
        actions.add_note(ctx, rectification, f"Phoned {marker} about the spelling.")
    download_link(client)  # a prepared download: its file under var/exports holds everything
    needles = [
        email, cookie, f"{marker}-cookie-0", f"{marker}-cookie-1", f"{marker}-user", f"{marker} term 0", ip, marker,
    ]  # fmt: skip
    return Person(email, subject, client, cookie, f"{marker}-user", ip, needles)


def _agent(store: Store) -> str:
    """The audit actor of a member of staff (made once per store)."""
    found = scalar(store, "SELECT id FROM account WHERE email = 'agent@example.com'")
    if found is None:
        account_subject(store, "agent@example.com", role="agent")
        found = scalar(store, "SELECT id FROM account WHERE email = 'agent@example.com'")
    return f"account:{found}"


def ask_erasure(client: Client) -> int:
    r = client.submit("/my/requests/new", {"kind": "erasure", "password": STRONG_PASSWORD},
                      form_page="/my/requests/new?kind=erasure")  # fmt: skip
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def rows(store: Store) -> Rows:
    """Every row of every table, by primary key."""
    out: Rows = {}
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            pk = [c.name for c in table.primary_key.columns]
            out[table.name] = {
                tuple(m[n] for n in pk): dict(m) for m in (r._mapping for r in conn.execute(select(table)))
            }
    return out


def owned(store: Store, found: registry.Scope) -> dict[str, set[tuple[Any, ...]]]:
    """The primary keys of the person's rows in every category (what erasure may touch)."""
    with store.engine.connect() as conn:
        return {
            c.table: {tuple(r) for r in conn.execute(registry.keys(c, found))} for c in registry.CATEGORIES
        }


def hits(store: Store, needles: Iterable[str]) -> list[tuple[str, str, str]]:
    """(table, column, text) of every text or binary cell, of every table, holding one of `needles`."""
    lowered = [n.lower() for n in needles]
    found = []
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            cols = [c for c in table.columns if _textual(c)]
            for row in conn.execute(select(*cols)) if cols else []:
                for c, value in zip(cols, row, strict=True):
                    cell = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")
                    if any(n in cell.lower() for n in lowered):
                        found.append((table.name, c.name, cell[:200]))
    return found


def _textual(column: Any) -> bool:
    """Text or bytes, seen through decorated types (SQLModel's AutoString is one)."""
    sa_type = column.type.impl_instance if isinstance(column.type, TypeDecorator) else column.type
    return isinstance(sa_type, String | Text | LargeBinary)


def database_bytes(store: Store) -> bytes:
    """The SQLite file after a WAL checkpoint, with what is left of the WAL."""
    path = Path(make_url(store.settings.database_url).database or "")
    conn = sqlite3.connect(path, isolation_level=None)  # outside any transaction, as a checkpoint must be
    try:
        busy, _frames, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
    finally:
        conn.close()
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def files_holding(root: Path, needles: Iterable[str], skip: Path | None = None) -> list[str]:
    """Files under `root` (the var directory: exports, locks) whose bytes hold one of `needles`."""
    wanted = [n.encode() for n in needles]
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if skip is not None and path.name.startswith(skip.name):
            continue
        data = path.read_bytes()
        found += [f"{path}: {n.decode()}" for n in wanted if n in data]
    return found


def scalar(store: Store, sql: str, **params: object) -> Any:
    with store.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()
