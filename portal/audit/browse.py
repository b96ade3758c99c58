"""Browsing the audit log in the back-office: entries filtered by actor, action, subject pseudonym and
time, newest first in keyset pages on `seq`; one entry with its details and its inclusion proof in the
newest signed checkpoint, checked on the spot; the newest checkpoint as a file to keep elsewhere.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import col

from portal.audit import checkpoints, receipts
from portal.audit.writer import details_of
from portal.core.context import Ctx
from portal.core.errors import NotFound
from portal.models import AuditDetail, AuditEntry

PAGE_SIZE = 50
_MAX_SEQ = 2**31 - 1


@dataclass(frozen=True)
class Filter:
    actor: str = ""
    action: str = ""  # a prefix: "request." finds every request action
    subject: str = ""  # the subject pseudonym (subject_ref)
    start: date | None = None
    end: date | None = None  # inclusive

    def params(self) -> dict[str, str]:
        out = {
            "actor": self.actor, "action": self.action, "subject": self.subject,
            "from": self.start.isoformat() if self.start else "",
            "to": self.end.isoformat() if self.end else "",
        }  # fmt: skip
        return {k: v for k, v in out.items() if v}


def parse(params: Any) -> tuple[Filter, dict[str, str]]:
    errors: dict[str, str] = {}

    def day(name: str) -> date | None:
        raw = params.get(name, "")
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            errors[name] = "Use a date like 2027-01-31."
            return None

    start, end = day("from"), day("to")
    if start and end and start > end:
        errors["to"] = "The end is before the start."
    text = {k: params.get(k, "").strip()[:64] for k in ("actor", "action", "subject")}
    return Filter(text["actor"], text["action"], text["subject"], start, end), errors


@dataclass(frozen=True)
class Row:
    seq: int
    at: datetime
    actor: str
    action: str
    subject_ref: str | None


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_before: int | None


def page(ctx: Ctx, filt: Filter, before: int | None = None, size: int = PAGE_SIZE) -> Page:
    tz = ZoneInfo(ctx.settings.request_time_zone)
    t = AuditEntry.__table__  # type: ignore[attr-defined]
    stmt = select(t.c.seq, t.c.at, t.c.actor, t.c.action, t.c.subject_ref)
    if filt.actor:
        stmt = stmt.where(t.c.actor == filt.actor)
    if filt.action:
        stmt = stmt.where(t.c.action.startswith(filt.action, autoescape=True))
    if filt.subject:
        stmt = stmt.where(t.c.subject_ref == filt.subject)
    if filt.start:
        stmt = stmt.where(t.c.at >= datetime.combine(filt.start, time(), tz).astimezone(UTC))
    if filt.end:
        stmt = stmt.where(t.c.at < datetime.combine(filt.end + timedelta(days=1), time(), tz).astimezone(UTC))
    if before is not None:
        stmt = stmt.where(t.c.seq < before)
    rows = [Row(*r) for r in ctx.session.execute(stmt.order_by(t.c.seq.desc()).limit(size + 1))]
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, rows[-1].seq if more else None)


@dataclass(frozen=True)
class EntryView:
    entry: AuditEntry
    canonical: str
    details: dict[str, Any] | None
    erased_at: datetime | None
    receipt: dict[str, Any]
    proof_ok: bool
    proof_summary: str


def entry(ctx: Ctx, seq: int) -> EntryView:
    """One entry, its details (unless erased) and its receipt: the inclusion proof, checked here."""
    found = ctx.session.get(AuditEntry, seq) if 0 < seq <= _MAX_SEQ else None
    if found is None:
        raise NotFound(f"There is no audit entry no. {seq}.")
    detail = ctx.session.get(AuditDetail, seq)
    receipt = receipts.build_receipt(ctx, seq)
    public = checkpoints.load_or_create_key(ctx.settings.audit_key_path).public_key()
    ok, summary = receipts.verify_receipt(receipt, public)
    return EntryView(
        found, bytes(found.canonical).decode(), details_of(ctx, seq), detail.erased_at if detail else None,
        receipt, ok, summary,
    )  # fmt: skip


def latest_checkpoint(ctx: Ctx) -> tuple[str, bytes] | None:
    """The newest signed checkpoint as a JSON file (what `portal audit checkpoint --out` writes)."""
    row = checkpoints.latest(ctx.session)
    if row is None:
        return None
    public = checkpoints.load_or_create_key(ctx.settings.audit_key_path).public_key()
    data = checkpoints.SignedCheckpoint.from_row(row).to_json() | {
        "public_key": base64.b64encode(checkpoints.raw_public(public)).decode()
    }
    name = f"audit-checkpoint-{row.tree_size}.json"
    return name, (json.dumps(data, indent=2) + "\n").encode()


def actors(ctx: Ctx, limit: int = 200) -> list[str]:
    """Actors seen recently, for the filter's suggestions."""
    rows = ctx.session.scalars(
        select(col(AuditEntry.actor)).order_by(col(AuditEntry.seq).desc()).limit(5000)
    ).all()
    return sorted(set(rows))[:limit]
