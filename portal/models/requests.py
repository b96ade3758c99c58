"""Data-subject requests, their timeline (what the person sees) and staff's internal notes.

The queue (issue 13) lists 100,000s of requests by deadline, so the deadline is a stored column,
`due_on`, derived by portal/requests/deadlines.py from what is stored here (regime, receipt time,
extension) and the holiday calendar named in `deadline_basis`. It is rewritten with every change
of the request and whenever the calendar settings no longer match `deadline_basis` (see
`deadlines.refresh`), so it is never read stale and the queue sorts on a plain index.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, Integer, SmallInteger, Text, text
from sqlmodel import Field, SQLModel

from portal.models.base import metadata  # noqa: F401  (naming convention first)

REQUEST_KINDS = ("access", "erasure", "objection", "unsubscribe", "rectification", "restriction")
# Objection scopes: marketing use of the data, or profiling (personalised content).
OBJECTION_SCOPES = ("marketing", "profiling")
REQUEST_STATUSES = (
    "received",
    "identity_pending",
    "in_review",
    "approved",
    "in_progress",
    "completed",
    "denied",
    "on_hold",
    "cancelled",
    "extended",
)
CLOSED_STATUSES = ("completed", "denied", "cancelled")
CHANNELS = ("self_service", "on_behalf")
REGIMES = ("gdpr", "ccpa")
# Who a timeline line is from, in the person's words.
TIMELINE_AUTHORS = ("you", "staff", "portal")

_OPEN = text("closed_at IS NULL")


class DataRequest(SQLModel, table=True):
    """One data-subject request. Open while `closed_at` is null (completed, denied or cancelled)."""

    __tablename__ = "data_request"
    __table_args__ = (
        # The queue: open requests by deadline (keyset on due_on, id), overdue ones a range of it.
        Index("ix_data_request_open_due", "due_on", "id", sqlite_where=_OPEN, postgresql_where=_OPEN),
        # The queue filtered by status (closed ones too), by kind, and "assigned to me".
        Index("ix_data_request_status_due", "status", "due_on", "id"),
        Index(
            "ix_data_request_open_kind_due", "kind", "due_on", "id",
            sqlite_where=_OPEN, postgresql_where=_OPEN,
        ),
        Index(
            "ix_data_request_assignee_due",
            "assignee_id",
            "due_on",
            "id",
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        ),
        # One open request per person and kind: a second one joins the first.
        Index(
            "uq_data_request_open_kind",
            "subject_id",
            "kind",
            unique=True,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        ),
        Index("ix_data_request_subject_received", "subject_id", "received_at"),
        # Counts per status of open requests (every queue page), read from this index alone (SQLite
        # needs closed_at in it to know that every entry is open).
        Index(
            "ix_data_request_open_status", "status", "closed_at", sqlite_where=_OPEN, postgresql_where=_OPEN
        ),
        # The dashboard: requests closed within the last 30 and 90 days.
        Index(
            "ix_data_request_closed", "closed_at",
            sqlite_where=text("closed_at IS NOT NULL"), postgresql_where=text("closed_at IS NOT NULL"),
        ),  # fmt: skip
        # Finding open requests whose due date was computed under other calendar settings: two
        # empty index ranges (basis < current, basis > current) when there are none.
        Index("ix_data_request_open_basis", "deadline_basis", sqlite_where=_OPEN, postgresql_where=_OPEN),
    )
    id: int | None = Field(default=None, primary_key=True)
    # Null once the subject is erased: the request itself stays as a record that it was answered.
    subject_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("subject.id", ondelete="SET NULL"), nullable=True),
    )
    kind: str = Field(max_length=16)
    # Objection: "marketing", "profiling" or both ("marketing profiling"); empty for the other kinds.
    scope: str = Field(default="", max_length=32)
    status: str = Field(max_length=16)
    # The status an on_hold or extended request returns to.
    paused_from: str | None = Field(default=None, max_length=16)
    regime: str = Field(max_length=8)
    received_at: datetime
    due_on: date
    # Rules, calendar, time zone and holidays-library version `due_on` was computed with.
    deadline_basis: str = Field(max_length=120)
    extension_months: int = Field(
        default=0, sa_column=Column(SmallInteger, nullable=False, server_default="0")
    )
    extension_days: int = Field(default=0, sa_column=Column(SmallInteger, nullable=False, server_default="0"))
    extended_at: datetime | None = None
    # What the person wrote (rectification, restriction); erased with their data.
    details: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    channel: str = Field(default="self_service", max_length=16)
    # On behalf (a letter, a call): where to reach the person, and when they confirmed the request.
    contact_addr: str | None = Field(default=None, max_length=254)
    contact_confirmed_at: datetime | None = None
    acknowledged_at: datetime | None = None
    assignee_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="SET NULL"), nullable=True),
    )
    # Erasure: the person may cancel until then; afterwards it runs (or goes to staff review).
    wait_until: datetime | None = None
    # The deadline a staff reminder was last mailed for (a new deadline gets a new reminder).
    reminded_for: date | None = None
    updated_at: datetime
    closed_at: datetime | None = None


def _request_id() -> Any:
    key = ForeignKey("data_request.id", ondelete="CASCADE")
    return Field(sa_column=Column(Integer, key, nullable=False, index=True))


def _subject_id() -> Any:
    return Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("subject.id", ondelete="SET NULL"), nullable=True, index=True),
    )


class RequestEvent(SQLModel, table=True):
    """One line of a request's timeline, shown to the person; each has its audit entry (the receipt)."""

    __tablename__ = "request_event"
    id: int | None = Field(default=None, primary_key=True)
    request_id: int = _request_id()
    # The request's subject, repeated so export and erasure reach the timeline by subject alone.
    subject_id: int | None = _subject_id()
    at: datetime
    author: str = Field(max_length=8)  # TIMELINE_AUTHORS: "you", "staff" or "portal"
    # The audit actor ("account:7", "system"): which staff member acted, for staff only.
    actor: str = Field(max_length=64)
    action: str = Field(max_length=32)  # "status" or "joined"
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str | None = Field(default=None, max_length=16)
    message: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    audit_seq: int | None = None


class RequestNote(SQLModel, table=True):
    """Staff's internal note on a request; never shown to the person."""

    __tablename__ = "request_note"
    id: int | None = Field(default=None, primary_key=True)
    request_id: int = _request_id()
    subject_id: int | None = _subject_id()
    author_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="SET NULL"), nullable=True),
    )
    body: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime


class ErasureRun(SQLModel, table=True):
    """How far the erasure engine got with one erasure request: rows found per registry category
    when it started, rows deleted or blanked since (each batch commits its count with its rows, so
    a run killed at any moment resumes with exact counts), and when it finished. No personal data:
    category keys and numbers only; the subject is the request's."""

    __tablename__ = "erasure_run"
    request_id: int = Field(
        sa_column=Column(Integer, ForeignKey("data_request.id", ondelete="CASCADE"), primary_key=True)
    )
    started_at: datetime
    updated_at: datetime
    # JSON {category key: rows}.
    planned: str = Field(sa_column=Column(Text, nullable=False))
    done: str = Field(sa_column=Column(Text, nullable=False))
    batches: int = 0
    finished_at: datetime | None = None
