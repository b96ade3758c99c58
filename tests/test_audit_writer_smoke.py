from portal import audit
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
