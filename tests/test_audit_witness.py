"""Rollback is visible: every signed checkpoint is also appended to a witness file outside the store;
`portal audit verify` checks the store against its newest line, the signer refuses to sign a log that
does not extend it (on stderr and in /healthz), and a deleted or blanked detail row fails."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from portal import audit, housekeeping
from portal.audit import checkpoints, witness
from portal.audit.verifier import VerifyResult, verify
from tests.conftest import Portal, Store
from tests.test_audit_chain import _rewrite_from, build_log, checkpoint, execute


def _verify(store: Store) -> VerifyResult:
    public = checkpoints.load_or_create_key(store.settings.audit_key_path).public_key()
    return verify(store.engine, public, witnessed=witness.newest(store.settings.witness_path))


def _cli(store: Store, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PORTAL_VAR_DIR": str(store.settings.var_dir),
        "PORTAL_DATABASE_URL": store.settings.database_url,
        "PORTAL_SECRET_KEY": store.settings.secret_key.decode(),
        "PORTAL_BASE_URL": store.settings.base_url,
    }
    return subprocess.run([sys.executable, "-m", "portal", "audit", *args], capture_output=True, text=True, env=env)


def _lines(store: Store) -> list[dict[str, object]]:
    return [json.loads(line) for line in store.settings.witness_path.read_text().splitlines()]


def _signed_log(store: Store, n: int = 12) -> None:
    build_log(store, n)
    checkpoint(store)
    build_log(store, 3)  # entries after the last checkpoint


def test_every_signed_checkpoint_is_witnessed_and_published(portal: Portal) -> None:
    store = portal.store
    assert portal.client().get("/.well-known/portal-audit-checkpoint").status_code == 404
    build_log(store, 5)
    first = checkpoint(store)
    build_log(store, 2)
    second = checkpoint(store)
    lines = _lines(store)
    assert [line["tree_size"] for line in lines] == [first.tree_size, second.tree_size] == [5, 7]
    assert lines[-1]["signature"] == second.signature and lines[-1]["body"] == second.body
    assert stat.S_IMODE(store.settings.witness_path.stat().st_mode) == 0o600
    public = checkpoints.load_or_create_key(store.settings.audit_key_path).public_key()
    assert checkpoints.signature_ok(public, checkpoints.SignedCheckpoint.from_json(lines[0]))

    served = portal.client().get("/.well-known/portal-audit-checkpoint")
    assert served.status_code == 200 and served.json()["tree_size"] == 7 and served.json()["public_key"]
    # A saved copy is an outside witness for `audit verify --checkpoint` later.
    saved = store.settings.var_dir.parent / "saved.json"
    saved.write_text(served.text)
    store.settings.witness_path.unlink()
    execute(store, "DELETE FROM audit_checkpoint")
    execute(store, "DELETE FROM audit_detail WHERE seq > 4")
    execute(store, "DELETE FROM audit_entry WHERE seq > 4")
    result = _cli(store, "verify", "--checkpoint", str(saved))
    assert result.returncode == 1 and "removed (truncation)" in result.stdout, result.stdout + result.stderr
    assert "no witness file" in result.stderr


def test_a_checkpoint_that_is_rolled_back_is_not_witnessed(store: Store) -> None:
    build_log(store, 3)
    with pytest.raises(RuntimeError), store.ctx() as ctx:
        audit.record(ctx, "never.committed")
        checkpoints.create_checkpoint(ctx)
        raise RuntimeError("the transaction fails after signing")
    assert not store.settings.witness_path.exists()
    assert checkpoint(store).tree_size == 3 and [line["tree_size"] for line in _lines(store)] == [3]


def test_a_concurrent_smaller_checkpoint_does_not_shrink_the_witness(store: Store) -> None:
    build_log(store, 6)
    key = checkpoints.load_or_create_key(store.settings.audit_key_path)
    with store.ctx() as ctx:
        small = checkpoints.sign(key, checkpoints.make_body("o", 4, checkpoints.compute_root(ctx.session, 4), ctx.now))
    checkpoint(store)
    assert witness.append(store.settings.witness_path, small) is False
    assert [line["tree_size"] for line in _lines(store)] == [6]


ROLLBACKS = {
    "the entries after the last checkpoint and that checkpoint": [
        "DELETE FROM audit_checkpoint",
        "DELETE FROM audit_detail WHERE seq > 8",
        "DELETE FROM audit_entry WHERE seq > 8",
    ],
    "every audit table emptied": ["DELETE FROM audit_checkpoint", "DELETE FROM audit_detail", "DELETE FROM audit_entry"],
}


@pytest.mark.parametrize("what", list(ROLLBACKS))
def test_truncation_fails_verify_and_stops_the_signer(store: Store, what: str) -> None:
    _signed_log(store)
    assert _verify(store).ok
    for sql in ROLLBACKS[what]:
        execute(store, sql)
    result = _verify(store)
    assert not result.ok and result.field == "missing" and "witnessed checkpoint" in (result.reason or "")
    cli = _cli(store, "verify")
    assert cli.returncode == 1 and cli.stdout.startswith("FAIL") and "witnessed checkpoint" in cli.stdout
    signer = _cli(store, "checkpoint")
    assert signer.returncode == 2 and "refusing to sign" in signer.stderr and "were removed" in signer.stderr
    assert store.scalar("SELECT count(*) FROM audit_checkpoint") == 0  # nothing signed over the new history


def test_a_rewritten_history_with_a_recomputed_chain_fails_and_is_not_signed(portal: Portal, caplog: pytest.LogCaptureFixture) -> None:
    store = portal.store
    _signed_log(store)
    _rewrite_from(store, 3, "rewritten.action")
    execute(store, "DELETE FROM audit_checkpoint")
    assert not witness.problem(store.settings)
    assert portal.client().get("/healthz").text == "ok"
    result = _verify(store)  # internally consistent, but not what was witnessed
    assert (result.ok, result.field) == (False, "checkpoint") and "witnessed checkpoint" in (result.reason or "")

    store.clock.advance(minutes=2)
    with caplog.at_level(logging.ERROR, logger="portal.audit"):
        housekeeping.run_once(store.factory, store.settings, store.clock)  # `portal serve`'s round
    assert "audit checkpoints stopped: refusing to sign" in caplog.text and "history was rewritten" in caplog.text
    assert store.scalar("SELECT count(*) FROM audit_checkpoint") == 0
    health = portal.client().get("/healthz")
    assert health.status_code == 503 and "history was rewritten" in health.text
    # A receipt would need a checkpoint: it is refused cleanly rather than signed over the rewrite.
    with store.ctx() as ctx, pytest.raises(witness.RollbackError):
        checkpoints.covering(ctx, 14)


def test_removing_entries_nobody_signed_yet_is_seen_by_the_running_signer(portal: Portal) -> None:
    store = portal.store
    build_log(store, 5)
    housekeeping.run_once(store.factory, store.settings, store.clock)  # signs 5 and notes the tip
    build_log(store, 3)
    housekeeping.run_once(store.factory, store.settings, store.clock)  # too soon to sign; notes the tip
    tip = store.scalar("SELECT max(seq) FROM audit_entry")
    assert tip > store.scalar("SELECT max(tree_size) FROM audit_checkpoint")  # (not yet signed)
    execute(store, "DELETE FROM audit_detail WHERE seq > :s", s=tip - 2)
    execute(store, "DELETE FROM audit_entry WHERE seq > :s", s=tip - 2)
    assert portal.client().get("/healthz").status_code == 200
    housekeeping.run_once(store.factory, store.settings, store.clock)
    health = portal.client().get("/healthz")
    assert health.status_code == 503 and f"audit entry {tip}, stored when this process last looked" in health.text


def test_missing_and_blanked_detail_rows_fail_but_erasure_does_not(store: Store) -> None:
    build_log(store, 8)
    checkpoint(store)
    with store.ctx() as ctx:
        assert audit.erase_details(ctx, [2]) == 1
    assert _verify(store).ok
    execute(store, "UPDATE audit_detail SET details = NULL WHERE seq = 4")
    result = _verify(store)
    assert (result.ok, result.bad_seq, result.field) == (False, 4, "details") and "without being erased" in (result.reason or "")
    execute(store, "UPDATE audit_detail SET details = NULL, salt = NULL WHERE seq = 4")
    assert _verify(store).bad_seq == 4
    execute(store, "DELETE FROM audit_detail WHERE seq = 4")
    result = _verify(store)
    assert (result.ok, result.bad_seq, result.field) == (False, 4, "details") and "missing" in (result.reason or "")


def test_any_receipt_is_an_outside_witness(portal: Portal, tmp_path: Path) -> None:
    store = portal.store
    build_log(store, 6)
    with store.ctx() as ctx:
        from portal.audit.receipts import build_receipt

        receipt = build_receipt(ctx, 6)
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    store.settings.witness_path.unlink()  # whoever controls the store and the witness file…
    execute(store, "DELETE FROM audit_checkpoint")
    execute(store, "DELETE FROM audit_detail")
    execute(store, "DELETE FROM audit_entry")
    assert _cli(store, "verify").returncode == 0  # …is not caught by the portal alone
    caught = _cli(store, "verify", "--checkpoint", str(path))  # but by anyone who kept a receipt
    assert caught.returncode == 1 and "checkpoint file" in caught.stdout and "removed" in caught.stdout
