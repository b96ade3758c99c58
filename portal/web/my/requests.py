"""My requests: the list, making a request, one request's timeline, cancelling while it waits.

The subject is always the logged-in account's; a request id in a URL that belongs to someone else
is answered exactly like a missing one (the service audits the attempt).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.accounts import reauth, sessions
from portal.core.context import Ctx
from portal.core.errors import ValidationError
from portal.core.words import count
from portal.export import exports
from portal.models.requests import OBJECTION_SCOPES, REQUEST_KINDS
from portal.requests import deadlines, erasure, filing, fulfil, preview, queue, statuses, timeline, waiting
from portal.subjects import consent
from portal.web.common import call, current, field, form, login_required, mailed, not_found, redirect, render
from portal.web.flash import flash
from portal.web.my.mydata import _me
from portal.web.threads import long_work

PASSWORD_FIELD_LIMIT = 1024
LINK_HOURS = int(exports.LINK_TTL.total_seconds() // 3600)
SCOPE_WORDS = {"marketing": "marketing use of my data", "profiling": "personalised content (profiling)"}
BY_WORDS = {"you": "You", "staff": "Support staff", "portal": "The portal"}
FILED = {
    "access": "Your copy is ready.",
    "erasure": "Your erasure request is recorded.",
    "objection": "Your objection is carried out.",
    "unsubscribe": "You are unsubscribed from promotional email.",
    "rectification": "Your request to correct your data is recorded; staff will work on it.",
    "restriction": "Your request to pause the use of your data is recorded; staff will work on it.",
}


@login_required
async def index(request: Request) -> Response:
    subject_id, tz = _me(request)

    def load(ctx: Ctx) -> list[dict[str, Any]]:
        return [_summary(ctx, row) for row in queue.mine(ctx, subject_id)]

    rows = await call(request, load)
    return _page(request, "my/requests.html", tz, rows=rows, kinds=statuses.KIND_LABELS)


def _summary(ctx: Ctx, row: Any) -> dict[str, Any]:
    return {
        "row": row,
        "kind": statuses.KIND_LABELS[row.kind],
        "status": statuses.LABELS[row.status],
        "open": row.closed_at is None,
        "days_left": queue.days_left(ctx, row.due_on),
    }


def _page(request: Request, template: str, tz: ZoneInfo, status_code: int = 200, **context: Any) -> Response:
    return render(request, template, {"my_nav": True, "tz": tz, **context}, status_code=status_code)


# -- making a request ------------------------------------------------------------------------


def _kind(value: str) -> str:
    if value not in REQUEST_KINDS:
        raise not_found()
    return value


def _form_context(ctx: Ctx, cur: sessions.Current, kind: str) -> dict[str, Any]:
    subject_id = cur.account.subject_id  # type: ignore[union-attr]
    settings = ctx.settings
    today = deadlines.local_date(settings, ctx.now)
    due = deadlines.due(today, settings.request_regime, deadlines.calendar_of(settings), kind=kind)
    return {
        "kind": kind,
        "label": statuses.KIND_LABELS[kind],
        "due": due.due,
        "reauthenticated": sessions.recently_reauthenticated(ctx, cur),
        "preview": preview.erasure_preview(ctx, subject_id) if kind == "erasure" else None,
        "choices": consent.state(ctx, subject_id) if kind == "objection" else None,
        "scopes": OBJECTION_SCOPES,
        "wait_days": settings.erasure_wait_days,
        "review": settings.erasure_review,
        "link_hours": LINK_HOURS,
    }


@login_required
async def new(request: Request) -> Response:
    _, tz = _me(request)
    kind = _kind(request.query_params.get("kind", ""))
    context = await call(request, _form_context, current(request), kind)
    return _page(request, "my/request_new.html", tz, **context)


async def _refuse(
    request: Request, tz: ZoneInfo, kind: str, values: FormData, errors: dict[str, str], status: int
) -> Response:
    context = await call(request, _form_context, current(request), kind)
    chosen = values.getlist("scope")
    context.update(errors=errors, details=field(values, "details", filing.MAX_DETAILS), chosen=chosen)
    return _page(request, "my/request_new.html", tz, status_code=status, **context)


@login_required
async def file(request: Request) -> Response:
    subject_id, tz = _me(request)
    values = await form(request)
    kind = _kind(field(values, "kind", 32))
    cur = current(request)
    password = field(values, "password", PASSWORD_FIELD_LIMIT)
    if kind == "erasure" and not password:
        return await _refuse(request, tz, kind, values, {"password": "Enter your password to confirm."}, 400)
    if password:
        result = await call(request, reauth.confirm_password, cur, password)
        if result.status == "throttled":
            minutes = max(1, result.retry_after // 60)
            error = {"password": f"Too many attempts. Try again in {count(minutes, 'minute')}."}
            response = await _refuse(request, tz, kind, values, error, 429)
            response.headers["Retry-After"] = str(result.retry_after)
            return response
        if result.status != "ok":
            wrong = {"password": "That password is not correct."}
            return await _refuse(request, tz, kind, values, wrong, 400)
    scope = " ".join(s for s in values.getlist("scope") if isinstance(s, str))[:64]
    details = field(values, "details", filing.MAX_DETAILS + 1)
    try:
        filed = await call(request, filing.submit, cur, kind, scope=scope, details=details)
    except exports.ReauthRequired as exc:
        return await _refuse(request, tz, kind, values, {"password": str(exc)}, 400)
    except ValidationError as exc:
        return await _refuse(request, tz, kind, values, {exc.field or "kind": str(exc)}, 400)
    extra: dict[str, Any] = {}
    receipt = filed.receipt
    if filed.export is not None:
        receipt = await _copy(request, subject_id, filed.request_id, filed.export) or receipt
        extra["download"] = request.url_for("my.export_download", token=filed.export.token).path
    message = FILED[kind]
    if filed.joined:
        message = "You already have an open request of this kind; your new request was added to it."
    flash(request, message, "success", receipt=receipt, **extra)
    return redirect(request, "my.request", id=filed.request_id)


async def _copy(request: Request, subject_id: int, request_id: int, started: exports.Started) -> int | None:
    """Build the access request's copy (off the event loop, as the export page does) and complete it."""
    state = request.app.state
    await long_work(exports.build, state.engine, state.settings, state.clock.now(), started.export_id)
    return await call(request, fulfil.complete_access, subject_id, request_id, started.export_id)


# -- one request -----------------------------------------------------------------------------


def _request_id(request: Request) -> int:
    raw = request.path_params["id"]
    if not (isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 10):
        raise not_found()
    return int(raw)


def _detail(ctx: Ctx, subject_id: int, request_id: int) -> dict[str, Any] | None:
    row = queue.own(ctx, subject_id, request_id)
    if row is None:
        return None
    found = deadlines.of_request(ctx.settings, row)
    return {
        **_summary(ctx, row),
        "deadline": found,
        "days_left": queue.days_left(ctx, found.due),
        "events": [
            (e, statuses.LABELS.get(e.to_status or "", ""), BY_WORDS[e.author])
            for e in timeline.events(ctx, request_id)
        ],
        "cancellable": "cancelled" in statuses.targets(row.status, row.paused_from),
        "erasing": erasure.progress(ctx.session, request_id)
        if row.kind == "erasure" and row.closed_at is None
        else None,
        "scope_words": SCOPE_WORDS,
        "link_hours": LINK_HOURS,
    }


@login_required
async def show(request: Request) -> Response:
    subject_id, tz = _me(request)
    detail = await call(request, _detail, subject_id, _request_id(request))
    if detail is None:
        raise not_found()
    return _page(request, "my/request.html", tz, **detail)


@login_required
async def cancel(request: Request) -> Response:
    subject_id, _ = _me(request)
    request_id = _request_id(request)
    try:
        seq = await call(request, waiting.cancel, subject_id, request_id)
    except statuses.TransitionRefused as exc:
        flash(request, f"{exc} It can no longer be cancelled.", "error")
        return redirect(request, "my.request", id=request_id)
    if seq is None:
        raise not_found()
    flash(request, "Your request is cancelled. Nothing more will be done with it.", "success", receipt=seq)
    return redirect(request, "my.request", id=request_id)


ROUTES = [
    Route("/my/requests", index, name="my.requests", methods=["GET"]),
    # Before /my/requests/{id}: "new" is no request number.
    Route("/my/requests/new", new, name="my.requests.new", methods=["GET"]),
    Route("/my/requests/new", file, name="my.requests.file", methods=["POST"]),
    mailed("my.request", show, ["GET"]),
    Route("/my/requests/{id}/cancel", cancel, name="my.request.cancel", methods=["POST"]),
]
