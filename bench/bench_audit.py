"""Benchmark: full audit verification against a bare SHA-256 loop over the same stored rows.

    .venv/bin/python bench/bench_audit.py [--entries 1000000] [--keep PATH]

Builds a migrated SQLite store in a temp directory, bulk-inserts N entries (canonical bytes made
exactly as audit.record makes them, but with executemany rather than one transaction each),
signs one checkpoint, then times in the same run:
  * baseline: the same batched SELECT the verifier issues, with one hashlib.sha256 per row;
  * baseline (canonical column only): a SELECT of just the stored canonical bytes, hashed;
  * verify: portal.audit.verifier.verify (fields, links, hashes, details, Merkle root, signature);
and the time to check one inclusion proof.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rfc8785  # noqa: E402

from portal import audit  # noqa: E402
from portal.audit import merkle
from portal.audit.checkpoints import load_or_create_key, make_body, sign  # noqa: E402
from portal.audit.verifier import _AT_SQL, ENTRY_SQL, _snapshot, verify  # noqa: E402
from portal.core import migrations
from portal.core.settings import load  # noqa: E402
from portal.core.store import make_engine  # noqa: E402

CHUNK = 50_000


def build(db: Path, n: int, key_path: Path) -> tuple[list[bytes], bytes]:
    engine = make_engine(f"sqlite:///{db}")
    migrations.upgrade(engine)
    settings = load(
        {
            "PORTAL_VAR_DIR": str(db.parent),
            "PORTAL_DATABASE_URL": f"sqlite:///{db}",
            "PORTAL_SECRET_KEY": "b" * 48,
        }
    )
    start = datetime(2025, 1, 1, tzinfo=UTC)
    prev = audit.GENESIS
    leaves: list[bytes] = []
    raw = engine.raw_connection()
    con = raw.driver_connection
    con.execute("BEGIN")
    entries, details = [], []
    for seq in range(1, n + 1):
        at = start + timedelta(milliseconds=37 * seq)
        payload = rfc8785.dumps({"request": seq % 977, "kind": "access"})
        salt = secrets.token_bytes(16)
        dsha = audit.details_digest(salt, payload)
        ref = audit.subject_ref(settings.secret_key, seq % 5003)
        actor, action = (
            f"account:{seq % 101}",
            ("consent.changed", "request.created", "account.login")[seq % 3],
        )
        canonical = audit.canonical_entry(
            seq=seq, at=at, actor=actor, action=action, subject=ref, details_sha256=dsha, prev=prev
        )
        leaf = merkle.leaf_hash(canonical)
        leaves.append(leaf)
        prev = leaf.hex()
        entries.append(
            (
                seq,
                at.strftime("%Y-%m-%d %H:%M:%S.%f"),
                actor,
                action,
                ref,
                dsha,
                canonical_prev(canonical),
                prev,
                canonical,
            )
        )
        details.append((seq, salt, payload.decode()))
        if len(entries) == CHUNK or seq == n:
            con.executemany(
                "INSERT INTO audit_entry (seq, at, actor, action, subject_ref, details_sha256, "
                "prev_hash, entry_hash, canonical) VALUES (?,?,?,?,?,?,?,?,?)",
                entries,
            )
            con.executemany("INSERT INTO audit_detail (seq, salt, details) VALUES (?,?,?)", details)
            entries, details = [], []
    root = merkle.root(leaves)
    key = load_or_create_key(key_path)
    cp = sign(key, make_body("bench", n, root, start))
    con.execute(
        "INSERT INTO audit_checkpoint (tree_size, root_hash, created_at, origin, key_id, body, signature) "
        "VALUES (?,?,?,?,?,?,?)",
        (n, root.hex(), "2025-01-01 00:00:00.000000", "bench", cp.key_id, cp.body, cp.signature),
    )
    con.execute("COMMIT")
    raw.close()
    engine.dispose()
    return leaves, root


def canonical_prev(canonical: bytes) -> str:
    i = canonical.index(b'"prev":"') + 8
    return canonical[i : i + 64].decode()


def baseline(engine: object, full_row: bool, batch: int = 20_000) -> int:
    """One sha256 per stored canonical, read in the verifier's batches from the same snapshot."""
    if full_row:
        sql = ENTRY_SQL.replace("AT_TEXT", _AT_SQL["sqlite"])
        params: tuple[int, ...] = (batch,)
    else:
        sql = "SELECT seq, canonical FROM audit_entry WHERE seq > ? ORDER BY seq LIMIT ?"
        params = (batch,)
    sha256 = hashlib.sha256
    seen, last = 0, 0
    with _snapshot(engine) as (cur, _ph):  # type: ignore[arg-type]
        while True:
            cur.execute(sql, (last, *params))
            rows = cur.fetchall()
            if not rows:
                return seen
            for row in rows:
                sha256(row[-3] if full_row else row[1]).digest()
            seen += len(rows)
            last = rows[-1][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="keep the built store in this directory")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    where = args.keep or Path(tmp.name)
    where.mkdir(parents=True, exist_ok=True)
    db, key_path = where / "bench.db", where / "audit-ed25519.key"
    t0 = time.perf_counter()
    leaves, root = build(db, args.entries, key_path)
    print(
        f"built {args.entries:,} entries in {time.perf_counter() - t0:.1f} s "
        f"({db.stat().st_size / 1e6:.0f} MB)"
    )

    engine = make_engine(f"sqlite:///{db}")
    public = load_or_create_key(key_path).public_key()
    baseline(engine, True, batch=1000)  # warm the page cache so neither side pays for the disk
    timings = {}
    for name, fn in (
        ("baseline sha256 (same query)", lambda: baseline(engine, True)),
        ("baseline sha256 (canonical only)", lambda: baseline(engine, False)),
        ("verify", lambda: verify(engine, public)),
    ):
        best = float("inf")
        for _ in range(2):
            t = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - t)
        timings[name] = best
        if name == "verify":
            assert out.ok and out.root == root.hex(), out  # type: ignore[union-attr]
    n = args.entries
    for name, secs in timings.items():
        print(f"{name:<34} {secs:7.2f} s  {n / secs:>12,.0f} entries/s")
    verify_s = timings["verify"]
    for name in ("baseline sha256 (same query)", "baseline sha256 (canonical only)"):
        print(f"speed ratio verify / {name}: {timings[name] / verify_s:.2f}x (target >= 0.5x)")

    index = n // 3
    t = time.perf_counter()
    proof = merkle.inclusion_proof(index, n, merkle.list_subtree(leaves))
    gen = time.perf_counter() - t
    reps = 10_000
    t = time.perf_counter()
    for _ in range(reps):
        assert merkle.verify_inclusion(index, n, leaves[index], proof, root)
    check = (time.perf_counter() - t) / reps
    print(
        f"inclusion proof: {len(proof)} hashes, generated in {gen * 1e3:.0f} ms (in memory), "
        f"verified in {check * 1e6:.1f} us"
    )
    engine.dispose()
    tmp.cleanup()


if __name__ == "__main__":
    main()
