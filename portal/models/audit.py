"""The audit chain, its erasable details and signed checkpoints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, LargeBinary, String, Text
from sqlmodel import Field, SQLModel

from portal.models.base import metadata  # noqa: F401  (naming convention first)


class AuditEntry(SQLModel, table=True):
    """One link of the tamper-evident chain; no personal data. `canonical` is what was hashed."""

    __tablename__ = "audit_entry"
    seq: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    at: datetime
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64)
    subject_ref: str | None = Field(default=None, max_length=64, index=True)
    details_sha256: str = Field(max_length=64)
    prev_hash: str = Field(max_length=64)
    entry_hash: str = Field(max_length=64, unique=True)
    canonical: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class AuditDetail(SQLModel, table=True):
    """Details of an entry, kept apart so erasure can blank them and the chain still verifies."""

    __tablename__ = "audit_detail"
    seq: int = Field(sa_column=Column(Integer, ForeignKey("audit_entry.seq"), primary_key=True))
    # Random salt hashed with the details, so a blanked entry's hash cannot be brute-forced back.
    salt: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    details: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    erased_at: datetime | None = None


class AuditCheckpoint(SQLModel, table=True):
    """A signed statement of the audit log's size and Merkle root at a moment."""

    __tablename__ = "audit_checkpoint"
    id: int | None = Field(default=None, primary_key=True)
    tree_size: int = Field(index=True)
    root_hash: str = Field(max_length=64)
    created_at: datetime
    origin: str = Field(max_length=200)
    key_id: str = Field(max_length=64)
    body: str = Field(sa_column=Column(Text, nullable=False))
    signature: str = Field(sa_column=Column(String(200), nullable=False))
