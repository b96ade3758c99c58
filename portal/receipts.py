"""Receipts: proof, checkable offline, that an audit entry is in the signed log.

A receipt carries the entry's canonical bytes, its leaf index, an RFC 6962 inclusion proof to
the root of a signed checkpoint, the checkpoint itself and the public key that signed it. The
checker needs only those and the portal's published key (tools/verify_receipt.py does the same
with nothing but the Python standard library).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import text
from sqlalchemy.orm import Session

from portal import merkle
from portal.checkpoints import (
    CheckpointError,
    SignedCheckpoint,
    covering,
    key_id,
    load_or_create_key,
    load_public_key,
    raw_public,
    signature_ok,
)
from portal.context import Ctx
from portal.errors import NotFound
from portal.models import AuditEntry

FORMAT = "portal-audit-receipt/1"
_BATCH = 10_000


def stored_subtree(session: Session) -> merkle.Subtree:
    """Subtree roots from stored entry hashes; a wrong stored hash only yields a proof that fails."""

    def subtree(start: int, end: int) -> bytes:
        builder = merkle.RootBuilder()
        lo = start
        while lo < end:
            rows = session.execute(
                text("SELECT entry_hash FROM audit_entry WHERE seq > :lo AND seq <= :hi ORDER BY seq"),
                {"lo": lo, "hi": min(end, lo + _BATCH)},
            ).scalars()
            for entry_hash in rows:
                builder.append(bytes.fromhex(entry_hash))
            lo = min(end, lo + _BATCH)
        if builder.size != end - start:
            raise CheckpointError(f"audit entries {start + 1}..{end} are incomplete")
        return builder.root()

    return subtree


def inclusion_proof(session: Session, seq: int, size: int) -> list[bytes]:
    return merkle.inclusion_proof(seq - 1, size, stored_subtree(session))


def build_receipt(ctx: Ctx, seq: int) -> dict[str, Any]:
    """The receipt for entry `seq`, against the newest checkpoint (signed now if none covers it)."""
    entry = ctx.session.get(AuditEntry, seq)
    if entry is None:
        raise NotFound(f"audit entry {seq} does not exist")
    row = covering(ctx, seq)
    public = load_or_create_key(ctx.settings.audit_key_path).public_key()
    proof = inclusion_proof(ctx.session, seq, row.tree_size)
    return {
        "format": FORMAT,
        "seq": seq,
        "entry_hash": entry.entry_hash,
        "canonical": base64.b64encode(entry.canonical).decode(),
        "leaf_index": seq - 1,
        "tree_size": row.tree_size,
        "inclusion_proof": [h.hex() for h in proof],
        "checkpoint": SignedCheckpoint.from_row(row).to_json(),
        "key_id": key_id(public),
        "public_key": base64.b64encode(raw_public(public)).decode(),
    }


def verify_receipt(receipt: dict[str, Any], public_key: Ed25519PublicKey | str | bytes) -> tuple[bool, str]:
    """(True, summary) when the receipt proves its entry is in a log signed by `public_key`."""
    try:
        public = public_key if isinstance(public_key, Ed25519PublicKey) else load_public_key(public_key)
        return True, _check(receipt, public)
    except (CheckpointError, KeyError, TypeError, ValueError) as exc:
        reason = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        return False, reason


def _check(receipt: dict[str, Any], public: Ed25519PublicKey) -> str:
    if not isinstance(receipt, dict) or receipt.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} receipt")
    kid = key_id(public)
    if receipt["key_id"] != kid:
        raise ValueError(f"receipt names key {receipt['key_id']}, expected {kid}")
    cp = SignedCheckpoint.from_json(receipt["checkpoint"])
    if not signature_ok(public, cp):
        raise ValueError(f"checkpoint signature does not verify with key {kid}")
    _origin, size, root, at = cp.parsed
    seq, index = int(receipt["seq"]), int(receipt["leaf_index"])
    if index != seq - 1 or int(receipt["tree_size"]) != size:
        raise ValueError("leaf index or tree size does not match the entry and checkpoint")
    canonical = base64.b64decode(receipt["canonical"], validate=True)
    fields = json.loads(canonical)
    if not isinstance(fields, dict) or fields.get("seq") != seq:
        raise ValueError("canonical bytes are not the entry with this sequence number")
    leaf = merkle.leaf_hash(canonical)
    if leaf.hex() != receipt["entry_hash"]:
        raise ValueError("entry hash is not the hash of the canonical bytes")
    proof = [bytes.fromhex(h) for h in receipt["inclusion_proof"]]
    if not merkle.verify_inclusion(index, size, leaf, proof, root):
        raise ValueError("inclusion proof does not lead to the checkpoint's root")
    return (
        f"entry {seq} ({fields.get('action')} at {fields.get('at')}) is entry {seq} of {size} "
        f"in the log signed by key {kid} at {at}"
    )
