"""Full verifications of the audit log started from the back-office, run in the background.

`start` records a run (and refuses a second while one is moving); `execute`, on a thread of the
server process that started it, runs the verifier (portal/audit/verifier.py, the same check as
`portal audit verify`) and writes its progress to the run's row after every batch, so any server
process can answer the page that polls it. A run whose process died stops moving: after STALLED it is
shown as stalled and a new one may start. Starting and finishing are each one audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update
from sqlmodel import col

from portal import audit
from portal.audit import checkpoints
from portal.audit.verifier import verify
from portal.core.clock import Clock
from portal.core.context import Ctx
from portal.core.errors import NotFound
from portal.core.settings import Settings
from portal.core.store import session_factory, transaction
from portal.models import AuditVerifyRun

STALLED = timedelta(minutes=2)
_T = AuditVerifyRun.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RunView:
    id: int
    actor: str
    started_at: datetime
    finished_at: datetime | None
    checked: int
    total: int
    ok: bool | None
    summary: str | None
    stalled: bool

    @property
    def running(self) -> bool:
        return self.finished_at is None and not self.stalled

    @property
    def percent(self) -> int:
        if self.finished_at is not None:
            return 100
        return min(99, self.checked * 100 // self.total) if self.total else 0


def _view(ctx: Ctx, row: AuditVerifyRun) -> RunView:
    stalled = row.finished_at is None and ctx.now - row.updated_at > STALLED
    return RunView(
        row.id, row.actor, row.started_at, row.finished_at, row.checked, row.total, row.ok, row.summary,  # type: ignore[arg-type]
        stalled,
    )  # fmt: skip


def latest(ctx: Ctx) -> RunView | None:
    row = ctx.session.scalars(select(AuditVerifyRun).order_by(col(AuditVerifyRun.id).desc()).limit(1)).first()
    return _view(ctx, row) if row else None


def status(ctx: Ctx, run_id: int) -> RunView:
    row = ctx.session.get(AuditVerifyRun, run_id) if 0 < run_id < 2**31 else None
    if row is None:
        raise NotFound(f"There is no verification run no. {run_id}.")
    return _view(ctx, row)


def start(ctx: Ctx) -> tuple[int, bool]:
    """A new run (id, True) to execute, or the run still moving (id, False): one at a time."""
    current = latest(ctx)
    if current is not None and current.running:
        return current.id, False
    row = AuditVerifyRun(actor=ctx.actor, started_at=ctx.now, updated_at=ctx.now)
    ctx.session.add(row)
    ctx.session.flush()
    audit.record(ctx, "audit.verify_started", details={"run": row.id})
    return row.id, True  # type: ignore[return-value]


def execute(engine: Engine, settings: Settings, clock: Clock, run_id: int) -> None:
    """Run the verifier for run `run_id`, recording progress and then the result (and its audit entry)."""
    factory = session_factory(engine)

    def progress(done: int, total: int) -> None:
        with transaction(factory) as session:
            session.execute(
                update(_T).where(_T.c.id == run_id).values(checked=done, total=total, updated_at=clock.now())
            )

    public = checkpoints.load_or_create_key(settings.audit_key_path).public_key()
    try:
        result = verify(engine, public, progress=progress)
        ok, checked, summary = result.ok, result.count, result.summary()
    except Exception as exc:  # the run must end with a result, whatever happened
        ok, checked, summary = False, 0, f"the verification could not run: {exc.__class__.__name__}"
    with transaction(factory) as session:
        row = session.get(AuditVerifyRun, run_id)
        if row is None:
            return
        ctx = Ctx(session=session, settings=settings, now=clock.now(), actor=row.actor)
        row.finished_at = row.updated_at = ctx.now
        row.ok, row.summary = ok, summary
        row.checked = max(row.checked, checked)
        row.total = max(row.total, row.checked)
        audit.record(ctx, "audit.verify_finished", details={"run": run_id, "ok": ok, "summary": summary})
