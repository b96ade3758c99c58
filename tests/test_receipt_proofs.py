"""Inclusion proofs from the subtree cache: RFC 6962-correct, O(log n) reads, safe across rebuilds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, text

from portal import audit
from portal.audit import merkle, receipts
from portal.audit.receipts import build_receipt, inclusion_proof, verify_receipt
from tests.conftest import Store
from tests.test_receipts import public_of


def append(store: Store, n: int, tag: str = "a") -> None:
    with store.ctx(actor="system") as ctx:
        for i in range(n):
            audit.record(ctx, "test.append", subject_id=None, details={"i": i, "tag": tag})


def leaves(store: Store) -> list[bytes]:
    with store.engine.connect() as conn:
        return [bytes.fromhex(h) for h in conn.execute(text("SELECT entry_hash FROM audit_entry ORDER BY seq")).scalars()]


@contextmanager
def counting(store: Store) -> Iterator[dict[str, int]]:
    seen = {"statements": 0, "rows": 0}

    def after(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and "audit_entry" in statement:
            seen["statements"] += 1
            seen["rows"] += max(cursor.rowcount, 0) if store.kind == "postgresql" else 0

    event.listen(store.engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(store.engine, "after_cursor_execute", after)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receipts, "CHUNK", 8)
    monkeypatch.setattr(receipts, "_BATCH", 50)  # several streaming reads even in a small log
    receipts._caches.clear()  # noqa: SLF001


def test_proofs_match_the_reference_at_every_size(store: Store, small_chunks: None) -> None:
    append(store, 300)
    hashes = leaves(store)
    reference = merkle.list_subtree(hashes)
    with store.ctx() as ctx:
        for size in (1, 2, 7, 8, 9, 64, 65, 100, 255, 256, 257, 300):
            for seq in sorted({1, min(2, size), size // 2 or 1, max(1, size - 1), size}):
                got = inclusion_proof(ctx.session, seq, size)
                assert got == merkle.inclusion_proof(seq - 1, size, reference), (seq, size)
                assert merkle.verify_inclusion(seq - 1, size, hashes[seq - 1], got, merkle.root(hashes[:size]))


def test_a_warm_proof_reads_a_few_small_ranges(store: Store, small_chunks: None) -> None:
    append(store, 1000)
    with store.ctx() as ctx:
        inclusion_proof(ctx.session, 1, 1000)  # warms the cache (one streaming pass)
    append(store, 24)
    for seq in (3, 517, 1000, 1021):
        with counting(store) as seen, store.ctx() as ctx:
            proof = inclusion_proof(ctx.session, seq, 1024)
        # One check of the cache's anchor, the chunk around the leaf, and the chunks of the 24 new
        # entries at the right edge (only the first time): never a pass over the 1,000 before them.
        assert seen["statements"] <= 6, (seq, seen)
        if store.kind == "postgresql":
            assert seen["rows"] <= 1 + 2 * receipts.CHUNK + 24, (seq, seen)
        assert proof == merkle.inclusion_proof(seq - 1, 1024, merkle.list_subtree(leaves(store)))


def test_a_rebuilt_store_does_not_reuse_stale_subtrees(store: Store, small_chunks: None) -> None:
    append(store, 100, tag="first life")
    with store.ctx() as ctx:
        inclusion_proof(ctx.session, 5, 100)
    # The store is restored empty and a different history is written at the same sequence numbers.
    with store.engine.begin() as conn:
        for table in ("audit_checkpoint", "audit_detail", "audit_entry"):
            conn.execute(text(f"DELETE FROM {table}"))
    append(store, 120, tag="second life")
    with store.ctx() as ctx:
        receipt = build_receipt(ctx, 5)
    ok, reason = verify_receipt(receipt, public_of(store))
    assert ok, reason
    expected = merkle.inclusion_proof(4, 120, merkle.list_subtree(leaves(store)))
    with store.ctx() as ctx:
        assert inclusion_proof(ctx.session, 5, 120) == expected


def test_a_missing_entry_is_reported_not_papered_over(store: Store, small_chunks: None) -> None:
    append(store, 40)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_detail WHERE seq = 20"))
        conn.execute(text("DELETE FROM audit_entry WHERE seq = 20"))
    with store.ctx() as ctx, pytest.raises(receipts.CheckpointError, match="incomplete"):
        inclusion_proof(ctx.session, 1, 40)
