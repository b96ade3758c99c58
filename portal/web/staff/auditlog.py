"""The audit viewer (admins): entries filtered and paged, one entry with its checked inclusion proof and
receipt, a full verification running in the background with its progress, the newest checkpoint.

The verification's page polls its progress with htmx (the `run` block, one stable id); without
JavaScript the page refreshes itself while the run is moving.
"""

from __future__ import annotations

import json
import threading
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.audit import browse, verification
from portal.core.errors import NotFound
from portal.web.common import admin_required, call, not_found, redirect
from portal.web.staff.pages import page


def _before(request: Request) -> int | None:
    raw = request.query_params.get("before", "")
    return int(raw) if raw.isdigit() and len(raw) < 11 else None


@admin_required
async def entries(request: Request) -> Response:
    filt, errors = browse.parse(request.query_params)
    found = await call(request, browse.page, filt, _before(request))
    latest = await call(request, verification.latest)
    path = request.url_for("staff.audit").path
    next_url = None
    if found.next_before:
        next_url = f"{path}?{urlencode({**filt.params(), 'before': found.next_before})}"
    context = {
        "filt": filt, "errors": errors, "found": found, "next_url": next_url, "latest": latest,
        "actors": await call(request, browse.actors), "paged": _before(request) is not None,
    }  # fmt: skip
    return page(request, "staff/audit.html", context, status_code=400 if errors else 200)


async def _entry(request: Request) -> browse.EntryView:
    try:
        return await call(request, browse.entry, request.path_params["seq"])
    except NotFound:
        raise not_found() from None


@admin_required
async def entry(request: Request) -> Response:
    view = await _entry(request)
    details = json.dumps(view.details, indent=2, ensure_ascii=False)
    return page(request, "staff/audit_entry.html", {"view": view, "details_json": details})


@admin_required
async def receipt(request: Request) -> Response:
    view = await _entry(request)
    body = json.dumps(view.receipt, indent=2) + "\n"
    headers = {"Content-Disposition": f'attachment; filename="audit-receipt-{view.entry.seq}.json"'}
    return Response(body, media_type="application/json", headers=headers)


@admin_required
async def checkpoint(request: Request) -> Response:
    found = await call(request, browse.latest_checkpoint)
    if found is None:
        raise not_found()
    name, body = found
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type="application/json", headers=headers)


@admin_required
async def verify(request: Request) -> Response:
    run_id, new = await call(request, verification.start)
    if new:
        state = request.app.state
        # A thread of this process: the page polls the run's row, which any process can read.
        threading.Thread(
            target=verification.execute, args=(state.engine, state.settings, state.clock, run_id),
            name=f"audit-verify-{run_id}", daemon=True,
        ).start()  # fmt: skip
    return redirect(request, "staff.audit.run", id=run_id)


@admin_required
async def run(request: Request) -> Response:
    run_id: int = request.path_params["id"]
    try:
        view = await call(request, verification.status, run_id)
    except NotFound:
        raise not_found() from None
    fragment = bool(request.headers.get("hx-request"))
    response = page(request, "staff/audit_run.html", {"run": view}, block_name="run" if fragment else None)
    response.headers["Vary"] = "HX-Request"
    return response


ROUTES = [
    Route("/staff/audit", entries, name="staff.audit", methods=["GET"]),
    Route("/staff/audit/checkpoint.json", checkpoint, name="staff.audit.checkpoint", methods=["GET"]),
    Route("/staff/audit/verify", verify, name="staff.audit.verify", methods=["POST"]),
    Route("/staff/audit/verify/{id:int}", run, name="staff.audit.run", methods=["GET"]),
    Route("/staff/audit/{seq:int}", entry, name="staff.audit.entry", methods=["GET"]),
    Route("/staff/audit/{seq:int}/receipt.json", receipt, name="staff.audit.receipt", methods=["GET"]),
]
