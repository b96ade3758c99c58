"""Re-entering the password before a sensitive action (export; later erasure), throttled like login."""

from __future__ import annotations

from dataclasses import dataclass

from portal import audit
from portal.accounts import accounts, passwords, sessions, throttle
from portal.accounts.sessions import Current
from portal.core.context import Ctx
from portal.core.errors import Throttled
from portal.models import Account, WebSession


@dataclass(frozen=True)
class Reauth:
    """Outcome; failures are results, not exceptions, so their throttle counters commit."""

    status: str  # "ok" | "failed" | "throttled"
    retry_after: int = 0


def confirm_password(ctx: Ctx, cur: Current, password: str, device_cookie: str | None = None) -> Reauth:
    """Check the logged-in account's password; on success the session counts as just re-authenticated."""
    account = ctx.session.get(Account, cur.account.id) if cur.account else None
    row = ctx.session.get(WebSession, cur.id_hash)
    if account is None or row is None:
        return Reauth("failed")
    # The same counters as login: re-authentication must not become a way around its lockout.
    keys = accounts.guessing_keys(ctx, account.email, device_cookie)
    try:
        throttle.check(ctx, *keys)
    except Throttled as exc:
        return Reauth("throttled", exc.retry_after)
    ok, new_hash = passwords.verify(password, account.password_hash)
    if not ok:
        throttle.fail(ctx, keys[0], throttle.ACCOUNT_LIMIT, windowed=False)
        throttle.fail(ctx, keys[1], throttle.IP_LIMIT, windowed=True)
        audit.record(ctx, "reauth.failed", subject_id=account.subject_id)
        return Reauth("failed")
    throttle.clear(ctx, keys[0])
    if new_hash:
        account.password_hash = new_hash
    sessions.mark_reauthenticated(ctx, Current(cur.token, row, account))
    audit.record(ctx, "reauth.ok", subject_id=account.subject_id)
    return Reauth("ok")
