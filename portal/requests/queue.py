"""Reading requests: the person's own (never anyone else's), and the queue staff and operators page
through by deadline, with stored due dates brought up to date first.

The queue reads Core rows, never ORM objects: its filters and its keyset (due_on, id) are served by
the partial indexes of migration 0009, so its first page costs the same with 100 requests as with
100,000 (most of them closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Row, and_, bindparam, func, or_, select
from sqlmodel import col

from portal import audit
from portal.core.context import Ctx
from portal.models.requests import REQUEST_KINDS, REQUEST_STATUSES, DataRequest
from portal.requests import deadlines

REFRESH_BATCH = 500
_T = DataRequest.__table__  # type: ignore[attr-defined]
QUEUE_COLUMNS = (
    _T.c.id, _T.c.kind, _T.c.scope, _T.c.status, _T.c.channel, _T.c.received_at, _T.c.due_on,
    _T.c.assignee_id, _T.c.extended_at, _T.c.closed_at,
)  # fmt: skip


def refresh(ctx: Ctx) -> int:
    """Recompute the stored deadline of every open request whose calendar settings changed
    (holiday country, time zone, the holidays library's version, the rules); how many changed."""
    current = deadlines.basis(ctx.settings)
    basis = col(DataRequest.deadline_basis)
    changed = 0
    # Two single ranges of ix_data_request_open_basis, each one index probe when nothing is stale
    # (`!=`, or the two ranges OR-ed, would scan every open request on SQLite).
    for stale in (basis < current, basis > current):
        while True:
            rows = ctx.session.scalars(
                select(DataRequest).where(col(DataRequest.closed_at).is_(None), stale).limit(REFRESH_BATCH)
            ).all()
            for row in rows:
                deadlines.stamp(ctx.settings, row)
            ctx.session.flush()
            changed += len(rows)
            if len(rows) < REFRESH_BATCH:
                break
    return changed


@dataclass(frozen=True)
class Filter:
    status: str | None = None  # None: every open request
    kind: str | None = None
    overdue: bool = False
    assignee_id: int | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in REQUEST_STATUSES:
            raise ValueError(f"unknown status {self.status!r}")
        if self.kind is not None and self.kind not in REQUEST_KINDS:
            raise ValueError(f"unknown kind {self.kind!r}")


@dataclass(frozen=True)
class Page:
    rows: list[Row[Any]]  # QUEUE_COLUMNS
    # Pass as `after` for the next page; None on the last one.
    next_key: tuple[date, int] | None


def page(
    ctx: Ctx,
    where: Filter,
    *,
    after: tuple[date, int] | None = None,
    limit: int = 50,
    latest_first: bool = False,
) -> Page:
    """One page of requests by deadline (earliest first, or latest first), after the keyset `after`."""
    refresh(ctx)
    stmt = select(*QUEUE_COLUMNS)
    if where.status is None or where.overdue:
        stmt = stmt.where(_T.c.closed_at.is_(None))
    if where.status is not None:
        stmt = stmt.where(_T.c.status == where.status)
    if where.kind is not None:
        stmt = stmt.where(_T.c.kind == where.kind)
    if where.assignee_id is not None:
        stmt = stmt.where(_T.c.assignee_id == where.assignee_id)
    if where.overdue:
        stmt = stmt.where(_T.c.due_on < today(ctx))
    if after is not None and latest_first:
        stmt = stmt.where(or_(_T.c.due_on < after[0], and_(_T.c.due_on == after[0], _T.c.id < after[1])))
    elif after is not None:
        # (due_on, id) > after: the keyset, continuing where the last page ended.
        stmt = stmt.where(or_(_T.c.due_on > after[0], and_(_T.c.due_on == after[0], _T.c.id > after[1])))
    # The same indexes serve both directions (read backwards for the latest first).
    order = (_T.c.due_on.desc(), _T.c.id.desc()) if latest_first else (_T.c.due_on, _T.c.id)
    rows: list[Row[Any]] = list(ctx.session.execute(stmt.order_by(*order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, (rows[-1].due_on, rows[-1].id) if more else None)


# Built once (composing a statement costs more than the store takes to answer it); the dashboard
# asks OVERDUE together with its other figures in one statement.
_PER_STATUS = select(_T.c.status, func.count()).where(_T.c.closed_at.is_(None)).group_by(_T.c.status)
OVERDUE = (
    select(func.count()).select_from(_T).where(_T.c.closed_at.is_(None), _T.c.due_on < bindparam("today"))
)


def per_status(ctx: Ctx) -> dict[str, int]:
    """Open requests per status (statuses without any are left out)."""
    return {status: int(n or 0) for status, n in ctx.session.execute(_PER_STATUS)}


def counts(ctx: Ctx) -> dict[str, int]:
    """Open requests per status, and how many of them are overdue (key "overdue")."""
    return {**per_status(ctx), "overdue": int(ctx.session.scalar(OVERDUE, {"today": today(ctx)}) or 0)}


def today(ctx: Ctx) -> date:
    return deadlines.local_date(ctx.settings, ctx.now)


def days_left(ctx: Ctx, due_on: date) -> int:
    """Whole days until the deadline: 0 on the day itself, negative once overdue."""
    return (due_on - today(ctx)).days


# -- the person's own ------------------------------------------------------------------------


def mine(ctx: Ctx, subject_id: int) -> Sequence[DataRequest]:
    """The subject's requests, newest first."""
    refresh(ctx)
    return ctx.session.scalars(
        select(DataRequest)
        .where(col(DataRequest.subject_id) == subject_id)
        .order_by(col(DataRequest.received_at).desc(), col(DataRequest.id).desc())
    ).all()


# PostgreSQL integers stop here; a larger id in a URL is simply one that does not exist.
_MAX_ID = 2**31 - 1


def own(ctx: Ctx, subject_id: int, request_id: int, *, lock: bool = False) -> DataRequest | None:
    """The subject's request `request_id`; None for a missing id and for anyone else's (audited)."""
    row = (
        ctx.session.get(DataRequest, request_id, with_for_update=lock) if 0 < request_id <= _MAX_ID else None
    )
    if row is None or row.subject_id != subject_id:
        if row is not None:
            audit.record(
                ctx, "access.denied", subject_id=subject_id, details={"what": "request", "id": request_id}
            )
        return None
    return row
