"""Request metrics in the shape California's regulations ask businesses to publish: a page and a CSV."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.backoffice import metrics
from portal.web.common import admin_required, call
from portal.web.staff.pages import page


@admin_required
async def report(request: Request) -> Response:
    lines = await call(request, metrics.yearly)
    zone = request.app.state.settings.request_time_zone
    return page(request, "staff/reports.html", {"lines": lines, "zone": zone})


@admin_required
async def report_csv(request: Request) -> Response:
    body = metrics.as_csv(await call(request, metrics.yearly))
    headers = {"Content-Disposition": 'attachment; filename="request-metrics.csv"'}
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)


ROUTES = [
    Route("/staff/reports", report, name="staff.reports", methods=["GET"]),
    Route("/staff/reports/requests.csv", report_csv, name="staff.reports.csv", methods=["GET"]),
]
