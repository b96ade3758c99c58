"""The request queue as staff see it: one keyset page (portal/requests/queue.py) with days left, how
urgent each deadline is (in words as well as colour), the assignee's address and counts per status.

Everything here is read with Core rows and two small queries besides the page (counts over the
partial index of open requests; the few assignees on the page), so the page costs the same with
100,000 requests as with 100 (bench/bench_queue_page.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import col

from portal.core.context import Ctx
from portal.core.words import count
from portal.models import Account
from portal.models.requests import CLOSED_STATUSES, REQUEST_KINDS, REQUEST_STATUSES, DataRequest
from portal.requests import queue
from portal.requests.statuses import LABELS

PAGE_SIZE = 50
# A deadline this close (or closer) is highlighted as due soon.
DUE_SOON_DAYS = 5
OPEN_STATUSES = tuple(s for s in REQUEST_STATUSES if s not in CLOSED_STATUSES)
KIND_WORDS = {
    "access": "Access (copy)",
    "erasure": "Erasure",
    "objection": "Objection",
    "unsubscribe": "Unsubscribe",
    "rectification": "Rectification",
    "restriction": "Restriction",
}


@dataclass(frozen=True)
class Urgency:
    level: str  # "overdue" | "soon" | "" (CSS class suffix; the words carry the meaning)
    words: str  # "Overdue by 2 days", "Due today", "3 days left", "Closed"


def urgency(days_left: int, closed: bool) -> Urgency:
    """How urgent a deadline is, `days_left` days away (0: today; negative: overdue)."""
    if closed:
        return Urgency("", "Closed")
    if days_left < 0:
        late = -days_left
        return Urgency("overdue", f"Overdue by {count(late, 'day')}")
    if days_left == 0:
        return Urgency("soon", "Due today")
    left = f"{count(days_left, 'day')} left"
    if days_left <= DUE_SOON_DAYS:
        return Urgency("soon", f"Due soon: {left}")
    return Urgency("", left)


@dataclass(frozen=True)
class Filters:
    """What the queue's form and links carry; parsed leniently (an unknown value is simply ignored)."""

    status: str = ""
    kind: str = ""
    overdue: bool = False
    mine: bool = False
    latest_first: bool = False  # sort: deadline earliest first (default) or latest first

    @classmethod
    def parse(cls, params: Any) -> Filters:
        status = params.get("status", "")
        kind = params.get("kind", "")
        return cls(
            status=status if status in REQUEST_STATUSES else "",
            kind=kind if kind in REQUEST_KINDS else "",
            overdue=params.get("overdue", "") == "1",
            mine=params.get("mine", "") == "1",
            latest_first=params.get("sort", "") == "latest",
        )

    def params(self, **changed: Any) -> dict[str, str]:
        values = {
            "status": self.status, "kind": self.kind, "overdue": self.overdue, "mine": self.mine,
            "sort": "latest" if self.latest_first else "", **changed,
        }  # fmt: skip
        out = {k: v for k, v in values.items() if isinstance(v, str) and v}
        out.update({k: "1" for k, v in values.items() if v is True})
        return out

    def query(self, me: int | None) -> queue.Filter:
        return queue.Filter(
            status=self.status or None,
            kind=self.kind or None,
            overdue=self.overdue,
            assignee_id=me if self.mine else None,
        )


def parse_key(raw: str) -> tuple[date, int] | None:
    """The keyset of the next page, as the queue's links carry it: "2027-01-31.1234"."""
    day, _, ident = raw.partition(".")
    try:
        key = (date.fromisoformat(day), int(ident))
    except ValueError:
        return None
    return key if 0 < key[1] < 2**31 else None


def format_key(key: tuple[date, int]) -> str:
    return f"{key[0].isoformat()}.{key[1]}"


@dataclass(frozen=True)
class Item:
    id: int
    kind: str
    kind_words: str
    status: str
    status_words: str
    on_behalf: bool
    received_at: datetime
    received_words: str  # in the request time zone: "01 Dec 2026, 09:30"
    due_on: date
    days_left: int
    urgency: Urgency
    assignee: str | None


@dataclass(frozen=True)
class Worklist:
    items: list[Item]
    next_key: str | None
    counts: dict[str, int]  # open requests per status, and "overdue"
    open_total: int


def load(ctx: Ctx, filters: Filters, me: int | None, after: tuple[date, int] | None) -> Worklist:
    found = queue.page(
        ctx, filters.query(me), after=after, limit=PAGE_SIZE, latest_first=filters.latest_first
    )
    counts = queue.counts(ctx)
    ids = {r.assignee_id for r in found.rows if r.assignee_id is not None}
    emails: dict[int, str] = {}
    if ids:
        stmt = select(col(Account.id), col(Account.email)).where(col(Account.id).in_(ids))
        emails = {int(i or 0): e for i, e in ctx.session.execute(stmt)}
    # A page's rows are formatted here, once, rather than by a template macro per row.
    today, tz = queue.today(ctx), ZoneInfo(ctx.settings.request_time_zone)
    items = []
    for r in found.rows:
        left = (r.due_on - today).days
        items.append(
            Item(
                id=r.id, kind=r.kind, kind_words=KIND_WORDS[r.kind], status=r.status,
                status_words=LABELS[r.status], on_behalf=r.channel == "on_behalf", received_at=r.received_at,
                received_words=r.received_at.astimezone(tz).strftime("%d %b %Y, %H:%M"), due_on=r.due_on,
                days_left=left, urgency=urgency(left, r.closed_at is not None),
                assignee=emails.get(r.assignee_id),
            )
        )  # fmt: skip
    next_key = format_key(found.next_key) if found.next_key else None
    open_total = sum(v for k, v in counts.items() if k != "overdue")
    return Worklist(items, next_key, counts, open_total)


def exists(ctx: Ctx, request_id: int) -> bool:
    """For "go to request no. N": does it exist at all."""
    if not 0 < request_id < 2**31:
        return False
    return ctx.session.get(DataRequest, request_id) is not None
