"""Benchmark: deleting every search term of a subject with 100,000 log records, with every copy.

    .venv/bin/python bench/bench_forget.py [--records 100000] [--store 1000000] [--big 10000000] [--postgres URL]

Measured in the same run, on the same store:
  * baseline: one bare `UPDATE log_record SET cookies = ?, referrer = ? WHERE subject_id = ?` of a
    subject just like it (same rows, same index), committed;
  * deletion: `deletion.forget_terms` (search preferences deleted, the preference-cookie values,
    search-engine parameters and the site's own search addresses of every record REDACTED,
    prepared downloads withdrawn), committed;
  * with --big N: the same deletion once the store holds N records: the cost must follow the
    subject's size, not the store's.
Each side runs --repeat times on subjects of its own (a deletion consumes what it deletes); the
best time of each counts (a shared machine's noise only ever adds time).
Targets (issue 9): baseline / deletion >= 0.5; deletion at N / deletion at --store <= 1.5.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scratch import on_each_store  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from portal.core import migrations  # noqa: E402
from portal.core.context import Ctx  # noqa: E402
from portal.core.settings import load  # noqa: E402
from portal.core.store import make_engine, session_factory, transaction  # noqa: E402
from portal.ingest.writer import LOG_COLUMNS, LOG_TYPES, SQLITE_INSERT, copy_rows  # noqa: E402
from portal.models import IngestSource, SearchPreference, Subject  # noqa: E402
from portal.models.sitedata import log_record_id  # noqa: E402
from portal.subjects import deletion  # noqa: E402

CHUNK = 50_000
TERMS = ("kung fu classics", "late night films", "documentaries about rivers", "cheap streaming plan")
NOW = datetime(2026, 11, 30, tzinfo=UTC)


class Store:
    def __init__(self, url: str, var: Path) -> None:
        self.url = url
        self.settings = load({"PORTAL_VAR_DIR": str(var), "PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": "b" * 48})
        self.engine = make_engine(url)
        migrations.upgrade(self.engine)
        self.factory = session_factory(self.engine)
        self.line = 0
        with self.engine.begin() as conn:
            self.source = conn.execute(
                insert(IngestSource.__table__).returning(IngestSource.__table__.c.id),  # type: ignore[attr-defined]
                {"path": "/var/log/site.log", "fingerprint": "bench", "fingerprint_bytes": 0, "offset": 0,
                 "lines": 0, "format": "combined", "created_at": NOW, "updated_at": NOW, "site": ""},
            ).scalar_one()  # fmt: skip
        self.postgres = self.engine.dialect.name == "postgresql"

    def subject(self) -> int:
        with self.engine.begin() as conn:
            subject = conn.execute(
                insert(Subject.__table__).returning(Subject.__table__.c.id), {"kind": "site", "created_at": NOW}  # type: ignore[attr-defined]
            ).scalar_one()
            conn.execute(insert(SearchPreference.__table__), [  # type: ignore[attr-defined]
                {"subject_id": subject, "term": t, "source": "cookie", "engine": "", "first_seen": NOW,
                 "last_seen": NOW, "times": 1} for t in TERMS
            ])  # fmt: skip
        return int(subject)

    def records(self, subject: int | None, count: int) -> None:
        """`count` records like a member's: cookies with the preference value, search referrers.
        Loaded as fast as the store takes them (not measured): COPY, or sqlite3 without fsyncs."""
        pref = "|".join(t.replace(" ", "+") for t in TERMS[:2])
        cookies = json.dumps({"site_id": f"sid-{subject}", "search_pref": pref}, separators=(",", ":"))
        for start in range(0, count, CHUNK):
            rows = []
            for i in range(start, min(count, start + CHUNK)):
                self.line += 1
                at = NOW - timedelta(seconds=self.line)
                term = TERMS[i % len(TERMS)].replace(" ", "+")
                rows.append((
                    self.source, self.line, subject, at if self.postgres else at.strftime("%Y-%m-%d %H:%M:%S.%f"),
                    "198.51.100.23", "GET", f"/search?q={term}&page={i % 3}" if i % 7 == 0 else f"/videos/{i % 5000}",
                    "HTTP/1.1", 200, 5120,
                    f"https://www.google.com/search?q={term}" if i % 5 == 0 else "https://site.example/", None,
                    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "",
                    cookies if subject is not None or i % 3 == 0 else None, log_record_id(self.source, self.line),
                ))  # fmt: skip
            self._load(rows)

    def _load(self, rows: list[tuple[Any, ...]]) -> None:
        if self.postgres:
            with Session(self.engine) as session:
                copy_rows(session, "log_record", LOG_COLUMNS, rows, LOG_TYPES)
                session.commit()
            return
        conn = sqlite3.connect(make_url(self.url).database or "", isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("BEGIN")
            conn.executemany(SQLITE_INSERT, rows)
            conn.execute("COMMIT")
        finally:
            conn.close()

    def analyze(self) -> None:
        """Statistics, as a live store keeps them, and the load's writes flushed: otherwise the
        checkpoint that follows a load of millions of rows is still writing while the timings run,
        and the bigger store's timings pay for its load."""
        with self.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        if self.postgres:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("CHECKPOINT")
            return
        conn = sqlite3.connect(make_url(self.url).database or "", isolation_level=None)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()


def warm(store: Store, subject: int) -> None:
    """Read the subject's rows once, so each timing starts with them cached, as a subject just
    viewed would be: the comparison is between the statements, not between disk reads."""
    with store.engine.connect() as conn:
        conn.execute(text("SELECT sum(length(cookies) + length(referrer)) FROM log_record WHERE subject_id = :s"), {"s": subject})
        conn.rollback()


def baseline(store: Store, subject: int) -> float:
    warm(store, subject)
    with store.engine.connect() as conn:
        started = time.perf_counter()
        with conn.begin():
            conn.execute(
                text("UPDATE log_record SET cookies = :c, referrer = :r WHERE subject_id = :s"),
                {"c": '{"site_id":"x","search_pref":"REDACTED"}', "r": "https://www.google.com/search?q=REDACTED", "s": subject},
            )
        return time.perf_counter() - started


def forget(store: Store, subject: int) -> tuple[float, deletion.Forgotten]:
    warm(store, subject)
    started = time.perf_counter()
    with transaction(store.factory) as session:
        done = deletion.forget_terms(Ctx(session=session, settings=store.settings, now=NOW), subject)
    return time.perf_counter() - started, done


def run(url: str, var: Path, args: argparse.Namespace) -> bool:
    store = Store(url, var)
    kind = make_url(url).get_backend_name()
    t = time.perf_counter()
    base_subjects = [store.subject() for _ in range(args.repeat)]
    forget_subjects = [store.subject() for _ in range(args.repeat)]
    big_subjects = [store.subject() for _ in range(args.repeat)] if args.big else []
    for subject in (*base_subjects, *forget_subjects, *big_subjects):
        store.records(subject, args.records)
    filler = args.store - store.line
    store.records(None, max(filler, 0))
    store.analyze()
    print(f"{kind}: {store.line:,} records, {args.records:,} per measured subject, loaded in {time.perf_counter() - t:.0f} s")
    base = [baseline(store, s) for s in base_subjects]
    runs = [forget(store, s) for s in forget_subjects]
    best = min(r[0] for r in runs)
    done = runs[0][1]
    assert done.records == args.records and done.preferences == len(TERMS), done
    ratio = min(base) / best
    print(f"  bare UPDATE of the two columns: {min(base):.3f} s (best of {len(base)}: {', '.join(f'{b:.3f}' for b in base)})")
    print(f"  delete every search term:       {best:.3f} s (best of {len(runs)}: {', '.join(f'{r[0]:.3f}' for r in runs)}), "
          f"{done.records:,} records rewritten")  # fmt: skip
    print(f"  ratio bare UPDATE / deletion = {ratio:.2f}x (target >= 0.5)")
    ok = ratio >= 0.5
    if args.big:
        t = time.perf_counter()
        store.records(None, args.big - store.line)
        store.analyze()
        print(f"  store grown to {store.line:,} records in {time.perf_counter() - t:.0f} s")
        big = min(forget(store, s)[0] for s in big_subjects)
        growth = big / best
        print(f"  delete every search term at {store.line:,} records: {big:.3f} s, {growth:.2f}x the time at {args.store:,} (target <= 1.5)")
        ok = ok and growth <= 1.5
    store.engine.dispose()
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--store", type=int, default=1_000_000)
    ap.add_argument("--big", type=int, default=0, help="also measure once the store holds this many records")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--postgres", default="")
    ap.add_argument("--no-sqlite", action="store_true", help="measure PostgreSQL only")
    args = ap.parse_args()
    return on_each_store(args, run, "bench-forget-")


if __name__ == "__main__":
    sys.exit(main())

