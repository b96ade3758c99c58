"""Request metrics in the shape California's regulations ask a business to publish (Cal. Code Regs.
tit. 11 § 7102(a)): per kind of request and calendar year, how many were received, complied with in
whole or in part, and denied, and the median number of days within which they were substantively
answered. The same table is a back-office page and a CSV download.

Years and days are counted in PORTAL_REQUEST_TIME_ZONE: a request belongs to the year it was received
in; "days to respond" runs from the date of receipt to the date it was completed or denied (its
substantive response). A request withdrawn by the person, closed unconfirmed, or still open counts as
received only.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select

from portal.core.context import Ctx
from portal.core.csvsafe import neutralise
from portal.models.requests import REQUEST_KINDS, DataRequest

# How § 7102 and § 7001 name each kind of request.
CCPA_NAMES = {
    "access": "Requests to know",
    "erasure": "Requests to delete",
    "rectification": "Requests to correct",
    "objection": "Requests to opt out of sale or sharing (objections)",
    "unsubscribe": "Requests to opt out (promotional email)",
    "restriction": "Requests to limit use and disclosure",
}
HEADER = (
    "year", "kind", "request", "received", "complied_in_whole_or_in_part", "denied", "median_days_to_respond",
)  # fmt: skip
_T = DataRequest.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Line:
    year: int
    kind: str
    name: str
    received: int
    complied: int
    denied: int
    median_days: float | None


def yearly(ctx: Ctx) -> list[Line]:
    """Every (year, kind) with at least one request, newest year first, kinds in a fixed order."""
    tz = ZoneInfo(ctx.settings.request_time_zone)
    counts: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    days: dict[tuple[int, str], list[int]] = defaultdict(list)
    stmt = select(_T.c.kind, _T.c.status, _T.c.received_at, _T.c.closed_at).execution_options(yield_per=5000)
    for kind, status, received_at, closed_at in ctx.session.execute(stmt):
        received = received_at.astimezone(tz).date()
        key = (received.year, kind)
        counts[key][0] += 1
        if status in ("completed", "denied") and closed_at is not None:
            counts[key][1 if status == "completed" else 2] += 1
            days[key].append((closed_at.astimezone(tz).date() - received).days)
    order = {kind: i for i, kind in enumerate(REQUEST_KINDS)}
    keys = sorted(counts, key=lambda k: (-k[0], order.get(k[1], 99)))
    return [
        Line(
            year, kind, CCPA_NAMES.get(kind, kind), *counts[(year, kind)],
            float(statistics.median(days[(year, kind)])) if days[(year, kind)] else None,
        )  # type: ignore[call-arg]
        for year, kind in keys
    ]  # fmt: skip


def _row(values: Iterable[object]) -> list[str]:
    """Every cell of the CSV goes through here: text a spreadsheet would run as a formula is defused."""
    return [neutralise("" if v is None else str(v)) for v in values]


def as_csv(lines: list[Line]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_row(HEADER))
    for line in lines:
        median = "" if line.median_days is None else f"{line.median_days:g}"
        writer.writerow(
            _row((line.year, line.kind, line.name, line.received, line.complied, line.denied, median))
        )
    return out.getvalue()
