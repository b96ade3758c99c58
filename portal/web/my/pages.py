"""Public pages: the home page and the health check."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from portal.audit import witness
from portal.web.common import render


async def home(request: Request) -> Response:
    return render(request, "public/home.html")


async def healthz(request: Request) -> Response:
    """Plain "ok", or 503 with the reason when this process's audit signer has stopped (a rollback)."""
    stopped = witness.problem(request.app.state.settings)
    if stopped:
        return PlainTextResponse(f"audit checkpoints stopped: {stopped}\n", status_code=503)
    return PlainTextResponse("ok")
