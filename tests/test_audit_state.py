"""A hypothesis state machine: appends, checkpoints and one tamper; verify must always tell the truth."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text

from portal import audit
from portal.audit import checkpoints
from portal.audit.verifier import verify
from tests.conftest import Store
from tests.test_audit_chain import ENTRY_COLUMNS, tamper


class AuditLog(RuleBasedStateMachine):
    store: Store

    def __init__(self) -> None:
        super().__init__()
        with self.store.engine.begin() as conn:
            for table in ("audit_detail", "audit_entry", "audit_checkpoint"):
                conn.execute(text(f"DELETE FROM {table}"))
        # Each run is a new portal: its own store and its own witness file.
        self.store.settings.witness_path.unlink(missing_ok=True)
        self.count = 0
        self.checkpoint_sizes: list[int] = []
        self.tampered: tuple[int, str] | None = None
        self.public = checkpoints.load_or_create_key(self.store.settings.audit_key_path).public_key()

    @precondition(lambda self: self.tampered is None)
    @rule(n=st.integers(1, 4), actor=st.sampled_from(["system", "site", "account:1"]))
    def append(self, n: int, actor: str) -> None:
        for _ in range(n):
            self.store.clock.advance(seconds=1)
            with self.store.ctx(actor=actor) as ctx:
                audit.record(ctx, "state.append", subject_id=self.count % 3, details={"n": self.count})
            self.count += 1

    @precondition(lambda self: self.tampered is None and self.count > 0)
    @rule()
    def checkpoint(self) -> None:
        with self.store.ctx() as ctx:
            row = checkpoints.create_checkpoint(ctx)
        self.checkpoint_sizes.append(row.tree_size)

    @precondition(lambda self: self.tampered is None and self.count > 0)
    @rule(column=st.sampled_from(ENTRY_COLUMNS), seed=st.integers(0, 2**32), which=st.floats(0, 1))
    def tamper_one(self, column: str, seed: int, which: float) -> None:
        seq = min(self.count, 1 + int(which * self.count))
        tamper(self.store, seq, column, random.Random(seed))
        self.tampered = (seq, column)

    @precondition(lambda self: self.count > 0)
    @rule(which=st.floats(0, 1))
    def erase_details(self, which: float) -> None:
        """Erasure blanks an entry's details; the chain must still verify."""
        seq = min(self.count, 1 + int(which * self.count))
        with self.store.ctx() as ctx:
            audit.erase_details(ctx, [seq])

    @invariant()
    def verify_tells_the_truth(self) -> None:
        result = verify(self.store.engine, self.public, batch=3)
        if self.tampered is None:
            assert result.ok, result.reason
            assert result.count == self.count
            if self.checkpoint_sizes:
                assert result.last_checkpoint is not None
                assert result.last_checkpoint.size == max(self.checkpoint_sizes)
        else:
            assert not result.ok
            assert (result.bad_seq, result.field) == self.tampered, result.reason


def test_audit_state_machine(store: Store) -> None:
    AuditLog.store = store
    run_state_machine_as_test(
        AuditLog,
        settings=settings(
            max_examples=12,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
