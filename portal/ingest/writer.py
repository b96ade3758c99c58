"""Writing one batch of parsed access-log lines: link to subjects, then bulk insert, in one transaction.

This is the hot path of ingest, so it speaks SQLAlchemy Core (and COPY on PostgreSQL) with whole
batches, never an ORM object per row. Identifier lookups are cached across batches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel import col

from portal.core.context import Ctx
from portal.core.store import executemany
from portal.ingest import erased
from portal.ingest.batches import Batch, sqlite_time
from portal.models import (
    Consent,
    Identifier,
    LogRecord,
    QuarantinedLine,
    SearchPreference,
    Subject,
    UnclassifiedCookie,
)
from portal.models.sitedata import column_chars
from portal.subjects import identity, suppression, tally

LOG_TABLE: Table = LogRecord.__table__  # type: ignore[attr-defined]
LOG_COLUMNS = (
    "source_id", "line_no", "subject_id", "at", "ip", "method", "path", "protocol", "status",
    "bytes", "referrer", "referrer_domain", "user_agent", "site", "cookies", "id",
)  # fmt: skip
# A constant column list, no outside input.
SQLITE_INSERT = (
    f"INSERT INTO log_record ({', '.join(LOG_COLUMNS)}) VALUES ({', '.join('?' * len(LOG_COLUMNS))})"  # noqa: S608, E501
)
# PostgreSQL types of LOG_COLUMNS, for binary COPY: the server then parses no text at all.
LOG_TYPES = (
    "int4", "int8", "int4", "timestamptz", "varchar", "varchar", "text", "varchar", "int4",
    "int8", "text", "varchar", "text", "varchar", "text", "int8",
)  # fmt: skip
COOKIES_AT = LOG_COLUMNS.index("cookies")
SQLITE_PREFERENCE_UPSERT = (
    "INSERT INTO search_preference (subject_id, term, source, engine, first_seen, last_seen, times) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subject_id, term, source, engine) "
    "DO UPDATE SET first_seen = min(search_preference.first_seen, excluded.first_seen), "
    "last_seen = max(search_preference.last_seen, excluded.last_seen), "
    "times = search_preference.times + excluded.times"
)
UPDATE_SEEN = "UPDATE identifier SET last_seen = ?, last_user_agent = ? WHERE id = ? AND last_seen < ?"
IN_CHUNK = 500
Found = dict[tuple[int, str, str, str], list[Any]]  # (subject, term, source, engine) → [first, last, times]
TERM_CHARS = column_chars(SearchPreference, "term")
QUARANTINE_RAW_BYTES = 4096


@dataclass
class BatchResult:
    stored: int = 0
    rejected: int = 0
    new_subjects: int = 0
    merges: int = 0
    preferences: int = 0


@dataclass
class IdentifierCache:
    """(cookie name, value) → [identifier id, subject id]; survives across batches of one run."""

    hashes: dict[tuple[str, str], str] = field(default_factory=dict)
    known: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    # suppression.generation() when `known` was filled: an erasure since may have deleted rows it names.
    erased_generation: int = 0

    def trim(self) -> None:
        """Keep memory flat on huge runs; only between batches, which rely on what they loaded."""
        if len(self.hashes) > 200_000:
            self.hashes.clear()
            self.known.clear()

    def hash_of(self, ctx: Ctx, name: str, value: str) -> str:
        key = (name, value)
        digest = self.hashes.get(key)
        if digest is None:
            digest = self.hashes[key] = identity.value_hash(ctx, "cookie", name, value)
        return digest


def write_batch(
    ctx: Ctx, batch: Batch, *, source_id: int, path: str, run_id: int | None, cache: IdentifierCache
) -> BatchResult:
    """Link and store one prepared batch in the caller's transaction (events are applied by the caller)."""
    result = BatchResult()
    subjects = _link(ctx, batch, cache, result)
    rows = batch.rows
    linked: Counter[int | None] = Counter()
    for group, subject in zip(batch.cookie_groups.values(), subjects, strict=True):
        for index in group.indices:
            row = rows[index]
            rows[index] = (row[0], row[1], subject, *row[3:])
        linked[subject] += len(group.indices)
    _insert_records(ctx.session, rows)
    tally.add(ctx.session, linked)
    result.stored = len(rows)
    result.preferences = _record_preferences(ctx, batch, subjects)
    _count_unclassified(ctx, batch.unclassified)
    if batch.rejected:
        ctx.session.execute(
            insert(QuarantinedLine),
            [
                {
                    "run_id": run_id,
                    "source_id": source_id,
                    "path": path,
                    "line_no": q.line_no,
                    "reason": q.reason,
                    "detail": q.detail[:500],
                    "raw": q.raw[:QUARANTINE_RAW_BYTES],
                    "raw_length": q.length,
                    "at": ctx.now,
                }
                for q in batch.rejected
            ],
        )
    result.rejected = len(batch.rejected)
    return result


class _NewSubjects:
    """Browser subjects a batch needs, created with one INSERT instead of one round trip each.

    Until then a new subject is a negative placeholder. Merging decides by id which subject
    survives, so every placeholder is made real (in order, so ids stay in order of first sight)
    before any merge, exactly as if each had been inserted when first needed.
    """

    def __init__(self, ctx: Ctx) -> None:
        self.ctx, self.count = ctx, 0
        self.real: dict[int, int] = {}

    def new(self) -> int:
        self.count += 1
        return -(len(self.real) + self.count)

    def materialize(self, subjects: list[int], pending: dict[tuple[str, str], dict[str, Any]]) -> None:
        if not self.count:
            return
        first = len(self.real) + 1
        subjects_table: Table = Subject.__table__  # type: ignore[attr-defined]
        ids = insert_returning_ids(
            self.ctx.session,
            subjects_table,
            [{"kind": "browser", "created_at": self.ctx.now} for _ in range(self.count)],
        )
        for offset, ident in enumerate(ids):
            self.real[-(first + offset)] = ident  # type: ignore[assignment]
        self.count = 0
        real = self.real
        for i, s in enumerate(subjects):
            if s < 0:
                subjects[i] = real[s]
        for row in pending.values():
            if row["subject_id"] < 0:
                row["subject_id"] = real[row["subject_id"]]


def _link(ctx: Ctx, batch: Batch, cache: IdentifierCache, result: BatchResult) -> list[int]:
    """The subject of each group of lines with the same cookies, creating and merging subjects as
    their identifiers require (groups come in order of their first line, as if line by line)."""
    cache.trim()
    generation = suppression.generation(ctx.session)
    if generation != cache.erased_generation:
        cache.known.clear()
        cache.erased_generation = generation
    known = cache.known
    wanted = {key for cookies in batch.cookie_groups for key in cookies if key not in known}
    _load_known(ctx, wanted, cache)
    if generation:  # some person was erased, ever: their cookie values link nothing
        unknown = [key for key in wanted if key not in known]
        erased.strip(ctx, batch, unknown, lambda n, v: cache.hash_of(ctx, n, v), COOKIES_AT)
    groups, rows = batch.cookie_groups, batch.rows
    subjects: list[int] = []
    pending: dict[tuple[str, str], dict[str, Any]] = {}  # identifiers first seen in this batch
    pending_row: dict[tuple[str, str], int] = {}  # … and the row that set their last sighting
    seen: dict[int, tuple[datetime, str | None, int]] = {}  # identifier → last time, user agent, row
    moved: dict[int, int] = {}  # subjects merged away during this batch → where they went
    fresh = _NewSubjects(ctx)
    id_cookie = ctx.settings.id_cookie

    def owner(key: tuple[str, str]) -> int | None:
        entry = known.get(key)
        if entry is not None:
            return entry[1]
        row = pending.get(key)
        return None if row is None else int(row["subject_id"])

    for cookies, group in groups.items():
        at, ua, index = group.last_at, group.last_ua, group.last_index
        owners = {o for o in map(owner, cookies) if o is not None}
        if not owners:
            subject = fresh.new()
            result.new_subjects += 1
        elif len(owners) == 1:
            (subject,) = owners
        else:
            fresh.materialize(subjects, pending)
            owners = {o for o in map(owner, cookies) if o is not None}
            # Of two identifying cookies leading to two people, the identification cookie decides.
            id_owner = next((owner(k) for k in cookies if k[0] == id_cookie and owner(k) is not None), None)
            subject = id_owner if id_owner is not None else min(owners)
            for other in sorted(owners - {subject}):
                merged = identity.merge(ctx, subject, other, "cookies seen together in one request")
                if isinstance(merged, identity.MergeRefused):
                    continue  # two known people: each keeps their own data
                result.merges += 1
                loser = other if merged == subject else subject
                moved[loser] = merged
                for entry in known.values():
                    if entry[1] == loser:
                        entry[1] = merged
                for waiting in pending.values():
                    if waiting["subject_id"] == loser:
                        waiting["subject_id"] = merged
                subject = merged
        for key in cookies:
            stored = known.get(key)
            # The latest sighting wins; of two at the same time, the later line.
            if stored is not None:
                last = seen.get(stored[0])
                if last is None or (at, index) >= (last[0], last[2]):
                    seen[stored[0]] = (at, ua, index)
                continue
            row = pending.get(key)
            if row is None:
                pending[key] = {
                    "kind": "cookie",
                    "name": key[0],
                    "value_hash": cache.hash_of(ctx, *key),
                    "value": key[1],
                    "subject_id": subject,
                    "first_seen": group.first_at,
                    "last_seen": at,
                    "last_user_agent": ua,
                    "tied_by": identity.SEEN,
                }
                pending_row[key] = index
            elif (at, index) >= (row["last_seen"], pending_row[key]):
                row["last_seen"], row["last_user_agent"] = at, ua
                pending_row[key] = index
        subjects.append(subject)
    fresh.materialize(subjects, pending)
    if pending:
        table: Table = Identifier.__table__  # type: ignore[attr-defined]
        keys = list(pending)
        ids = insert_returning_ids(ctx.session, table, [pending[k] for k in keys])
        for key, ident_id in zip(keys, ids, strict=True):
            cache.known[key] = [ident_id, pending[key]["subject_id"]]
    if seen:
        # The driver directly, with the row's time already in the store's format: one statement
        # per identifier seen, and SQLAlchemy's per-parameter processing cost more than the update.
        params = [(rows[i][3], ua, ident, rows[i][3]) for ident, (_at, ua, i) in seen.items()]
        executemany(ctx.session, UPDATE_SEEN, params)
    return [_follow(moved, s) for s in subjects] if moved else subjects


def insert_returning_ids(session: Session, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert `rows` into a table with an integer `id` key; their new ids, in order."""
    if _postgres(session):
        # PostgreSQL: RETURNING in order, batched by SQLAlchemy's insertmanyvalues.
        stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return [int(i) for i in session.scalars(stmt, rows)]
    # SQLite cannot promise the order of RETURNING rows for a multi-row insert, so SQLAlchemy
    # falls back to one statement per row: the biggest cost of linking a batch. But a SQLite
    # transaction here holds the write lock from its start (BEGIN IMMEDIATE, portal/db.py), so
    # the next ids are known — the ones SQLite itself would pick, max(id) + 1 on — and the rows
    # go in with them in one executemany.
    last = session.execute(select(func.max(table.c.id))).scalar() or 0
    ids = list(range(last + 1, last + 1 + len(rows)))
    # The driver directly (SQLAlchemy's per-row parameter processing cost more than the insert),
    # so times are given as SQLAlchemy's DateTime stores them.
    names = [*rows[0], "id"]
    values = [
        (*(sqlite_time(v) if isinstance(v, datetime) else v for v in row.values()), i)
        for row, i in zip(rows, ids, strict=True)
    ]
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"  # noqa: S608 - our own names
    _dbapi(session).executemany(sql, values)
    return ids


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _dbapi(session: Session) -> Any:
    """The driver's own connection under the session's transaction (sqlite3 or psycopg)."""
    return session.connection().connection.driver_connection


def _follow(moved: dict[int, int], subject: int) -> int:
    """Where a line's subject ended up after this batch's merges (earlier lines may predate a merge)."""
    while subject in moved:
        subject = moved[subject]
    return subject


def _load_known(ctx: Ctx, keys: Iterable[tuple[str, str]], cache: IdentifierCache) -> None:
    # Per cookie name, so each lookup is a seek in the (kind, name, value_hash) unique index; by
    # hash alone it scanned every cookie identifier once per chunk.
    by_name: dict[str, dict[str, tuple[str, str]]] = {}
    for name, value in keys:
        by_name.setdefault(name, {})[cache.hash_of(ctx, name, value)] = (name, value)
    for name, by_hash in by_name.items():
        hashes = list(by_hash)
        for i in range(0, len(hashes), IN_CHUNK):
            rows = ctx.session.execute(
                select(col(Identifier.id), col(Identifier.value_hash), col(Identifier.subject_id)).where(
                    col(Identifier.kind) == "cookie",
                    col(Identifier.name) == name,
                    col(Identifier.value_hash).in_(hashes[i : i + IN_CHUNK]),
                )
            ).all()
            for ident_id, digest, subject_id in rows:
                cache.known[by_hash[digest]] = [int(ident_id), subject_id]  # type: ignore[arg-type]


def _insert_records(session: Session, rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if _postgres(session):
        copy_rows(session, "log_record", LOG_COLUMNS, rows, LOG_TYPES)
        return
    # SQLite: the DB-API directly. SQLAlchemy's per-row parameter processing costs more than the
    # insert itself here; the rows already hold times as SQLAlchemy's DateTime stores them.
    _dbapi(session).executemany(SQLITE_INSERT, rows)


def copy_rows(
    session: Session,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    types: Sequence[str] | None = None,
) -> None:
    """PostgreSQL COPY through psycopg 3: several times faster than INSERT for bulk loads.

    With `types` (one per column) the rows go in binary: no number or time is printed here and
    parsed again by the server."""
    binary = " (FORMAT BINARY)" if types else ""
    with (
        _dbapi(session).cursor() as cur,
        cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN{binary}") as copy,
    ):
        if types:
            copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


def consented(ctx: Ctx, subjects: set[int]) -> set[int]:
    """Subjects for whom personalization is on (no consent row means the site's default: on)."""
    revoked: set[int] = set()
    ids = list(subjects)
    for i in range(0, len(ids), IN_CHUNK):
        revoked.update(
            ctx.session.scalars(
                select(col(Consent.subject_id)).where(
                    col(Consent.subject_id).in_(ids[i : i + IN_CHUNK]),
                    col(Consent.personalization).is_(False),
                )
            )
        )
    return subjects - revoked


def _record_preferences(ctx: Ctx, batch: Batch, subjects: Sequence[int]) -> int:
    found: Found = {}

    def note(key: tuple[int, str, str, str], first: datetime, last: datetime, times: int) -> None:
        entry = found.get(key)
        if entry is None:
            found[key] = [first, last, times]
        else:
            entry[0], entry[1], entry[2] = min(entry[0], first), max(entry[1], last), entry[2] + times

    # Only lines with identifying cookies have a subject: a search by nobody we can name stays in
    # the log record only.
    subject_of = dict(zip(batch.cookie_groups, subjects, strict=True))
    for group, subject in zip(batch.cookie_groups.values(), subjects, strict=True):
        for prefs, (times, earliest, latest) in group.prefs.items():
            for pref in prefs:
                note((subject, pref[:TERM_CHARS], "cookie", ""), earliest, latest, times)
    for cookies, (engine, term), at in batch.referrer_terms:
        note((subject_of[cookies], term[:TERM_CHARS], "referrer", engine), at, at, 1)
    return store_preferences(ctx, found)


def store_preferences(ctx: Ctx, found: Found) -> int:
    """Add search terms to their subjects' preferences, except for subjects who switched
    personalisation off (every path that records a term comes through here)."""
    if not found:
        return 0
    allowed = consented(ctx, {k[0] for k in found})
    if not _postgres(ctx.session):
        # Through the driver: a batch records thousands of terms, and SQLAlchemy's per-row
        # parameter handling cost twice the upsert (PostgreSQL sends them as one multi-row INSERT).
        values = [
            (s, t, src, eng, _stored_time(v[0]), _stored_time(v[1]), v[2])
            for (s, t, src, eng), v in found.items()
            if s in allowed
        ]
        if values:
            executemany(ctx.session, SQLITE_PREFERENCE_UPSERT, values)
        return len(values)
    rows = [
        {
            "subject_id": s,
            "term": t,
            "source": src,
            "engine": eng,
            "first_seen": v[0],
            "last_seen": v[1],
            "times": v[2],
        }
        for (s, t, src, eng), v in found.items()
        if s in allowed
    ]
    if rows:
        upsert(
            ctx.session,
            SearchPreference.__table__,  # type: ignore[attr-defined]
            rows,
            ("subject_id", "term", "source", "engine"),
            lambda ex, t, span: {**span(ex, t), "times": t.c.times + ex.times},
        )
    return len(rows)


def _stored_time(at: datetime) -> str:
    """A time as SQLAlchemy stores it in SQLite; a naive one (read back from SQLite) is UTC already."""
    return sqlite_time(at if at.tzinfo is not None else at.replace(tzinfo=UTC))


def _count_unclassified(ctx: Ctx, counts: dict[str, list[Any]]) -> None:
    if counts:
        upsert(
            ctx.session,
            UnclassifiedCookie.__table__,  # type: ignore[attr-defined]
            [
                {"name": n, "seen": c, "first_seen": f, "last_seen": last}
                for n, (c, f, last) in counts.items()
            ],
            ("name",),
            lambda ex, t, span: {**span(ex, t), "seen": t.c.seen + ex.seen},
        )


def upsert(
    session: Session, table: Table, rows: list[dict[str, Any]], keys: Sequence[str], values: Any
) -> None:
    """INSERT … ON CONFLICT DO UPDATE on both stores (the two dialects share this API).

    `values(excluded, table, span)` gives the SET clause; `span(excluded, table)` is its
    first_seen/last_seen: the earlier and the later of the stored and the new sighting, since logs
    are not read in time order (rotated files are often imported newest first)."""
    postgres = _postgres(session)
    # SQLite's min() and max() of two arguments are scalar; its times are text that sorts as time.
    earliest, latest = (func.least, func.greatest) if postgres else (func.min, func.max)

    def span(ex: Any, t: Table) -> dict[str, Any]:
        return {
            "first_seen": earliest(t.c.first_seen, ex.first_seen),
            "last_seen": latest(t.c.last_seen, ex.last_seen),
        }

    stmt = (postgresql.insert if postgres else sqlite.insert)(table)
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=values(stmt.excluded, table, span))
    session.execute(stmt, rows)
