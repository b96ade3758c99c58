"""Mail to the person about their request: receipt, the erasure's waiting period, an extension, a
refusal, completion. Links are built from PORTAL_BASE_URL only (portal/core/links.py)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import col

from portal.core import mail
from portal.core.context import Ctx
from portal.core.links import absolute
from portal.models import Account
from portal.models.requests import DataRequest
from portal.requests.statuses import KIND_LABELS
from portal.requests.timeline import COMPLAINT


def recipient(ctx: Ctx, row: DataRequest) -> str | None:
    """Where the person is reached: the contact address of a request made on their behalf, else
    their account's address (None once there is neither)."""
    if row.channel == "on_behalf" and row.contact_addr:
        return row.contact_addr
    if row.subject_id is None:
        return None
    return ctx.session.scalar(select(col(Account.email)).where(col(Account.subject_id) == row.subject_id))


def _when(ctx: Ctx, at: datetime) -> str:
    zone = ctx.settings.request_time_zone
    return f"{at.astimezone(ZoneInfo(zone)).strftime('%d %B %Y, %H:%M')} ({zone})"


def _send(ctx: Ctx, row: DataRequest, subject: str, body: str) -> None:
    to = recipient(ctx, row)
    if to is None:
        return
    link = absolute(ctx.settings, "my.request", id=str(row.id))
    footer = f"\nYour request and its timeline: {link}\n"
    mail.queue(ctx, to, f"Your request no. {row.id}: {subject}", body + footer)


def received(ctx: Ctx, row: DataRequest) -> None:
    """The acknowledgement of a request staff will work (CCPA: within 10 business days; sent at once)."""
    _send(
        ctx, row, "received",
        f"We received your request ({KIND_LABELS[row.kind]}) on {_when(ctx, row.received_at)}.\n"
        f"We will answer by {row.due_on:%d %B %Y} at the latest; you can follow every step online.\n",
    )  # fmt: skip


def erasure_waiting(ctx: Ctx, row: DataRequest) -> None:
    """How long the person can still cancel an erasure, and how."""
    assert row.wait_until is not None
    if row.wait_until <= row.received_at:
        when = "It starts within minutes and cannot be undone."
    else:
        when = (
            f"It will start on {_when(ctx, row.wait_until)} and cannot be undone after that.\n\n"
            "Until then you can cancel it: open the link below, log in if asked, and press "
            "“Cancel this request”."
        )
    review = (
        "\nA member of staff reviews every erasure before it runs; they may contact you.\n"
        if ctx.settings.erasure_review == "always"
        else ""
    )
    _send(
        ctx, row, "erasure of your data",
        f"We received your request to erase your data on {_when(ctx, row.received_at)}.\n\n{when}\n{review}\n"
        "If you did not ask for this, cancel it and change your password at once.\n",
    )  # fmt: skip


def extended(ctx: Ctx, row: DataRequest, reason: str) -> None:
    _send(
        ctx, row, "we need more time",
        f"We need more time to answer your request ({KIND_LABELS[row.kind]}).\n\n"
        f"Why: {reason}\n\nWe will answer by {row.due_on:%d %B %Y} at the latest.\n",
    )  # fmt: skip


def denied(ctx: Ctx, row: DataRequest, reason: str) -> None:
    _send(
        ctx, row, "we cannot carry it out",
        f"We cannot carry out your request ({KIND_LABELS[row.kind]}).\n\nWhy: {reason}\n\n"
        f"{COMPLAINT[row.regime]}\n",
    )  # fmt: skip


def completed(ctx: Ctx, row: DataRequest, message: str) -> None:
    _send(ctx, row, "done", f"Your request ({KIND_LABELS[row.kind]}) is completed.\n\n{message}\n")
