"""Public pages: the home page and the health check."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from portal.web.common import render


async def home(request: Request) -> Response:
    return render(request, "public/home.html")


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")
