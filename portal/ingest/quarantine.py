"""The quarantine as staff see it: a page of rejected lines, or a CSV of them, each read audited.

A quarantined line may hold personal data (an IP, a cookie header), so every staff read writes
one `staff.view.quarantine` entry in the same transaction as the read: no read without a record.
Raw bytes are hostile by definition; `preview` turns them into text that is safe to show anywhere
(control and bidirectional-override characters escaped, non-UTF-8 shown as hex).
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from portal import audit
from portal.audit import format_time
from portal.core.context import Ctx
from portal.core.csvsafe import neutralise
from portal.models import QuarantinedLine

PAGE_SIZE = 50
EXPORT_LIMIT = 10_000
PREVIEW_CHARS = 300
EXPORT_PREVIEW_CHARS = 2000
HEX_BYTES = 64

_table = QuarantinedLine.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Preview:
    kind: str  # "text" | "hex"
    text: str
    truncated: bool


@dataclass(frozen=True)
class Line:
    id: int
    run_id: int | None
    path: str
    line_no: int
    reason: str
    detail: str
    raw_length: int
    at: datetime
    preview: Preview


@dataclass(frozen=True)
class Page:
    lines: list[Line]
    reason: str
    next_before: int | None  # keyset cursor of the next (older) page, None on the last


def _escape(text: str) -> str:
    # Categories C* are controls, format characters (U+202E and friends reorder what an admin
    # reads), surrogates and unassigned code points: none of them may reach the page raw.
    return "".join(ch if unicodedata.category(ch)[0] != "C" else _code(ord(ch)) for ch in text)


def _code(point: int) -> str:
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}"


def preview(raw: bytes | memoryview, chars: int = PREVIEW_CHARS) -> Preview:
    """The first bytes of a line as safe text, or as hex when they are not UTF-8."""
    raw = bytes(raw)  # psycopg hands BYTEA back as memoryview
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Preview("hex", raw[:HEX_BYTES].hex(" "), len(raw) > HEX_BYTES)
    return Preview("text", _escape(text[:chars]), len(text) > chars)


def _query(reason: str, before: int | None, limit: int):  # type: ignore[no-untyped-def]
    c = _table.c
    query = select(c.id, c.run_id, c.path, c.line_no, c.reason, c.detail, c.raw_length, c.at, c.raw)
    if reason:
        query = query.where(c.reason == reason)
    if before is not None:
        query = query.where(c.id < before)
    return query.order_by(c.id.desc()).limit(limit)


def _lines(ctx: Ctx, reason: str, before: int | None, limit: int, chars: int) -> list[Line]:
    rows = ctx.session.execute(_query(reason, before, limit)).all()
    return [
        Line(r.id, r.run_id, r.path, r.line_no, r.reason, r.detail, r.raw_length, r.at, preview(r.raw, chars))
        for r in rows
    ]


def page(ctx: Ctx, reason: str = "", before: int | None = None, size: int = PAGE_SIZE) -> Page:
    """One page of quarantined lines, newest first, optionally of one reason; audited."""
    lines = _lines(ctx, reason, before, size + 1, PREVIEW_CHARS)
    more = len(lines) > size
    lines = lines[:size]
    audit.record(ctx, "staff.view.quarantine", details=_details(reason, before, lines, "page"))
    return Page(lines, reason, lines[-1].id if more and lines else None)


def export_csv(ctx: Ctx, reason: str = "") -> tuple[str, bool]:
    """Up to EXPORT_LIMIT newest quarantined lines as CSV (and whether more exist); audited."""
    lines = _lines(ctx, reason, None, EXPORT_LIMIT + 1, EXPORT_PREVIEW_CHARS)
    more = len(lines) > EXPORT_LIMIT
    lines = lines[:EXPORT_LIMIT]
    audit.record(ctx, "staff.view.quarantine", details=_details(reason, None, lines, "csv"))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["id", "run", "file", "line", "reason", "detail", "bytes", "at", "encoding", "first bytes"]
    )
    for line in lines:
        writer.writerow(
            [
                line.id,
                "" if line.run_id is None else line.run_id,
                neutralise(line.path),
                line.line_no,
                neutralise(line.reason),
                neutralise(line.detail),
                line.raw_length,
                format_time(line.at),
                line.preview.kind,
                neutralise(line.preview.text),
            ]
        )
    return out.getvalue(), more


def _details(reason: str, before: int | None, lines: list[Line], how: str) -> dict[str, object]:
    return {
        "as": how,
        "reason": reason or None,
        "before": before,
        "rows": len(lines),
        "ids": [lines[-1].id, lines[0].id] if lines else None,
    }
