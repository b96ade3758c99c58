"""Subjects, accounts, sessions, link tokens, throttles and the mail outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Integer, Text, false
from sqlmodel import Field, SQLModel

from portal.models.base import metadata  # noqa: F401  (naming convention first)

ROLES = ("user", "agent", "admin")
STAFF_ROLES = ("agent", "admin")


class Subject(SQLModel, table=True):
    """The person data is about: an account's, or a browser known only by its cookies."""

    __tablename__ = "subject"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # "account" | "browser"
    created_at: datetime
    # Union-find parent: a merged subject points at the subject it now belongs to.
    merged_into_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("subject.id", ondelete="SET NULL"), nullable=True),
    )
    # How many log records name this subject: kept by every writer of log_record.subject_id
    # (portal/subjects/tally.py), so "My data" need not count a heavy visitor's records per view.
    log_records: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, default=0, server_default="0")
    )


class Account(SQLModel, table=True):
    __tablename__ = "account"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(default="user", max_length=16)
    subject_id: int = Field(sa_column=Column(Integer, ForeignKey("subject.id"), nullable=False, unique=True))
    created_at: datetime
    email_verified_at: datetime | None = None
    password_changed_at: datetime
    time_zone: str = Field(default="UTC", max_length=64)
    # Addresses the account had before an email change, oldest first, ", "-separated (an address holds
    # no comma): mail sent to them stays the person's, found by export and erasure (registry.Scope).
    former_emails: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    totp_secret: str | None = Field(default=None, max_length=64)
    totp_enabled_at: datetime | None = None
    # Last accepted TOTP time step: a code is never accepted twice.
    totp_last_step: int | None = None
    # A disabled account cannot log in; disabling it also ends its sessions (portal/accounts/staffing.py).
    disabled_at: datetime | None = None


class WebSession(SQLModel, table=True):
    """Server-side session; only the SHA-256 of the cookie value is stored."""

    __tablename__ = "web_session"
    id_hash: str = Field(primary_key=True, max_length=64)
    account_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=True, index=True),
    )
    created_at: datetime
    last_seen_at: datetime
    authenticated_at: datetime | None = None
    mfa_at: datetime | None = None
    # Password re-entered at (for sensitive actions such as export).
    reauth_at: datetime | None = None
    # Flash messages waiting for the next page (POST-redirect-GET), as JSON.
    flash: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class LinkToken(SQLModel, table=True):
    """Single-use emailed link (verification, password reset); only its hash is stored."""

    __tablename__ = "link_token"
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    purpose: str = Field(max_length=16)  # "verify" | "reset" | "email" | "invite" …
    # "email" only: the address the account changes to once the link mailed to it is confirmed.
    new_email: str | None = Field(default=None, max_length=254)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


class Throttle(SQLModel, table=True):
    """Failure counters and mail budgets shared by all workers; `key` is an HMAC, never a raw email or IP.

    For a failure counter `locked_until` is the end of a lock; for a budget (mail per hour) it is the
    end of the budget's window (see portal/accounts/throttle.py).
    """

    __tablename__ = "throttle"
    key: str = Field(primary_key=True, max_length=80)
    failures: int = 0
    window_start: datetime
    locked_until: datetime | None = None


class MailRequest(SQLModel, table=True):
    """Mail an anonymous form asked for (registration, password reset), done by the background sender.

    The form itself only writes this row, the same work whether or not the address has an account,
    so its answer time tells nobody which addresses are registered. Rows live for seconds.
    """

    __tablename__ = "mail_request"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # "register" | "reset" | "email_change"
    email: str = Field(max_length=254)
    # Registration only: the argon2id hash made while answering (the password itself is never kept).
    password_hash: str | None = Field(default=None, max_length=255)
    # Email change only: the logged-in account that asked for `email` (the new address).
    account_id: int | None = None
    created_at: datetime


class OutboxMail(SQLModel, table=True):
    __tablename__ = "outbox_mail"
    id: int | None = Field(default=None, primary_key=True)
    to_addr: str = Field(max_length=254)
    subject: str = Field(max_length=200)
    # Blanked once delivered by SMTP: the body holds single-use link tokens.
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime
    sent_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    # Deleted, address and all, once delivered: the deletion certificate goes to a person whose
    # address the store must no longer hold (migration 0011).
    erase_when_sent: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
