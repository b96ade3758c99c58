"""Receipts: proof, checkable offline, that an audit entry is in the signed log.

A receipt carries the entry's canonical bytes, its leaf index, an RFC 6962 inclusion proof to
the root of a signed checkpoint, the checkpoint itself and the public key that signed it. The
checker needs only those and the portal's published key (tools/verify_receipt.py does the same
with nothing but the Python standard library).
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import text
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import merkle
from portal.audit.actions import words
from portal.audit.checkpoints import (
    CheckpointError,
    SignedCheckpoint,
    covering,
    key_id,
    load_or_create_key,
    load_public_key,
    raw_public,
    signature_ok,
)
from portal.audit.writer import written
from portal.core.context import Ctx
from portal.core.errors import NotFound
from portal.models import MAX_INTEGER, AuditEntry

FORMAT = "portal-audit-receipt/1"
# A signed statement carrying a receipt (portal/audit/certificates.py); checked here too.
CERTIFICATE_FORMAT = "portal-erasure-certificate/1"
_BATCH = 10_000


# Complete, power-of-two aligned subtrees never change in an append-only log, so their roots are
# cached per store and a proof costs O(log n) hashes plus a couple of small reads instead of
# reading every entry hash. Subtrees smaller than CHUNK are hashed from one read of the CHUNK
# leaves around them. The cache is validated before use by one stored hash: each entry's hash
# commits to every entry before it (its canonical bytes hold `prev`), so if the newest leaf the
# cache was built from is still stored, so is everything the cache covers; a rebuilt or restored
# store misses it and recomputes. Every process fills its own cache from the store, so all agree.
CHUNK = 256
_MAX_NODES = 1_000_000  # ~150 MB of cache at most; past that, start over rather than grow


@dataclass
class _SubtreeCache:
    nodes: dict[tuple[int, int], bytes] = dc_field(default_factory=dict)  # (start, size) -> root
    anchor: tuple[int, str] = (0, "")  # (seq, entry hash) of the newest leaf the nodes cover


_caches: dict[str, _SubtreeCache] = {}
_caches_lock = threading.Lock()


def _store_key(session: Session) -> str:
    return session.get_bind().engine.url.render_as_string(hide_password=True)


def _cache_for(session: Session) -> _SubtreeCache:
    key = _store_key(session)
    with _caches_lock:
        cache = _caches.setdefault(key, _SubtreeCache())
        seq, leaf = cache.anchor
    if seq:
        stored = session.execute(
            text("SELECT entry_hash FROM audit_entry WHERE seq = :s"), {"s": seq}
        ).scalar()
        if stored != leaf:
            with _caches_lock:
                cache = _caches[key] = _SubtreeCache()
    return cache


class _StoredTree:
    """`subtree(start, end)` over stored entry hashes, for one proof."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.cache = _cache_for(session)
        self.chunks: dict[int, list[bytes]] = {}

    def subtree(self, start: int, end: int) -> bytes:
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            return self._complete(start, n)
        k = 1 << ((n - 1).bit_length() - 1)  # RFC 6962: largest power of two below n
        return merkle.node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def _complete(self, start: int, n: int) -> bytes:
        if n < CHUNK:
            leaves = self._chunk(start // CHUNK)
            offset = start % CHUNK
            if len(leaves) < offset + n:
                raise CheckpointError(f"audit entries {start + 1}..{start + n} are incomplete")
            return merkle.root(leaves[offset : offset + n])
        with _caches_lock:
            found = self.cache.nodes.get((start, n))
        if found is not None:
            return found
        half = n // 2
        if n == CHUNK:
            leaves = self._chunk(start // CHUNK)
            if len(leaves) < CHUNK:
                raise CheckpointError(f"audit entries {start + 1}..{start + n} are incomplete")
            node = merkle.root(leaves)
            self._remember({(start, n): node}, start + n, leaves[-1])
            return node
        with _caches_lock:
            known = (start, half) in self.cache.nodes or (start + half, half) in self.cache.nodes
        if known:  # e.g. after new entries only the right half is new: hash just what is missing
            node = merkle.node_hash(self._complete(start, half), self._complete(start + half, half))
            self._remember({(start, n): node})
            return node
        return self._stream(start, n)

    def _chunk(self, index: int) -> list[bytes]:
        leaves = self.chunks.get(index)
        if leaves is None:
            lo = index * CHUNK
            rows = self.session.execute(
                text("SELECT entry_hash FROM audit_entry WHERE seq > :lo AND seq <= :hi ORDER BY seq"),
                {"lo": lo, "hi": lo + CHUNK},
            ).scalars()
            leaves = self.chunks[index] = [bytes.fromhex(h) for h in rows]
        return leaves

    def _stream(self, start: int, n: int) -> bytes:
        """Hash n leaves in big reads, remembering every complete subtree of CHUNK leaves or more."""
        found: dict[tuple[int, int], bytes] = {}
        stack: list[bytes] = []
        pos, last = start, b""
        while pos < start + n:
            rows = self.session.execute(
                text("SELECT seq, entry_hash FROM audit_entry WHERE seq > :lo AND seq <= :hi ORDER BY seq"),
                {"lo": pos, "hi": min(start + n, pos + _BATCH)},
            ).all()
            for seq, entry_hash in rows:
                if seq != pos + 1:
                    break
                last = bytes.fromhex(entry_hash)
                stack.append(last)
                pos, size, k = seq, 1, seq - start
                while not k & 1:  # a trailing zero bit: two equal subtrees just completed
                    right = stack.pop()
                    stack[-1] = merkle.node_hash(stack[-1], right)
                    size, k = size * 2, k >> 1
                    if size >= CHUNK:
                        found[(pos - size, size)] = stack[-1]
            if not rows or pos != rows[-1][0]:
                raise CheckpointError(f"audit entries {start + 1}..{start + n} are incomplete")
        self._remember(found, start + n, last)
        return found[(start, n)]

    def _remember(self, nodes: dict[tuple[int, int], bytes], end: int = 0, last: bytes = b"") -> None:
        with _caches_lock:
            if len(self.cache.nodes) + len(nodes) > _MAX_NODES:
                self.cache.nodes.clear()
                self.cache.anchor = (0, "")
            self.cache.nodes.update(nodes)
            if end > self.cache.anchor[0]:
                self.cache.anchor = (end, last.hex())


def stored_subtree(session: Session) -> merkle.Subtree:
    """Subtree roots from stored entry hashes; a wrong stored hash only yields a proof that fails."""
    return _StoredTree(session).subtree


def inclusion_proof(session: Session, seq: int, size: int) -> list[bytes]:
    return merkle.inclusion_proof(seq - 1, size, stored_subtree(session))


def build_receipt(ctx: Ctx, seq: int) -> dict[str, Any]:
    """The receipt for entry `seq`, against the newest checkpoint (signed now if none covers it)."""
    mine = written(ctx.session)
    entry = mine if mine is not None and mine.seq == seq else ctx.session.get(AuditEntry, seq)
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


# PostgreSQL integers stop here; a larger sequence number in a URL is simply one that does not exist.
_MAX_SEQ = MAX_INTEGER


def subject_receipt(ctx: Ctx, subject_id: int, seq: int) -> dict[str, Any] | None:
    """The receipt of entry `seq` if it is about `subject_id`; else None, and the attempt audited.

    A missing entry and someone else's entry look the same to the caller (no hint that it exists),
    and both are audited alike, so the log shows every probe.
    """
    entry = ctx.session.get(AuditEntry, seq) if 0 < seq <= _MAX_SEQ else None
    if entry is None or entry.subject_ref != audit.subject_ref(ctx.settings.secret_key, subject_id):
        audit.record(ctx, "access.denied", details={"resource": "receipt", "seq": min(seq, _MAX_SEQ + 1)})
        return None
    return build_receipt(ctx, seq)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_json(text: str | bytes) -> Any:
    """Strict JSON from a stranger: no NaN or Infinity, and nesting too deep for the parser is a
    ValueError like any other malformed input (never a RecursionError)."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("it is nested too deeply") from None


def verify_receipt(receipt: dict[str, Any], public_key: Ed25519PublicKey | str | bytes) -> tuple[bool, str]:
    """(True, summary) when the receipt proves its entry is in a log signed by `public_key`; a
    deletion certificate is accepted when its signature and the receipt it carries both hold."""
    try:
        public = public_key if isinstance(public_key, Ed25519PublicKey) else load_public_key(public_key)
        if isinstance(receipt, dict) and receipt.get("format") == CERTIFICATE_FORMAT:
            from portal.audit import certificates  # it builds on this module

            return True, certificates.check(receipt, public)
        return True, check_receipt(receipt, public)
    except (CheckpointError, KeyError, TypeError, ValueError, OverflowError) as exc:
        reason = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        return False, reason


def check_receipt(receipt: dict[str, Any], public: Ed25519PublicKey) -> str:
    """The summary of a receipt that holds; raises ValueError (KeyError, TypeError) otherwise."""
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
    fields = load_json(canonical)
    if not isinstance(fields, dict) or fields.get("seq") != seq:
        raise ValueError("canonical bytes are not the entry with this sequence number")
    leaf = merkle.leaf_hash(canonical)
    if leaf.hex() != receipt["entry_hash"]:
        raise ValueError("entry hash is not the hash of the canonical bytes")
    proof = [bytes.fromhex(h) for h in receipt["inclusion_proof"]]
    if not merkle.verify_inclusion(index, size, leaf, proof, root):
        raise ValueError("inclusion proof does not lead to the checkpoint's root")
    return (
        f"entry {seq} (“{words(str(fields.get('action')))}” at {fields.get('at')}) is entry {seq} of {size} "
        f"in the log signed by key {kid} at {at}"
    )
