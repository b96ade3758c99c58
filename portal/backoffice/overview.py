"""Back-office queries for the staff landing page."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlmodel import col

from portal.core.context import Ctx
from portal.models import STAFF_ROLES, Account, AuditEntry, OutboxMail


@dataclass
class Overview:
    accounts: int
    verified: int
    staff: list[tuple[str, str]]
    unsent_mail: int
    audit_entries: int


# Built once, answered in one round trip. The audit chain is gap-free from 1 (the writer appends
# under a lock), so its newest seq is its length: counting would read every entry, every time.
_FIGURES = select(
    select(func.count()).select_from(Account).scalar_subquery(),
    select(func.count()).select_from(Account).where(col(Account.email_verified_at).is_not(None)).scalar_subquery(),
    select(func.count()).select_from(OutboxMail).where(col(OutboxMail.sent_at).is_(None)).scalar_subquery(),
    select(func.coalesce(func.max(AuditEntry.seq), 0)).scalar_subquery(),
)
_STAFF = (
    select(col(Account.email), col(Account.role))
    .where(col(Account.role).in_(STAFF_ROLES))
    .order_by(col(Account.email))
)


def overview(ctx: Ctx) -> Overview:
    accounts, verified, unsent, entries = ctx.session.execute(_FIGURES).one()
    staff = [(email, role) for email, role in ctx.session.execute(_STAFF)]
    return Overview(accounts, verified, staff, unsent, entries)
