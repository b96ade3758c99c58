"""Benchmark: the first page of the request queue with 100,000 requests (5,000 open) vs 100 (5 open).

    .venv/bin/python bench/bench_queue.py [--requests 100000] [--postgres URL]

What the back-office (issue 13) will read: `portal.requests.queue.page`, open requests by deadline
and with each filter. Target: the big store's page costs at most 1.5x the small one's (stored
due dates and partial indexes on open requests; keyset, no OFFSET, no COUNT). The two stores are
queried in turns, so machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from portal.core import migrations  # noqa: E402
from portal.core.clock import FrozenClock  # noqa: E402
from portal.core.context import Ctx  # noqa: E402
from portal.core.settings import Settings, load  # noqa: E402
from portal.core.store import make_engine, session_factory, transaction  # noqa: E402
from portal.models import Subject  # noqa: E402
from portal.models.requests import CLOSED_STATUSES, REQUEST_KINDS, DataRequest  # noqa: E402
from portal.requests import deadlines, queue  # noqa: E402

OPEN = ("received", "identity_pending", "in_review", "approved", "in_progress", "on_hold", "extended")
FILTERS = {
    "open, by deadline": queue.Filter(),
    "kind = erasure": queue.Filter(kind="erasure"),
    "overdue": queue.Filter(overdue=True),
    "status = in_review": queue.Filter(status="in_review"),
    "assigned to one agent": queue.Filter(assignee_id=1),
}


def seed(url: str, var: Path, count: int, opened: int | None = None) -> tuple[Settings, object]:
    """`count` requests, one in twenty open (or the first `opened` of them)."""
    settings = load({"PORTAL_VAR_DIR": str(var), "PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": "b" * 48})
    engine = make_engine(url)
    migrations.upgrade(engine)
    rng = random.Random(7)
    clock = FrozenClock()
    now = clock.now()
    basis = deadlines.basis(settings)
    with engine.begin() as conn:
        conn.execute(insert(Subject.__table__), [{"kind": "browser", "created_at": now}] * count)  # type: ignore[attr-defined]
        conn.execute(text(
            "INSERT INTO account (email, password_hash, role, subject_id, created_at, password_changed_at, time_zone)"
            " VALUES ('agent@example.com', 'x', 'agent', 1, :now, :now, 'UTC')"
        ), {"now": now})  # fmt: skip
        rows = []
        for i in range(count):
            is_open = i % 20 == 0 if opened is None else i < opened
            received = now - timedelta(days=rng.randrange(0, 60) if is_open else rng.randrange(30, 1500))
            status = rng.choice(OPEN) if is_open else rng.choice(CLOSED_STATUSES)
            rows.append({
                "subject_id": i + 1, "kind": rng.choice(REQUEST_KINDS), "scope": "", "status": status,
                "regime": "gdpr", "received_at": received, "due_on": (received + timedelta(days=31)).date(),
                "deadline_basis": basis, "channel": "self_service", "updated_at": now,
                "assignee_id": 1 if rng.random() < 0.2 else None, "closed_at": None if is_open else now,
            })  # fmt: skip
            if len(rows) == 10_000 or i == count - 1:
                conn.execute(insert(DataRequest.__table__), rows)  # type: ignore[attr-defined]
                rows = []
        conn.exec_driver_sql("ANALYZE")
    if engine.dialect.name == "postgresql":
        # What autovacuum does to a table after a bulk load: without the visibility map it sets, an
        # index-only scan (the counts per status) still visits every open request's heap page.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE data_request")
    return settings, engine


def first_page(engine: object, settings: Settings, where: queue.Filter) -> float:
    factory = session_factory(engine)  # type: ignore[arg-type]
    start = time.perf_counter()
    with transaction(factory) as session:
        queue.page(Ctx(session=session, settings=settings, now=FrozenClock().now()), where, limit=50)
    return time.perf_counter() - start


def compare(small: tuple[Settings, object], big: tuple[Settings, object], count: int, rounds: int = 31) -> None:
    for label, where in FILTERS.items():
        times: dict[int, list[float]] = {0: [], 1: []}
        for i in range(rounds + 3):
            for which, (settings, engine) in enumerate((small, big)):
                took = first_page(engine, settings, where)
                if i >= 3:
                    times[which].append(took)
        t_small, t_big = statistics.median(times[0]), statistics.median(times[1])
        print(f"  {label:<24} {count // 1000:,}k requests {t_big * 1000:6.2f} ms vs 100: {t_small * 1000:6.2f} ms, "
              f"ratio {t_big / t_small:.2f}x (target <= 1.5)")  # fmt: skip


def run(make_url_for: object, count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        small = seed(make_url_for("small", Path(tmp)), Path(tmp) / "small", 100)  # type: ignore[operator]
        big = seed(make_url_for("big", Path(tmp)), Path(tmp) / "big", count)  # type: ignore[operator]
        print(f"  seeded {count:,} requests in {time.perf_counter() - t:.1f} s")
        compare(small, big, count)
        for _, engine in (small, big):
            engine.dispose()  # type: ignore[attr-defined]


def main(
    run_on: Callable[[Callable[[str, Path], str], int], None] | None = None,
    names: tuple[str, ...] = ("small", "big"),
    doc: str | None = __doc__,
) -> None:
    """Run `run_on(url_for_store, requests)` on SQLite files, then on PostgreSQL with --postgres (one
    fresh database per store name, dropped afterwards)."""
    run_on = run_on or run
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--postgres", default="")
    args = ap.parse_args()
    print("SQLite:")
    run_on(lambda name, tmp: f"sqlite:///{tmp}/{name}.db", args.requests)
    if not args.postgres:
        return
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    databases = {n: f"portal_bench_{n}_{uuid.uuid4().hex[:8]}" for n in names}
    with admin.connect() as conn:
        for name in databases.values():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        print("PostgreSQL:")
        run_on(lambda n, _tmp: make_url(args.postgres).set(database=databases[n]).render_as_string(hide_password=False),
               args.requests)  # fmt: skip
    finally:
        with admin.connect() as conn:
            for name in databases.values():
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
