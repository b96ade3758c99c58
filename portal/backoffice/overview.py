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


def overview(ctx: Ctx) -> Overview:
    s = ctx.session
    return Overview(
        accounts=s.scalar(select(func.count()).select_from(Account)) or 0,
        verified=s.scalar(
            select(func.count()).select_from(Account).where(col(Account.email_verified_at).is_not(None))
        )
        or 0,
        staff=[
            (a.email, a.role)
            for a in s.scalars(
                select(Account).where(col(Account.role).in_(STAFF_ROLES)).order_by(col(Account.email))
            )
        ],
        unsent_mail=s.scalar(
            select(func.count()).select_from(OutboxMail).where(col(OutboxMail.sent_at).is_(None))
        )
        or 0,
        audit_entries=s.scalar(select(func.count()).select_from(AuditEntry)) or 0,
    )
