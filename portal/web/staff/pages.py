"""Rendering back-office pages: times are shown in the time zone requests are counted in."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from portal.web.common import render


def page(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    block_name: str | None = None,
) -> Response:
    tz = ZoneInfo(request.app.state.settings.request_time_zone)
    return render(request, template, {"tz": tz, **(context or {})}, status_code, block_name)
