"""Admins invite staff: the invitee gets a mailed link to choose a password, then enrols a TOTP second
factor at their first sign-in and is shown their recovery codes.

Until the link is used the account exists but cannot sign in: its password is a random one nobody
knows and its address is unconfirmed. The link is single use, valid INVITE_TTL, and only its hash is
stored (a `link_token` of purpose "invite"); inviting the same address again replaces it.
"""

from __future__ import annotations

from datetime import timedelta

from portal import audit
from portal.accounts import accounts, passwords, sessions, staffing, throttle
from portal.accounts.sessions import Current
from portal.core import mail
from portal.core.context import Ctx
from portal.core.crypto import random_token
from portal.core.errors import TokenInvalid, ValidationError
from portal.core.links import absolute
from portal.models import STAFF_ROLES, Account

INVITE_TTL = timedelta(days=3)
PURPOSE = "invite"


def invite(ctx: Ctx, raw_email: str, role: str) -> Account:
    """Create a staff account waiting for its owner (or renew a pending invitation) and mail the link."""
    staffing.require_admin(ctx)
    if role not in STAFF_ROLES:
        raise ValidationError("Choose agent or admin.", "role")
    email = accounts.normalize_email(raw_email)
    account = accounts.by_email(ctx, email)
    if account is not None and (account.role not in STAFF_ROLES or account.email_verified_at is not None):
        raise ValidationError(
            "This address already has an account. Invite a different address, or change the role of an "
            "existing staff member below.",
            "email",
        )
    if account is None:
        unknowable = passwords.hash_password(random_token(32))
        account = accounts._create(ctx, email, unknowable, role, verified=False)  # noqa: SLF001
    account.role = role
    token = accounts.issue_token(ctx, account, PURPOSE, INVITE_TTL)
    days = INVITE_TTL.days
    mail.queue(
        ctx,
        email,
        "You are invited to the privacy portal's back-office",
        f"You are invited to work data-subject requests in the privacy portal's back-office as {role}.\n\n"
        f"Choose your password within {days} days by opening this link:\n\n"
        f"{absolute(ctx.settings, 'auth.invite', token=token)}\n\n"
        "You will then set up a second factor with an authenticator app and be shown recovery codes "
        "to keep somewhere safe. If you did not expect this, ignore this message.\n",
    )
    audit.record(ctx, "staff.invite", subject_id=account.subject_id, details={"role": role})
    return account


def check(ctx: Ctx, token: str) -> Account:
    """The invited account, if the link is still good (consumes nothing: mail scanners follow links)."""
    row = accounts._token_row(ctx, token, PURPOSE)  # noqa: SLF001
    account = accounts.get(ctx, row.account_id)
    if account.disabled_at is not None or account.role not in STAFF_ROLES:
        raise TokenInvalid("This invitation was withdrawn.")
    return account


def accept(ctx: Ctx, old: Current | None, token: str, password: str) -> Current:
    """Set the password chosen through the link and sign the new member in (second factor next)."""
    account = check(ctx, token)
    passwords.check_policy(password, email=account.email)
    accounts._token_row(ctx, token, PURPOSE).used_at = ctx.now  # noqa: SLF001
    account.password_hash = passwords.hash_password(password)
    account.password_changed_at = ctx.now
    account.email_verified_at = ctx.now
    throttle.clear(ctx, throttle.account_key(ctx, account.email))
    ctx.as_account(account.id)  # type: ignore[arg-type]
    audit.record(ctx, "staff.invite_accepted", subject_id=account.subject_id, details={"role": account.role})
    return sessions.rotate(ctx, old, account)
