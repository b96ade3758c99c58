""""Download my data" (GDPR Art. 15 and 20): start an export, build its zip, hand it out once.

The flow: `start` (password re-entered within 15 minutes) records the export and its single-use
link in one write transaction; `build` reads everything in a read-only snapshot (no write lock
held while the zip is written) and then marks the export ready; `claim` hands the file out once,
to the owner only, within 24 hours. Every creation and every download is audited.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, delete, select, update

from portal import audit
from portal.accounts import sessions
from portal.accounts.sessions import Current
from portal.core.context import Ctx
from portal.core.crypto import keyed_hash, random_token, sha256_hex
from portal.core.errors import PortalError
from portal.core.priority import run_below_web
from portal.core.settings import Settings
from portal.core.store import make_engine, read_snapshot
from portal.export.archive import Archive, ArchiveWriter
from portal.models import Account, DataExport, Subject

LINK_TTL = timedelta(hours=24)
# Rows (not files: those go at first download or expiry) are kept a while to answer "did I export?".
KEEP_ROWS = timedelta(days=30)
MAX_TOKEN = 100


class ReauthRequired(PortalError):
    """The password was not entered within the last 15 minutes."""


@dataclass(frozen=True)
class Started:
    export_id: int
    token: str


@dataclass(frozen=True)
class Claim:
    status: str  # "ok" | "missing" | "used" | "expired"
    path: Path | None = None
    size: int = 0
    created_at: datetime | None = None


def exports_dir(settings: Settings) -> Path:
    return settings.exports_dir


def start(ctx: Ctx, cur: Current) -> Started:
    """Record a new export and its link; an earlier unused link of the same subject stops working."""
    if cur.account is None or not sessions.recently_reauthenticated(ctx, cur):
        raise ReauthRequired("Please enter your password again to download your data.")
    subject_id = cur.account.subject_id
    _retire_links(ctx, subject_id)
    row = DataExport(
        subject_id=subject_id,
        token_hash=sha256_hex(random_token(32)),  # replaced below, once the id is known
        created_at=ctx.now,
        expires_at=ctx.now + LINK_TTL,
    )
    ctx.session.add(row)
    ctx.session.flush()
    token = link_token(ctx.settings, row)
    row.token_hash = sha256_hex(token)
    audit.record(ctx, "export.create", subject_id=subject_id, details={"export": row.id})
    return Started(row.id, token)  # type: ignore[arg-type]


def link_token(settings: Settings, row: DataExport) -> str:
    """The download link's secret: derived from the export under the server secret, so the page can
    show the link again until it is used or expires, while the store holds only its hash."""
    created = row.created_at.astimezone(UTC).isoformat(timespec="microseconds")
    return keyed_hash(settings.secret_key, "export-link", f"{row.id}:{created}")


@dataclass(frozen=True)
class Live:
    token: str
    expires_at: datetime
    size: int | None


def live_link(ctx: Ctx, subject_id: int) -> Live | None:
    """The subject's prepared download that still works (ready, unused, unexpired), if any."""
    row = ctx.session.scalars(
        select(DataExport)
        .where(
            DataExport.subject_id == subject_id,  # type: ignore[arg-type]
            DataExport.ready_at.is_not(None),  # type: ignore[union-attr]
            DataExport.used_at.is_(None),  # type: ignore[union-attr]
            DataExport.file_name.is_not(None),  # type: ignore[union-attr]
            DataExport.expires_at > ctx.now,  # type: ignore[arg-type]
        )
        .order_by(DataExport.id.desc())  # type: ignore[union-attr]
    ).first()
    return None if row is None else Live(link_token(ctx.settings, row), row.expires_at, row.size)


def _retire_links(ctx: Ctx, subject_id: int) -> None:
    # One live archive per person: bounded disk use, and one link to keep secret.
    live = ctx.session.scalars(
        select(DataExport).where(
            DataExport.subject_id == subject_id,  # type: ignore[arg-type]
            DataExport.used_at.is_(None),  # type: ignore[union-attr]
            DataExport.expires_at > ctx.now,  # type: ignore[arg-type]
        )
    ).all()
    for row in live:
        row.expires_at = ctx.now
        _drop_file(ctx.settings, row)


def build(engine: Engine, settings: Settings, now: datetime, export_id: int) -> Archive:
    """Write the zip for a started export (read-only snapshot), then mark the export ready."""
    folder = exports_dir(settings)
    final = folder / f"export-{export_id}.zip"
    part = folder / f"export-{export_id}.zip.part"
    try:
        with read_snapshot(engine) as conn:
            subject_id = conn.execute(
                select(DataExport.subject_id).where(DataExport.id == export_id)  # type: ignore[call-overload,arg-type]
            ).scalar_one()
            subject = conn.execute(
                select(Subject.id, Subject.kind, Subject.created_at).where(Subject.id == subject_id)  # type: ignore[call-overload,arg-type]
            ).one()
            head = {"id": subject.id, "kind": subject.kind, "created_at": subject.created_at.isoformat()}
            # The person's own time zone for index.html (a subject without an account: UTC).
            zone = conn.execute(
                select(Account.time_zone).where(Account.subject_id == subject_id)  # type: ignore[call-overload,arg-type]
            ).scalar()
            archive = ArchiveWriter(conn, settings, now, head, zone or "UTC").write(part)
        part.replace(final)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    archive.path = final
    with engine.begin() as conn:
        conn.execute(
            update(DataExport)
            .where(DataExport.id == export_id)  # type: ignore[arg-type]
            .values(ready_at=now, size=archive.size, file_name=final.name)
        )
    return archive


def build_apart(settings: Settings, now: datetime, export_id: int) -> None:
    """`build`, as the whole of a process of its own (`portal serve` starts one per export).

    Reading, converting and deflating a large subject keeps a core busy for seconds. In a thread of
    a web worker it would hold that worker's GIL and every page it serves would wait; at a lower
    CPU priority in its own process it takes what the pages leave.
    """
    run_below_web()
    engine = make_engine(settings.database_url)
    try:
        build(engine, settings, now, export_id)
    finally:
        engine.dispose()


def claim(ctx: Ctx, subject_id: int, token: str) -> Claim:
    """Hand out an export once. Someone else's link is answered exactly like an unknown one."""
    row = None
    if 0 < len(token) <= MAX_TOKEN:
        row = ctx.session.scalars(
            select(DataExport).where(DataExport.token_hash == sha256_hex(token)).with_for_update()  # type: ignore[arg-type]
        ).first()
    if row is None or row.ready_at is None:
        audit.record(ctx, "export.download_refused", subject_id=subject_id, details={"reason": "unknown"})
        return Claim("missing")
    if row.subject_id != subject_id:
        # Recorded against the owner whose link it is; the actor says who tried.
        audit.record(
            ctx, "export.download_refused", subject_id=row.subject_id,
            details={"reason": "not_owner", "export": row.id},
        )
        return Claim("missing")
    if row.used_at is not None:
        return Claim("used", created_at=row.created_at)
    if ctx.now >= row.expires_at or row.file_name is None:
        return Claim("expired", created_at=row.created_at)
    path = exports_dir(ctx.settings) / row.file_name
    row.used_at = ctx.now
    row.file_name = None
    audit.record(ctx, "export.download", subject_id=subject_id, details={"export": row.id, "size": row.size})
    return Claim("ok", path=path, size=row.size or 0, created_at=row.created_at)


def purge_expired(ctx: Ctx) -> int:
    """Delete files whose link expired or was used, and rows past KEEP_ROWS; returns files deleted."""
    stale = ctx.session.scalars(
        select(DataExport).where(
            DataExport.file_name.is_not(None),  # type: ignore[union-attr]
            (DataExport.expires_at <= ctx.now) | DataExport.used_at.is_not(None),  # type: ignore[operator,union-attr]
        )
    ).all()
    for row in stale:
        _drop_file(ctx.settings, row)
    ctx.session.execute(delete(DataExport).where(DataExport.expires_at < ctx.now - KEEP_ROWS))  # type: ignore[arg-type]
    return len(stale)


def _drop_file(settings: Settings, row: DataExport) -> None:
    if row.file_name:
        with contextlib.suppress(FileNotFoundError):
            (exports_dir(settings) / row.file_name).unlink()
        row.file_name = None
