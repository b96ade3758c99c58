"""Error pages for HTTP errors a handler raises (the middleware answers crashes itself)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from portal.web.common import render

TEMPLATES = {404: "errors/404.html", 405: "errors/405.html", 403: "errors/403.html"}


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    template = TEMPLATES.get(status, "errors/error.html")
    response = render(request, template, {"status": status}, status_code=status)
    if isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)  # e.g. Allow on a 405
    return response
