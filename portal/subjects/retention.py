"""Retention: old log records go, IPs of records linked to nobody are masked, stale derived data expires.

A run is one transaction with one `retention.run` audit entry whose details are exactly what that
transaction did. Work is done in batches of Core statements (never an ORM object per row) and
capped per run: a run that hits the cap says so (`complete=False`) and the caller runs again, so
a backlog (the first run on a big store) never holds SQLite's single write lock for minutes.

IP masking cannot be expressed portably in SQL (IPv6 /48 on SQLite), so candidate rows are
selected in batches and masked in Python. Candidates are selected with a predicate that is true
exactly for addresses not yet in masked form, so a second run neither rescans nor recounts them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, not_, or_, select, text, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from portal import audit
from portal.core.context import Ctx
from portal.models import AuditEntry, Identifier, LogRecord, QuarantinedLine, SearchPreference
from portal.subjects import tally

ACTION = "retention.run"
BATCH = 2000
# Rows per category per run; about a second of work on SQLite, then the write lock is released.
MAX_ROWS_PER_RUN = 50_000
# What a masked address looks like: an unparseable value becomes this (it never should exist).
UNKNOWN_IP = "0.0.0.0"  # noqa: S104  (a value stored, not an address bound)
# PostgreSQL: two workers deciding at once that retention is due; only the lock holder runs.
RETENTION_LOCK_ID = 0x72657465  # "rete"

_log = LogRecord.__table__  # type: ignore[attr-defined]
_quarantine = QuarantinedLine.__table__  # type: ignore[attr-defined]
_prefs = SearchPreference.__table__  # type: ignore[attr-defined]
_idents = Identifier.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RetentionResult:
    log_records_deleted: int
    ips_masked: int
    quarantined_deleted: int
    search_preferences_deleted: int
    identifiers_deleted: int
    # False when a per-run cap was reached: more old rows remain and another run should follow.
    complete: bool
    cutoff: datetime
    mask_cutoff: datetime | None

    def counts(self) -> dict[str, Any]:
        out = asdict(self)
        out["cutoff"] = audit.format_time(self.cutoff)
        out["mask_cutoff"] = audit.format_time(self.mask_cutoff) if self.mask_cutoff else None
        return out


def mask_ip(ip: str) -> str:
    """IPv4 → its /16 (a.b.0.0), IPv6 → its /48; an IPv4-mapped IPv6 address is masked as IPv4."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return UNKNOWN_IP
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    prefix = 16 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False).network_address)


def _masked_form(ip: ColumnElement[str]) -> ColumnElement[bool]:
    """True exactly when `ip` is already what mask_ip makes of it (for canonical addresses).

    IPv4 masks end in `.0.0`. An IPv6 /48 keeps at most three leading groups and ends in `::`,
    so it has at most four colons (`a:b:c::`); `a:b:c:d::` ends in `::` but is not masked.
    """
    colons = func.length(ip) - func.length(func.replace(ip, ":", ""))
    v4 = and_(ip.like("%.0.0"), not_(ip.like("%:%")))
    v6 = and_(ip.like("%::"), colons <= 4)
    return or_(v4, v6)


def _delete_batched(ctx: Ctx, table: Any, where: ColumnElement[bool], key: Any, limit: int) -> int:
    """DELETE … WHERE id IN (SELECT id … LIMIT n), repeated: portable, and each statement stays small.

    Log records come back with their subjects (RETURNING), whose tallies lose them."""
    done = 0
    while done < limit:
        ids = select(key).where(where).limit(min(BATCH, limit - done)).scalar_subquery()
        stmt = delete(table).where(key.in_(ids))
        if table is _log:
            subjects = ctx.session.execute(stmt.returning(_log.c.subject_id)).scalars().all()
            tally.add(ctx.session, tally.lost(subjects))
            n = len(subjects)
        else:
            n = ctx.session.execute(stmt).rowcount or 0  # type: ignore[attr-defined]
        done += n
        if n == 0:
            break
    return done


def _mask_batched(ctx: Ctx, mask_cutoff: datetime, limit: int) -> int:
    c = _log.c
    where = and_(c.subject_id.is_(None), c.at < mask_cutoff, not_(_masked_form(c.ip)))
    stmt = update(_log).where(c.id == bindparam("row_id")).values(ip=bindparam("masked"))
    done, after = 0, None
    while done < limit:
        # Keyset on id: a row whose stored form is odd but already masked is never looked at twice.
        query = select(c.id, c.ip).where(where).order_by(c.id).limit(min(BATCH, limit - done))
        if after is not None:
            query = query.where(c.id > after)
        rows = ctx.session.execute(query).all()
        if not rows:
            break
        after = rows[-1][0]
        changes = [{"row_id": rid, "masked": m} for rid, ip in rows if (m := mask_ip(ip)) != ip]
        if changes:
            ctx.session.execute(stmt.execution_options(synchronize_session=False), changes)
        done += len(changes)
        if len(rows) < BATCH:
            break
    return done


def run(ctx: Ctx, *, max_rows: int = MAX_ROWS_PER_RUN) -> RetentionResult:
    """Apply the retention settings once, in ctx's transaction, and audit what was done."""
    settings = ctx.settings
    cutoff = ctx.now - timedelta(days=settings.log_retention_days)
    mask_cutoff = ctx.now - timedelta(days=settings.ip_mask_days) if settings.ip_mask_days else None

    deleted = _delete_batched(ctx, _log, _log.c.at < cutoff, _log.c.id, max_rows)
    masked = _mask_batched(ctx, mask_cutoff, max_rows) if mask_cutoff else 0
    quarantined = _delete_batched(ctx, _quarantine, _quarantine.c.at < cutoff, _quarantine.c.id, max_rows)
    prefs = _delete_batched(ctx, _prefs, _prefs.c.last_seen < cutoff, _prefs.c.id, max_rows)
    logs_done = deleted < max_rows
    # An identifier's last_seen is the newest record that carried it, so once every record older
    # than the cutoff is gone (logs_done), none left can carry one last seen before it. Only cookie
    # identifiers that the browser no longer holds expire: a live cookie must keep linking its
    # browser to its subject, and site user ids belong to site accounts, not to the logs.
    idents = 0
    if logs_done:
        i = _idents.c
        stale = and_(
            i.kind == "cookie",
            i.last_seen < cutoff,
            or_(i.expires_at.is_(None), i.expires_at <= ctx.now),
        )
        idents = _delete_batched(ctx, _idents, stale, i.id, max_rows)
    complete = logs_done and all(n < max_rows for n in (masked, quarantined, prefs, idents))
    result = RetentionResult(deleted, masked, quarantined, prefs, idents, complete, cutoff, mask_cutoff)
    audit.record(ctx, ACTION, details=result.counts())
    return result


def last_run(ctx: Ctx) -> tuple[datetime, bool] | None:
    """When retention last ran and whether that run finished its work (None: never ran).

    Walks the audit log backwards by its primary key and stops at the first retention entry, so
    it reads about one hour of entries when runs are hourly (the audit log has no action index).
    """
    row = ctx.session.execute(
        select(col(AuditEntry.seq), col(AuditEntry.at))
        .where(col(AuditEntry.action) == ACTION)
        .order_by(col(AuditEntry.seq).desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    # Erasure never blanks these details (they name no subject); missing details count as finished.
    details = audit.details_of(ctx, row[0]) or {}
    return row[1], bool(details.get("complete", True))


def run_if_due(ctx: Ctx, every: timedelta) -> RetentionResult | None:
    """Run unless a finished run happened within `every` (or another process is running it now)."""
    if ctx.session.get_bind().dialect.name == "postgresql":
        got = ctx.session.execute(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": RETENTION_LOCK_ID})
        if not got.scalar():
            return None
    last = last_run(ctx)
    if last is not None and last[1] and last[0] > ctx.now - every:
        return None
    return run(ctx)
