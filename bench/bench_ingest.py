"""Benchmark: end-to-end ingest against GoAccess and against bare DB-API inserts, in the same run.

    .venv/bin/python bench/bench_ingest.py [--lines 1000000] [--big 10000000] [--huge 10000000] [--postgres URL]

Data: the shared real log (10k lines) repeated and enriched by a seeded generator: ~30% of lines
carry the site's cookies, visitors follow a Zipf-like law so the heaviest visitor has ≥ 10% of
all lines. Measured in one run, on the same file:
  * GoAccess (`--log-format=COMBINED`, one thread) parsing it;
  * `portal ingest` end to end (parse, link, durable insert into a fresh migrated SQLite store);
  * a bare DB-API `executemany` of the same rows, pre-parsed, into the same schema;
  * with --big N: ingest speed into a store already holding N rows, vs the speed at --lines;
  * with --huge N: time and peak RSS of ingesting an N-line file (memory must stay flat);
  * with --postgres URL: the COPY path vs executemany of the same rows on PostgreSQL;
  * peak RSS of each ingest run (a separate process, so the figure is its own).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from portal.demo.seed import SAMPLE_LOG as SHARED  # noqa: E402

DAYS_PER_REPEAT = 4  # the real log spans 17-20 May 2015: each repetition starts 4 days later


def generate(path: Path, lines: int, seed: int = 7) -> None:
    """Repeat the real log with shifted days, adding cookies for a Zipf-like population of visitors.

    Each repetition is moved DAYS_PER_REPEAT days later, so the file is in time order like a real
    access log (not the same four days over and over).
    """
    rng = random.Random(seed)
    base = [_split_date(raw) for raw in SHARED.read_bytes().splitlines()]
    visitors = 50_000
    # Zipf-ish weights: visitor k gets weight 1/k; visitor 0 is the heavy one (>= 10% of cookie lines).
    weights = [1.0 / (k + 1) for k in range(visitors)]
    total_weight = sum(weights)
    cumulative, acc = [], 0.0
    for w in weights:
        acc += w / total_weight
        cumulative.append(acc)
    import bisect

    shifted: dict[tuple[date, int], bytes] = {}
    with path.open("wb") as out:
        for i in range(lines):
            head, day, tail = base[i % len(base)]
            if day is None:
                raw = head
            else:
                key = (day, i // len(base))
                stamp = shifted.get(key)
                if stamp is None:
                    moved = day + timedelta(days=DAYS_PER_REPEAT * key[1])
                    stamp = shifted[key] = moved.strftime("%d/%b/%Y").encode()
                raw = head + stamp + tail
            if rng.random() < 0.30:
                k = 0 if rng.random() < 0.34 else min(bisect.bisect(cumulative, rng.random()), visitors - 1)
                cookie = f'"site_id=v{k:06d}; search_pref=term+{k % 97}; _ga=GA1.2.{k}"'.encode()
            else:
                cookie = b'"-"'
            out.write(raw + b" " + cookie + b"\n")


def _split_date(raw: bytes) -> tuple[bytes, date | None, bytes]:
    """`… [17/May/2015:10:05:03 +0000] …` → (text before the date, the date, text after it)."""
    start = raw.find(b"[") + 1
    try:
        day = datetime.strptime(raw[start : start + 11].decode(), "%d/%b/%Y").date()
    except ValueError:
        return raw, None, b""
    return raw[:start], day, raw[start + 11 :]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run_portal_ingest(var: Path, log: Path, url: str | None = None) -> tuple[float, float, str]:
    env = {**os.environ, "PORTAL_VAR_DIR": str(var), "PORTAL_SECRET_KEY": "b" * 48}
    if url:
        env["PORTAL_DATABASE_URL"] = url
    portal = [sys.executable, "-m", "portal"]
    subprocess.run([*portal, "db", "upgrade"], env=env, check=True, capture_output=True)
    code = (
        "import resource, subprocess, sys, time;"
        "t = time.perf_counter();"
        f"r = subprocess.run({[*portal, 'ingest', '--format', 'combined_cookie', str(log)]!r}, capture_output=True, text=True);"
        "el = time.perf_counter() - t;"
        "print(el, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, r.stdout.strip(), sep='|');"
        "sys.exit(r.returncode)"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode not in (0, 1):  # 1: some lines rejected (the real log has one truncated line)
        raise SystemExit(f"ingest failed: {done.stderr or done.stdout}")
    elapsed, rss, summary = done.stdout.strip().split("|", 2)
    return float(elapsed), float(rss), summary


def goaccess_seconds(log: Path) -> float | None:
    if not shutil.which("goaccess"):
        return None
    # One parsing thread: GoAccess >= 1.8 has --jobs (and may default to more); older ones use one.
    usage = subprocess.run(["goaccess", "--help"], capture_output=True, text=True, check=False)
    jobs = ["--jobs=1"] if "--jobs" in usage.stdout + usage.stderr else []
    start = time.perf_counter()
    done = subprocess.run(
        ["goaccess", str(log), "--log-format=COMBINED", *jobs, "-o", "json", "--no-global-config"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"goaccess failed: {done.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def preparsed_rows(log: Path) -> list[tuple]:
    from portal.ingest.formats import log_parser
    from portal.ingest.rejections import LineRejected
    from portal.ingest.searchterms import referrer_domain
    from portal.models.sitedata import log_record_id

    parse = log_parser("combined_cookie")
    rows = []
    with log.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            try:
                line = parse(raw.rstrip(b"\n"))
            except LineRejected:
                continue  # ingest quarantines these; the baseline simply leaves them out
            # The values ingest stores (the referrer's domain, the subject of a line with cookies:
            # visitor k is subject k + 1), so both write the same bytes and index entries.
            rows.append(
                (1, n, _visitor(line.cookie), line.time.strftime("%Y-%m-%d %H:%M:%S.%f"), line.ip, line.method, line.path,
                 line.protocol, line.status, line.bytes, line.referrer, referrer_domain(line.referrer),
                 line.user_agent, "", line.cookie, log_record_id(1, n))
            )  # fmt: skip
    return rows


INSERT = (
    "INSERT INTO log_record (source_id, line_no, subject_id, at, ip, method, path, protocol, status, bytes,"
    " referrer, referrer_domain, user_agent, site, cookies, id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def sqlite_executemany_seconds(var: Path, rows: list[tuple]) -> float:
    env = {**os.environ, "PORTAL_VAR_DIR": str(var), "PORTAL_SECRET_KEY": "b" * 48}
    subprocess.run(
        [sys.executable, "-m", "portal", "db", "upgrade"], env=env, check=True, capture_output=True
    )
    conn = sqlite3.connect(var / "portal.db", isolation_level=None)
    # The settings every portal connection has (portal/db.py): a fair baseline pays for the same durability.
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute(
        'INSERT INTO ingest_source (id, site, path, fingerprint, fingerprint_bytes, "offset", lines, format,'
        " created_at, updated_at) VALUES (1, '', 'x', 'x', 1, 0, 0, 'combined', '2026-01-01', '2026-01-01')"
    )
    start = time.perf_counter()
    from portal.ingest.batches import BATCH_LINES

    for i in range(0, len(rows), BATCH_LINES):  # same batch size and one commit per batch, like ingest
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT, rows[i : i + BATCH_LINES])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def fill_sqlite(var: Path, rows: list[tuple], total: int) -> None:
    """Pre-load `total` rows (copies of `rows` under other line numbers) into a migrated store.

    The copies are dated before the file that is then ingested, copy after copy further back, as
    in a store that has been taking in a site's logs for a while (its new lines come after them).
    """
    from portal.models.sitedata import log_record_id

    days = sorted({r[3][:10] for r in rows})
    span = (date.fromisoformat(days[-1]) - date.fromisoformat(days[0])).days + 1
    conn = sqlite3.connect(var / "portal.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        'INSERT INTO ingest_source (id, site, path, fingerprint, fingerprint_bytes, "offset", lines, format,'
        " created_at, updated_at) VALUES (999999, '', 'old', 'old', 1, 0, 0, 'combined', '2026-01-01', '2026-01-01')"
    )
    done, copy = 0, 0
    while done < total:
        copy += 1
        back = {d: (date.fromisoformat(d) - timedelta(days=span * copy)).isoformat() for d in days}
        chunk = [
            (999999, done + j + 1, r[2], back[r[3][:10]] + r[3][10:], *r[4:-1], log_record_id(999999, done + j + 1))
            for j, r in enumerate(rows[: min(len(rows), total - done)])
        ]
        for i in range(0, len(chunk), 100_000):
            conn.execute("BEGIN")
            conn.executemany(INSERT, chunk[i : i + 100_000])
            conn.execute("COMMIT")
        done += len(chunk)
    conn.close()


def postgres_compare(url: str, rows: list[tuple]) -> tuple[float, float]:
    """executemany vs the portal's own COPY (`writer.copy_rows`) of the same rows, as ingest sends
    them: one transaction per BATCH_LINES, times as datetimes, the ~30% of lines with cookies
    linked to a subject (so the subject index is paid for, as in a real run)."""
    import psycopg
    from sqlalchemy.engine import make_url
    from sqlalchemy.orm import Session

    from portal.core import migrations
    from portal.core.store import make_engine
    from portal.ingest.batches import BATCH_LINES
    from portal.ingest.writer import LOG_COLUMNS, LOG_TYPES, copy_rows

    name = f"portal_bench_{os.getpid()}"
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        engine = make_engine(make_url(url).set(database=name).render_as_string(hide_password=False))
        migrations.upgrade(engine)
        target = make_url(dsn).set(database=name).render_as_string(hide_password=False)
        with psycopg.connect(target) as conn:
            conn.execute(
                'INSERT INTO ingest_source (id, site, path, fingerprint, fingerprint_bytes, "offset", lines, format,'
                " created_at, updated_at) VALUES (1, '', 'x', 'x', 1, 0, 0, 'c', now(), now()), (2, '', 'y', 'y', 1, 0, 0, 'c', now(), now())"
            )
            conn.execute(
                "INSERT INTO subject (kind, created_at) SELECT 'browser', now() FROM generate_series(1, 60000)"
            )
            conn.commit()
            pg_rows = [
                (*r[:3], datetime.fromisoformat(r[3]).replace(tzinfo=UTC), *r[4:])
                for r in rows
            ]
            _checkpoint(target)
            start = time.perf_counter()
            with conn.cursor() as cur:
                for i in range(0, len(pg_rows), BATCH_LINES):
                    cur.executemany(
                        f"INSERT INTO log_record ({', '.join(LOG_COLUMNS)}) VALUES ({', '.join(['%s'] * len(LOG_COLUMNS))})",
                        pg_rows[i : i + BATCH_LINES],
                    )
                    conn.commit()
            many = time.perf_counter() - start
            conn.execute("TRUNCATE log_record")  # the same rows again, into the same empty table
            conn.commit()
        _checkpoint(target)
        start = time.perf_counter()
        with Session(engine) as session:
            for i in range(0, len(pg_rows), BATCH_LINES):
                copy_rows(session, "log_record", LOG_COLUMNS, pg_rows[i : i + BATCH_LINES], LOG_TYPES)
                session.commit()
        copied = time.perf_counter() - start
        engine.dispose()
        return many, copied
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _checkpoint(dsn: str) -> None:
    """Start each timed part with the WAL and the page cache flushed, so neither pays for what
    was written before it (the SQLite runs before it write gigabytes)."""
    import psycopg

    os.sync()
    # Without superuser rights it is measured as the server stands.
    with (
        psycopg.connect(dsn, autocommit=True) as conn,
        contextlib.suppress(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("CHECKPOINT")


def _visitor(cookie: str | None) -> int | None:
    """The subject a generated line's cookies belong to (visitor k is subject k + 1), or None."""
    if not cookie or "site_id=v" not in cookie:
        return None
    return int(cookie.split("site_id=v", 1)[1][:6]) + 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--big", type=int, default=0, help="also measure with this many rows already stored")
    ap.add_argument(
        "--huge", type=int, default=0, help="also ingest a file of this many lines: time and peak RSS only"
    )
    ap.add_argument("--postgres", default=os.environ.get("PORTAL_TEST_DATABASE_URL", ""))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        log = work / "access.log"
        t = time.perf_counter()
        generate(log, args.lines)
        print(
            f"generated {args.lines:,} lines ({log.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s"
        )

        ga = goaccess_seconds(log)
        ingest_s, rss, summary = run_portal_ingest(work / "a", log)
        rows = preparsed_rows(log)
        many_s = sqlite_executemany_seconds(work / "b", rows)
        rate = args.lines / ingest_s
        print(
            f"portal ingest (SQLite, end to end): {ingest_s:.1f} s = {rate:,.0f} lines/s, peak RSS {rss:.0f} MB"
        )
        print(f"  {summary}")
        if ga:
            print(f"GoAccess --log-format=COMBINED:      {ga:.1f} s = {args.lines / ga:,.0f} lines/s")
            print(f"  ratio portal / GoAccess = {ga / ingest_s:.2f}x (target >= 1.0)")
        else:
            print("GoAccess not installed (apt-get install goaccess): comparison skipped")
        print(f"bare executemany of pre-parsed rows: {many_s:.1f} s = {args.lines / many_s:,.0f} rows/s")
        print(f"  ratio portal / executemany = {many_s / ingest_s:.2f}x (target >= 0.6)")

        if args.big:
            big = work / "c"
            env = {**os.environ, "PORTAL_VAR_DIR": str(big), "PORTAL_SECRET_KEY": "b" * 48}
            subprocess.run(
                [sys.executable, "-m", "portal", "db", "upgrade"], env=env, check=True, capture_output=True
            )
            t = time.perf_counter()
            fill_sqlite(big, rows, args.big)
            print(f"pre-loaded {args.big:,} rows in {time.perf_counter() - t:.0f} s")
            big_s, big_rss, _ = run_portal_ingest(big, log)
            print(
                f"portal ingest with {args.big:,} rows stored: {big_s:.1f} s = {args.lines / big_s:,.0f} lines/s, peak RSS {big_rss:.0f} MB"
            )
            print(f"  ratio vs empty store = {ingest_s / big_s:.2f}x (target >= 0.7)")

        if args.huge:
            huge = work / "huge.log"
            generate(huge, args.huge)
            huge_s, huge_rss, _ = run_portal_ingest(work / "d", huge)
            huge.unlink()
            print(
                f"portal ingest of {args.huge:,} lines: {huge_s:.1f} s = {args.huge / huge_s:,.0f} lines/s, peak RSS {huge_rss:.0f} MB (vs {rss:.0f} MB for {args.lines:,})"
            )

        if args.postgres:
            many, copied = postgres_compare(args.postgres, rows)
            print(
                f"PostgreSQL executemany: {many:.1f} s, portal COPY: {copied:.1f} s, ratio {many / copied:.2f}x (target >= 3)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
