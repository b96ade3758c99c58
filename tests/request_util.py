"""Helpers shared by the request tests: accounts, requests in a given status, what was recorded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from sqlalchemy import text

from portal.accounts import accounts, passwords
from portal.models.requests import DataRequest
from portal.requests import deadlines
from portal.web.app import create_app
from tests.conftest import STRONG_PASSWORD, Client, Portal, Store

_HASH: dict[str, str] = {}


def account_subject(store: Store, email: str, role: str = "user") -> int:
    """A verified account (hashing the password once per run: argon2 is slow on purpose)."""
    if "hash" not in _HASH:
        _HASH["hash"] = passwords.hash_password(STRONG_PASSWORD)
    with store.ctx() as ctx:
        return accounts._create(ctx, email, _HASH["hash"], role, verified=True).subject_id  # noqa: SLF001


def request_in(store: Store, subject_id: int, kind: str, status: str, **fields: Any) -> int:
    """A request put straight into `status` (as if the steps before had happened)."""
    with store.ctx() as ctx:
        row = DataRequest(
            subject_id=subject_id, kind=kind, status=status, regime=fields.pop("regime", "gdpr"),
            received_at=fields.pop("received_at", ctx.now), updated_at=ctx.now, due_on=ctx.now.date(),
            deadline_basis="",
            scope=fields.pop("scope", "marketing" if kind == "objection" else ""), **fields,
        )  # fmt: skip
        deadlines.stamp(ctx.settings, row)
        ctx.session.add(row)
        ctx.session.flush()
        return int(row.id)  # type: ignore[arg-type]


def status_of(store: Store, request_id: int) -> str:
    return str(store.scalar("SELECT status FROM data_request WHERE id = :i", i=request_id))


def timeline_rows(store: Store, request_id: int) -> list[tuple[Any, ...]]:
    """(author, action, from, to, message, audit_seq) of every timeline line, in order."""
    with store.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT author, action, from_status, to_status, message, audit_seq FROM request_event "
                    "WHERE request_id = :i ORDER BY id"
                ),
                {"i": request_id},
            )
        ]


def audit_count(store: Store, prefix: str = "") -> int:
    return int(store.scalar("SELECT count(*) FROM audit_entry WHERE action LIKE :p", p=prefix + "%"))  # type: ignore[arg-type]


def user(portal: Portal, email: str) -> tuple[Client, int]:
    """A logged-in verified user and their subject id."""
    client = portal.client()
    portal.verified_user(client, email)
    subject = portal.store.scalar("SELECT subject_id FROM account WHERE email = :e", e=email)
    return client, int(subject)  # type: ignore[arg-type]


@contextmanager
def portal_with(store: Store, **overrides: Any) -> Iterator[Portal]:
    """The app on the same store with some settings changed (e.g. erasure_wait_days=0)."""
    settings = replace(store.settings, **overrides)
    app = create_app(settings, clock=store.clock, background=False)
    try:
        yield Portal(replace(store, settings=settings), app)
    finally:
        app.state.engine.dispose()


def file_erasure(portal: Portal, email: str) -> tuple[Client, int, int]:
    """A verified user who asks for erasure: (client, subject id, request id)."""
    client, subject = user(portal, email)
    r = client.submit("/my/requests/new", {"kind": "erasure", "password": STRONG_PASSWORD},
                      form_page="/my/requests/new?kind=erasure")  # fmt: skip
    assert r.status_code == 303, r.text
    return client, subject, int(r.headers["location"].rsplit("/", 1)[1])
