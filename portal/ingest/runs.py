"""Ingest runs for the back-office: what each `portal ingest` read, stored, skipped and rejected."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from portal.core.context import Ctx
from portal.models import IngestRun

PAGE_SIZE = 50


@dataclass(frozen=True)
class RunsPage:
    runs: list[IngestRun]
    next_before: int | None


def recent(ctx: Ctx, before: int | None = None, size: int = PAGE_SIZE) -> RunsPage:
    """Newest runs first; `before` is the keyset cursor (a run id) of the previous page's end."""
    query = select(IngestRun).order_by(IngestRun.id.desc()).limit(size + 1)  # type: ignore[union-attr]
    if before is not None:
        query = query.where(IngestRun.id < before)  # type: ignore[operator,arg-type]
    runs = list(ctx.session.scalars(query))
    more = len(runs) > size
    runs = runs[:size]
    return RunsPage(runs, runs[-1].id if more and runs else None)
