"""What outlives an erasure so that the person stays erased: their email address on the suppression
list, and the identifiers that tied data to them, both as keyed hashes only (migration 0011)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.models.base import metadata  # noqa: F401  (naming convention first)

SUPPRESSION_REASONS = ("erasure",)


class Suppression(SQLModel, table=True):
    """An address that must never receive promotional mail again: HMAC of the normalised address
    under the server secret, so the list cannot be read back into addresses."""

    __tablename__ = "suppression"
    email_hash: str = Field(primary_key=True, max_length=64)
    reason: str = Field(max_length=16)
    created_at: datetime


class ErasedIdentifier(SQLModel, table=True):
    """An identifier (identification-cookie value, site user id) of an erased person, by the same
    keyed hash `identifier.value_hash` uses: ingest and site events recognise it and tie nothing to
    it again. `id` grows with every erasure, so a process can tell cheaply whether its cache of
    identifiers may name one that was erased since it was filled."""

    __tablename__ = "erased_identifier"
    __table_args__ = (UniqueConstraint("kind", "name", "value_hash"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    name: str = Field(default="", max_length=128)
    value_hash: str = Field(max_length=64)
    erased_at: datetime
