"""Mail that anonymous forms ask for, queued by the form and done by the background sender.

Registration and "forgot password" must answer in the same time whether or not an address has an
account: the form only checks its input and writes one `mail_request` row, the same work either
way; the housekeeping round (every few seconds, before mail goes out) looks the address up, creates
the account or the link and queues the mail. Two budgets stop the portal being used to bomb an
inbox: per client address (how many such forms it may post an hour, checked here) and per
recipient (how many such mails an address gets an hour, checked when the mail is made). A request
over budget is answered exactly like the others, and nothing more is sent. Changing an account's
email address goes the same way (portal/accounts/emailchange.py): the form must not tell whether
the new address already has an account.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, select
from sqlmodel import col

from portal.accounts import throttle
from portal.core.context import Ctx
from portal.models import MailRequest

log = logging.getLogger("portal.accounts.mail")
BATCH = 100


def queue(
    ctx: Ctx, kind: str, email: str, password_hash: str | None = None, account_id: int | None = None
) -> None:
    """Queue a request unless this client has posted too many this hour (then: silently nothing)."""
    if not throttle.take(ctx, throttle.mail_client_key(ctx, ctx.ip or "-"), throttle.MAIL_PER_CLIENT):
        return
    ctx.session.add(
        MailRequest(
            kind=kind, email=email, password_hash=password_hash, account_id=account_id, created_at=ctx.now
        )
    )
    ctx.session.flush()


def process(ctx: Ctx, limit: int = BATCH) -> int:
    """Carry out queued requests, oldest first; returns how many were handled."""
    from portal.accounts import accounts, emailchange  # they queue through this module

    # Several workers run this round: on PostgreSQL each claims rows the others have not locked.
    claim = select(MailRequest).order_by(col(MailRequest.id)).limit(limit).with_for_update(skip_locked=True)
    rows = ctx.session.scalars(claim).all()
    for row in rows:
        if row.kind == "register" and row.password_hash:
            accounts.finish_registration(ctx, row.email, row.password_hash)
        elif row.kind == "reset":
            accounts.finish_reset_request(ctx, row.email)
        elif row.kind == "email_change" and row.account_id is not None:
            emailchange.finish_request(ctx, row.account_id, row.email)
        else:
            log.warning("mail request %s of unknown kind %r dropped", row.id, row.kind)
    if rows:
        ctx.session.execute(delete(MailRequest).where(col(MailRequest.id).in_([r.id for r in rows])))
    return len(rows)
