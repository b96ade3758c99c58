"""How many log records name each subject: `subject.log_records`, kept by every writer.

"My data" shows the count on every visit; counting a heavy visitor's records there walked one index
entry per record (88 of the overview's 118 µs on SQLite for the demo user's 3,000, and most of its
database time on PostgreSQL), growing with the person's history. So each statement that inserts,
deletes or re-links log records adds what it changed here, in the same transaction:

- ingest (portal/ingest/writer.py) the records of each batch, per subject;
- merges (identity.merge) what moved from the merged subject to the survivor;
- relink (portal/ingest/relink.py) each record whose subject changed;
- retention, "forget this browser" and erasure what they deleted.

Not triggers: a row trigger costs SQLite's bulk ingest a write per linked line, and on PostgreSQL a
function call per row. `mismatches` (`portal db check`, and every store test's teardown) compares
the tally with a real count, so a writer that forgets it is caught.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import Session

from portal.core.store import executemany
from portal.models import metadata

_SUBJECT = metadata.tables["subject"]
_LOG = metadata.tables["log_record"]
# Through the driver: a batch of ingest names thousands of subjects, and SQLAlchemy's per-row
# parameter handling cost more than the updates themselves.
_ADD = "UPDATE subject SET log_records = log_records + ? WHERE id = ?"
_SET = "UPDATE subject SET log_records = ? WHERE id = ?"


def add(conn: Session | Connection, counts: Mapping[int | None, int]) -> None:
    """Add `counts` ({subject: records gained, or lost when negative}) to the tally; None (records
    of nobody) and zeros are skipped. `conn`: a Session or a Connection, in the writer's transaction.

    In subject order: two transactions that add to the same subjects then lock their rows in the
    same order on PostgreSQL, and cannot deadlock over them."""
    rows = sorted((s, n) for s, n in counts.items() if s is not None and n)
    if rows:
        executemany(conn, _ADD, [(n, s) for s, n in rows])


def lost(subjects: Iterable[int | None]) -> dict[int | None, int]:
    """The counts for `add` of deleted records, given each one's subject."""
    return {s: -n for s, n in Counter(subjects).items()}


def _actual() -> Any:
    return (
        select(_LOG.c.subject_id, func.count().label("n"))
        .where(_LOG.c.subject_id.is_not(None))
        .group_by(_LOG.c.subject_id)
        .subquery()
    )


def mismatches(conn: Connection | Session) -> list[tuple[int, int, int]]:
    """(subject, tally, records) of every subject whose tally is not its real count: one pass over
    log_record's subject index."""
    actual = _actual()
    records = func.coalesce(actual.c.n, 0)
    stmt = (
        select(_SUBJECT.c.id, _SUBJECT.c.log_records, records)
        .select_from(_SUBJECT.outerjoin(actual, actual.c.subject_id == _SUBJECT.c.id))
        .where(_SUBJECT.c.log_records != records)
        .order_by(_SUBJECT.c.id)
    )
    return [(int(s), int(kept), int(n)) for s, kept, n in conn.execute(stmt)]


def recount(conn: Connection) -> int:
    """Set every subject's tally to its real count (`portal db recount`, after a hand edit of
    log_record); how many were wrong."""
    if conn.dialect.name == "postgresql":  # no writer may add to a tally between count and set
        conn.execute(text("LOCK TABLE log_record IN SHARE MODE"))
    wrong = mismatches(conn)
    if wrong:
        executemany(conn, _SET, [(n, s) for s, _, n in wrong])
    return len(wrong)

