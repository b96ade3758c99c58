"""The queue the back-office will read: keyset pages by deadline that miss and repeat nothing, and
its filters (status, kind, overdue, assignee), against the same rows filtered in Python."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import insert

from portal.models.requests import CLOSED_STATUSES, REQUEST_KINDS, REQUEST_STATUSES, DataRequest
from portal.requests import deadlines, queue
from tests import sitedata_factory as f
from tests.conftest import Store
from tests.request_util import account_subject


def _seed(store: Store, count: int) -> list[dict[str, object]]:
    rng = random.Random(12)
    agent = account_subject(store, "agent@example.com", role="agent")
    agent_id = int(store.scalar("SELECT id FROM account WHERE subject_id = :s", s=agent))  # type: ignore[arg-type]
    now = store.clock.now()
    basis = deadlines.basis(store.settings)
    rows = []
    for _ in range(count):
        status = rng.choice(REQUEST_STATUSES)
        received = now - timedelta(days=rng.randrange(0, 90))
        rows.append({
            "subject_id": f.subject(store), "kind": rng.choice(REQUEST_KINDS), "scope": "", "status": status,
            "regime": "gdpr", "received_at": received, "due_on": (received + timedelta(days=rng.randrange(20, 40))).date(),
            "deadline_basis": basis, "channel": "self_service", "updated_at": now,
            "assignee_id": agent_id if rng.random() < 0.3 else None,
            "closed_at": now if status in CLOSED_STATUSES else None,
        })  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(insert(DataRequest.__table__), rows)  # type: ignore[attr-defined]
    return rows


def _all(store: Store, where: queue.Filter, limit: int) -> list[tuple[object, int]]:
    keys, after, pages = [], None, 0
    with store.ctx() as ctx:
        while True:
            page = queue.page(ctx, where, after=after, limit=limit)
            keys += [(r.due_on, r.id) for r in page.rows]
            pages += 1
            assert len(page.rows) <= limit
            if page.next_key is None:
                return keys
            after = page.next_key


def test_keyset_pages_and_filters_match_the_rows(store: Store) -> None:
    rows = _seed(store, 130)
    ids = {i + 1: r for i, r in enumerate(rows)}  # inserted in order into an empty table
    with store.ctx() as ctx:
        today = queue.today(ctx)
        agent_id = next(r["assignee_id"] for r in rows if r["assignee_id"])
        found_counts = queue.counts(ctx)

    def expect(keep) -> list[tuple[object, int]]:  # type: ignore[no-untyped-def]
        return sorted((r["due_on"], i) for i, r in ids.items() if keep(r))

    def is_open(r: dict[str, object]) -> bool:
        return r["closed_at"] is None

    assert _all(store, queue.Filter(), 50) == expect(is_open)
    assert _all(store, queue.Filter(), 7) == expect(is_open)  # page size changes nothing
    assert _all(store, queue.Filter(status="completed"), 50) == expect(lambda r: r["status"] == "completed")
    assert _all(store, queue.Filter(kind="erasure"), 50) == expect(lambda r: is_open(r) and r["kind"] == "erasure")
    overdue = expect(lambda r: is_open(r) and r["due_on"] < today)
    assert overdue and _all(store, queue.Filter(overdue=True), 50) == overdue
    assert _all(store, queue.Filter(assignee_id=agent_id), 50) == expect(
        lambda r: is_open(r) and r["assignee_id"] == agent_id
    )
    assert found_counts["overdue"] == len(overdue)
    assert sum(v for k, v in found_counts.items() if k != "overdue") == len(expect(is_open))
