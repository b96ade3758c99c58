"""The erasure's waiting period: the person may cancel; afterwards it runs by itself.

`run_due` is what `portal requests run-due` (cron) and `portal serve` (housekeeping) call. Each
step is its own transaction on one request, which it locks and checks again first, so several
workers may run it at once and a crash loses at most the step in hand:
1. an erasure whose wait is over is approved (unless PORTAL_ERASURE_REVIEW=always leaves it to staff);
2. an approved erasure is started (one staff approved waits for a second member of staff to confirm
   it instead, see foureyes.py);
3. the erasure engine runs every started one, again after a crash, until it completes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from sqlmodel import col

from portal.core.clock import Clock
from portal.core.context import Ctx
from portal.core.errors import PortalError
from portal.core.settings import Settings
from portal.core.store import transaction
from portal.models.requests import DataRequest
from portal.requests import erasure, foureyes, queue, timeline
from portal.requests.queue import own


def cancel(ctx: Ctx, subject_id: int, request_id: int) -> int | None:
    """The person cancels their own waiting request; the receipt, or None if it is not theirs.

    Raises TransitionRefused once it is being carried out (or is closed)."""
    row = own(ctx, subject_id, request_id, lock=True)
    if row is None:
        return None
    event = timeline.transition(ctx, row, "cancelled", by="you", message="You cancelled this request.")
    return event.audit_seq


@dataclass
class RunDue:
    refreshed: int = 0
    approved: list[int] = field(default_factory=list)
    awaiting_review: list[int] = field(default_factory=list)
    started: list[int] = field(default_factory=list)
    completed: list[int] = field(default_factory=list)
    stopped: list[int] = field(default_factory=list)  # put on hold (or extended) while it ran
    busy: list[int] = field(default_factory=list)  # another worker is running it
    failed: list[tuple[int, str]] = field(default_factory=list)


def run_due(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> RunDue:
    out = RunDue()
    with transaction(factory) as session:
        out.refreshed = queue.refresh(_ctx(session, settings, clock))
    for request_id in _erasures(factory, "in_review", clock):
        if settings.erasure_review == "always":
            out.awaiting_review.append(request_id)
        elif _step(factory, settings, clock, request_id, "in_review", _approve):
            out.approved.append(request_id)
    for request_id in _erasures(factory, "approved", clock):
        if _step(factory, settings, clock, request_id, "approved", _start):
            out.started.append(request_id)
    for request_id in _erasures(factory, "in_progress", clock):
        try:
            outcome = erasure.run(factory, settings, clock, request_id)
        except erasure.NotInProgress:
            continue  # it moved on (completed by another worker, put on hold) since it was listed
        except PortalError as exc:
            out.failed.append((request_id, str(exc)))
            continue
        {"completed": out.completed, "stopped": out.stopped, "busy": out.busy}[outcome].append(request_id)
    return out


def _ctx(session: Session, settings: Settings, clock: Clock) -> Ctx:
    return Ctx(session=session, settings=settings, now=clock.now(), actor="system")


def _erasures(factory: sessionmaker[Session], status: str, clock: Clock) -> list[int]:
    stmt = select(col(DataRequest.id)).where(
        col(DataRequest.kind) == "erasure",
        col(DataRequest.status) == status,
        col(DataRequest.closed_at).is_(None),
    )
    if status == "in_review":
        stmt = stmt.where(col(DataRequest.wait_until) <= clock.now())
    with factory() as session:
        return list(session.scalars(stmt.order_by(col(DataRequest.id))))


def _step(
    factory: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
    request_id: int,
    status: str,
    act: Callable[[Ctx, DataRequest], bool],
) -> bool:
    with transaction(factory) as session:
        ctx = _ctx(session, settings, clock)
        # Another worker holding it is doing this very step: leave it to them.
        row = session.get(DataRequest, request_id, with_for_update={"skip_locked": True})
        if row is None or row.status != status:
            return False
        return act(ctx, row)


def _approve(ctx: Ctx, row: DataRequest) -> bool:
    if row.wait_until is None or row.wait_until > ctx.now:
        return False
    timeline.transition(ctx, row, "approved", by="portal", message="The waiting period is over: approved.")
    return True


def _start(ctx: Ctx, row: DataRequest) -> bool:
    if foureyes.awaiting_confirmation(ctx, row):
        return False  # staff approved it: it starts when a second member of staff confirms
    timeline.transition(ctx, row, "in_progress", by="portal", message="Erasing your data.")
    return True
