"""Benchmark: `portal relink` of a store with 1,000,000 records, against `portal ingest` of the same.

    .venv/bin/python bench/bench_relink.py [--lines 1000000] [--postgres URL]

Measured in the same run, on the same machine and store:
  * `portal ingest` of bench_ingest.py's generated log (~30% of lines carry the site's cookies,
    50,000 visitors, the heaviest with >= 10% of them) into a freshly migrated store;
  * the links made the way the old rules made them: visitors whose search-preference cookie holds
    the same terms (97 values) joined into one subject each, their identifiers tied before
    migration 0006 (no tie recorded), a preference identifier row per value;
  * `portal relink` end to end (a separate process): split those 97 subjects back into 50,000,
    relink every record, re-derive the search preferences;
  * `portal relink` again: nothing to change, every record read.
Target (issue 9): relink rate >= 0.5x the ingest rate (records per second, same store).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_ingest import generate, run_portal_ingest  # noqa: E402
from scratch import scratch_database  # noqa: E402
from sqlalchemy import bindparam, insert, select, text, update  # noqa: E402

from portal.core.settings import load  # noqa: E402
from portal.core.store import make_engine  # noqa: E402
from portal.models import Identifier, LogRecord  # noqa: E402
from portal.subjects.identity import value_hash  # noqa: E402

SECRET = "b" * 48
GROUPS = 97  # bench_ingest gives visitor k the preference value term+{k % 97}


def make_faulty(url: str, var: Path) -> int:
    """Join visitors sharing a preference value, as ingest did before the rule; returns the subjects left."""
    settings = load({"PORTAL_VAR_DIR": str(var), "PORTAL_DATABASE_URL": url, "PORTAL_SECRET_KEY": SECRET})
    engine = make_engine(url)
    ident, log = Identifier.__table__, LogRecord.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        rows = conn.execute(select(ident.c.id, ident.c.value, ident.c.subject_id).where(ident.c.name == "site_id")).all()
        mega: dict[int, int] = {}
        for _id, value, subject in sorted(rows, key=lambda r: r[1]):
            mega.setdefault(int(value[1:]) % GROUPS, subject)
        moves = [{"i": i, "s": mega[int(v[1:]) % GROUPS], "old": s} for i, v, s in rows]
        conn.execute(update(ident).where(ident.c.id == bindparam("i")).values(subject_id=bindparam("s"), tied_by=None), moves)
        conn.execute(
            update(log).where(log.c.subject_id == bindparam("old")).values(subject_id=bindparam("s")),
            [m for m in moves if m["s"] != m["old"]],
        )
        now = conn.execute(select(ident.c.first_seen).limit(1)).scalar_one()

        class _Ctx:  # value_hash needs only the settings
            pass

        ctx = _Ctx()
        ctx.settings = settings  # type: ignore[attr-defined]
        conn.execute(insert(ident), [
            {"kind": "cookie", "name": "search_pref", "value": f"term+{g}", "subject_id": subject, "first_seen": now,
             "last_seen": now, "value_hash": value_hash(ctx, "cookie", "search_pref", f"term+{g}"), "tied_by": None}  # type: ignore[arg-type]
            for g, subject in mega.items()
        ])  # fmt: skip
        conn.execute(text("DELETE FROM search_preference"))
        conn.execute(text("INSERT INTO search_preference (subject_id, term, source, engine, first_seen, last_seen, times)"
                          " VALUES (:s, :t, 'cookie', '', :at, :at, 1)"),
                     [{"s": subject, "t": f"term {g}", "at": now} for g, subject in mega.items()])  # fmt: skip
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return len(mega)


def run_relink(var: Path, url: str) -> tuple[float, str]:
    env = {**os.environ, "PORTAL_VAR_DIR": str(var), "PORTAL_SECRET_KEY": SECRET, "PORTAL_DATABASE_URL": url}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "portal", "relink"], env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"relink failed: {done.stderr or done.stdout}")
    return elapsed, " ".join(done.stdout.split())


def measure(kind: str, url: str, var: Path, log: Path, lines: int) -> bool:
    var.mkdir(parents=True, exist_ok=True)
    ingest_s, _rss, summary = run_portal_ingest(var, log, url)
    subjects = make_faulty(url, var)
    print(f"{kind}: portal ingest {ingest_s:.1f} s = {lines / ingest_s:,.0f} records/s ({summary})")
    print(f"  faulty links: visitors joined into {subjects} subjects through shared preference values")
    relink_s, counts = run_relink(var, url)
    print(f"  portal relink: {relink_s:.1f} s = {lines / relink_s:,.0f} records/s")
    print(f"    {counts}")
    again_s, _ = run_relink(var, url)
    print(f"  portal relink again (nothing to change): {again_s:.1f} s = {lines / again_s:,.0f} records/s")
    ratio = ingest_s / relink_s
    print(f"  ratio relink rate / ingest rate = {ratio:.2f}x (target >= 0.5)")
    return ratio >= 0.5


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--postgres", default="")
    args = ap.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-relink-") as tmp:
        log = Path(tmp) / "access.log"
        generate(log, args.lines)
        var = Path(tmp) / "sqlite"
        ok = measure("SQLite", f"sqlite:///{var}/portal.db", var, log, args.lines)
        if args.postgres:
            with scratch_database(args.postgres) as url:
                ok = measure("PostgreSQL", url, Path(tmp) / "pg", log, args.lines) and ok
    print("OK" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
