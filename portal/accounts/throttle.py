"""Login throttling kept in the store, so every worker sees the same counters."""

from __future__ import annotations

import math
from datetime import timedelta

from portal.core.context import Ctx
from portal.core.crypto import keyed_hash
from portal.core.errors import Throttled
from portal.models import Throttle

ACCOUNT_LIMIT = 5  # consecutive failures on one email
IP_LIMIT = 20  # failures from one address within the window
WINDOW = timedelta(minutes=15)
LOCK = timedelta(minutes=15)


def account_key(ctx: Ctx, email: str) -> str:
    # Keyed by email, not by account, so unknown emails lock exactly like known ones.
    return "acct:" + keyed_hash(ctx.settings.secret_key, "throttle-email", email)


def ip_key(ctx: Ctx, ip: str) -> str:
    return "ip:" + keyed_hash(ctx.settings.secret_key, "throttle-ip", ip)


def check(ctx: Ctx, *keys: str) -> None:
    """Raise Throttled if any key is locked."""
    for key in keys:
        row = ctx.session.get(Throttle, key)
        if row is not None and row.locked_until is not None and row.locked_until > ctx.now:
            raise Throttled(math.ceil((row.locked_until - ctx.now).total_seconds()))


def fail(ctx: Ctx, key: str, limit: int, *, windowed: bool) -> None:
    row = ctx.session.get(Throttle, key, with_for_update=True)
    if row is None:
        row = Throttle(key=key, failures=0, window_start=ctx.now)
        ctx.session.add(row)
    if (windowed and ctx.now - row.window_start > WINDOW) or (
        row.locked_until is not None and row.locked_until <= ctx.now
    ):
        row.failures, row.window_start, row.locked_until = 0, ctx.now, None
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = ctx.now + LOCK
    ctx.session.flush()


def clear(ctx: Ctx, key: str) -> None:
    row = ctx.session.get(Throttle, key)
    if row is not None:
        ctx.session.delete(row)
        ctx.session.flush()


def purge_expired(ctx: Ctx) -> int:
    """Forget counters that can no longer matter (minimal data)."""
    from sqlalchemy import delete, or_
    from sqlmodel import col

    horizon = ctx.now - WINDOW - LOCK
    result = ctx.session.execute(
        delete(Throttle).where(
            col(Throttle.window_start) < horizon,
            or_(col(Throttle.locked_until).is_(None), col(Throttle.locked_until) < ctx.now),
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
