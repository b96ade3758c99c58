"""Tamper evidence: every kind of edit to the stored log is detected, and the field is named."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from portal import audit
from portal.audit import checkpoints, merkle
from portal.audit.merkle import EMPTY_ROOT
from portal.audit.verifier import VerifyResult, verify
from portal.core.errors import AuditError
from portal.models import Subject
from tests.conftest import Store

ENTRY_COLUMNS = (
    "seq",
    "at",
    "actor",
    "action",
    "subject_ref",
    "details_sha256",
    "prev_hash",
    "entry_hash",
    "canonical",
)


def build_log(store: Store, n: int) -> None:
    for i in range(n):
        store.clock.advance(seconds=1.5)
        with store.ctx(actor=f"account:{i % 3 + 1}") as ctx:
            audit.record(ctx, f"test.action{i % 4}", subject_id=i % 5 + 1, details={"i": i, "note": "é\n"})


def run_verify(store: Store, **kwargs: Any) -> VerifyResult:
    public = checkpoints.load_or_create_key(store.settings.audit_key_path).public_key()
    return verify(store.engine, public, batch=7, **kwargs)


def checkpoint(store: Store) -> checkpoints.AuditCheckpoint:
    with store.ctx() as ctx:
        return checkpoints.create_checkpoint(ctx)


def execute(store: Store, sql: str, **params: Any) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(sql), params)


def fetch_row(store: Store, seq: int) -> dict[str, Any]:
    with store.engine.connect() as conn:
        return dict(
            conn.execute(text("SELECT * FROM audit_entry WHERE seq = :s"), {"s": seq}).mappings().one()
        )


def flip_text(value: str, rng: random.Random) -> str:
    raw = bytearray(value.encode())
    i = rng.randrange(len(raw))
    for bit in rng.sample(range(7), 7):  # stay ASCII so the column still holds valid text
        if raw[i] ^ (1 << bit):
            raw[i] ^= 1 << bit
            return raw.decode()
    raise AssertionError("unreachable")


def tamper(store: Store, seq: int, column: str, rng: random.Random) -> int:
    """Change one byte of one stored field of entry `seq`; returns where the entry now lives."""
    row = fetch_row(store, seq)
    if column == "seq":
        # Renumber the row (its detail row moves with it, as a careful attacker would do).
        new = 1_000 + rng.randrange(1_000)
        with store.engine.begin() as conn:
            detail = dict(
                conn.execute(text("SELECT * FROM audit_detail WHERE seq = :s"), {"s": seq}).mappings().one()
            )
            conn.execute(text("DELETE FROM audit_detail WHERE seq = :s"), {"s": seq})
            conn.execute(text("UPDATE audit_entry SET seq = :new WHERE seq = :s"), {"new": new, "s": seq})
            conn.execute(
                text("INSERT INTO audit_detail (seq, salt, details) VALUES (:seq, :salt, :details)"),
                detail | {"seq": new},
            )
        return new
    if column == "at":
        if store.kind == "sqlite":
            raw = row["at"]
            digits = [i for i, c in enumerate(raw) if c.isdigit()]
            i = rng.choice(digits)
            value: Any = raw[:i] + str((int(raw[i]) + 1 + rng.randrange(8)) % 10) + raw[i + 1 :]
            execute(store, "UPDATE audit_entry SET at = :v WHERE seq = :s", v=value, s=seq)
        else:
            unit = rng.choice(["microsecond", "second", "day"])
            execute(store, f"UPDATE audit_entry SET at = at + interval '1 {unit}' WHERE seq = :s", s=seq)
        return seq
    if column == "canonical":
        raw = bytearray(row["canonical"])
        raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        value = bytes(raw)
    else:
        value = flip_text(row[column], rng)
    execute(store, f"UPDATE audit_entry SET {column} = :v WHERE seq = :s", v=value, s=seq)
    return seq


def test_untouched_log_verifies(store: Store) -> None:
    result = run_verify(store)
    assert result.ok and result.count == 0 and result.root == EMPTY_ROOT.hex()
    build_log(store, 30)
    cp = checkpoint(store)
    build_log(store, 5)
    result = run_verify(store)
    assert result.ok, result.reason
    assert (result.count, result.size) == (35, 35)
    assert result.last_checkpoint is not None and result.last_checkpoint.size == 30
    assert cp.root_hash != result.root
    assert result.summary().startswith(f"OK: 35 entries, root {result.root}, last checkpoint 30@")


@pytest.mark.parametrize("column", ENTRY_COLUMNS)
def test_single_byte_change_in_any_field_is_named(store: Store, column: str) -> None:
    build_log(store, 24)
    checkpoint(store)
    rng = random.Random(f"{column}-{store.kind}")
    for _ in range(3):
        seq = rng.randint(1, 24)
        original = fetch_row(store, seq)
        moved = tamper(store, seq, column, rng)
        result = run_verify(store)
        assert not result.ok
        assert (result.bad_seq, result.field) == (seq, column), result.reason
        assert f"FAIL at seq {seq}: " in result.summary()
        # Put the row back and the log verifies again.
        with store.engine.begin() as conn:
            detail = dict(
                conn.execute(text("SELECT * FROM audit_detail WHERE seq = :s"), {"s": moved}).mappings().one()
            )
            conn.execute(text("DELETE FROM audit_detail WHERE seq = :s"), {"s": moved})
            conn.execute(text("DELETE FROM audit_entry WHERE seq = :s"), {"s": moved})
            conn.execute(
                text(
                    f"INSERT INTO audit_entry ({', '.join(original)}) VALUES "
                    f"({', '.join(':' + k for k in original)})"
                ),
                original,
            )
            conn.execute(
                text("INSERT INTO audit_detail (seq, salt, details) VALUES (:seq, :salt, :details)"),
                detail | {"seq": seq},
            )
        assert run_verify(store).ok


def test_deleting_a_middle_row_is_detected(store: Store) -> None:
    build_log(store, 10)
    execute(store, "DELETE FROM audit_detail WHERE seq = 5")
    execute(store, "DELETE FROM audit_entry WHERE seq = 5")
    result = run_verify(store)
    assert (result.ok, result.bad_seq, result.field) == (False, 5, "missing")
    assert "missing" in (result.reason or "")


def test_swapping_two_rows_is_detected(store: Store) -> None:
    build_log(store, 10)
    a, b = fetch_row(store, 3), fetch_row(store, 7)
    cols = [c for c in ENTRY_COLUMNS if c != "seq"]
    with store.engine.begin() as conn:
        # Park one row's unique hash first so the swap does not trip the unique constraint.
        conn.execute(text("UPDATE audit_entry SET entry_hash = 'x' WHERE seq = 3"))
        for target, source in ((7, a), (3, b)):
            conn.execute(
                text(f"UPDATE audit_entry SET {', '.join(f'{c} = :{c}' for c in cols)} WHERE seq = :target"),
                {c: source[c] for c in cols} | {"target": target},
            )
    result = run_verify(store)
    assert (result.ok, result.bad_seq, result.field) == (False, 3, "seq")


def _forge(store: Store, seq: int, prev: str, action: str = "forged.action") -> dict[str, Any]:
    """An entry built exactly like audit.record builds one, by someone with database access only."""
    at = store.clock.now()
    canonical = audit.canonical_entry(
        seq=seq, at=at, actor="system", action=action, subject=None, details_sha256="0" * 64, prev=prev
    )
    return {
        "seq": seq,
        "at": at,
        "actor": "system",
        "action": action,
        "subject_ref": None,
        "details_sha256": "0" * 64,
        "prev_hash": prev,
        "entry_hash": audit.entry_hash_of(canonical),
        "canonical": canonical,
    }


def _insert(store: Store, row: dict[str, Any]) -> None:
    from portal.models import AuditEntry

    with store.factory() as session, session.begin():
        session.add(AuditEntry(**row))


def test_inserting_a_forged_row_is_detected(store: Store) -> None:
    build_log(store, 6)
    # A forged row with the next free number but a made-up link.
    _insert(store, _forge(store, 7, prev="ab" * 32))
    result = run_verify(store)
    assert (result.ok, result.bad_seq, result.field) == (False, 7, "prev_hash")


def _rewrite_from(store: Store, start: int, action: str) -> None:
    """Rewrite entry `start` and recompute every later link: a consistent chain, but no key."""
    with store.engine.connect() as conn:
        rows = (
            conn.execute(text("SELECT * FROM audit_entry WHERE seq >= :s ORDER BY seq"), {"s": start})
            .mappings()
            .all()
        )
        prev = conn.execute(
            text("SELECT entry_hash FROM audit_entry WHERE seq = :s"), {"s": start - 1}
        ).scalar()
    prev = prev or audit.GENESIS
    with store.engine.begin() as conn:
        for row in rows:
            canonical = rfc8785.dumps(
                {
                    "v": 1,
                    "seq": row["seq"],
                    "at": audit.format_time(fetch_at(row["at"])),
                    "actor": row["actor"],
                    "action": action if row["seq"] == start else row["action"],
                    "subject": row["subject_ref"],
                    "details_sha256": row["details_sha256"],
                    "prev": prev,
                }
            )
            new_hash = audit.entry_hash_of(canonical)
            conn.execute(
                text(
                    "UPDATE audit_entry SET action = :a, prev_hash = :p, entry_hash = :h, canonical = :c "
                    "WHERE seq = :s"
                ),
                {
                    "a": action if row["seq"] == start else row["action"],
                    "p": prev,
                    "h": new_hash,
                    "c": canonical,
                    "s": row["seq"],
                },
            )
            prev = new_hash


def fetch_at(value: Any) -> Any:
    from datetime import UTC, datetime

    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value


def test_recomputed_chain_without_the_key_fails_against_checkpoints(store: Store, tmp_path: Path) -> None:
    build_log(store, 12)
    cp = checkpoint(store)
    checkpoints.export_file(
        cp, checkpoints.load_or_create_key(store.settings.audit_key_path).public_key(), tmp_path / "cp.json"
    )
    build_log(store, 4)
    _rewrite_from(store, 4, "innocent.action")
    result = run_verify(store)
    assert (result.ok, result.bad_seq, result.field) == (False, 1, "checkpoint")
    assert "rewritten" in (result.reason or "")
    # Deleting the stored checkpoints does not help: the exported file still catches it.
    execute(store, "DELETE FROM audit_checkpoint")
    assert run_verify(store).ok  # internally consistent, which is why checkpoints exist
    result = run_verify(store, external=checkpoints.import_file(tmp_path / "cp.json"))
    assert (result.ok, result.field) == (False, "checkpoint")


def test_truncation_below_an_exported_checkpoint(store: Store, tmp_path: Path) -> None:
    build_log(store, 10)
    cp = checkpoint(store)
    public = checkpoints.load_or_create_key(store.settings.audit_key_path).public_key()
    checkpoints.export_file(cp, public, tmp_path / "cp.json")
    for table in ("audit_detail", "audit_entry"):
        execute(store, f"DELETE FROM {table} WHERE seq > 7")
    execute(store, "DELETE FROM audit_checkpoint")
    assert run_verify(store).ok
    result = run_verify(store, external=checkpoints.import_file(tmp_path / "cp.json"))
    assert (result.ok, result.bad_seq, result.field) == (False, 8, "missing")
    assert "truncation" in (result.reason or "")


def test_checkpoint_signed_by_another_key(store: Store, tmp_path: Path) -> None:
    build_log(store, 5)
    checkpoint(store)
    assert run_verify(store).ok
    other = Ed25519PrivateKey.generate()
    with store.ctx() as ctx:
        root = checkpoints.compute_root(ctx.session, 5)
    forged = checkpoints.sign(
        other, checkpoints.make_body(store.settings.audit_origin, 5, root, store.clock.now())
    )
    execute(
        store, "UPDATE audit_checkpoint SET signature = :s, key_id = :k", s=forged.signature, k=forged.key_id
    )
    result = run_verify(store)
    assert (result.ok, result.field) == (False, "signature")
    assert forged.key_id in (result.reason or "")
    # The same checkpoint as a file.
    execute(store, "DELETE FROM audit_checkpoint")
    checkpoints.export_file(forged, other.public_key(), tmp_path / "other.json")
    result = run_verify(store, external=checkpoints.import_file(tmp_path / "other.json"))
    assert (result.ok, result.field) == (False, "signature")


def test_fork_inconsistent_checkpoint(store: Store, tmp_path: Path) -> None:
    build_log(store, 8)
    checkpoint(store)
    key = checkpoints.load_or_create_key(store.settings.audit_key_path)
    # Another history of the same size, signed with our own key: a split view.
    fork_root = merkle.root([merkle.leaf_hash(b"%d" % i) for i in range(6)])
    fork = checkpoints.sign(
        key, checkpoints.make_body(store.settings.audit_origin, 6, fork_root, store.clock.now())
    )
    checkpoints.export_file(fork, key.public_key(), tmp_path / "fork.json")
    result = run_verify(store, external=checkpoints.import_file(tmp_path / "fork.json"))
    assert (result.ok, result.bad_seq, result.field) == (False, 1, "checkpoint")
    assert "forked" in (result.reason or "")
    # Stored in the table, the same fork is caught too.
    execute(
        store,
        "INSERT INTO audit_checkpoint (tree_size, root_hash, created_at, origin, key_id, body, signature) "
        "VALUES (6, :r, :t, :o, :k, :b, :s)",
        r=fork_root.hex(),
        t=store.clock.now(),
        o=store.settings.audit_origin,
        k=fork.key_id,
        b=fork.body,
        s=fork.signature,
    )
    assert run_verify(store).field == "checkpoint"


def test_erased_details_still_verify_and_altered_details_do_not(store: Store) -> None:
    build_log(store, 6)
    execute(
        store,
        "UPDATE audit_detail SET details = NULL, salt = NULL, erased_at = :t WHERE seq = 2",
        t=store.clock.now(),
    )
    assert run_verify(store).ok
    execute(store, "UPDATE audit_detail SET details = :d WHERE seq = 4", d='{"i":99}')
    result = run_verify(store)
    assert (result.ok, result.bad_seq, result.field) == (False, 4, "details")


def test_verify_from_seq(store: Store) -> None:
    build_log(store, 20)
    checkpoint(store)
    full = run_verify(store)
    partial = run_verify(store, from_seq=15)
    assert partial.ok and partial.count == 6 and partial.root == full.root
    # A change before --from is not re-checked field by field...
    tamper(store, 3, "action", random.Random(1))
    assert run_verify(store, from_seq=15).ok
    assert not run_verify(store).ok
    # ...but a change to the stored hash before --from still breaks the signed root.
    tamper(store, 2, "entry_hash", random.Random(2))
    # (named as a non-hex entry_hash when the flipped bit leaves the hex alphabet)
    assert run_verify(store, from_seq=15).field in ("checkpoint", "entry_hash")


def test_failed_append_leaves_no_change_behind(store: Store) -> None:
    build_log(store, 2)
    with pytest.raises(AuditError), store.ctx() as ctx:
        ctx.session.add(Subject(kind="browser", created_at=ctx.now))
        ctx.session.flush()
        audit.record(ctx, "subject.created", details={"bad": object()})
    assert store.scalar("SELECT count(*) FROM subject") == 0
    assert store.scalar("SELECT count(*) FROM audit_entry") == 2
    assert run_verify(store).ok


def test_canary_values_never_reach_the_chain(store: Store) -> None:
    canaries = {
        "email": "canary.person@example.org",
        "password": "Canary-Password-123!",
        "ip": "203.0.113.77",
        "session": "canary-session-token-0123456789abcdef",
    }
    with store.ctx(actor="account:42") as ctx:
        audit.record(ctx, "account.login", subject_id=42, details=canaries)
    checkpoint(store)
    with store.engine.connect() as conn:
        stored = [
            row
            for table in ("audit_entry", "audit_checkpoint")
            for row in conn.execute(text(f"SELECT * FROM {table}")).all()
        ]
    blob = "\n".join(repr(v) for row in stored for v in row).encode()
    blob += b"".join(v for row in stored for v in row if isinstance(v, bytes))
    for value in canaries.values():
        assert value.encode() not in blob
    # The details are kept, apart from the chain, where erasure can blank them.
    with store.ctx() as ctx:
        assert audit.details_of(ctx, 1) == canaries
