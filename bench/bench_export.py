"""Benchmark: "download my data" for a subject with 100,000 log records, against a bare SELECT + csv.writer.

    .venv/bin/python bench/bench_export.py [--records 100000] [--repeat 3] [--pg postgresql+psycopg://postgres@127.0.0.1/test]

Builds a migrated store (a SQLite file in a temp directory, or a fresh PostgreSQL database made
from --pg and dropped afterwards), bulk-inserts the records for one subject plus a second subject
on the same IP, then times in the same run:
  * baseline: one SELECT of the subject's log records through the DB-API, written with csv.writer;
  * export: portal.export.build, the whole zip (every category, CSV + data.json + index.html +
    signed manifest), in a child process whose peak RSS growth is measured from /proc
    (VmHWM reset through /proc/self/clear_refs after start-up, so imports do not count).
Both read the same rows with the same columns in the same order and write their CSV to a file.
The two alternate --repeat times and the best time of each side is compared (a shared machine's
noise only ever adds time); the RSS growth reported is the largest of the runs.
Targets (issue 5): baseline time / export time >= 0.5, peak RSS growth < 50 MB.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from portal.core import migrations
from portal.core.settings import Settings, load  # noqa: E402
from portal.core.store import make_engine  # noqa: E402
from portal.export import exports  # noqa: E402
from portal.models import DataExport, IngestSource, LogRecord, Subject  # noqa: E402
from portal.models.sitedata import log_record_id  # noqa: E402

CHUNK = 10_000
COLUMNS = "id, at, ip, method, path, protocol, status, bytes, referrer, referrer_domain, user_agent, site, cookies"


def settings_for(url: str, var_dir: Path) -> Settings:
    return load({"PORTAL_VAR_DIR": str(var_dir), "PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": "b" * 48})


def populate(url: str, n: int) -> tuple[int, int]:
    """Two subjects on one IP; the first has n log records. Returns (subject id, export id)."""
    engine = make_engine(url)
    migrations.upgrade(engine)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        ids = [
            conn.execute(insert(Subject.__table__).returning(Subject.__table__.c.id), {"kind": k, "created_at": now})  # type: ignore[attr-defined]
            .scalar_one()
            for k in ("site", "browser")
        ]
        source = conn.execute(
            insert(IngestSource.__table__).returning(IngestSource.__table__.c.id),  # type: ignore[attr-defined]
            {"path": "/var/log/site.log", "fingerprint": "bench", "fingerprint_bytes": 0, "offset": 0,
             "lines": 0, "format": "combined", "created_at": now, "updated_at": now, "site": ""},
        ).scalar_one()
        export_id = conn.execute(
            insert(DataExport.__table__).returning(DataExport.__table__.c.id),  # type: ignore[attr-defined]
            {"subject_id": ids[0], "token_hash": "0" * 64, "created_at": now, "expires_at": now + timedelta(days=1)},
        ).scalar_one()
    table = LogRecord.__table__  # type: ignore[attr-defined]
    line = 0
    for subject, count in ((ids[0], n), (ids[1], n // 10)):
        for start in range(0, count, CHUNK):
            rows = []
            for i in range(start, min(count, start + CHUNK)):
                line += 1
                rows.append({
                    "id": log_record_id(source, line), "source_id": source, "line_no": line, "subject_id": subject,
                    "at": now - timedelta(seconds=37 * i), "ip": "198.51.100.23", "method": "GET",
                    "path": f"/videos/{i % 5000}?page={i % 7}", "protocol": "HTTP/1.1", "status": 200,
                    "bytes": 5120 + i % 900, "referrer": f"https://www.search.example/search?q=term+{i % 300}",
                    "referrer_domain": "www.search.example",
                    "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                    "Chrome/120.0.0.0 Safari/537.36",
                    "site": "", "cookies": json.dumps({"site_id": f"c{subject}", "search_pref": f"term {i % 300}"}),
                })
            with engine.begin() as conn:
                conn.execute(insert(table), rows)
    engine.dispose()
    return ids[0], export_id


def baseline(url: str, subject_id: int, out: Path) -> tuple[float, int]:
    """A bare SELECT of the same rows through the DB-API, written with csv.writer."""
    engine = make_engine(url)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        mark = "?" if url.startswith("sqlite") else "%s"
        started = time.perf_counter()
        cur.execute(f"SELECT {COLUMNS} FROM log_record WHERE subject_id = {mark} ORDER BY at, id", (subject_id,))
        rows = 0
        with out.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([c.strip() for c in COLUMNS.split(",")])
            while batch := cur.fetchmany(5000):
                writer.writerows(batch)
                rows += len(batch)
        elapsed = time.perf_counter() - started
    finally:
        raw.close()
        engine.dispose()
    return elapsed, rows


def child(url: str, var_dir: str, export_id: int) -> None:
    """Run one export and print its time and peak RSS growth as JSON (run in a fresh process)."""
    settings = settings_for(url, Path(var_dir))
    engine = make_engine(url)
    with engine.connect() as conn:  # warm the pool and the dialect before measuring
        conn.execute(text("SELECT 1"))
    exports.exports_dir(settings).mkdir(parents=True, exist_ok=True)
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status_kb("VmRSS")
    started = time.perf_counter()
    archive = exports.build(engine, settings, datetime.now(UTC), export_id)
    elapsed = time.perf_counter() - started
    peak = _status_kb("VmHWM")
    print(json.dumps({"seconds": elapsed, "rss_before_kb": before, "peak_kb": peak, "size": archive.size,
                      "counts": archive.counts}))


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def run(url: str, var_dir: Path, n: int, repeat: int) -> bool:
    t0 = time.perf_counter()
    subject_id, export_id = populate(url, n)
    print(f"store: {make_url(url).get_backend_name()}, {n:,} log records for the subject "
          f"(+{n // 10:,} for a second subject on the same IP), loaded in {time.perf_counter() - t0:.1f} s")
    base_times, results = [], []
    for _ in range(repeat):
        base_s, rows = baseline(url, subject_id, var_dir / "baseline.csv")
        base_times.append(base_s)
        proc = subprocess.run(
            [sys.executable, __file__, "--child", url, str(var_dir), str(export_id)],
            capture_output=True, text=True, check=True,
        )
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    base_s = min(base_times)
    result = min(results, key=lambda r: r["seconds"])
    worst = max(results, key=lambda r: r["peak_kb"] - r["rss_before_kb"])
    growth_mb = (worst["peak_kb"] - worst["rss_before_kb"]) / 1024
    ratio = base_s / result["seconds"]
    best = f"best of {repeat}, " if repeat > 1 else ""
    print(f"baseline SELECT + csv.writer: {rows:,} rows in {base_s:.3f} s ({best}{rows / base_s:,.0f} rows/s)")
    print(f"export (whole zip):           {result['counts']['log_records']:,} log records in "
          f"{result['seconds']:.3f} s ({best}zip {result['size'] / 1e6:.1f} MB)")
    if repeat > 1:
        runs = ", ".join(f"{b:.2f}/{r['seconds']:.2f}" for b, r in zip(base_times, results, strict=True))
        print(f"all runs (baseline/export s): {runs}")
    print(f"speed vs baseline:            {ratio:.2f}x   (target >= 0.5x)")
    print(f"peak RSS growth:              {growth_mb:.1f} MB (target < 50 MB; RSS before {worst['rss_before_kb'] / 1024:.0f} MB)")
    ok = ratio >= 0.5 and growth_mb < 50 and result["counts"]["log_records"] == n == rows
    print("OK" if ok else "TARGET MISSED")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="baseline/export pairs to run; the best of each counts")
    parser.add_argument("--pg", default="", help="PostgreSQL URL to create a scratch database from")
    parser.add_argument("--child", nargs=3, metavar=("URL", "VAR_DIR", "EXPORT_ID"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        var_dir = Path(tmp)
        if not args.pg:
            return 0 if run(f"sqlite:///{var_dir / 'portal.db'}", var_dir, args.records, args.repeat) else 1
        name = f"portal_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(args.pg).set(database=name).render_as_string(hide_password=False)
            return 0 if run(url, var_dir, args.records, args.repeat) else 1
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
