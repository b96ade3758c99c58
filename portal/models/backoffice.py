"""What the back-office keeps besides the requests themselves: the link a person confirms a request
filed on their behalf with, copies of data prepared by staff (released only by a second member of
staff), and runs of the audit verifier started from the audit viewer.

None of these holds personal data: a token's hash, ids, audit actors ("account:7") and counts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, Text
from sqlmodel import Field, SQLModel

from portal.models.base import metadata  # noqa: F401  (naming convention first)


class RequestConfirmation(SQLModel, table=True):
    """The mailed link of a request staff filed on someone's behalf, while it waits to be confirmed.

    Deleted when the person confirms (the request keeps `contact_confirmed_at`) or when it expires
    (the request is closed unconfirmed), so the table holds only pending confirmations.
    """

    __tablename__ = "request_confirmation"
    request_id: int = Field(
        sa_column=Column(Integer, ForeignKey("data_request.id", ondelete="CASCADE"), primary_key=True)
    )
    token_hash: str = Field(max_length=64, unique=True)
    # The reminder carries a link of its own (only hashes are kept, so the first cannot be re-sent);
    # both work until the confirmation expires.
    reminder_hash: str | None = Field(default=None, max_length=64, unique=True)
    created_at: datetime
    expires_at: datetime
    reminded_at: datetime | None = None


class RequestCopy(SQLModel, table=True):
    """A copy of someone's data (an export) staff prepared for an access request, and who released it.

    Four-eyes: the member of staff who releases it (mails the person its link) is not the one who
    prepared it (PORTAL_FOUR_EYES).
    """

    __tablename__ = "request_copy"
    request_id: int = Field(
        sa_column=Column(Integer, ForeignKey("data_request.id", ondelete="CASCADE"), primary_key=True)
    )
    export_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("data_export.id", ondelete="SET NULL"), nullable=True),
    )
    prepared_by: str = Field(max_length=64)  # audit actor, e.g. "account:7"
    prepared_at: datetime
    released_by: str | None = Field(default=None, max_length=64)
    released_at: datetime | None = None


class AuditVerifyRun(SQLModel, table=True):
    """One full verification of the audit log started from the audit viewer, with its progress.

    Kept in the store so that whichever server process answers the progress poll can report it.
    """

    __tablename__ = "audit_verify_run"
    id: int | None = Field(default=None, primary_key=True)
    actor: str = Field(max_length=64)
    started_at: datetime
    # Written with every batch: a run whose process died stops moving and is shown as stalled.
    updated_at: datetime
    finished_at: datetime | None = None
    checked: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    total: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    ok: bool | None = None
    summary: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
