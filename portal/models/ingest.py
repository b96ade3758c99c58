"""Bookkeeping of ingest: which file was read how far, each run, quarantined lines, unknown cookies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, LargeBinary, Text
from sqlmodel import Field, SQLModel

from portal.models.base import metadata  # noqa: F401  (naming convention first)


class IngestSource(SQLModel, table=True):
    """One generation of one log file. `offset`/`lines` advance in the same transaction as the rows
    they cover, so a killed run resumes exactly where its last commit ended."""

    __tablename__ = "ingest_source"
    id: int | None = Field(default=None, primary_key=True)
    site: str = Field(default="", max_length=64)
    path: str = Field(sa_column=Column(Text, nullable=False))
    device: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    inode: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    fingerprint: str = Field(max_length=64, index=True)
    fingerprint_bytes: int = 0
    offset: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    lines: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    format: str = Field(max_length=32)
    created_at: datetime
    updated_at: datetime


class IngestRun(SQLModel, table=True):
    __tablename__ = "ingest_run"
    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime
    finished_at: datetime | None = None
    actor: str = Field(max_length=64)
    site: str = Field(default="", max_length=64)
    format: str = Field(default="", max_length=32)
    lines_read: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    stored: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    duplicates: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    rejected: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    status: str = Field(default="running", max_length=16)


class QuarantinedLine(SQLModel, table=True):
    """A line ingest could not accept, with where it came from and why (shown to admins)."""

    __tablename__ = "quarantined_line"
    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer, ForeignKey("ingest_run.id", ondelete="SET NULL"), nullable=True, index=True
        ),
    )
    source_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("ingest_source.id", ondelete="SET NULL"), nullable=True),
    )
    path: str = Field(sa_column=Column(Text, nullable=False))
    line_no: int = Field(sa_column=Column(BigInteger, nullable=False))
    reason: str = Field(max_length=32)
    detail: str = Field(default="", max_length=500)
    # The first 4 KiB only: enough to see what went wrong, not a way to smuggle a megabyte in.
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    raw_length: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    at: datetime


class UnclassifiedCookie(SQLModel, table=True):
    """Cookie names seen in logs but not in the catalog: counted, never their values."""

    __tablename__ = "unclassified_cookie"
    name: str = Field(primary_key=True, max_length=128)
    seen: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    first_seen: datetime
    last_seen: datetime
