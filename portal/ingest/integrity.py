"""Integrity the database no longer checks itself, counted on demand (`portal db check`).

log_record has no foreign keys (migration 0004): PostgreSQL would check each one per inserted
row, the biggest single cost of bulk ingest. Nothing should ever orphan a record (subjects and
sources are never deleted; ingest holds its source row FOR UPDATE while inserting its lines), so
these counts are expected to be zero; a non-zero count means a bug or a hand edit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Table, exists, func, select

from portal.models import IngestSource, LogRecord, Subject

_log: Table = LogRecord.__table__  # type: ignore[attr-defined]
_subject: Table = Subject.__table__  # type: ignore[attr-defined]
_source: Table = IngestSource.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Orphans:
    """log_record rows pointing at a subject or an ingest source that does not exist."""

    log_record_subject: int  # subject_id set, no such subject
    log_record_source: int  # no such ingest_source

    @property
    def total(self) -> int:
        return self.log_record_subject + self.log_record_source

    def describe(self) -> str:
        return (
            f"{self.log_record_subject} log_record rows name a missing subject, "
            f"{self.log_record_source} a missing ingest_source"
        )


def orphans(conn: Connection) -> Orphans:
    """Count orphaned log records (two anti-joins, each one pass over log_record)."""
    l, s, src = _log.c, _subject.c, _source.c  # noqa: E741
    no_subject = (
        select(func.count())
        .select_from(_log)
        .where(l.subject_id.is_not(None), ~exists().where(s.id == l.subject_id))
    )
    no_source = select(func.count()).select_from(_log).where(~exists().where(src.id == l.source_id))
    return Orphans(int(conn.execute(no_subject).scalar_one()), int(conn.execute(no_source).scalar_one()))
