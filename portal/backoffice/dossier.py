"""What staff may see of a subject: counts per category of the personal-data registry by default, and
one category's rows only after they give a reason, which is audited with their name.

This module is the back-office's one reader of the registry (portal/subjects/registry.py), so the
categories staff see are exactly the ones export and erasure use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from portal import audit
from portal.core.context import Ctx
from portal.core.errors import NotFound, ValidationError
from portal.models import Account, Subject
from portal.models.requests import DataRequest
from portal.subjects import identity, registry

SHOWN_ROWS = 100
MAX_REASON = 500
# Columns never shown to staff even after a reason: secrets, not data about the person.
HIDDEN = {"password_hash", "totp_secret", "totp_last_step", "token_hash"}


@dataclass(frozen=True)
class Count:
    key: str
    title: str
    count: int


@dataclass(frozen=True)
class Summary:
    subject_id: int
    kind: str
    created_at: datetime
    has_account: bool
    counts: list[Count]
    requests: list[tuple[Any, ...]]  # (id, kind, status), newest first

    @property
    def total(self) -> int:
        return sum(c.count for c in self.counts)


def _subject(ctx: Ctx, subject_id: int) -> Subject:
    found = ctx.session.get(Subject, subject_id) if 0 < subject_id < 2**31 else None
    if found is None:
        raise NotFound(f"There is no subject no. {subject_id}.")
    return found


def summary(ctx: Ctx, subject_id: int) -> Summary:
    """Row counts per registry category; merged subjects are shown as the subject they joined."""
    subject = _subject(ctx, identity.root(ctx, subject_id))
    sid: int = subject.id  # type: ignore[assignment]
    conn = ctx.session.connection()
    found = registry.scope(conn, ctx.settings.secret_key, sid)
    counts = []
    for category in registry.ordered():
        stmt = select(func.count()).select_from(category.sa_table).where(registry.where(category, found))
        counts.append(Count(category.key, category.title, int(conn.execute(stmt).scalar_one())))
    account = ctx.session.scalar(select(col(Account.id)).where(col(Account.subject_id) == sid))
    requests = ctx.session.execute(
        select(col(DataRequest.id), col(DataRequest.kind), col(DataRequest.status))
        .where(col(DataRequest.subject_id) == sid)
        .order_by(col(DataRequest.received_at).desc())
        .limit(50)
    ).all()
    listed = [tuple(r) for r in requests]
    return Summary(sid, subject.kind, subject.created_at, account is not None, counts, listed)


def reason_of(raw: str) -> str:
    text = " ".join(raw.split())
    if len(text) < 5:
        raise ValidationError(
            "Say why you need to see this (a few words; it is recorded with your name).", "reason"
        )
    if len(text) > MAX_REASON:
        raise ValidationError(f"Keep the reason under {MAX_REASON} characters.", "reason")
    return text


@dataclass(frozen=True)
class Shown:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    more: bool
    receipt: int


def show(ctx: Ctx, subject_id: int, category_key: str, raw_reason: str) -> Shown:
    """One category's rows for a subject, after a reason; one audit entry names who looked and why."""
    reason = reason_of(raw_reason)
    subject = _subject(ctx, identity.root(ctx, subject_id))
    try:
        category = registry.by_key(category_key)
    except StopIteration:
        raise NotFound("There is no such category.") from None
    if not category.exported:
        raise NotFound("There is no such category.")
    conn = ctx.session.connection()
    sid: int = subject.id  # type: ignore[assignment]
    found = registry.scope(conn, ctx.settings.secret_key, sid)
    result = conn.execute(registry.statement(category, found).limit(SHOWN_ROWS + 1))
    names = [n for n in result.keys() if n not in HIDDEN]  # noqa: SIM118  (a Result, not a dict)
    rows = [[getattr(r, n) for n in names] for r in result]
    entry = audit.record(
        ctx, "staff.view.data", subject_id=sid,
        details={"category": category.key, "reason": reason, "rows": min(len(rows), SHOWN_ROWS)},
    )  # fmt: skip
    return Shown(category.title, names, rows[:SHOWN_ROWS], len(rows) > SHOWN_ROWS, entry.seq)
