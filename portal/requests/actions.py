"""What staff do to a request (the back-office of issue 13 puts buttons on these). Each is one
transition (one audit entry, one timeline line) or, for assigning and notes, one audit entry; the
person is mailed when they must be told: an extension, a refusal, a completion."""

from __future__ import annotations

from portal import audit
from portal.core.context import Ctx
from portal.core.errors import NotFound, ValidationError
from portal.models import STAFF_ROLES, Account
from portal.models.requests import DataRequest, RequestNote
from portal.requests import fulfil, notices, timeline
from portal.requests.statuses import PAUSED, TransitionRefused

MAX_NOTE = 4000


def get(ctx: Ctx, request_id: int, *, lock: bool = True) -> DataRequest:
    row = ctx.session.get(DataRequest, request_id, with_for_update=lock) if 0 < request_id < 2**31 else None
    if row is None:
        raise NotFound(f"There is no request no. {request_id}.")
    return row


def _step(ctx: Ctx, request_id: int, to: str, message: str) -> int:
    return timeline.transition(ctx, get(ctx, request_id), to, by="staff", message=message).audit_seq or 0


def verify_identity(ctx: Ctx, request_id: int) -> int:
    return _step(ctx, request_id, "in_review", "Identity confirmed by staff.")


def approve(ctx: Ctx, request_id: int) -> int:
    return _step(ctx, request_id, "approved", "Approved by staff.")


def start(ctx: Ctx, request_id: int) -> int:
    return _step(ctx, request_id, "in_progress", "Staff are carrying it out.")


def complete(ctx: Ctx, request_id: int, message: str) -> int:
    """Complete an in-progress request; opt-outs take effect through the consent choices."""
    row = get(ctx, request_id)
    if row.kind == "erasure":
        raise TransitionRefused("An erasure is completed by the erasure engine, which deletes the data.")
    if row.kind in fulfil.OPT_OUTS and row.status == "in_progress":
        seq = fulfil.opt_out(ctx, row, via="staff")
    else:
        text = message.strip()
        if not text:
            raise ValidationError("Tell the person what was done.", "message")
        seq = timeline.transition(ctx, row, "completed", by="staff", message=text).audit_seq or 0
    notices.completed(ctx, row, timeline.events(ctx, request_id)[-1].message or "")
    return seq


def deny(ctx: Ctx, request_id: int, reason: str) -> int:
    row = get(ctx, request_id)
    seq = timeline.transition(ctx, row, "denied", by="staff", reason=reason).audit_seq or 0
    notices.denied(ctx, row, reason.strip())
    return seq


def hold(ctx: Ctx, request_id: int, reason: str) -> int:
    return timeline.transition(ctx, get(ctx, request_id), "on_hold", by="staff", reason=reason).audit_seq or 0


def resume(ctx: Ctx, request_id: int) -> int:
    """Back to where an on-hold or extended request was paused."""
    row = get(ctx, request_id)
    if row.status not in PAUSED or row.paused_from is None:
        raise TransitionRefused("Only a request on hold or with an extended deadline can be resumed.")
    return timeline.transition(ctx, row, row.paused_from, by="staff", message="Resumed.").audit_seq or 0


def extend(ctx: Ctx, request_id: int, reason: str, *, months: int = 0, days: int = 0) -> int:
    """Extend the deadline once (GDPR: 1–2 months; CCPA: up to 45 days); the person is told why."""
    row = get(ctx, request_id)
    event = timeline.transition(ctx, row, "extended", by="staff", reason=reason, extension=(months, days))
    notices.extended(ctx, row, reason.strip())
    return event.audit_seq or 0


def assign(ctx: Ctx, request_id: int, account_id: int | None) -> int:
    """Give the request to a staff member (None: to nobody); not a status change, so no timeline line."""
    row = get(ctx, request_id)
    if account_id is not None:
        account = ctx.session.get(Account, account_id)
        if account is None or account.role not in STAFF_ROLES:
            raise ValidationError("Requests can only be assigned to staff.", "assignee")
    row.assignee_id = account_id
    row.updated_at = ctx.now
    entry = audit.record(
        ctx, "request.assign", subject_id=row.subject_id, details={"request": row.id, "assignee": account_id}
    )
    return entry.seq


def add_note(ctx: Ctx, request_id: int, body: str) -> int:
    """An internal note, for staff only (never on the person's timeline)."""
    text = body.strip()
    if not text or len(text) > MAX_NOTE:
        raise ValidationError(f"A note has 1 to {MAX_NOTE} characters.", "body")
    row = get(ctx, request_id, lock=False)
    author = int(ctx.actor.split(":", 1)[1]) if ctx.actor.startswith("account:") else None
    note = RequestNote(
        request_id=request_id, subject_id=row.subject_id, author_id=author, body=text, at=ctx.now
    )
    ctx.session.add(note)
    ctx.session.flush()
    entry = audit.record(
        ctx, "request.note", subject_id=row.subject_id, details={"request": row.id, "note": note.id}
    )
    return entry.seq
