"""Four-eyes: an erasure staff approved runs, and a copy of someone's data staff prepared is sent, only
once a second member of staff confirms (PORTAL_FOUR_EYES, on by default).

The rule applies whenever the setting is on, and also whenever the team has more than one active staff
account: PORTAL_FOUR_EYES=0 is for a team of one admin, who has nobody to ask. Who approved an erasure
is read from its timeline (the actor of its last step to `approved`), the one record of it; confirming
is the step approved → in_progress, taken by the second member of staff, after which the request is
handed to the erasure engine (`hand_over`). An erasure the portal approved by itself (its waiting
period over, PORTAL_ERASURE_REVIEW=auto) had no staff approval and needs no confirmation.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from sqlmodel import col

from portal.accounts import staffing
from portal.core.clock import Clock
from portal.core.context import Ctx
from portal.core.errors import PortalError
from portal.core.settings import Settings
from portal.models.requests import DataRequest, RequestEvent
from portal.requests import actions, erasure, onbehalf, timeline
from portal.requests.statuses import LABELS, TransitionRefused

log = logging.getLogger(__name__)


class SecondPersonNeeded(PortalError):
    """The same member of staff tried both halves of a four-eyes step."""


def required(ctx: Ctx, active_staff: int | None = None) -> bool:
    """`active_staff`: the number of active staff accounts, when the caller has counted them already."""
    if ctx.settings.four_eyes:
        return True
    return (staffing.active_count(ctx) if active_staff is None else active_staff) > 1


def approver(ctx: Ctx, request_id: int) -> str | None:
    """The staff actor ("account:7") whose approval put the request where it is; None if the portal
    approved it (or it was never approved)."""
    last = ctx.session.execute(
        select(col(RequestEvent.author), col(RequestEvent.actor))
        .where(col(RequestEvent.request_id) == request_id, col(RequestEvent.to_status) == "approved")
        .order_by(col(RequestEvent.id).desc())
        .limit(1)
    ).first()
    return last.actor if last is not None and last.author == "staff" else None


def awaiting_confirmation(ctx: Ctx, row: DataRequest) -> bool:
    """An approved erasure that must wait for a second member of staff before it runs."""
    return (
        row.kind == "erasure"
        and row.status == "approved"
        and approver(ctx, row.id) is not None  # type: ignore[arg-type]
        and required(ctx)
    )


def other_person(ctx: Ctx, first: str | None, what: str) -> None:
    if first is not None and first == ctx.actor and required(ctx):
        raise SecondPersonNeeded(f"You {what}: a second member of staff must confirm it (four-eyes).")


def confirm_erasure(ctx: Ctx, request_id: int) -> int:
    """The second member of staff confirms an approved erasure: it is started, in this transaction;
    run it with `hand_over` once this has committed. The receipt."""
    row = actions.get(ctx, request_id)
    if row.kind != "erasure" or row.status != "approved":
        here = LABELS[row.status]
        raise TransitionRefused(f"Only an approved erasure can be confirmed; this one is “{here}”.")
    onbehalf.check_confirmed(row)
    if row.wait_until is not None and row.wait_until > ctx.now:
        raise TransitionRefused(
            "The person can still cancel this erasure until the end of its waiting period; confirm it "
            "after that."
        )
    who = approver(ctx, request_id)
    other_person(ctx, who, "approved this erasure")
    message = "Erasing your data."
    if who is not None:
        message = "A second member of staff confirmed the approval. Erasing your data."
    return timeline.transition(ctx, row, "in_progress", by="staff", message=message).audit_seq or 0


def hand_over(factory: sessionmaker[Session], settings: Settings, clock: Clock, request_id: int) -> None:
    """Give a started erasure to the erasure engine (portal/requests/erasure.py `run`, which completes
    the request), after the answer has gone out; what does not finish is logged, and `run-due` takes
    it up again."""
    try:
        outcome = erasure.run(factory, settings, clock, request_id)
    except PortalError as exc:
        log.warning("erasure request %d was not run: %s", request_id, exc)
        return
    if outcome != "completed":
        log.warning("erasure request %d was not completed: %s", request_id, outcome)
