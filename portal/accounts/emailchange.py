"""Changing an account's email address: proven by a link mailed to the new address.

1. `request_change` (the logged-in person, after re-entering their password) only queues a mail
   request: the same work and the same answer whether or not the new address has an account, so
   the form tells nobody which addresses are registered.
2. `finish_request` (the background sender) mails a link to the new address, within its hourly
   budget, unless the address already belongs to an account: then nothing changes and nobody is
   told more than the form said.
3. `confirm` (a POST from the page the link opens: mail scanners follow GET links) makes the
   change, tells the old address, ends every other session and links site accounts with the new,
   now verified, address.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlmodel import col

from portal import audit
from portal.accounts import accounts, mailrequests, sessions
from portal.core import mail
from portal.core.context import Ctx
from portal.core.crypto import sha256_hex
from portal.core.errors import TokenInvalid, ValidationError
from portal.core.links import absolute
from portal.models import Account, LinkToken
from portal.subjects import identity

CHANGE_TTL = timedelta(hours=24)
PURPOSE = "email"


def request_change(ctx: Ctx, account_id: int, raw_email: str) -> int:
    """Queue the change (the password was checked by reauth); the audit entry's number: its receipt."""
    account = accounts.get(ctx, account_id)
    email = accounts.normalize_email(raw_email)
    if email == account.email:
        raise ValidationError("That is already your email address.", "email")
    mailrequests.queue(ctx, "email_change", email, account_id=account.id)
    return audit.record(ctx, "account.email_change_requested", subject_id=account.subject_id).seq


def finish_request(ctx: Ctx, account_id: int, email: str) -> None:
    """Mail the confirmation link to the new address, if it is free and its budget allows."""
    account = ctx.session.get(Account, account_id)
    if account is None or account.disabled_at is not None or accounts.by_email(ctx, email) is not None:
        return  # a taken address: no change, and no mail that would tell anyone it is taken
    if not accounts.mail_allowed(ctx, email):
        return
    # One live change per account: asking again retires the earlier link.
    token = accounts.issue_token(ctx, account, PURPOSE, CHANGE_TTL, new_email=email)
    link = absolute(ctx.settings, "account.email_confirm", token=token)
    mail.queue(
        ctx,
        email,
        "Confirm your new email address",
        "Someone (we hope you) asked to use this address for their account at the privacy portal.\n\n"
        f"To make the change, open this link within 24 hours and confirm:\n\n{link}\n\n"
        "If you did not ask for this, ignore this message; nothing will change.\n",
    )


def _row(ctx: Ctx, token: str) -> LinkToken:
    if not token or len(token) > 100:
        raise TokenInvalid("This link is not valid.")
    row = ctx.session.scalar(
        select(LinkToken).where(
            col(LinkToken.token_hash) == sha256_hex(token), col(LinkToken.purpose) == PURPOSE
        )
    )
    if row is None or row.used_at is not None or row.expires_at <= ctx.now or not row.new_email:
        raise TokenInvalid(
            "This link has expired or was already used. Ask for a new one from your account page."
        )
    return row


def pending(ctx: Ctx, token: str) -> str:
    """For the GET page: the address the link would change to (consumes nothing)."""
    return _row(ctx, token).new_email or ""


def confirm(ctx: Ctx, token: str, keep_session_hash: str | None) -> tuple[Account, int, int]:
    """Make the change; (the account, sessions ended, the audit entry's number: the receipt)."""
    row = _row(ctx, token)
    account = accounts.get(ctx, row.account_id)
    if account.disabled_at is not None:
        raise TokenInvalid("This link is not valid.")
    new, old = row.new_email or "", account.email
    row.used_at = ctx.now
    if accounts.by_email(ctx, new) is not None:
        # Taken since the link was mailed (someone registered it): the holder of this mailbox may know.
        raise TokenInvalid("That address now belongs to another account, so your address stays as it was.")
    former = [a for a in (account.former_emails or "").split(", ") if a and a != new]
    account.former_emails = ", ".join([*[a for a in former if a != old], old])
    account.email = new
    account.email_verified_at = ctx.now
    ended = sessions.end_others(ctx, account.id, keep_hash=keep_session_hash)  # type: ignore[arg-type]
    ctx.as_account(account.id)  # type: ignore[arg-type]
    entry = audit.record(
        ctx, "account.email_change", subject_id=account.subject_id, details={"sessions_ended": ended}
    )
    # The old address hears of it whatever its mail budget: one such mail per confirmed change, which
    # takes the password and the new mailbox, so nobody can flood it; and it is how a stolen account
    # comes to light.
    mail.queue(
        ctx,
        old,
        "Your email address was changed",
        "The email address of your account at the privacy portal was changed, and this address no "
        "longer belongs to it.\n\n"
        "If you did not do this, someone else knows your password: write to the site's privacy team "
        f"at once. You can still ask for a password reset with the new address: "
        f"{absolute(ctx.settings, 'auth.forgot')}\n",
    )
    identity.link_verified_email(ctx, account)  # the new address is now proven: as at registration
    return account, ended, entry.seq
