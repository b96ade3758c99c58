"""What the site holds about people: the cookie catalog, identifiers, site accounts, log records,
search preferences. Written by ingest, read by self-service, export and erasure."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from portal.models.base import metadata  # noqa: F401  (naming convention first)


class CatalogCookie(SQLModel, table=True):
    """The site's cookie catalog: only cookies listed here are ever stored."""

    __tablename__ = "cookie_catalog"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True)
    # Comma-separated subset of essential, personalization, marketing, analytics.
    purposes: str = Field(max_length=100)
    description: str = Field(sa_column=Column(Text, nullable=False))
    lifetime_days: int | None = None
    identifies_browser: bool = False
    decoder: str | None = Field(default=None, max_length=32)
    updated_at: datetime


TIES = ("event", "claim", "seen", "kept")


class Identifier(SQLModel, table=True):
    """A strong key tying data to a subject: the value of a catalogued cookie that identifies a
    browser, or a site user id (DESIGN.md §2). Never an IP address, a user agent or a cookie that
    identifies no one (such as the search-preference cookie: strangers share its values).
    `value_hash` (HMAC under the server secret) is what lookups use.
    """

    __tablename__ = "identifier"
    __table_args__ = (UniqueConstraint("kind", "name", "value_hash"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # "cookie" | "site_user"
    name: str = Field(default="", max_length=128)  # cookie name; "" for site user ids
    value_hash: str = Field(max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))
    subject_id: int = Field(sa_column=Column(Integer, ForeignKey("subject.id"), nullable=False, index=True))
    first_seen: datetime
    last_seen: datetime
    set_at: datetime | None = None
    expires_at: datetime | None = None
    last_user_agent: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # What tied it to its subject (one of TIES): "event" a site event naming the site user (login,
    # cookie_set with a user id, the user id itself), "claim" the person presented it while logged
    # in, "seen" log lines only (re-derived by `portal relink`), "kept" a tie made before this column
    # existed that relinking kept; NULL: made before migration 0006, not yet settled by a relink.
    tied_by: str | None = Field(default=None, max_length=16)


class SiteAccount(SQLModel, table=True):
    """An account on the site (from its `account` events). The email is kept only as a keyed hash."""

    __tablename__ = "site_account"
    id: int | None = Field(default=None, primary_key=True)
    site_user_id: str = Field(max_length=128, unique=True)
    email_hash: str = Field(max_length=64, index=True)
    adult_verified: bool = False
    subject_id: int = Field(sa_column=Column(Integer, ForeignKey("subject.id"), nullable=False, index=True))
    created_at: datetime
    updated_at: datetime


class SubjectLink(SQLModel, table=True):
    """Why two subjects became one (union-find merges), for the person and for staff."""

    __tablename__ = "subject_link"
    id: int | None = Field(default=None, primary_key=True)
    subject_id: int = Field(sa_column=Column(Integer, ForeignKey("subject.id"), nullable=False, index=True))
    merged_id: int = Field(sa_column=Column(Integer, nullable=False))
    reason: str = Field(max_length=200)
    at: datetime


def column_chars(model: type[SQLModel], column: str) -> int:
    """The size of a model's text column. PostgreSQL enforces it (SQLite does not): parsers refuse
    a longer value, where it costs its line, before it reaches the store, where it costs the batch."""
    return int(model.__table__.c[column].type.length)  # type: ignore[attr-defined]


# A log record's id packs its source and line: 40 bits of line number (a trillion lines per
# source), the 23 bits above them for the source id (eight million sources), in a signed 64-bit key.
LINE_BITS = 40
MAX_LINE_NO = (1 << LINE_BITS) - 1
MAX_SOURCE_ID = (1 << (63 - LINE_BITS)) - 1


def log_record_id(source_id: int, line_no: int) -> int:
    if not (0 < source_id <= MAX_SOURCE_ID and 0 <= line_no <= MAX_LINE_NO):
        raise ValueError(f"no log record id for source {source_id}, line {line_no}")
    return (source_id << LINE_BITS) | line_no


class LogRecord(SQLModel, table=True):
    """One parsed access-log line. `subject_id` is set only through strong identifiers it carried.

    The one high-volume, append-only table, kept lean for bulk ingest (migration 0004):
    - No foreign keys on `source_id` and `subject_id`: PostgreSQL checks each one per inserted row
      (a SELECT … FOR KEY SHARE), the biggest single cost of bulk ingest. Nothing they would guard
      against happens: subjects are never deleted (a merge sets `merged_into_id`), sources are never
      deleted, and ingest holds its source row FOR UPDATE in the transaction that inserts the lines.
      `portal db check` counts orphans instead (portal/integrity.py).
    - The subject index is partial: most lines carry no identifier and are never read by subject;
      every read by subject (`subject_id = …` / `IN (…)`) can use it on both stores.
    - The time index is a BRIN on PostgreSQL: lines arrive in time order and the only reader by
      time alone is retention (`at < cutoff`), which a bitmap scan over BRIN ranges serves.
    - The id is the line's place, `log_record_id(source_id, line_no)` (migration 0005): the primary
      key then also holds each line to one row, with no second unique index to update on every
      insert, and ingest knows each id without asking the store (no sequence call per row).
    """

    __tablename__ = "log_record"
    __table_args__ = (
        Index(
            "ix_log_record_subject_at",
            "subject_id",
            "at",
            "id",
            sqlite_where=text("subject_id IS NOT NULL"),
            postgresql_where=text("subject_id IS NOT NULL"),
        ),
        Index("ix_log_record_at", "at", postgresql_using="brin"),
    )
    # log_record_id(source_id, line_no): never drawn from a sequence (migration 0005).
    id: int = Field(
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False)
    )
    # ingest_source.id and subject.id, deliberately without foreign keys (see above).
    source_id: int = Field(sa_column=Column(Integer, nullable=False))
    line_no: int = Field(sa_column=Column(BigInteger, nullable=False))
    subject_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    at: datetime
    ip: str = Field(max_length=45)
    method: str | None = Field(default=None, max_length=32)
    path: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    protocol: str | None = Field(default=None, max_length=16)
    status: int
    bytes: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    referrer: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    referrer_domain: str | None = Field(default=None, max_length=253)
    user_agent: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    site: str = Field(default="", max_length=64)
    # Catalogued cookies the request carried, as JSON {name: value}; uncatalogued ones are never kept.
    cookies: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class SearchPreference(SQLModel, table=True):
    """A search term recorded about a subject, from the preference cookie or a search-engine referrer."""

    __tablename__ = "search_preference"
    __table_args__ = (UniqueConstraint("subject_id", "term", "source", "engine"),)
    id: int | None = Field(default=None, primary_key=True)
    subject_id: int = Field(sa_column=Column(Integer, ForeignKey("subject.id"), nullable=False, index=True))
    term: str = Field(max_length=200)
    source: str = Field(max_length=16)  # "cookie" | "referrer"
    engine: str = Field(default="", max_length=32)
    first_seen: datetime
    last_seen: datetime
    times: int = 1


class PromoEmail(SQLModel, table=True):
    """A promotional email the site reports having sent (its `email_sent` events)."""

    __tablename__ = "promo_email"
    id: int | None = Field(default=None, primary_key=True)
    subject_id: int = Field(sa_column=Column(Integer, ForeignKey("subject.id"), nullable=False, index=True))
    list: str = Field(max_length=100)
    campaign: str = Field(max_length=200)
    at: datetime
