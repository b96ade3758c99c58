"""The staff landing page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from portal.backoffice import overview
from portal.web.common import call, render, staff_required


@staff_required
async def home(request: Request) -> Response:
    summary = await call(request, overview.overview)
    return render(request, "staff/home.html", {"overview": summary})
