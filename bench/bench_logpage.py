"""Benchmark: the first page of "Log records" for a subject with 100,000 records vs one with 10.

    .venv/bin/python bench/bench_logpage.py [--records 100000] [--postgres URL]

Target: the big subject's first page costs at most 1.5x the small one's (keyset pagination on
(subject_id, at, id); no COUNT(*) and no OFFSET on the hot path). Requests go through the real
ASGI app and are interleaved, so machine noise hits both sides alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scratch import scratch_database  # noqa: E402

from portal.core import migrations  # noqa: E402
from portal.core.clock import FrozenClock  # noqa: E402
from portal.core.settings import load  # noqa: E402
from portal.core.store import make_engine, session_factory  # noqa: E402
from portal.web.app import create_app  # noqa: E402
from tests import sitedata_factory as f  # noqa: E402
from tests.conftest import Portal, Store  # noqa: E402


def medians(a, b, rounds: int = 41) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    times: dict[int, list[float]] = {0: [], 1: []}
    for i in range(rounds + 3):
        for which, client in ((0, a), (1, b)):
            start = time.perf_counter()
            assert client.get("/my/logs").status_code == 200
            if i >= 3:
                times[which].append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def run(url: str, var: Path, records: int) -> None:
    settings = load({"PORTAL_VAR_DIR": str(var), "PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": "b" * 48,
                     "PORTAL_BASE_URL": "http://testserver"})  # fmt: skip
    engine = make_engine(url)
    migrations.upgrade(engine)
    store = Store(settings, engine, session_factory(engine), FrozenClock())
    app = create_app(settings, clock=store.clock, background=False)
    portal = Portal(store, app)
    small, big = portal.client(), portal.client()
    portal.verified_user(small, "small@example.com")
    portal.verified_user(big, "big@example.com")
    src = f.source(store)
    f.log_records(store, f.account_subject(store, "small@example.com"), 10, source_id=src)
    t = time.perf_counter()
    f.log_records(store, f.account_subject(store, "big@example.com"), records, source_id=src,
                  step=timedelta(seconds=155), path="/big/{i}")  # fmt: skip
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    print(f"  loaded {records:,} records in {time.perf_counter() - t:.1f} s")
    t_small, t_big = medians(small, big)
    print(f"  first page, median: 10 records {t_small * 1000:.1f} ms, {records:,} records {t_big * 1000:.1f} ms, "
          f"ratio {t_big / t_small:.2f}x (target <= 1.5)")  # fmt: skip
    app.state.engine.dispose()
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--postgres", default="")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print("SQLite:")
        run(f"sqlite:///{tmp}/portal.db", Path(tmp), args.records)
    if args.postgres:
        with scratch_database(args.postgres) as url, tempfile.TemporaryDirectory() as tmp:
            print("PostgreSQL:")
            run(url, Path(tmp), args.records)

if __name__ == "__main__":
    main()
