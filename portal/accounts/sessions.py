"""Server-side sessions: the cookie carries a random id, the store keeps only its hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select, update
from sqlmodel import col

from portal.core.context import Ctx
from portal.core.crypto import keyed_hash, random_token, sha256_hex
from portal.models import STAFF_ROLES, Account, WebSession

IDLE_TIMEOUT = timedelta(minutes=30)
# Staff see other people's data: their sessions end sooner (issue 13).
STAFF_IDLE_TIMEOUT = timedelta(minutes=15)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
# Writing last_seen on every request would turn every page view into a write (see touch()).
TOUCH_EVERY = timedelta(seconds=60)
REAUTH_WINDOW = timedelta(minutes=15)
# Every request asks this: one query, built once (composing it costs more than answering it).
_SESSION_AND_ACCOUNT = (
    select(WebSession, Account)
    .outerjoin(Account, col(Account.id) == col(WebSession.account_id))
    .where(col(WebSession.id_hash) == bindparam("id_hash"))
)


@dataclass
class Current:
    """What a request knows about its visitor."""

    token: str
    row: WebSession
    account: Account | None

    @property
    def id_hash(self) -> str:
        return self.row.id_hash

    @property
    def is_staff(self) -> bool:
        return self.account is not None and self.account.role in ("agent", "admin")

    @property
    def mfa_done(self) -> bool:
        return self.row.mfa_at is not None


def csrf_token(secret: bytes, id_hash: str) -> str:
    """Bound to the session: a new session (login, logout) means a new token."""
    return keyed_hash(secret, "csrf", id_hash)


def create(ctx: Ctx, account: Account | None = None) -> Current:
    token = random_token(32)  # 256 bits
    row = WebSession(
        id_hash=sha256_hex(token),
        account_id=account.id if account else None,
        created_at=ctx.now,
        last_seen_at=ctx.now,
        authenticated_at=ctx.now if account else None,
    )
    ctx.session.add(row)
    ctx.session.flush()
    return Current(token, row, account)


def load(ctx: Ctx, token: str | None) -> Current | None:
    """The live session for a cookie value, or None; expired sessions are deleted on sight."""
    if not token or len(token) > 100:
        return None
    found = ctx.session.execute(_SESSION_AND_ACCOUNT, {"id_hash": sha256_hex(token)}).one_or_none()
    if found is None:
        return None
    row, account = found
    idle = ctx.now - row.last_seen_at
    if (
        idle > IDLE_TIMEOUT
        or ctx.now - row.created_at > ABSOLUTE_TIMEOUT
        or (account is not None and account.role in STAFF_ROLES and idle > STAFF_IDLE_TIMEOUT)
        or (account is not None and account.disabled_at is not None)
    ):
        ctx.session.delete(row)
        ctx.session.flush()
        return None
    return Current(token, row, account)


def touch_due(current: Current, now: datetime) -> bool:
    return now - current.row.last_seen_at > TOUCH_EVERY


def touch(ctx: Ctx, id_hash: str) -> None:
    """Record activity (for the idle timeout); a no-op when another request recorded it meanwhile."""
    ctx.session.execute(
        update(WebSession)
        .where(col(WebSession.id_hash) == id_hash, col(WebSession.last_seen_at) < ctx.now - TOUCH_EVERY)
        .values(last_seen_at=ctx.now)
    )


def rotate(ctx: Ctx, old: Current | None, account: Account) -> Current:
    """Start an authenticated session under a new id; the pre-login id stops working."""
    if old is not None:
        end(ctx, old)
    return create(ctx, account)


def end(ctx: Ctx, current: Current) -> None:
    ctx.session.execute(delete(WebSession).where(col(WebSession.id_hash) == current.id_hash))


def end_others(ctx: Ctx, account_id: int, keep_hash: str | None = None) -> int:
    """End every session of an account except `keep_hash` (after a password change or reset)."""
    stmt = delete(WebSession).where(col(WebSession.account_id) == account_id)
    if keep_hash is not None:
        stmt = stmt.where(col(WebSession.id_hash) != keep_hash)
    return int(ctx.session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def mark_reauthenticated(ctx: Ctx, current: Current) -> None:
    current.row.reauth_at = ctx.now
    ctx.session.flush()


def recently_reauthenticated(ctx: Ctx, current: Current) -> bool:
    at = current.row.reauth_at or current.row.authenticated_at
    return at is not None and ctx.now - at <= REAUTH_WINDOW


def purge_expired(ctx: Ctx) -> int:
    stmt = delete(WebSession).where(
        (col(WebSession.last_seen_at) < ctx.now - IDLE_TIMEOUT)
        | (col(WebSession.created_at) < ctx.now - ABSOLUTE_TIMEOUT)
    )
    return int(ctx.session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]
