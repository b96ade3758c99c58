"""Consent state per subject and its history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from portal.models.base import metadata  # noqa: F401  (naming convention first)

CONSENT_FIELDS = ("personalization", "marketing", "email")
CONSENT_VIA = ("portal", "gpc", "email_link", "staff", "site")


class Consent(SQLModel, table=True):
    """Current state; a subject without a row has the site's defaults (everything on)."""

    __tablename__ = "consent"
    subject_id: int = Field(sa_column=Column(Integer, ForeignKey("subject.id"), primary_key=True))
    personalization: bool = True
    marketing: bool = True
    email: bool = True  # promotional email subscribed
    updated_at: datetime


class ConsentEvent(SQLModel, table=True):
    __tablename__ = "consent_event"
    id: int | None = Field(default=None, primary_key=True)
    subject_id: int = Field(sa_column=Column(Integer, ForeignKey("subject.id"), nullable=False, index=True))
    field: str = Field(max_length=16)
    value: bool
    via: str = Field(max_length=16)
    actor: str = Field(max_length=64)
    # Indexed for the back-office's revocations and unsubscribes per day.
    at: datetime = Field(index=True)
    audit_seq: int | None = None
