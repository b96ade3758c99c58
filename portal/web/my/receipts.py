"""A user's own receipts: the list, one receipt as a page, and as a JSON download.

Only entries about the logged-in user's subject are served; any other sequence number gets the
same 404 as one that does not exist (the service audits both).
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal import audit
from portal.audit import receipts
from portal.audit.checkpoints import CheckpointError
from portal.core.context import Ctx
from portal.web.common import call, current, login_required, not_found, render
from portal.web.my.consent import local_time

RECENT = 50
# Plain words for the actions a person sees in their own list; anything else shows its code.
ACTION_WORDS = {
    "account.register": "Account registered",
    "account.verify_email": "Email address confirmed",
    "account.password_change": "Password changed",
    "account.time_zone": "Time zone changed",
    "account.email_change_requested": "Asked to change my email address (a link went to the new one)",
    "account.email_change": "Email address changed",
    "login.ok": "Logged in",
    "login.failed": "Failed login attempt",
    "consent.personalization.on": "Personalised content turned on",
    "consent.personalization.off": "Personalised content turned off",
    "consent.marketing.on": "Marketing use of my data allowed",
    "consent.marketing.off": "Marketing use of my data stopped",
    "consent.email.on": "Subscribed to promotional email",
    "consent.email.off": "Unsubscribed from promotional email",
    "search_preferences.delete": "Search preferences deleted",
    "request.received": "Request received",
    "request.identity_pending": "Request: checking who you are",
    "request.in_review": "Request being reviewed",
    "request.approved": "Request approved",
    "request.in_progress": "Request being carried out",
    "request.completed": "Request completed",
    "request.denied": "Request refused",
    "request.on_hold": "Request put on hold",
    "request.cancelled": "Request cancelled",
    "request.extended": "Request's deadline extended",
    "request.joined": "Request made again (joined the open one)",
    "request.reminder": "Staff reminded of a request's deadline",
    "request.assign": "Request assigned to a staff member",
    "request.note": "Staff noted something on a request",
}


def _recent(ctx: Ctx, subject_id: int) -> list[Any]:
    return audit.entries_for_subject(ctx, subject_id, RECENT)


@login_required
async def index(request: Request) -> Response:
    account = current(request).account
    assert account is not None
    entries = await call(request, _recent, account.subject_id)
    rows = [(local_time(e.at, account.time_zone), e, ACTION_WORDS.get(e.action, e.action)) for e in entries]
    return render(request, "my/receipts.html", {"rows": rows})


async def _receipt(request: Request) -> dict[str, Any]:
    """The receipt, or 404; CheckpointError when no checkpoint can be signed (a failed witness check)."""
    account = current(request).account
    assert account is not None
    found = await call(request, receipts.subject_receipt, account.subject_id, request.path_params["seq"])
    if found is None:
        raise not_found()
    return found


def _unavailable(request: Request) -> Response:
    message = "Receipts cannot be issued right now: the audit log is being checked. Please try again later."
    return render(request, "errors/error.html", {"status": 503, "message": message}, status_code=503)


@login_required
async def show(request: Request) -> Response:
    try:
        receipt = await _receipt(request)
    except CheckpointError:
        return _unavailable(request)
    account = current(request).account
    assert account is not None
    fields = json.loads(base64.b64decode(receipt["canonical"]))
    at = datetime.fromisoformat(fields["at"].replace("Z", "+00:00"))
    context = {
        "receipt": receipt,
        "fields": fields,
        "at": local_time(at, account.time_zone),
        "action_words": ACTION_WORDS.get(fields["action"], fields["action"]),
    }
    return render(request, "my/receipt.html", context)


@login_required
async def download(request: Request) -> Response:
    try:
        receipt = await _receipt(request)
    except CheckpointError:
        return _unavailable(request)
    return Response(
        json.dumps(receipt, indent=2) + "\n",
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="receipt-{receipt["seq"]}.json"'},
    )


ROUTES = [
    Route("/my/receipts", index, name="my.receipts", methods=["GET"]),
    Route("/my/receipts/{seq:int}", show, name="my.receipt", methods=["GET"]),
    Route("/my/receipts/{seq:int}.json", download, name="my.receipt_json", methods=["GET"]),
]
