"""Outgoing mail: every message is written to the outbox first, then delivered by SMTP if configured."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from sqlalchemy import select
from sqlmodel import col

from portal.core.context import Ctx
from portal.core.settings import Settings
from portal.models import OutboxMail

log = logging.getLogger("portal.core.mail")


def queue(ctx: Ctx, to: str, subject: str, body: str, *, erase_when_sent: bool = False) -> OutboxMail:
    """`erase_when_sent`: the row goes, address and all, once delivered (mail to an erased person)."""
    mail = OutboxMail(
        to_addr=to, subject=subject, body=body, created_at=ctx.now, erase_when_sent=erase_when_sent
    )
    ctx.session.add(mail)
    ctx.session.flush()
    return mail


def _send_smtp(settings: Settings, mail: OutboxMail) -> None:
    url = urlsplit(settings.smtp_url)
    host, port = url.hostname or "127.0.0.1", url.port or (465 if url.scheme == "smtps" else 25)
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = mail.to_addr
    message["Subject"] = mail.subject
    message.set_content(mail.body)
    smtp: smtplib.SMTP
    if url.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(host, port, timeout=10, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, port, timeout=10)
    with smtp:
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(message)


def deliver_pending(ctx: Ctx, limit: int = 50) -> int:
    """Send queued mail; without SMTP print it to the console (dev). Returns how many went out."""
    pending = ctx.session.scalars(
        select(OutboxMail).where(col(OutboxMail.sent_at).is_(None)).order_by(col(OutboxMail.id)).limit(limit)
    ).all()
    sent = 0
    for mail in pending:
        mail.attempts += 1
        if not ctx.settings.smtp_url:
            print(f"\n--- mail to {mail.to_addr}: {mail.subject}\n{mail.body}\n---", flush=True)
            _sent(ctx, mail)
            sent += 1
            continue
        try:
            _send_smtp(ctx.settings, mail)
        except (OSError, smtplib.SMTPException) as exc:
            mail.last_error = f"{exc.__class__.__name__}: {exc}"[:500]
            log.warning("mail %s not delivered: %s", mail.id, mail.last_error)
            continue
        # Delivered mail holds live single-use links; the store need not keep them.
        mail.body = ""
        _sent(ctx, mail)
        sent += 1
    return sent


def _sent(ctx: Ctx, mail: OutboxMail) -> None:
    mail.sent_at = ctx.now
    if mail.erase_when_sent:
        ctx.session.delete(mail)
