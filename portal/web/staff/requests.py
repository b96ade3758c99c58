"""The request queue and one request's page, with the actions staff take on it.

The queue's URL answers with the whole page, or (for htmx) with the `queue` block alone, which holds
the filters, the counts and the table: every filter, sort and page link is a plain link or GET form
that htmx also sends, so it works the same without JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.backoffice import casefile, casework, worklist
from portal.core.errors import NotFound, PortalError
from portal.export import exports
from portal.requests import foureyes, statuses
from portal.web.common import call, current, field, form, not_found, redirect, staff_required, units
from portal.web.flash import flash
from portal.web.staff.pages import page
from portal.web.threads import long_work

QUEUE_BLOCK = "queue"


def _me(request: Request) -> int:
    return current(request).account.id  # type: ignore[union-attr,return-value]


def _queue_urls(request: Request, filters: worklist.Filters) -> Callable[..., str]:
    """The queue's URL with some filters changed (for its links; the path is looked up once)."""
    path = request.url_for("staff.requests").path

    def url(**changed: Any) -> str:
        query = urlencode(filters.params(**changed))
        return f"{path}?{query}" if query else path

    return url


@staff_required
async def queue_page(request: Request) -> Response:
    q = request.query_params
    wanted = q.get("id", "").strip().lstrip("#")[:20]
    if wanted and wanted.isdigit() and await call(request, worklist.exists, int(wanted)):
        return redirect(request, "staff.request", id=int(wanted))
    filters = worklist.Filters.parse(q)
    after = worklist.parse_key(q.get("after", ""))
    found = await call(request, worklist.load, filters, _me(request), after)
    url = _queue_urls(request, filters)
    context = {
        "work": found,
        "filters": filters,
        "kinds": worklist.KIND_WORDS,
        "statuses": statuses.LABELS,
        "open_statuses": worklist.OPEN_STATUSES,
        "next_url": url(after=found.next_key) if found.next_key else None,
        "first_url": url() if after else None,
        "url": url,
        "search_error": f"There is no request no. {wanted}." if wanted else "",
    }
    fragment = bool(request.headers.get("hx-request"))
    response = page(request, "staff/queue.html", context, block_name=QUEUE_BLOCK if fragment else None)
    # One URL, a page or a fragment: caches must keep them apart.
    response.headers["Vary"] = "HX-Request"
    return response


@staff_required
async def bulk(request: Request) -> Response:
    data = await form(request)
    ids = [int(v) for v in data.getlist("ids") if isinstance(v, str) and v.isdigit() and len(v) < 10]
    action = field(data, "action", 16)
    reason = field(data, "reason", 2000)
    try:
        done = await long_work(casework.bulk, units(request), ids, action, reason)
    except PortalError as exc:
        flash(request, str(exc), "error")
    else:
        flash(request, casework.describe(done, action), "error" if done.refused else "success")
    back = field(data, "back", 500)
    if back.startswith(request.url_for("staff.requests").path):
        return Response(status_code=303, headers={"Location": back})
    return redirect(request, "staff.requests")


def _request_id(request: Request) -> int:
    value: int = request.path_params["id"]
    return value


async def _case(request: Request, reveal_reason: str | None = None) -> casefile.Case:
    try:
        if reveal_reason is None:
            return await call(request, casefile.load, _request_id(request))
        return await call(request, casefile.reveal, _request_id(request), reveal_reason)
    except NotFound:
        raise not_found() from None


def _show(request: Request, case: casefile.Case, status_code: int = 200, **extra: Any) -> Response:
    context = {"case": case, "kinds": worklist.KIND_WORDS, "statuses": statuses.LABELS, **extra}
    return page(request, "staff/request.html", context, status_code=status_code)


@staff_required
async def request_page(request: Request) -> Response:
    return _show(request, await _case(request))


@staff_required
async def reveal(request: Request) -> Response:
    """What the person wrote, shown in this response only, after a reason (audited)."""
    reason = field(await form(request), "reason", 600)
    try:
        case = await _case(request, reason)
    except PortalError as exc:
        return _show(request, await _case(request), 400, reveal_error=str(exc))
    return _show(request, case)


@staff_required
async def act(request: Request) -> Response:
    request_id = _request_id(request)
    data = await form(request)
    action = field(data, "action", 32)
    values = {k: field(data, k, 4100) for k in ("reason", "message", "months", "days", "assignee", "body")}
    try:
        done = await call(request, casework.act, request_id, action, values)
    except NotFound:
        raise not_found() from None
    except PortalError as exc:
        flash(request, str(exc), "error")
        return redirect(request, "staff.request", id=request_id)
    message = done.message + (f" (audit entry no. {done.receipt})" if done.receipt else "")
    state = request.app.state
    if done.export_id is not None:
        now = state.clock.now()
        await long_work(exports.build, state.engine, state.settings, now, done.export_id)
    response = redirect(request, "staff.request", id=request_id)
    if done.hand_over:
        # After the answer: a big subject takes minutes, and the request's page shows the progress.
        # What does not finish (put on hold meanwhile, another process) `run-due` takes up again.
        response.background = BackgroundTask(
            long_work, foureyes.hand_over, state.session_factory, state.settings, state.clock, request_id
        )
    flash(request, message, "success")
    return response


GET, POST = ["GET"], ["POST"]
ROUTES = [
    Route("/staff/requests", queue_page, name="staff.requests", methods=GET),
    Route("/staff/requests/bulk", bulk, name="staff.requests.bulk", methods=POST),
    Route("/staff/requests/{id:int}", request_page, name="staff.request", methods=GET),
    Route("/staff/requests/{id:int}/act", act, name="staff.request.act", methods=POST),
    Route("/staff/requests/{id:int}/reveal", reveal, name="staff.request.reveal", methods=POST),
]
