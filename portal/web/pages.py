"""Public pages, the staff landing page and the error pages."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from portal import staff
from portal.web.common import call, render, staff_required


async def home(request: Request) -> Response:
    return render(request, "home.html")


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


@staff_required
async def staff_home(request: Request) -> Response:
    overview = await call(request, staff.overview)
    return render(request, "staff/home.html", {"overview": overview})


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    template = {404: "404.html", 405: "405.html", 403: "403.html"}.get(status, "error.html")
    return render(request, template, {"status": status}, status_code=status)
