"""The erasure engine: `run` erases the subject of an erasure request that is in progress.

`run-due` (cron), `portal serve` (every minute) and the back-office call it; any number may at once:
a per-request lock (portal/requests/runlock.py) lets one run and tells the others "busy". The run is
driven by the personal-data registry (portal/requests/erasure_rows.py says what happens to each
category) and goes in transactions, each of which starts by counting, in one statement, the
subject's rows left in every category, and then does what fits:

1. the plan (first transaction only): the rows found per category (ErasureRun.planned), audited as
   `erasure.started`;
2. a batch of at most PORTAL_ERASURE_BATCH rows (sessions first, then the identifiers, then the
   rest; categories with nothing left are skipped) committed together with their counts
   (ErasureRun.done), so a run killed at any moment, kill -9 included, loses nothing and the next
   run goes on from what is left, with exact counts. A batch that leaves rows behind is audited as
   `erasure.batch`, and another transaction follows;
3. the end, in the transaction whose batch left nothing: the person's free text in their requests,
   the merges, the email address onto the suppression list, the request `completed` (its audit
   entry records the certificate's digest), the account and subject rows, and the signed deletion
   certificate mailed to the address read before the account went.

A subject that fits in one batch is thus erased in one transaction, with two audit entries.

Each transaction first locks the request and checks it is still in progress: put on hold (or
extended) mid-run, the run stops where it is and a later run goes on.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from portal import audit
from portal.audit import certificates
from portal.core.clock import Clock
from portal.core.context import Ctx
from portal.core.errors import PortalError
from portal.core.settings import Settings
from portal.core.store import transaction
from portal.models.requests import DataRequest, ErasureRun
from portal.requests import certificate, erasure_rows, notices, runlock, timeline
from portal.subjects import identity, registry, suppression

Outcome = Literal["completed", "stopped", "busy"]
# SQLite has one write lock, and a writer that waits for it sleeps up to 100 ms between tries: a
# long erasure pauses that long every second, so a login, a page's session or staff putting the
# request on hold gets in (PostgreSQL locks rows: nothing waits there).
YIELD_EVERY, YIELD_FOR = 1.0, 0.12
COMPLETED = "Your data is erased. Your deletion certificate was mailed to you."


class NotInProgress(PortalError):
    """The request is not an erasure being carried out, so the engine touches nothing."""


def run(factory: sessionmaker[Session], settings: Settings, clock: Clock, request_id: int) -> Outcome:
    """Erase the subject of in-progress erasure request `request_id` and complete the request.

    "completed"; "stopped" when the request was put on hold (or extended) meanwhile; "busy" when
    another process is running it. Raises NotInProgress for any other request."""
    engine: Engine = factory.kw["bind"]
    with runlock.held(engine, settings, request_id) as mine:
        if not mine:
            return "busy"
        first, since = True, time.monotonic()
        while True:
            with transaction(factory) as session:
                ctx = _ctx(session, settings, clock)
                row = _locked(ctx, request_id)
                if first and (row is None or row.kind != "erasure" or row.status != "in_progress"):
                    what = "no such request" if row is None else f"a {row.kind} request that is {row.status}"
                    raise NotInProgress(f"the erasure engine runs only erasures in progress, not {what}")
                if row is None or row.status != "in_progress":
                    return "stopped"
                if _step(ctx, row):
                    return "completed"
            first = False
            if settings.is_sqlite and time.monotonic() - since > YIELD_EVERY:
                time.sleep(YIELD_FOR)
                since = time.monotonic()


def _ctx(session: Session, settings: Settings, clock: Clock) -> Ctx:
    return Ctx(session=session, settings=settings, now=clock.now(), actor="system")


def _locked(ctx: Ctx, request_id: int) -> DataRequest | None:
    if not 0 < request_id < 2**31:
        return None
    return ctx.session.get(DataRequest, request_id, with_for_update=True)


def _scope(ctx: Ctx, row: DataRequest) -> registry.Scope | None:
    if row.subject_id is None:
        return None
    return registry.scope(ctx.session, ctx.settings.secret_key, identity.root(ctx, row.subject_id))


def _step(ctx: Ctx, row: DataRequest) -> bool:
    """One transaction of the run: the plan (first time), a batch, and the end once the batch left
    nothing behind. True when the request is completed.

    The rows left in every category are counted at the start, in one statement: a subject that
    fits in one batch is then erased in one transaction of a few dozen statements, where a
    statement per category and step made a 10,000-record erasure cost twenty bare DELETEs on
    PostgreSQL, nearly all of it round trips. Rows that arrive after the count are counted by the
    next transaction; the last one, which finishes, counted them at its own start.

    Only the plan counts exactly. Later transactions count up to one more than a batch: enough to
    know what fits, without walking the rest of a big subject's rows, and the rows earlier batches
    deleted, every time (in a 10M-record store that cost 40 ms a batch for a 100,000-record
    subject on PostgreSQL, whose pages were no longer in its cache)."""
    found = _scope(ctx, row)
    run = ctx.session.get(ErasureRun, row.id)
    cap = None if run is None else ctx.settings.erasure_batch + 1
    left = erasure_rows.left(ctx, found, cap) if found else {}
    run = run or _plan(ctx, row, found, left)
    taken, drained = _batch(ctx, found, left)
    if not drained:
        _progress(ctx, run, taken)
        audit.record(
            ctx, "erasure.batch", subject_id=found.subject_id if found else None,
            details={"request": row.id, "rows": taken},
        )  # fmt: skip
        return False
    _finish(ctx, row, run, found, left, taken)
    return True


def _plan(ctx: Ctx, row: DataRequest, found: registry.Scope | None, left: dict[str, int]) -> ErasureRun:
    planned = {key: left[key] for key in erasure_rows.KEYS} if found else {}
    run = ErasureRun(
        request_id=row.id,  # type: ignore[arg-type]
        started_at=ctx.now,
        updated_at=ctx.now,
        planned=json.dumps(planned),
        done="{}",
    )
    ctx.session.add(run)
    audit.record(
        ctx,
        "erasure.started",
        subject_id=found.subject_id if found else None,
        details={"request": row.id, "planned": planned},
    )
    return run  # held on to: the session keeps only weak references to unchanged rows


def _progress(ctx: Ctx, run: ErasureRun, taken: dict[str, int], finished: bool = False) -> dict[str, int]:
    """Add a transaction's rows to the run's counts (finished: and mark it done, in the same
    UPDATE); returns the counts so far."""
    done = json.loads(run.done)
    for key, n in taken.items():
        done[key] = done.get(key, 0) + n
    run.done = json.dumps(done)
    run.updated_at = ctx.now
    run.batches += 1
    if finished:
        run.finished_at = ctx.now
    return done


def _batch(ctx: Ctx, found: registry.Scope | None, left: dict[str, int]) -> tuple[dict[str, int], bool]:
    """Delete or blank up to PORTAL_ERASURE_BATCH of the subject's rows, category after category,
    skipping those with none left. Returns the rows taken per category, and whether that was all."""
    if found is None:
        return {}, True
    budget = ctx.settings.erasure_batch
    taken: dict[str, int] = {}
    for category in erasure_rows.batched():
        waiting = left[category.key]
        if not waiting:
            continue
        if budget <= 0:
            return taken, False
        fits = waiting <= budget
        n = erasure_rows.take(ctx, category, found, None if fits else budget)
        if n:
            taken[category.key] = n
        if not fits:
            return taken, False
        budget -= n
    return taken, True


def _finish(
    ctx: Ctx,
    row: DataRequest,
    run: ErasureRun,
    found: registry.Scope | None,
    left: dict[str, int],
    taken: dict[str, int],
) -> None:
    to = notices.recipient(ctx, row)  # the account's address (or the contact's), before either goes
    # Every address the account had goes on the suppression list, not only the last one.
    addresses = [a for a in (*(found.emails if found else ()), row.contact_addr) if a]
    last = ("account", "subject")
    if found is not None:
        for category in erasure_rows.final():
            if left[category.key] and category.key not in last:
                taken[category.key] = erasure_rows.take(ctx, category, found, None)
        for key in last:
            taken[key] = left[key]
    suppression.suppress(ctx, addresses)
    done = _progress(ctx, run, {k: n for k, n in taken.items() if n}, finished=True)
    ref = audit.subject_ref(ctx.settings.secret_key, found.subject_id) if found else None
    stated = certificate.statement(
        ctx, row, ref, run.started_at, done, _kept(ctx, found), len(addresses),
        done.get(registry.IDENTIFIERS_KEY, 0) + done.get("site_accounts", 0),
    )  # fmt: skip
    event = timeline.transition(
        ctx, row, "completed", by="portal", message=COMPLETED,
        details={"certificate": certificate.digest(stated), "rows": sum(done.values())},
    )  # fmt: skip
    if found is not None:
        for key in last:  # after the transition, whose timeline line still names the subject
            if left[key]:
                erasure_rows.take(ctx, registry.by_key(key), found, None)
    signed = certificates.issue(ctx, stated, event.audit_seq or 0)
    if to is not None:
        certificate.send(ctx, to, row, signed)


def _kept(ctx: Ctx, found: registry.Scope | None) -> dict[str, int]:
    """Rows kept (without personal data) that the certificate names, counting the completion's own
    audit entry and timeline line, written next."""
    if found is None:
        return {}
    kept = erasure_rows.counts(ctx, found, tuple(certificate.KEPT_BASIS), kept=True)
    kept[registry.AUDIT_KEY] += 1
    kept["request_timeline"] += 1
    return kept


@dataclass(frozen=True)
class Progress:
    """How far an erasure got, for its status page and `portal requests show`."""

    planned: int
    done: int
    batches: int
    finished: bool
    per_category: list[tuple[str, int, int]]  # (title, done, planned)

    @property
    def percent(self) -> int:
        return 100 if self.finished or not self.planned else min(99, self.done * 100 // self.planned)


def progress(session: Session, request_id: int) -> Progress | None:
    row = session.get(ErasureRun, request_id)
    if row is None:
        return None
    planned, done = json.loads(row.planned), json.loads(row.done)
    per = [
        (registry.by_key(key).title, done.get(key, 0), n) for key, n in planned.items() if n or done.get(key)
    ]
    return Progress(
        sum(planned.values()), sum(min(done.get(k, 0), n) for k, n in planned.items()), row.batches,
        row.finished_at is not None, per,
    )  # fmt: skip
