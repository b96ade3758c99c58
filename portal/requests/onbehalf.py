"""Requests staff file on someone's behalf (a letter, a phone call, an email to support).

The person confirms by a link mailed to the contact address staff typed in: the page it opens shows
the request and a button, and only the button's POST confirms, so a mail scanner that follows links
confirms nothing. The link is valid CONFIRM_TTL; after REMIND_AFTER one reminder goes out (with a
link of its own); a request nobody confirmed in time is closed as unconfirmed. Until it is confirmed
the request stays `received`, from where no staff action leads on: nothing is deleted or released.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select
from sqlmodel import col

from portal import audit
from portal.accounts import accounts
from portal.core import mail
from portal.core.context import Ctx
from portal.core.crypto import random_token, sha256_hex
from portal.core.errors import TokenInvalid, ValidationError
from portal.core.links import absolute
from portal.models import RequestConfirmation
from portal.models.requests import DataRequest
from portal.requests import filing, notices, timeline
from portal.requests.statuses import KIND_LABELS, TransitionRefused

CONFIRM_TTL = timedelta(days=7)
REMIND_AFTER = timedelta(hours=24)
SWEEP_BATCH = 200


@dataclass(frozen=True)
class OnBehalf:
    request_id: int
    joined: bool
    receipt: int


def needs_confirmation(row: DataRequest) -> bool:
    """A request filed on someone's behalf that they have not confirmed yet."""
    return row.channel == "on_behalf" and row.contact_confirmed_at is None


def check_confirmed(row: DataRequest) -> None:
    """Refuse anything that carries out a request the person has not confirmed."""
    if needs_confirmation(row):
        raise TransitionRefused(
            "The person has not confirmed this request yet: nothing can be carried out before they do."
        )


def file(
    ctx: Ctx, subject_id: int, kind: str, contact: str, *, scope: str = "", details: str = ""
) -> OnBehalf:
    """Staff file a request for `subject_id`; the contact address gets the confirmation link."""
    try:
        address = accounts.normalize_email(contact)
    except ValidationError as exc:
        raise ValidationError(str(exc), "contact") from None
    row, joined, seq = filing.file(
        ctx, subject_id, kind, scope=scope, details=details, by="staff", channel="on_behalf",
        contact_addr=address,
    )  # fmt: skip
    if not joined:
        token = random_token(32)
        ctx.session.add(
            RequestConfirmation(
                request_id=row.id,  # type: ignore[arg-type]
                token_hash=sha256_hex(token),
                created_at=ctx.now,
                expires_at=ctx.now + CONFIRM_TTL,
            )
        )
        ctx.session.flush()
        _mail(ctx, row, token, reminder=False)
    return OnBehalf(row.id, joined, seq)  # type: ignore[arg-type]


def _mail(ctx: Ctx, row: DataRequest, token: str, *, reminder: bool) -> None:
    assert row.contact_addr is not None
    link = absolute(ctx.settings, "requests.confirm", token=token)
    days = CONFIRM_TTL.days
    first = "Reminder: " if reminder else ""
    mail.queue(
        ctx,
        row.contact_addr,
        f"{first}please confirm your request no. {row.id}",
        f"Our support staff recorded a request made for you ({KIND_LABELS[row.kind]}) on "
        f"{row.received_at:%d %B %Y}.\n\n"
        "Nothing is done until you confirm it. Open this link and press “Confirm my request”:\n\n"
        f"{link}\n\n"
        f"The link works until {(row.received_at + CONFIRM_TTL):%d %B %Y} ({days} days after the request). "
        "If you did not ask for this, ignore this message: the request is then closed and nothing is "
        "done.\n",
    )


def _pending(ctx: Ctx, token: str, *, lock: bool = False) -> tuple[RequestConfirmation, DataRequest]:
    digest = sha256_hex(token) if 0 < len(token) <= 100 else ""
    stmt = select(RequestConfirmation).where(
        or_(col(RequestConfirmation.token_hash) == digest, col(RequestConfirmation.reminder_hash) == digest)
    )
    found = ctx.session.scalar(stmt.with_for_update() if lock else stmt)
    if found is None or found.expires_at <= ctx.now:
        raise TokenInvalid("This link has expired or was already used.")
    row = ctx.session.get(DataRequest, found.request_id, with_for_update=lock)
    if row is None or row.status != "received":
        raise TokenInvalid("This request is closed; there is nothing left to confirm.")
    return found, row


def check(ctx: Ctx, token: str) -> DataRequest:
    """The request a confirmation link is for (for the page with the button; consumes nothing)."""
    return _pending(ctx, token)[1]


def confirm(ctx: Ctx, token: str) -> DataRequest:
    """The person confirms: the request moves on to staff's identity check."""
    pending, row = _pending(ctx, token, lock=True)
    ctx.session.delete(pending)
    row.contact_confirmed_at = ctx.now
    row.acknowledged_at = row.acknowledged_at or ctx.now
    timeline.transition(
        ctx, row, "identity_pending", by="you",
        message="You confirmed this request from your email address. Staff now check that it is you.",
    )  # fmt: skip
    notices.received(ctx, row)
    return row


@dataclass
class Sweep:
    reminded: list[int]
    closed: list[int]


def sweep(ctx: Ctx) -> Sweep:
    """Remind once after REMIND_AFTER; close requests whose link expired unconfirmed."""
    out = Sweep([], [])
    expired = ctx.session.scalars(
        select(RequestConfirmation)
        .where(col(RequestConfirmation.expires_at) <= ctx.now)
        .limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    for pending in expired:
        row = ctx.session.get(DataRequest, pending.request_id, with_for_update=True)
        ctx.session.delete(pending)
        if row is not None and row.status == "received":
            message = (
                f"Closed unconfirmed: nobody confirmed this request within {CONFIRM_TTL.days} days, so "
                "nothing was done."
            )
            timeline.transition(ctx, row, "cancelled", by="portal", message=message)
            out.closed.append(row.id)  # type: ignore[arg-type]
    due = ctx.session.scalars(
        select(RequestConfirmation)
        .where(
            col(RequestConfirmation.reminded_at).is_(None),
            col(RequestConfirmation.created_at) <= ctx.now - REMIND_AFTER,
            col(RequestConfirmation.expires_at) > ctx.now,
        )
        .limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    for pending in due:
        row = ctx.session.get(DataRequest, pending.request_id)
        if row is None or row.status != "received" or row.contact_addr is None:
            continue
        token = random_token(32)
        pending.reminder_hash = sha256_hex(token)
        pending.reminded_at = ctx.now
        _mail(ctx, row, token, reminder=True)
        audit.record(ctx, "request.confirm_reminder", subject_id=row.subject_id, details={"request": row.id})
        out.reminded.append(row.id)  # type: ignore[arg-type]
    ctx.session.flush()
    return out
