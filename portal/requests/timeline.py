"""Every change of a request: one audit entry and one line on the person's timeline, together.

`transition` is the only way a request's status changes; `walk` takes the main path one step at
a time (no request skips a step); `line` adds a timeline line that is not a status change (a
second request that joined this one).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import col

from portal import audit
from portal.core.context import Ctx
from portal.core.errors import ValidationError
from portal.models.requests import TIMELINE_AUTHORS, DataRequest, RequestEvent
from portal.requests import deadlines, statuses
from portal.requests.statuses import MAIN_PATH, PAUSED, TransitionRefused

MAX_REASON = 2000

# Why a request was refused is followed by this, as GDPR Art. 12(4) and the CCPA regulations ask.
COMPLAINT = {
    "gdpr": "You have the right to lodge a complaint with a supervisory authority, in particular in the "
    "EU member state where you live or work or where you think your rights were infringed (GDPR "
    "Art. 77), and to seek a judicial remedy (Art. 79).",
    "ccpa": "You may file a complaint with the California Privacy Protection Agency (cppa.ca.gov) or "
    "the California Attorney General.",
}


def _line(
    ctx: Ctx,
    row: DataRequest,
    *,
    by: str,
    action: str,
    audit_action: str,
    from_status: str | None = None,
    to_status: str | None = None,
    message: str | None = None,
    details: dict[str, Any] | None = None,
) -> RequestEvent:
    if by not in TIMELINE_AUTHORS:
        raise ValueError(f"unknown author {by!r}")
    entry = audit.record(
        ctx,
        audit_action,
        subject_id=row.subject_id,
        details={"request": row.id, "kind": row.kind, **(details or {})},
    )
    event = RequestEvent(
        request_id=row.id,  # type: ignore[arg-type]
        subject_id=row.subject_id,
        at=ctx.now,
        author=by,
        actor=ctx.actor,
        action=action,
        from_status=from_status,
        to_status=to_status,
        message=message,
        audit_seq=entry.seq,
    )
    ctx.session.add(event)
    ctx.session.flush()
    return event


def opened(ctx: Ctx, row: DataRequest, *, by: str, message: str | None = None) -> RequestEvent:
    """The first line of a new request (status `received`)."""
    return _line(
        ctx, row, by=by, action="status", audit_action="request.received", to_status="received",
        message=message, details={"channel": row.channel, "regime": row.regime},
    )  # fmt: skip


def line(ctx: Ctx, row: DataRequest, action: str, *, by: str, message: str | None = None) -> RequestEvent:
    """A timeline line that changes no status (e.g. "joined": the person asked again)."""
    row.updated_at = ctx.now
    return _line(ctx, row, by=by, action=action, audit_action=f"request.{action}", message=message)


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationError("Say why: the person reads this reason.", "reason")
    if len(text) > MAX_REASON:
        raise ValidationError(f"Keep the reason under {MAX_REASON} characters.", "reason")
    return text


def transition(
    ctx: Ctx,
    row: DataRequest,
    to: str,
    *,
    by: str,
    message: str | None = None,
    reason: str | None = None,
    extension: tuple[int, int] = (0, 0),
    details: dict[str, Any] | None = None,
) -> RequestEvent:
    """Move `row` to status `to`, or raise TransitionRefused/ValidationError having changed nothing.

    denied, on_hold and extended need a reason; extended also needs the extension as (months, days),
    at most once, before the first deadline has passed. `details` go into the audit entry too (the
    erasure's completion records the digest of its deletion certificate there).
    """
    old = row.status
    statuses.check(old, to, row.paused_from)
    details = {**(details or {}), "from": old, "to": to}
    if to in statuses.NEEDS_REASON:
        reason = _reason(reason)
        details["reason"] = reason
    if to == "extended":
        _extend(ctx, row, *extension)
        details["extension"] = {"months": row.extension_months, "days": row.extension_days}
    if to == "denied":
        message = f"{reason}\n\n{COMPLAINT[row.regime]}"
    elif reason and not message:
        message = reason
    if to in PAUSED:
        row.paused_from = old
    elif old in PAUSED:
        row.paused_from = None
    row.status = to
    row.updated_at = ctx.now
    if statuses.is_closed(to):
        row.closed_at = ctx.now
    deadlines.stamp(ctx.settings, row)
    return _line(
        ctx, row, by=by, action="status", audit_action=f"request.{to}", from_status=old, to_status=to,
        message=message, details=details,
    )  # fmt: skip


def _extend(ctx: Ctx, row: DataRequest, months: int, days: int) -> None:
    if row.extended_at is not None:
        raise TransitionRefused("This request's deadline was already extended once; it cannot be again.")
    deadlines.check_extension(row.regime, row.kind, months, days)
    first = deadlines.of_request(ctx.settings, row, unextended=True).due
    if deadlines.local_date(ctx.settings, ctx.now) > first:
        raise TransitionRefused(
            f"The deadline can only be extended before it passes ({first}); tell the person why at once."
        )
    row.extension_months, row.extension_days = months, days
    row.extended_at = ctx.now


def walk(ctx: Ctx, row: DataRequest, target: str, *, by: str, messages: dict[str, str] | None = None) -> int:
    """Take the main path up to `target`, one audited step at a time; the last step's receipt."""
    if row.status not in MAIN_PATH or target not in MAIN_PATH:
        raise TransitionRefused(f"A request that is “{statuses.LABELS[row.status]}” is not on its way.")
    seq = 0
    for status in MAIN_PATH[MAIN_PATH.index(row.status) + 1 : MAIN_PATH.index(target) + 1]:
        event = transition(ctx, row, status, by=by, message=(messages or {}).get(status))
        seq = event.audit_seq or seq
    return seq


def events(ctx: Ctx, request_id: int) -> list[RequestEvent]:
    return list(
        ctx.session.scalars(
            select(RequestEvent)
            .where(col(RequestEvent.request_id) == request_id)
            .order_by(col(RequestEvent.id))
        )
    )
