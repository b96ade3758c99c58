"""Throttling kept in the store, so every worker sees the same counters.

Two kinds of row share the `throttle` table, told apart by their key's prefix:
- failure counters (login, re-auth, second factor): `locked_until` is the end of a lock;
- budgets (mail per address and per client): `failures` counts what was spent in the current
  window and `locked_until` is that window's end.
"""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import delete, or_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col

from portal.core.context import Ctx
from portal.core.crypto import keyed_hash
from portal.core.errors import Throttled
from portal.models import Throttle

# Consecutive failures on one email from the clients it does not know; a browser that signed in to
# it before (portal/accounts/devices.py) has the same allowance of its own.
ACCOUNT_LIMIT = 5
IP_LIMIT = 20  # failures from one address within the window
WINDOW = timedelta(minutes=15)
LOCK = timedelta(minutes=15)
MAIL_WINDOW = timedelta(hours=1)
MAIL_PER_ADDRESS = 3  # mails an anonymous form can make the portal send to one address per hour
MAIL_PER_CLIENT = 10  # mail-sending form posts one client address can make per hour


def account_key(ctx: Ctx, email: str) -> str:
    # Keyed by email, not by account, so unknown emails lock exactly like known ones.
    return "acct:" + keyed_hash(ctx.settings.secret_key, "throttle-email", email)


def ip_key(ctx: Ctx, ip: str) -> str:
    return "ip:" + keyed_hash(ctx.settings.secret_key, "throttle-ip", ip)


def device_key(ctx: Ctx, nonce: str) -> str:
    return "dev:" + keyed_hash(ctx.settings.secret_key, "throttle-device", nonce)


def mail_address_key(ctx: Ctx, email: str) -> str:
    return "mailto:" + keyed_hash(ctx.settings.secret_key, "throttle-mail-to", email)


def mail_client_key(ctx: Ctx, ip: str) -> str:
    return "mailip:" + keyed_hash(ctx.settings.secret_key, "throttle-mail-ip", ip)


def locked(ctx: Ctx, key: str) -> int:
    """Seconds until `key` unlocks; 0 when it is not locked."""
    row = ctx.session.get(Throttle, key)
    if row is not None and row.locked_until is not None and row.locked_until > ctx.now:
        return math.ceil((row.locked_until - ctx.now).total_seconds())
    return 0


def check(ctx: Ctx, *keys: str) -> None:
    """Raise Throttled if any key is locked."""
    for key in keys:
        wait = locked(ctx, key)
        if wait:
            raise Throttled(wait)


def _row(ctx: Ctx, key: str) -> Throttle:
    """The key's row, created if missing, locked for this transaction. An insert that ignores a
    conflict, not get-then-add: two first failures at once must not collide on the primary key."""
    dialect = ctx.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    ctx.session.execute(
        insert(Throttle.__table__)  # type: ignore[attr-defined]
        .values(key=key, failures=0, window_start=ctx.now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = ctx.session.get(Throttle, key, with_for_update=True, populate_existing=True)
    assert row is not None
    return row


def fail(ctx: Ctx, key: str, limit: int, *, windowed: bool) -> None:
    row = _row(ctx, key)
    if (windowed and ctx.now - row.window_start > WINDOW) or (
        row.locked_until is not None and row.locked_until <= ctx.now
    ):
        row.failures, row.window_start, row.locked_until = 0, ctx.now, None
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = ctx.now + LOCK
    ctx.session.flush()


def take(ctx: Ctx, key: str, limit: int, window: timedelta = MAIL_WINDOW) -> bool:
    """Spend one unit of a budget of `limit` per `window`; False (nothing spent) when it is used up."""
    row = _row(ctx, key)
    if row.locked_until is None or row.locked_until <= ctx.now:
        row.failures, row.window_start, row.locked_until = 0, ctx.now, ctx.now + window
    if row.failures >= limit:
        return False
    row.failures += 1
    ctx.session.flush()
    return True


def clear(ctx: Ctx, key: str) -> None:
    row = ctx.session.get(Throttle, key)
    if row is not None:
        ctx.session.delete(row)
        ctx.session.flush()


def purge_expired(ctx: Ctx) -> int:
    """Forget counters that can no longer matter (minimal data)."""
    horizon = ctx.now - WINDOW - LOCK
    result = ctx.session.execute(
        delete(Throttle).where(
            col(Throttle.window_start) < horizon,
            or_(col(Throttle.locked_until).is_(None), col(Throttle.locked_until) < ctx.now),
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
