"""Benchmark: the erasure engine on subjects of 1,000 / 10,000 / 100,000 log records.

    .venv/bin/python bench/bench_erasure.py [--sizes 1000,10000,100000] [--store 1000000] [--big 10000000] [--postgres URL]

Measured in the same run, on the same store:
  * erasure: `erasure.run` of an erasure request in progress, end to end (plan, batches of
    PORTAL_ERASURE_BATCH rows each committed with its audit entry, the final transaction with the
    account, the signed certificate and its mail), for a member with an account, an identification
    cookie, search terms and N log records;
  * baseline: one bare `DELETE FROM log_record WHERE subject_id = ?` of a member just like the
    10,000-record one, committed;
  * for reference, a count and that DELETE in one transaction: the least an erasure that states what
    it deleted could cost, so the erasure's fixed cost (bookkeeping, audit, certificate) shows;
  * with --big N: the same erasures once the store holds N records: the cost must follow the
    subject, not the store.
Each side runs --repeat times on members of its own (an erasure consumes what it erases); the best
time of each counts (a shared machine's noise only ever adds time). Each timing starts with the
member's rows read once, as bench_forget.py does.
Targets (issue 12): baseline / erasure of the 10,000-record member >= 0.5; erasure at N / erasure at
--store <= 1.5 for every size.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_forget import NOW, Store, warm  # noqa: E402
from scratch import on_each_store  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from portal.core.clock import FrozenClock  # noqa: E402
from portal.models import Account, DataRequest, Identifier  # noqa: E402
from portal.requests import erasure  # noqa: E402

BASELINE_SIZE = 10_000


class Members(Store):
    def member(self, records: int) -> tuple[int, int]:
        """A member with an account, an identification cookie, search terms and `records` log
        records, and their erasure request in progress: (subject id, request id)."""
        subject = self.subject()
        with self.engine.begin() as conn:
            conn.execute(insert(Account.__table__), {  # type: ignore[attr-defined]
                "email": f"member{subject}@example.org", "password_hash": "x", "role": "user", "subject_id": subject,
                "created_at": NOW, "email_verified_at": NOW, "password_changed_at": NOW, "time_zone": "UTC",
            })  # fmt: skip
            conn.execute(insert(Identifier.__table__), {  # type: ignore[attr-defined]
                "kind": "cookie", "name": "site_id", "value_hash": f"h{subject}", "value": f"sid-{subject}",
                "subject_id": subject, "first_seen": NOW, "last_seen": NOW,
            })  # fmt: skip
            request_id = conn.execute(
                insert(DataRequest.__table__).returning(DataRequest.__table__.c.id),  # type: ignore[attr-defined]
                {"subject_id": subject, "kind": "erasure", "scope": "", "status": "in_progress", "regime": "gdpr",
                 "received_at": NOW, "due_on": (NOW + timedelta(days=31)).date(), "deadline_basis": "bench",
                 "extension_months": 0, "extension_days": 0, "channel": "self_service", "updated_at": NOW,
                 "wait_until": NOW},
            ).scalar_one()  # fmt: skip
        self.records(subject, records)
        return subject, int(request_id)


def erase(store: Members, member: tuple[int, int]) -> float:
    subject, request_id = member
    warm(store, subject)
    started = time.perf_counter()
    outcome = erasure.run(store.factory, store.settings, FrozenClock(NOW), request_id)
    elapsed = time.perf_counter() - started
    assert outcome == "completed", outcome
    with store.engine.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM log_record WHERE subject_id = :s"), {"s": subject}
        ).scalar()
    assert left == 0, left
    return elapsed


DELETE = "DELETE FROM log_record WHERE subject_id = :s"
COUNT = "SELECT count(*) FROM log_record WHERE subject_id = :s"


def timed(store: Members, member: tuple[int, int], *statements: str) -> float:
    """The statements on the member's log records, in one committed transaction."""
    subject, _ = member
    warm(store, subject)
    with store.engine.connect() as conn:
        started = time.perf_counter()
        with conn.begin():
            for statement in statements:
                conn.execute(text(statement), {"s": subject})
        return time.perf_counter() - started


def bare_delete(store: Members, member: tuple[int, int]) -> float:
    return timed(store, member, DELETE)


def counted_delete(store: Members, member: tuple[int, int]) -> float:
    """The least an erasure that states what it deleted can do: count the rows, then delete them, in
    one transaction. Not a target: it shows how much of an erasure's time is the rows themselves."""
    return timed(store, member, COUNT, DELETE)


def _best(times: list[float]) -> str:
    return f"{min(times):.3f} s (best of {len(times)}: {', '.join(f'{t:.3f}' for t in times)})"


def run(url: str, var: Path, args: argparse.Namespace) -> bool:
    store = Members(url, var)
    kind = make_url(url).get_backend_name()
    sizes = [int(s) for s in args.sizes.split(",")]
    t = time.perf_counter()
    small = {n: [store.member(n) for _ in range(args.repeat)] for n in sizes}
    big = {n: [store.member(n) for _ in range(args.repeat)] for n in sizes} if args.big else {}
    base = [store.member(BASELINE_SIZE) for _ in range(args.repeat)]
    floor = [store.member(BASELINE_SIZE) for _ in range(args.repeat)]
    if BASELINE_SIZE not in small:
        small[BASELINE_SIZE] = [store.member(BASELINE_SIZE) for _ in range(args.repeat)]
    store.records(None, max(args.store - store.line, 0))
    store.analyze()
    print(f"{kind}: {store.line:,} records, members of {', '.join(f'{n:,}' for n in sizes)} records, "
          f"loaded in {time.perf_counter() - t:.0f} s")  # fmt: skip
    at_store = {n: [erase(store, m) for m in members] for n, members in small.items()}
    for n in sizes:
        print(f"  erase a {n:>7,}-record member: {_best(at_store[n])}")
    bare = [bare_delete(store, m) for m in base]
    ratio = min(bare) / min(at_store[BASELINE_SIZE])
    print(f"  bare DELETE of a {BASELINE_SIZE:,}-record member's log records: {_best(bare)}")
    counted = [counted_delete(store, m) for m in floor]
    print(f"  count + DELETE of the same, one transaction (for reference): {_best(counted)}, "
          f"fixed cost of the erasure beyond it: {(min(at_store[BASELINE_SIZE]) - min(counted)) * 1000:.0f} ms")  # fmt: skip
    print(f"  ratio bare DELETE / erasure ({BASELINE_SIZE:,} records) = {ratio:.2f}x (target >= 0.5)")
    ok = ratio >= 0.5
    if args.big:
        t = time.perf_counter()
        store.records(None, args.big - store.line)
        store.analyze()
        print(f"  store grown to {store.line:,} records in {time.perf_counter() - t:.0f} s")
        for n in sizes:
            grown = [erase(store, m) for m in big[n]]
            growth = min(grown) / min(at_store[n])
            print(f"  erase a {n:>7,}-record member at {store.line:,}: {_best(grown)}, "
                  f"{growth:.2f}x the time at {args.store:,} (target <= 1.5)")  # fmt: skip
            ok = ok and growth <= 1.5
    store.engine.dispose()
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000", help="log records of the members erased")
    ap.add_argument("--store", type=int, default=1_000_000)
    ap.add_argument(
        "--big", type=int, default=10_000_000, help="also measure once the store holds this many (0: no)"
    )
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--postgres", default="")
    ap.add_argument("--no-sqlite", action="store_true", help="measure PostgreSQL only")
    args = ap.parse_args()
    return on_each_store(args, run, "bench-erasure-")


if __name__ == "__main__":
    sys.exit(main())
