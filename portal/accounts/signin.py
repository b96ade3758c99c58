"""Signing in and out: credentials, the second factor for staff, and session rotation together."""

from __future__ import annotations

from portal import audit
from portal.accounts import accounts, mfa, sessions, throttle
from portal.accounts.accounts import LoginResult
from portal.accounts.sessions import Current
from portal.core.context import Ctx
from portal.core.errors import ValidationError
from portal.models import WebSession


def sign_in(
    ctx: Ctx, old: Current | None, email: str, password: str, device_cookie: str | None = None
) -> tuple[LoginResult, Current | None]:
    """Log in; on success the session gets a new id (the pre-login id stops working)."""
    result = accounts.login(ctx, email, password, device_cookie)
    if result.status != "ok" or result.account is None:
        return result, None
    return result, sessions.rotate(ctx, old, result.account)


def sign_out(ctx: Ctx, cur: Current) -> None:
    sessions.end(ctx, cur)
    if cur.account is not None:
        audit.record(ctx, "logout", subject_id=cur.account.subject_id)


def start_enrolment(ctx: Ctx, cur: Current) -> str:
    """A fresh TOTP secret for a staff member who has none yet (kept until confirmed)."""
    account = accounts.get(ctx, cur.account.id)  # type: ignore[union-attr,arg-type]
    if account.totp_enabled_at is not None:
        raise ValidationError("A second factor is already set up.")
    if account.totp_secret is None:
        account.totp_secret = mfa.new_secret()
    return account.totp_secret


def second_factor(ctx: Ctx, cur: Current, code: str) -> bool:
    """Check a TOTP code (confirming enrolment on first use); on success the session is MFA-complete."""
    account = accounts.get(ctx, cur.account.id)  # type: ignore[union-attr,arg-type]
    key = "mfa:" + str(account.id)
    throttle.check(ctx, key)  # six digits fall to brute force without a limit
    if account.totp_secret is None or not mfa.check_code(ctx, account, account.totp_secret, code):
        throttle.fail(ctx, key, throttle.ACCOUNT_LIMIT, windowed=False)
        audit.record(ctx, "login.mfa_failed", subject_id=account.subject_id)
        return False
    throttle.clear(ctx, key)
    enrolled = account.totp_enabled_at is None
    if enrolled:
        account.totp_enabled_at = ctx.now
    row = ctx.session.get(WebSession, cur.id_hash)
    if row is None:
        return False
    row.mfa_at = ctx.now
    audit.record(ctx, "login.mfa_ok", subject_id=account.subject_id, details={"enrolled": enrolled})
    return True
