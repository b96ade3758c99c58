"""Filing a request, and taking a verified person's own request as far as it can go by itself.

A second open request of the same kind joins the first (a line on its timeline, no new request);
the partial unique index of migration 0009 holds that even against two filings at once. Every
step of the way is a transition of its own (timeline.walk): a request never skips one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import col

from portal.accounts import sessions
from portal.accounts.sessions import Current
from portal.core.context import Ctx
from portal.core.errors import ValidationError
from portal.export import exports
from portal.models import Subject, WebSession
from portal.models.requests import CHANNELS, OBJECTION_SCOPES, REQUEST_KINDS, DataRequest
from portal.requests import deadlines, fulfil, notices, timeline
from portal.requests.statuses import MAIN_PATH

MAX_DETAILS = 4000
NEEDS_DETAILS = ("rectification", "restriction")
# Kinds whose filing needs the password entered again (they hand out or destroy everything).
NEEDS_REAUTH = ("access", "erasure")
# How far a verified person's own request goes by itself before it is carried out: opt-outs and
# access are then completed at once (fulfil.py); an erasure waits (then runs by itself, see
# waiting.py); the rest is staff's work.
SELF_SERVICE_TARGET = {
    "access": "in_progress",
    "erasure": "in_review",
    "objection": "in_progress",
    "unsubscribe": "in_progress",
    "rectification": "in_review",
    "restriction": "in_review",
}


@dataclass(frozen=True)
class Filed:
    request_id: int
    joined: bool
    receipt: int  # audit seq of the last step taken
    status: str
    # Access: the export started for it; build it, then call fulfil.complete_access.
    export: exports.Started | None = None


def _clean(kind: str, scope: str, details: str) -> tuple[str, str | None]:
    if kind not in REQUEST_KINDS:
        raise ValidationError("Choose one of the requests this page offers.", "kind")
    scopes = sorted(set(scope.split()))
    if kind == "objection":
        if not scopes or not set(scopes) <= set(OBJECTION_SCOPES):
            raise ValidationError("Choose what you object to.", "scope")
    elif scopes:
        raise ValidationError("Only an objection has a scope.", "scope")
    text = details.strip()
    if kind in NEEDS_DETAILS and not text:
        raise ValidationError("Tell us what to correct or why, in a few words.", "details")
    if len(text) > MAX_DETAILS:
        raise ValidationError(f"Please keep it under {MAX_DETAILS} characters.", "details")
    return " ".join(scopes), text or None


def file(
    ctx: Ctx,
    subject_id: int,
    kind: str,
    *,
    scope: str = "",
    details: str = "",
    by: str = "you",
    channel: str = "self_service",
    contact_addr: str | None = None,
) -> tuple[DataRequest, bool, int]:
    """Record a request (status received), or join the open one of the same kind: (row, joined, seq)."""
    scope, text = _clean(kind, scope, details)
    if channel not in CHANNELS:
        raise ValidationError(f"Unknown channel {channel!r}.", "channel")
    # Two filings at once by the same person queue here (SQLite holds its write lock already).
    ctx.session.get(Subject, subject_id, with_for_update=True)
    row = ctx.session.scalar(
        select(DataRequest).where(
            col(DataRequest.subject_id) == subject_id,
            col(DataRequest.kind) == kind,
            col(DataRequest.closed_at).is_(None),
        )
    )
    if row is not None:
        added = sorted(set(scope.split()) - set(row.scope.split()))
        row.scope = " ".join(sorted(set(row.scope.split()) | set(added)))
        message = "You asked again; this request already covers it."
        if added:
            message = f"You asked again, now also about {' and '.join(added)}; this request covers it."
        if text:
            message += f"\n\nYou wrote: {text}"
        event = timeline.line(ctx, row, "joined", by=by, message=message)
        return row, True, event.audit_seq or 0
    row = DataRequest(
        subject_id=subject_id,
        kind=kind,
        scope=scope,
        status="received",
        regime=ctx.settings.request_regime,
        received_at=ctx.now,
        channel=channel,
        contact_addr=contact_addr,
        details=text,
        acknowledged_at=ctx.now if channel == "self_service" else None,
        updated_at=ctx.now,
        due_on=ctx.now.date(),  # stamped below
        deadline_basis="",
    )
    deadlines.stamp(ctx.settings, row)
    ctx.session.add(row)
    ctx.session.flush()
    event = timeline.opened(ctx, row, by=by, message=text)
    return row, False, event.audit_seq or 0


def submit(ctx: Ctx, cur: Current, kind: str, *, scope: str = "", details: str = "") -> Filed:
    """A verified, logged-in person files a request from My data and it goes as far as it can."""
    account = cur.account
    if account is None or account.email_verified_at is None:
        raise ValidationError("Only a verified account can make requests.", "kind")
    # The session as stored now: the password may have been confirmed since this request began.
    stored = ctx.session.get(WebSession, cur.id_hash)
    cur = Current(cur.token, stored, account) if stored is not None else cur
    if kind in NEEDS_REAUTH and (stored is None or not sessions.recently_reauthenticated(ctx, cur)):
        raise exports.ReauthRequired("Please enter your password again to confirm this request.")
    row, joined, seq = file(ctx, account.subject_id, kind, scope=scope, details=details)
    started = None
    target = SELF_SERVICE_TARGET[kind]
    if _before(row.status, target):
        if kind == "erasure" and row.wait_until is None:
            row.wait_until = ctx.now + timedelta(days=ctx.settings.erasure_wait_days)
        seq = timeline.walk(ctx, row, target, by="portal", messages=_messages(ctx, row, target))
        if kind == "erasure":
            notices.erasure_waiting(ctx, row)
        elif kind in ("rectification", "restriction") and not joined:
            notices.received(ctx, row)
    if kind in fulfil.OPT_OUTS and row.status == "in_progress":
        seq = fulfil.opt_out(ctx, row, via="portal")
    if kind == "access" and row.status == "in_progress":
        started = exports.start(ctx, cur)
    return Filed(row.id, joined, seq, row.status, started)  # type: ignore[arg-type]


def _before(status: str, target: str) -> bool:
    return status in MAIN_PATH and MAIN_PATH.index(status) < MAIN_PATH.index(target)


def _messages(ctx: Ctx, row: DataRequest, target: str) -> dict[str, str]:
    """What the person reads on each step the portal takes for them."""
    confirmed = "Identity confirmed: you are logged in with a verified email address"
    if row.kind in NEEDS_REAUTH:
        confirmed += " and entered your password again"
    messages = {"identity_pending": "We check that the request comes from you.", "in_review": confirmed + "."}
    if row.kind == "erasure" and row.wait_until is not None:
        zone = ctx.settings.request_time_zone
        until = row.wait_until.astimezone(ZoneInfo(zone)).strftime("%d %B %Y, %H:%M")
        messages["in_review"] = f"{confirmed}. You can cancel this request until {until} ({zone})."
        if ctx.settings.erasure_review == "always":
            messages["in_review"] += " A member of staff will then review it."
    elif target == "in_review":
        messages["in_review"] = f"{confirmed}. A member of staff will now work on it."
    if target == "in_progress":
        messages["approved"] = "Approved: nothing stands in the way."
        messages["in_progress"] = {
            "access": "Preparing your copy.",
        }.get(row.kind, "Carrying it out.")
    return messages
