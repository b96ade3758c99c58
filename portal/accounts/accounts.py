"""Accounts: registration, email verification, login, password change and reset, staff creation.

Every function that changes state writes its audit entry in the same transaction. Answers to a
visitor never depend on whether an email is registered (no account enumeration): neither their
words nor their timing, which is why registration and reset requests only queue a mail request
(portal/accounts/mailrequests.py) and the background sender does the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlmodel import col

from portal import audit
from portal.accounts import devices, mailrequests, passwords, throttle
from portal.core import mail
from portal.core.context import Ctx
from portal.core.crypto import random_token, sha256_hex
from portal.core.errors import NotFound, Throttled, TokenInvalid, ValidationError
from portal.core.links import absolute
from portal.models import ROLES, Account, LinkToken, Subject
from portal.subjects import identity

VERIFY_TTL = timedelta(hours=24)
# An expired link still says "this link has expired" for a week (rather than "not valid"), then its
# row goes: the registry promises emailed links are kept no longer (minimal data).
EXPIRED_LINKS_KEPT = timedelta(days=7)
RESET_TTL = timedelta(minutes=30)
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"\\]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


def normalize_email(raw: str) -> str:
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email) or ".." in email:
        raise ValidationError("Enter an email address like name@example.com.", "email")
    return email


def by_email(ctx: Ctx, email: str) -> Account | None:
    return ctx.session.scalar(select(Account).where(col(Account.email) == email))


def _create(ctx: Ctx, email: str, password_hash: str, role: str, verified: bool) -> Account:
    subject = Subject(kind="account", created_at=ctx.now)
    ctx.session.add(subject)
    ctx.session.flush()
    account = Account(
        email=email,
        password_hash=password_hash,
        role=role,
        subject_id=subject.id,  # type: ignore[arg-type]
        created_at=ctx.now,
        password_changed_at=ctx.now,
        email_verified_at=ctx.now if verified else None,
    )
    ctx.session.add(account)
    ctx.session.flush()
    return account


def purge_expired_links(ctx: Ctx) -> int:
    """Delete emailed links (and their new addresses) a week after they expired; recovery codes,
    which never expire, stay until used up or replaced."""
    stmt = delete(LinkToken).where(col(LinkToken.expires_at) < ctx.now - EXPIRED_LINKS_KEPT)
    return int(ctx.session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def issue_token(
    ctx: Ctx, account: Account, purpose: str, ttl: timedelta, *, new_email: str | None = None
) -> str:
    """A new single-use emailed link for `purpose` (only its hash is stored); `new_email`: the
    address an email change waits to confirm."""
    token = random_token(32)
    # One live link per purpose: asking again retires the earlier one.
    ctx.session.execute(
        update(LinkToken)
        .where(col(LinkToken.account_id) == account.id, col(LinkToken.purpose) == purpose)
        .where(col(LinkToken.used_at).is_(None))
        .values(used_at=ctx.now)
    )
    ctx.session.add(
        LinkToken(
            account_id=account.id,  # type: ignore[arg-type]
            purpose=purpose,
            token_hash=sha256_hex(token),
            created_at=ctx.now,
            expires_at=ctx.now + ttl,
            new_email=new_email,
        )
    )
    ctx.session.flush()
    return token


def mail_allowed(ctx: Ctx, email: str) -> bool:
    """Spend one of the address's mails for this hour; False once they are used up (mail bombing)."""
    return throttle.take(ctx, throttle.mail_address_key(ctx, email), throttle.MAIL_PER_ADDRESS)


def send_verification(ctx: Ctx, account: Account) -> bool:
    """Mail a new verification link (retiring the earlier one); False when the address's budget is spent."""
    if not mail_allowed(ctx, account.email):
        return False
    token = issue_token(ctx, account, "verify", VERIFY_TTL)
    link = absolute(ctx.settings, "auth.verify", token=token)
    mail.queue(
        ctx,
        account.email,
        "Confirm your email address",
        "Welcome to the privacy portal.\n\n"
        f"Confirm your email address by opening this link within 24 hours:\n\n{link}\n\n"
        "If you did not register, ignore this message; nothing else will happen.\n",
    )
    return True


def register(ctx: Ctx, raw_email: str, password: str) -> None:
    """Check the form and queue the registration; the background sender creates the account and
    mails a link, or for a known email mails its owner instead (mailrequests.process)."""
    email = normalize_email(raw_email)
    passwords.check_policy(password, email=email)
    mailrequests.queue(ctx, "register", email, passwords.hash_password(password))


def finish_registration(ctx: Ctx, email: str, password_hash: str) -> None:
    """Create the unverified account and mail its link; for a known email, tell its owner."""
    existing = by_email(ctx, email)
    if existing is not None:
        if not mail_allowed(ctx, email):
            return
        mail.queue(
            ctx,
            email,
            "Someone tried to register with your email",
            "Somebody (perhaps you) tried to register at the privacy portal with this address, "
            "which already has an account.\n\n"
            f"Log in: {absolute(ctx.settings, 'auth.login')}\n"
            f"Forgot your password? {absolute(ctx.settings, 'auth.forgot')}\n",
        )
        audit.record(ctx, "account.register_existing", subject_id=existing.subject_id)
        return
    account = _create(ctx, email, password_hash, "user", verified=False)
    send_verification(ctx, account)
    audit.record(ctx, "account.register", subject_id=account.subject_id)


def _token_row(ctx: Ctx, token: str, purpose: str) -> LinkToken:
    if not token or len(token) > 100:
        raise TokenInvalid("This link is not valid.")
    row = ctx.session.scalar(
        select(LinkToken).where(
            col(LinkToken.token_hash) == sha256_hex(token), col(LinkToken.purpose) == purpose
        )
    )
    if row is None or row.used_at is not None or row.expires_at <= ctx.now:
        raise TokenInvalid("This link has expired or was already used. Ask for a new one.")
    return row


def check_token(ctx: Ctx, token: str, purpose: str) -> None:
    """For the GET confirmation page: is the link still usable? (Consumes nothing.)"""
    _token_row(ctx, token, purpose)


def verify_email(ctx: Ctx, token: str) -> Account:
    row = _token_row(ctx, token, "verify")
    row.used_at = ctx.now
    account = ctx.session.get(Account, row.account_id)
    assert account is not None
    account.email_verified_at = account.email_verified_at or ctx.now
    audit.record(ctx.as_account(account.id), "account.verify_email", subject_id=account.subject_id)  # type: ignore[arg-type]
    identity.link_verified_email(ctx, account)
    return account


@dataclass
class LoginResult:
    """Outcome of a login attempt; failures are results, not exceptions, so their counters commit."""

    status: str  # "ok" | "failed" | "throttled" | "unverified"
    account: Account | None = None
    retry_after: int = 0
    device: str | None = None  # the browser's device cookie after a correct password
    mailed: bool = False  # "unverified": whether a new link went out


def guessing_keys(ctx: Ctx, email: str, device_cookie: str | None) -> tuple[str, str]:
    """(the budget this attempt spends, the client address's key). A browser that signed in to this
    email before has a budget of its own; every other client shares the account's."""
    nonce = devices.trusted_nonce(ctx, device_cookie, email)
    budget = throttle.device_key(ctx, nonce) if nonce else throttle.account_key(ctx, email)
    return budget, throttle.ip_key(ctx, ctx.ip or "-")


def login(ctx: Ctx, raw_email: str, password: str, device_cookie: str | None = None) -> LoginResult:
    """Check credentials under throttling. Unknown emails cost the same hashing time as known ones."""
    try:
        email = normalize_email(raw_email)
    except ValidationError:
        email = raw_email.strip().lower()[:254]
    keys = guessing_keys(ctx, email, device_cookie)
    try:
        throttle.check(ctx, *keys)
    except Throttled as exc:
        return LoginResult("throttled", retry_after=exc.retry_after)
    account = by_email(ctx, email)
    ok, new_hash = passwords.verify(password, account.password_hash if account else None)
    if not ok or account is None:
        throttle.fail(ctx, keys[0], throttle.ACCOUNT_LIMIT, windowed=False)
        throttle.fail(ctx, keys[1], throttle.IP_LIMIT, windowed=True)
        audit.record(ctx, "login.failed", subject_id=account.subject_id if account else None)
        return LoginResult("failed")
    throttle.clear(ctx, keys[0])  # the per-address count stays: a success must not buy more guesses
    if account.disabled_at is not None:
        # Answered like a wrong password: a stranger learns nothing; the log says why.
        audit.record(ctx, "login.disabled", subject_id=account.subject_id)
        return LoginResult("failed")
    if new_hash:
        account.password_hash = new_hash  # parameters were outdated: upgrade while we hold the password
    device = devices.issue(ctx, device_cookie, email)
    if account.email_verified_at is None:
        mailed = send_verification(ctx, account)
        audit.record(ctx, "login.unverified", subject_id=account.subject_id)
        return LoginResult("unverified", account, device=device, mailed=mailed)
    ctx.as_account(account.id)  # type: ignore[arg-type]
    audit.record(ctx, "login.ok", subject_id=account.subject_id, details={"rehashed": bool(new_hash)})
    return LoginResult("ok", account, device=device)


def resend_verification(ctx: Ctx, account_id: int) -> bool:
    """False when the address's mail budget for this hour is spent."""
    account = get(ctx, account_id)
    if not send_verification(ctx, account):
        return False
    audit.record(ctx, "account.verification_resent", subject_id=account.subject_id)
    return True


def change_password(
    ctx: Ctx, account_id: int, current: str, new: str, keep_session_hash: str
) -> tuple[int, int]:
    """Change a password after checking the current one; end every other session.

    Returns (sessions ended, audit sequence number of the change: the receipt).
    """
    account = get(ctx, account_id)
    ok, _ = passwords.verify(current, account.password_hash)
    if not ok:
        raise ValidationError("Your current password is not correct.", "current_password")
    if new == current:
        raise ValidationError("Choose a password different from the current one.", "new_password")
    passwords.check_policy(new, email=account.email, field="new_password")
    from portal.accounts import sessions

    account.password_hash = passwords.hash_password(new)
    account.password_changed_at = ctx.now
    ended = sessions.end_others(ctx, account.id, keep_hash=keep_session_hash)  # type: ignore[arg-type]
    entry = audit.record(
        ctx, "account.password_change", subject_id=account.subject_id, details={"sessions_ended": ended}
    )
    return ended, entry.seq


def request_reset(ctx: Ctx, raw_email: str) -> None:
    """Queue a reset request; the background sender mails a link if the account exists."""
    try:
        email = normalize_email(raw_email)
    except ValidationError:
        return
    mailrequests.queue(ctx, "reset", email)


def finish_reset_request(ctx: Ctx, email: str) -> None:
    """Mail a reset link (retiring the earlier one) if the account exists and its budget allows."""
    account = by_email(ctx, email)
    if account is None or not mail_allowed(ctx, email):
        return
    token = issue_token(ctx, account, "reset", RESET_TTL)
    link = absolute(ctx.settings, "auth.reset", token=token)
    mail.queue(
        ctx,
        account.email,
        "Reset your password",
        f"Choose a new password within 30 minutes:\n\n{link}\n\n"
        "If you did not ask for this, ignore this message; your password stays as it is.\n",
    )
    audit.record(ctx, "account.reset_requested", subject_id=account.subject_id)


def reset_password(ctx: Ctx, token: str, new: str, device_cookie: str | None = None) -> Account:
    """Set a new password from a mailed link; this unlocks the account (and the browser doing it)."""
    row = _token_row(ctx, token, "reset")
    account = ctx.session.get(Account, row.account_id)
    assert account is not None
    passwords.check_policy(new, email=account.email)
    from portal.accounts import sessions

    row.used_at = ctx.now
    account.password_hash = passwords.hash_password(new)
    account.password_changed_at = ctx.now
    # Proving control of the mailbox also proves the address.
    newly_verified = account.email_verified_at is None
    account.email_verified_at = account.email_verified_at or ctx.now
    ended = sessions.end_others(ctx, account.id)  # type: ignore[arg-type]
    throttle.clear(ctx, throttle.account_key(ctx, account.email))
    nonce = devices.trusted_nonce(ctx, device_cookie, account.email)
    if nonce:
        throttle.clear(ctx, throttle.device_key(ctx, nonce))
    ctx.as_account(account.id)  # type: ignore[arg-type]
    audit.record(
        ctx, "account.password_reset", subject_id=account.subject_id, details={"sessions_ended": ended}
    )
    if newly_verified:
        identity.link_verified_email(ctx, account)
    return account


def add_staff(ctx: Ctx, raw_email: str, role: str, password: str) -> Account:
    """Create (or promote) a staff account; staff enrol a second factor at first login."""
    if role not in ROLES or role == "user":
        raise ValidationError("Role must be agent or admin.", "role")
    email = normalize_email(raw_email)
    passwords.check_policy(password, email=email)
    account = by_email(ctx, email)
    if account is None:
        account = _create(ctx, email, passwords.hash_password(password), role, verified=True)
    else:
        account.role = role
        account.password_hash = passwords.hash_password(password)
        account.password_changed_at = ctx.now
    audit.record(ctx, "staff.add", subject_id=account.subject_id, details={"role": role})
    return account


def get(ctx: Ctx, account_id: int) -> Account:
    account = ctx.session.get(Account, account_id)
    if account is None:
        raise NotFound("No such account.")
    return account
