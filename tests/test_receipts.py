"""Receipts, checkpoints and the `portal audit` commands, end to end on the real store."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal import audit
from portal.audit import checkpoints
from portal.audit.receipts import build_receipt, verify_receipt
from tests.conftest import Store

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "verify_receipt.py"


def build_log(store: Store, n: int) -> None:
    for i in range(n):
        store.clock.advance(seconds=2)
        with store.ctx(actor="account:7") as ctx:
            audit.record(ctx, "consent.changed", subject_id=7, details={"marketing": i % 2 == 0})


def public_of(store: Store) -> Any:
    return checkpoints.load_or_create_key(store.settings.audit_key_path).public_key()


def run_tool(receipt_path: Path, *key: str) -> subprocess.CompletedProcess[str]:
    # -I: isolated mode, so the tool cannot lean on the project or site-packages by accident.
    return subprocess.run(
        [sys.executable, "-I", str(TOOL), str(receipt_path), *key],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_key_is_created_once_with_private_mode(store: Store) -> None:
    path = store.settings.audit_key_path
    assert not path.exists()
    key = checkpoints.load_or_create_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    checkpoints._keys.clear()  # noqa: SLF001  (a fresh process reads the same key)
    assert checkpoints.key_id(checkpoints.load_or_create_key(path).public_key()) == checkpoints.key_id(
        key.public_key()
    )
    pem = checkpoints.public_pem(key.public_key())
    assert checkpoints.key_id(checkpoints.load_public_key(pem + "key-id: x\n")) == checkpoints.key_id(
        key.public_key()
    )


def test_checkpoint_if_due(store: Store) -> None:
    with store.ctx() as ctx:
        assert checkpoints.checkpoint_if_due(ctx) is None  # nothing logged yet
    build_log(store, 3)
    with store.ctx() as ctx:
        first = checkpoints.checkpoint_if_due(ctx)
    assert first is not None and first.tree_size == 3
    build_log(store, 2)  # 4 s later: not yet due
    with store.ctx() as ctx:
        assert checkpoints.checkpoint_if_due(ctx) is None
    store.clock.advance(seconds=60)
    with store.ctx() as ctx:
        second = checkpoints.checkpoint_if_due(ctx)
    assert second is not None and second.tree_size == 5
    store.clock.advance(seconds=600)
    with store.ctx() as ctx:
        assert checkpoints.checkpoint_if_due(ctx) is None  # no new entries
    _origin, size, root, _at = checkpoints.parse_body(second.body)
    assert (size, root.hex()) == (5, second.root_hash)
    assert checkpoints.signature_ok(public_of(store), checkpoints.SignedCheckpoint.from_row(second))


def test_receipt_verifies_in_process_and_with_the_stdlib_tool(store: Store, tmp_path: Path) -> None:
    build_log(store, 13)
    with store.ctx() as ctx:
        receipt = build_receipt(ctx, 6)  # no checkpoint yet: one is signed on demand
    assert receipt["tree_size"] == 13 and receipt["leaf_index"] == 5
    ok, reason = verify_receipt(receipt, public_of(store))
    assert ok, reason
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    pem = tmp_path / "key.pem"
    pem.write_text(checkpoints.public_pem(public_of(store)) + "key-id: whatever\n")
    done = run_tool(path, str(pem))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK: entry 6 (consent.changed")
    assert run_tool(path).returncode == 0  # with the key inside the receipt
    # A later entry reuses the newest checkpoint when it covers it.
    with store.ctx() as ctx:
        assert build_receipt(ctx, 13)["checkpoint"] == receipt["checkpoint"]


def _mutations(receipt: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    def changed(**kw: Any) -> dict[str, Any]:
        return json.loads(json.dumps(receipt)) | kw

    canonical = base64.b64decode(receipt["canonical"]).replace(b"consent.changed", b"consent.chang3d")
    proof = list(receipt["inclusion_proof"])
    proof[0] = ("f" if proof[0][0] != "f" else "e") + proof[0][1:]
    cp = dict(receipt["checkpoint"])
    lines = cp["body"].split("\n")
    lines[1] = str(int(lines[1]) + 1)
    return [
        ("canonical", changed(canonical=base64.b64encode(canonical).decode())),
        ("proof", changed(inclusion_proof=proof)),
        ("short proof", changed(inclusion_proof=proof[1:])),
        ("index", changed(leaf_index=receipt["leaf_index"] + 1, seq=receipt["seq"] + 1)),
        ("body", changed(checkpoint=cp | {"body": "\n".join(lines)})),
        ("entry hash", changed(entry_hash="0" * 64)),
        ("missing", {k: v for k, v in receipt.items() if k != "inclusion_proof"}),
    ]


def test_altered_receipts_fail_everywhere(store: Store, tmp_path: Path) -> None:
    build_log(store, 9)
    with store.ctx() as ctx:
        receipt = build_receipt(ctx, 4)
    pem = tmp_path / "key.pem"
    pem.write_text(checkpoints.public_pem(public_of(store)))
    for name, bad in _mutations(receipt):
        ok, reason = verify_receipt(bad, public_of(store))
        assert not ok, name
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(bad))
        done = run_tool(path, str(pem))
        assert done.returncode == 1 and done.stdout.startswith("FAIL: "), (name, done.stdout, done.stderr)
    # The right receipt against another portal's key.
    other = Ed25519PrivateKey.generate().public_key()
    assert not verify_receipt(receipt, other)[0]
    other_pem = tmp_path / "other.pem"
    other_pem.write_text(checkpoints.public_pem(other))
    good = tmp_path / "good.json"
    good.write_text(json.dumps(receipt))
    assert run_tool(good, str(other_pem)).returncode == 1


def test_stdlib_ed25519_agrees_with_cryptography() -> None:
    sys.path.insert(0, str(TOOL.parent))
    try:
        import verify_receipt as tool  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    key = Ed25519PrivateKey.generate()
    public = checkpoints.raw_public(key.public_key())
    for message in (b"", b"abc", os.urandom(300)):
        signature = key.sign(message)
        assert tool.ed25519_verify(public, message, signature)
        assert not tool.ed25519_verify(public, message + b"x", signature)
        assert not tool.ed25519_verify(public, message, bytes([signature[0] ^ 1]) + signature[1:])
    # RFC 8032 section 7.1, TEST 1.
    pub = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    sig = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert tool.ed25519_verify(pub, b"", sig)


def test_cli_commands(cli_env: Store, tmp_path: Path) -> None:
    from portal.cli.audit import audit as audit_group

    store = cli_env
    build_log(store, 11)
    runner = CliRunner()
    out = tmp_path / "cp.json"
    r = runner.invoke(audit_group, ["checkpoint", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("checkpoint 11@") and json.loads(out.read_text())["tree_size"] == 11
    r = runner.invoke(audit_group, ["verify", "--checkpoint", str(out)])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("OK: 11 entries, root ") and "last checkpoint 11@" in r.output
    r = runner.invoke(audit_group, ["verify", "--from", "9"])
    assert r.exit_code == 0 and r.output.startswith("OK: 3 entries"), r.output
    r = runner.invoke(audit_group, ["show", "3"])
    shown = json.loads(r.output)
    assert shown["seq"] == "3" and shown["details"] == {"marketing": True}
    r = runner.invoke(audit_group, ["proof", "5"])
    receipt = json.loads(r.output)
    assert receipt["leaf_index"] == 4 and receipt["inclusion_proof"]
    path = tmp_path / "receipt.json"
    path.write_text(r.output)
    r = runner.invoke(audit_group, ["verify-receipt", str(path)])
    assert r.exit_code == 0 and r.output.startswith("OK: "), r.output
    path.write_text(json.dumps(receipt | {"leaf_index": 3}))
    r = runner.invoke(audit_group, ["verify-receipt", str(path)])
    assert r.exit_code == 1 and r.output.startswith("FAIL: "), r.output
    # Truncate below the exported checkpoint: verify names the first missing entry and exits 1.
    with store.engine.begin() as conn:
        from sqlalchemy import text

        for table in ("audit_detail", "audit_entry"):
            conn.execute(text(f"DELETE FROM {table} WHERE seq > 8"))
        conn.execute(text("DELETE FROM audit_checkpoint"))
    r = runner.invoke(audit_group, ["verify", "--checkpoint", str(out)])
    assert r.exit_code == 1
    assert r.output.startswith("FAIL at seq 9: the log has 8 entries but checkpoint file"), r.output
    r = runner.invoke(audit_group, ["show", "99"])
    assert r.exit_code == 2 and "does not exist" in r.output
