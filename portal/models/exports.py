"""Download links for "download my data" exports; only the SHA-256 of a link's token is stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String
from sqlmodel import Field, SQLModel

from portal.models.base import metadata  # noqa: F401  (naming convention first)


class DataExport(SQLModel, table=True):
    """One prepared export and its single-use, 24-hour download link."""

    __tablename__ = "data_export"
    id: int | None = Field(default=None, primary_key=True)
    subject_id: int = Field(sa_column=Column(Integer, ForeignKey("subject.id"), nullable=False, index=True))
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime
    expires_at: datetime
    ready_at: datetime | None = None
    used_at: datetime | None = None
    size: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # File name under VAR_DIR/exports; None once the file is gone (downloaded, expired, replaced).
    file_name: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
