"""The back-office dashboard: the queue in numbers, how fast requests are answered, what people turn
off, whether ingest keeps up, cookies nobody catalogued, and whether four-eyes applies."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select
from sqlmodel import col

from portal.accounts import staffing
from portal.core.context import Ctx
from portal.models import ConsentEvent, IngestRun
from portal.models.requests import REQUEST_KINDS, DataRequest
from portal.requests import copies, foureyes, queue
from portal.subjects import catalog

WINDOWS = (30, 90)
CHART_DAYS = 30
# Turning personalisation or marketing use off is a revocation; promotional email off, an unsubscribe.
REVOCATIONS = ("personalization", "marketing")


@dataclass(frozen=True)
class Speed:
    """Days from receipt to completion of the requests of one kind completed within a window."""

    kind: str
    window: int
    count: int
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class Day:
    day: date
    revocations: int
    unsubscribes: int


@dataclass(frozen=True)
class IngestHealth:
    run: IngestRun
    seconds: float | None
    lines_per_second: float | None


@dataclass(frozen=True)
class FourEyes:
    setting: bool
    active_staff: int
    applies: bool
    awaiting: int  # staff-approved erasures and prepared copies waiting for a second member of staff


@dataclass(frozen=True)
class Dashboard:
    counts: dict[str, int]
    speeds: list[Speed]
    days: list[Day]
    ingest: IngestHealth | None
    unclassified_count: int
    unclassified: list[catalog.SeenCookie]  # the most seen of them
    four_eyes: FourEyes


def nearest_rank(values: list[float], share: float) -> float:
    """The nearest-rank percentile (the smallest value with at least `share` of values at or below it)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# The dashboard's statements are built once: composing one costs more than the store takes to answer it.
_COMPLETED = select(col(DataRequest.kind), col(DataRequest.received_at), col(DataRequest.closed_at)).where(
    col(DataRequest.status) == "completed", col(DataRequest.closed_at) >= bindparam("since")
)
_OPT_OUTS = select(col(ConsentEvent.at), col(ConsentEvent.field)).where(
    col(ConsentEvent.at) >= bindparam("since"), col(ConsentEvent.value).is_(False)
)
_LAST_RUN = select(IngestRun).order_by(col(IngestRun.id).desc()).limit(1)
_APPROVED_ERASURES = select(DataRequest).where(
    col(DataRequest.status) == "approved",
    col(DataRequest.kind) == "erasure",
    col(DataRequest.closed_at).is_(None),
)
# Four counts in one statement: overdue requests, copies awaiting release, active staff accounts,
# cookie names the catalog does not list.
_FIGURES = select(
    queue.OVERDUE.scalar_subquery(),
    copies.AWAITING_RELEASE.scalar_subquery(),
    staffing.ACTIVE_COUNT.scalar_subquery(),
    catalog.UNCLASSIFIED_COUNT.scalar_subquery(),
)
UNCLASSIFIED_SHOWN = 5  # the most seen names; the whole list is on the catalog page


def speeds(ctx: Ctx) -> list[Speed]:
    rows = ctx.session.execute(_COMPLETED, {"since": ctx.now - timedelta(days=max(WINDOWS))}).all()
    out = []
    for window in WINDOWS:
        start = ctx.now - timedelta(days=window)
        for kind in REQUEST_KINDS:
            days = [(c - r).total_seconds() / 86400 for k, r, c in rows if k == kind and c and c >= start]
            median = round(statistics.median(days), 1) if days else None
            p90 = round(nearest_rank(days, 0.9), 1) if days else None
            out.append(Speed(kind, window, len(days), median, p90))
    return out


def opt_outs(ctx: Ctx) -> list[Day]:
    """Revocations and unsubscribes per day over the last CHART_DAYS days, in the request time zone."""
    tz = ZoneInfo(ctx.settings.request_time_zone)
    today = ctx.now.astimezone(tz).date()
    first = today - timedelta(days=CHART_DAYS - 1)
    since = datetime.combine(first, datetime.min.time(), tz)
    rows = ctx.session.execute(_OPT_OUTS, {"since": since})
    revoked: Counter[date] = Counter()
    unsubscribed: Counter[date] = Counter()
    for at, field in rows:
        day = at.astimezone(tz).date()
        if field in REVOCATIONS:
            revoked[day] += 1
        elif field == "email":
            unsubscribed[day] += 1
    days = [first + timedelta(days=i) for i in range(CHART_DAYS)]
    return [Day(d, revoked[d], unsubscribed[d]) for d in days]


def ingest_health(ctx: Ctx) -> IngestHealth | None:
    run = ctx.session.scalars(_LAST_RUN).first()
    if run is None:
        return None
    seconds = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
    rate = run.lines_read / seconds if seconds else None
    return IngestHealth(run, seconds, rate)


def four_eyes(ctx: Ctx, awaiting_release: int, active_staff: int) -> FourEyes:
    erasures = ctx.session.scalars(_APPROVED_ERASURES).all()
    applies = foureyes.required(ctx, active_staff)
    waiting = sum(foureyes.awaiting_confirmation(ctx, row) for row in erasures) + awaiting_release
    return FourEyes(ctx.settings.four_eyes, active_staff, applies, waiting if applies else 0)


def load(ctx: Ctx) -> Dashboard:
    figures = ctx.session.execute(_FIGURES, {"today": queue.today(ctx)}).one()
    overdue, awaiting_release, active_staff, unclassified = (int(n or 0) for n in figures)
    return Dashboard(
        {**queue.per_status(ctx), "overdue": overdue},
        speeds(ctx),
        opt_outs(ctx),
        ingest_health(ctx),
        unclassified,
        catalog.unclassified(ctx, UNCLASSIFIED_SHOWN),
        four_eyes(ctx, awaiting_release, active_staff),
    )
