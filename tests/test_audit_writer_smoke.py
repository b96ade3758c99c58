from portal import audit
from portal.audit import verifier
from portal.audit.checkpoints import load_or_create_key
from portal.models import AuditEntry
from tests.conftest import Store


def test_append_chains_entries(store: Store) -> None:
    with store.ctx() as ctx:
        first = audit.record(ctx, "test.one", subject_id=1, details={"a": 1})
    with store.ctx() as ctx:
        second = audit.record(ctx, "test.two")
    assert (first.seq, second.seq) == (1, 2)
    assert second.prev_hash == first.entry_hash
    with store.ctx() as ctx:
        assert ctx.session.get(AuditEntry, 2).canonical == second.canonical


def test_entries_of_one_transaction_chain_and_a_savepoint_rollback_leaves_no_gap(store: Store) -> None:
    """The second entry of a transaction reuses the head the first one wrote; an entry whose
    savepoint is rolled back must not be taken for the head afterwards."""
    with store.ctx() as ctx:
        first = audit.record(ctx, "test.one")
        second = audit.record(ctx, "test.two")
        savepoint = ctx.session.begin_nested()
        audit.record(ctx, "test.undone")
        savepoint.rollback()
        third = audit.record(ctx, "test.three")
        with ctx.session.begin_nested():
            fourth = audit.record(ctx, "test.four")
        fifth = audit.record(ctx, "test.five")
    assert [e.seq for e in (first, second, third, fourth, fifth)] == [1, 2, 3, 4, 5]
    assert [e.prev_hash for e in (second, third, fourth, fifth)] == [
        e.entry_hash for e in (first, second, third, fourth)
    ]
    public = load_or_create_key(store.settings.audit_key_path).public_key()
    assert verifier.verify(store.engine, public).ok
