"""Pages a person reaches from mail about a request staff filed on their behalf: confirming it, and
downloading the copy of their data staff sent. Each GET only shows a page with a button (mail
scanners follow links); the button's POST does the work."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from portal.core.errors import TokenInvalid
from portal.requests import copies, onbehalf
from portal.requests.statuses import KIND_LABELS
from portal.web.common import call, mailed, not_found, render
from portal.web.my.export import archive


async def confirm(request: Request) -> Response:
    token = request.path_params["token"]
    try:
        if request.method == "GET":
            row = await call(request, onbehalf.check, token)
            context = {"token": token, "row": row, "kind": KIND_LABELS[row.kind]}
            return render(request, "public/confirm_request.html", context)
        row = await call(request, onbehalf.confirm, token)
    except TokenInvalid as exc:
        return render(request, "public/link_closed.html", {"message": str(exc)}, status_code=400)
    context = {"row": row, "kind": KIND_LABELS[row.kind], "confirmed": True}
    return render(request, "public/confirm_request.html", context)


async def copy(request: Request) -> Response:
    token = request.path_params["token"]
    if request.method == "GET":
        return render(request, "public/copy.html", {"token": token})
    result = await call(request, copies.claim, token)
    if result.status == "missing":
        raise not_found()
    sent = await archive(result)
    if sent is None:
        return render(request, "public/copy.html", {"token": token, "gone": True}, status_code=410)
    return sent


FORM = ["GET", "POST"]
ROUTES = [
    mailed("requests.confirm", confirm, FORM),
    mailed("requests.copy", copy, FORM),
]
