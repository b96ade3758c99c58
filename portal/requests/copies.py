"""Access requests staff work (e.g. filed on someone's behalf): staff prepare a copy of the person's
data — the same zip as "Download my data" — and a second member of staff releases it (four-eyes):
the person is mailed a single-use link, valid 24 hours, to a page where a button downloads it.

A prepared copy waits PREPARED_TTL for its release; releasing gives it a fresh link (only hashes of
links are kept, so the one made when it was prepared cannot be mailed later).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlmodel import col

from portal import audit
from portal.core import mail
from portal.core.context import Ctx
from portal.core.crypto import random_token, sha256_hex
from portal.core.errors import ValidationError
from portal.core.links import absolute
from portal.export import exports
from portal.models import DataExport, RequestCopy
from portal.models.requests import DataRequest
from portal.requests import actions, foureyes, notices, onbehalf, timeline
from portal.requests.statuses import LABELS, TransitionRefused

PREPARED_TTL = timedelta(days=7)


@dataclass(frozen=True)
class Prepared:
    export_id: int
    receipt: int


def _access(ctx: Ctx, request_id: int, status: str) -> DataRequest:
    row = actions.get(ctx, request_id)
    if row.kind != "access" or row.status != status:
        raise TransitionRefused(
            f"This needs an access request that is “{LABELS[status]}”; this one is “{LABELS[row.status]}”."
        )
    onbehalf.check_confirmed(row)
    if row.subject_id is None:
        raise TransitionRefused("The person of this request is no longer known.")
    return row


def _record(ctx: Ctx, row: DataRequest) -> DataExport:
    """A new export of the request's subject, recorded as the request's copy, prepared by the actor."""
    export = DataExport(
        subject_id=row.subject_id,  # type: ignore[arg-type]
        token_hash=sha256_hex(random_token(32)),  # replaced at release; nobody ever holds this one
        created_at=ctx.now,
        expires_at=ctx.now + PREPARED_TTL,
    )
    ctx.session.add(export)
    ctx.session.flush()
    copy = ctx.session.get(RequestCopy, row.id)
    if copy is None:
        copy = RequestCopy(request_id=row.id, prepared_by=ctx.actor, prepared_at=ctx.now)  # type: ignore[arg-type]
        ctx.session.add(copy)
    copy.export_id, copy.prepared_by, copy.prepared_at = export.id, ctx.actor, ctx.now
    copy.released_by = copy.released_at = None
    return export


def prepare(ctx: Ctx, request_id: int) -> Prepared:
    """Start an approved access request and record its export; build the zip (exports.build) once this
    has committed. A second member of staff then releases it."""
    row = _access(ctx, request_id, "approved")
    export = _record(ctx, row)
    event = timeline.transition(ctx, row, "in_progress", by="staff", message="Staff are preparing your copy.")
    return Prepared(export.id, event.audit_seq or 0)  # type: ignore[arg-type]


def prepare_again(ctx: Ctx, request_id: int) -> Prepared:
    """A copy whose file expired before its release is prepared anew (the request stays in progress)."""
    row = _access(ctx, request_id, "in_progress")
    if ctx.session.get(RequestCopy, request_id) is None:
        raise TransitionRefused("No copy was prepared for this request.")
    export = _record(ctx, row)
    details = {"request": row.id, "export": export.id}
    seq = audit.record(ctx, "request.copy_prepared", subject_id=row.subject_id, details=details).seq
    return Prepared(export.id, seq)  # type: ignore[arg-type]


def prepared(ctx: Ctx, request_id: int) -> tuple[RequestCopy, DataExport | None] | None:
    copy = ctx.session.get(RequestCopy, request_id)
    if copy is None:
        return None
    return copy, ctx.session.get(DataExport, copy.export_id) if copy.export_id else None


def release(ctx: Ctx, request_id: int) -> int:
    """A second member of staff sends the prepared copy: the link is mailed and the request completed."""
    row = _access(ctx, request_id, "in_progress")
    found = prepared(ctx, request_id)
    if found is None or found[1] is None:
        raise TransitionRefused("Prepare the copy first.")
    copy, export = found
    foureyes.other_person(ctx, copy.prepared_by, "prepared this copy")
    if export is None or export.ready_at is None or export.file_name is None or export.used_at is not None:
        raise TransitionRefused("The prepared copy is no longer there (or not ready yet): prepare it again.")
    to = notices.recipient(ctx, row)
    if to is None:
        raise ValidationError("There is no address to send the copy to.")
    token = random_token(32)
    export.token_hash = sha256_hex(token)
    export.expires_at = ctx.now + exports.LINK_TTL
    copy.released_by, copy.released_at = ctx.actor, ctx.now
    hours = int(exports.LINK_TTL.total_seconds() // 3600)
    mail.queue(
        ctx,
        to,
        f"Your request no. {row.id}: your copy is ready",
        "The copy of your data you asked for is ready. Download it within "
        f"{hours} hours from this link (it works once):\n\n"
        f"{absolute(ctx.settings, 'requests.copy', token=token)}\n\n"
        "It is a zip file: index.html shows everything in a browser, data.json and the CSV files hold the "
        "same for other programs.\n",
    )
    message = (
        f"Your copy (download no. {export.id}) was sent to you by email; its link works once, for "
        f"{hours} hours."
    )
    return timeline.transition(ctx, row, "completed", by="staff", message=message).audit_seq or 0


def claim(ctx: Ctx, token: str) -> exports.Claim:
    """Hand out a released copy once, to whoever holds its mailed link."""
    found = None
    if 0 < len(token) <= exports.MAX_TOKEN:
        found = ctx.session.scalar(
            select(col(DataExport.subject_id))
            .join(RequestCopy, col(RequestCopy.export_id) == col(DataExport.id))
            .where(col(DataExport.token_hash) == sha256_hex(token), col(RequestCopy.released_at).is_not(None))
        )
    if found is None:
        audit.record(ctx, "export.download_refused", details={"reason": "unknown", "via": "released copy"})
        return exports.Claim("missing")
    return exports.claim(ctx, found, token)


# A statement the dashboard asks together with its other figures.
AWAITING_RELEASE = (
    select(func.count())
    .select_from(RequestCopy)
    .join(DataRequest, col(DataRequest.id) == col(RequestCopy.request_id))
    .where(col(RequestCopy.released_at).is_(None), col(DataRequest.status) == "in_progress")
)


def awaiting_release(ctx: Ctx) -> int:
    """Copies prepared for requests still in progress, waiting for a second member of staff."""
    return int(ctx.session.scalar(AWAITING_RELEASE) or 0)
