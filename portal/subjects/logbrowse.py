"""Browsing one subject's log records: filters, keyset pages and a per-day activity count.

Pages are keyset pages on (at, id) descending, read through ix_log_record_subject_at, so the
first page costs the same for a subject with ten records as for one with a hundred thousand:
no OFFSET and no COUNT(*) on the way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Select, String, bindparam, cast, func, null, or_, select, tuple_

from portal.core.context import Ctx
from portal.core.rows import all_rows
from portal.models import MAX_BIGINT, metadata
from portal.subjects.useragents import describe_user_agent

# The first page is what every visit to the log page costs, and what a person reads before they
# filter: five screens on a phone. "Load more" is asked for by someone who wants more, and gets more.
FIRST_PAGE = 25
PAGE_SIZE = 50
CHART_DAYS = 30
MAX_CHART_DAYS = 366
MAX_TEXT = 200
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)
ID_RANGE = range(-MAX_BIGINT - 1, MAX_BIGINT + 1)  # what log_record.id (BIGINT) can hold


@dataclass(frozen=True)
class LogFilter:
    start: date | None = None
    end: date | None = None  # inclusive, in the person's time zone
    text: str = ""
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """The date range as UTC instants: [start 00:00, the day after end 00:00) in local time."""
        lo = datetime.combine(self.start, time(), self.tz).astimezone(UTC) if self.start else None
        hi = (
            datetime.combine(self.end + timedelta(days=1), time(), self.tz).astimezone(UTC)
            if self.end
            else None
        )
        return lo, hi

    def params(self) -> dict[str, str]:
        """The filter as query parameters, for links to the next page."""
        out = {
            "from": self.start.isoformat() if self.start else "",
            "to": self.end.isoformat() if self.end else "",
        }
        out["q"] = self.text
        return {k: v for k, v in out.items() if v}


@dataclass(frozen=True)
class Cursor:
    at: datetime
    id: int

    def encode(self) -> str:
        micros = (self.at - EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.id}"

    @classmethod
    def decode(cls, raw: str | None) -> Cursor | None:
        """None for a missing or malformed cursor: that simply means the first page."""
        if not raw or len(raw) > 40:
            return None
        micros, _, ident = raw.partition(".")
        try:
            cursor = cls(EPOCH + timedelta(microseconds=int(micros)), int(ident))
        except (ValueError, OverflowError):
            return None
        return cursor if cursor.id in ID_RANGE else None


class LogRow(NamedTuple):
    """A tuple, not a frozen dataclass: a page builds fifty, and a frozen dataclass costs four times
    as much to build. The log_rows macro (templates/my/_macros.html) unpacks it in this order."""

    id: int
    at: datetime
    method: str | None
    path: str | None
    status: int
    referrer_domain: str | None
    browser: str
    ip: str
    # The whole referrer, kept only when the text filter matched it and the shown domain does not
    # say so: the page must show what a filter matched (a search term sits in the referrer's query).
    matched_referrer: str | None = None


@dataclass(frozen=True)
class LogPage:
    rows: list[LogRow]
    next: Cursor | None


@dataclass(frozen=True)
class DayCount:
    day: date
    count: int


@dataclass(frozen=True)
class Activity:
    days: list[DayCount]  # every day of the window, oldest first, zeros included
    total: int
    busiest: DayCount | None


def parse_filter(
    raw_start: str, raw_end: str, raw_text: str, tz: ZoneInfo
) -> tuple[LogFilter, dict[str, str]]:
    """The filter from query parameters, and an error per field a person got wrong."""
    errors: dict[str, str] = {}

    def day(name: str, raw: str) -> date | None:
        if not raw:
            return None
        try:
            found = date.fromisoformat(raw)
        except ValueError:
            errors[name] = "Enter a date like 2024-03-31."
            return None
        if not FIRST_DAY <= found <= LAST_DAY:  # the day after must exist in every time zone
            errors[name] = f"Enter a date between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}."
            return None
        return found

    start, end = day("from", raw_start.strip()), day("to", raw_end.strip())
    if start and end and start > end:
        errors["to"] = "The end date must not be before the start date."
        end = None
    return LogFilter(start, end, " ".join(raw_text.split())[:MAX_TEXT], tz), errors


# Core columns, not the model's: a page of fifty rows read through the ORM cost a third more.
_LOG = metadata.tables["log_record"].c
_AT = _LOG.at.type


def _where(has_lo: bool, has_hi: bool, has_text: bool) -> list[Any]:
    """The filter's clauses, with its values as bind parameters (see _params)."""
    clauses: list[Any] = [_LOG.subject_id == bindparam("subject_id")]
    if has_lo:
        clauses.append(_LOG.at >= bindparam("lo", type_=_AT))
    if has_hi:
        clauses.append(_LOG.at < bindparam("hi", type_=_AT))
    if has_text:
        pattern = bindparam("pattern", type_=String)
        clauses.append(
            or_(
                func.lower(_LOG.path).like(pattern, escape="\\"),
                func.lower(_LOG.referrer).like(pattern, escape="\\"),
            )
        )
    return clauses


def _params(subject_id: int, filt: LogFilter) -> dict[str, Any]:
    lo, hi = filt.bounds()
    params: dict[str, Any] = {"subject_id": subject_id, "lo": lo, "hi": hi}
    if filt.text:
        # % and _ in what a person typed are literal characters, not wildcards.
        needle = filt.text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["pattern"] = f"%{needle}%"
    return params


@lru_cache(maxsize=32)
def _page_statement(has_lo: bool, has_hi: bool, has_text: bool, paged: bool, limit: int) -> Select[Any]:
    """Built once per shape of filter: composing it cost more than the store takes to answer it."""
    clauses = _where(has_lo, has_hi, has_text)
    if paged:
        # A row-value comparison lets both stores walk the (subject_id, at, id) index backwards.
        after = tuple_(bindparam("after_at", type_=_AT), bindparam("after_id"))
        clauses.append(tuple_(_LOG.at, _LOG.id) < after)
    # The whole referrer is shown only when a text filter matched it: without one it is not read.
    referrer = _LOG.referrer if has_text else null()
    return (
        select(
            _LOG.id, _LOG.at, _LOG.method, _LOG.path,
            _LOG.status, _LOG.referrer_domain, _LOG.user_agent,
            _LOG.ip, referrer,
        )
        .where(*clauses)
        .order_by(_LOG.at.desc(), _LOG.id.desc())
        .limit(limit + 1)  # one more than shown tells whether there is a next page
    )  # fmt: skip


def page(
    ctx: Ctx, subject_id: int, filt: LogFilter, after: Cursor | None, limit: int | None = None
) -> LogPage:
    """One page of the subject's records, newest first, strictly older than `after`: FIRST_PAGE
    records without `after`, PAGE_SIZE with it, unless `limit` says otherwise."""
    if limit is None:
        limit = FIRST_PAGE if after is None else PAGE_SIZE
    params = _params(subject_id, filt)
    stmt = _page_statement(params["lo"] is not None, params["hi"] is not None, "pattern" in params,
                           after is not None, limit)  # fmt: skip
    if after is not None:
        params.update(after_at=after.at, after_id=after.id)
    found = all_rows(ctx.session, stmt, params)
    text = filt.text
    # Rows unpacked in the order _page_statement selects them: reading a Row's fields by name costs
    # more than building the LogRow.
    rows = [
        LogRow(
            id_, at, method, path, status, domain, describe_user_agent(agent), ip,
            _matched_referrer(text, path, domain, referrer) if text else None,
        )
        for id_, at, method, path, status, domain, agent, ip, referrer in found[:limit]
    ]  # fmt: skip
    more = len(found) > limit
    return LogPage(rows, Cursor(rows[-1].at, rows[-1].id) if more and rows else None)


def _matched_referrer(text: str, path: str | None, domain: str | None, referrer: str | None) -> str | None:
    """The full referrer when only it (not the page or the domain shown) holds the filter's text."""
    needle = text.lower()
    if not needle or not referrer or needle not in referrer.lower():
        return None
    if needle in (path or "").lower() or needle in (domain or "").lower():
        return None
    return referrer


def activity(ctx: Ctx, subject_id: int, filt: LogFilter) -> Activity:
    """Requests per local day over the filter's range (default: the last 30 days)."""
    today = ctx.now.astimezone(filt.tz).date()
    end = min(filt.end or today, today)
    start = filt.start or end - timedelta(days=CHART_DAYS - 1)
    start = max(start, end - timedelta(days=MAX_CHART_DAYS - 1))
    window = LogFilter(start, end, filt.text, filt.tz)
    counts: dict[date, int] = {}
    for day, count in _grouped(ctx, subject_id, window):
        counts[day] = counts.get(day, 0) + count
    days = [DayCount(d, counts.get(d, 0)) for d in _each_day(start, end)]
    busiest = max(days, key=lambda d: d.count, default=None)
    return Activity(days, sum(d.count for d in days), busiest if busiest and busiest.count else None)


def _grouped(ctx: Ctx, subject_id: int, window: LogFilter) -> list[tuple[date, int]]:
    params = _params(subject_id, window)
    clauses = _where(params["lo"] is not None, params["hi"] is not None, "pattern" in params)
    if ctx.session.get_bind().dialect.name == "postgresql":
        local_day = cast(func.timezone(window.tz.key, _LOG.at), Date)
        stmt = select(local_day, func.count()).where(*clauses).group_by(local_day)
        return [(d, n) for d, n in ctx.session.execute(stmt, params).all()]
    # SQLite knows no time zones: count per UTC hour (stored text "YYYY-MM-DD HH:…"), then move
    # each hour to the person's day in Python. Exact for every zone whose offset is whole hours.
    hour = func.substr(_LOG.at, 1, 13)
    stmt = select(hour, func.count()).where(*clauses).group_by(hour)
    out = []
    for key, n in ctx.session.execute(stmt, params).all():
        start = datetime.strptime(str(key), "%Y-%m-%d %H").replace(tzinfo=UTC)
        out.append((start.astimezone(window.tz).date(), n))
    return out


def _each_day(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
