"""The staff landing page: the dashboard."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from portal.backoffice import dashboard, worklist
from portal.requests.statuses import LABELS
from portal.web.charts import pair_chart
from portal.web.common import call, staff_required
from portal.web.staff.pages import page

SERIES = ("revocations", "unsubscribes")


@staff_required
async def home(request: Request) -> Response:
    board = await call(request, dashboard.load)
    chart = pair_chart([(d.day, d.revocations, d.unsubscribes) for d in board.days], SERIES)
    context = {
        "board": board,
        "chart": chart,
        "statuses": LABELS,
        "open_statuses": worklist.OPEN_STATUSES,
        "kinds": worklist.KIND_WORDS,
        "windows": dashboard.WINDOWS,
    }
    return page(request, "staff/home.html", context)
