"""Signed checkpoints: the audit log's size and Merkle root at a moment, signed with Ed25519.

A checkpoint body follows the transparency-dev checkpoint note layout,
    "<origin>\\n<tree size>\\n<base64 root hash>\\n<UTC time>\\n"
and the signature is Ed25519 over exactly those UTF-8 bytes. The key lives in one file outside
the database, so someone who can rewrite the tables still cannot sign a rewritten history.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from sqlmodel import col

from portal.audit import format_time
from portal.audit.merkle import RootBuilder, leaf_hash
from portal.audit.writer import written
from portal.core.context import Ctx
from portal.core.errors import PortalError
from portal.core.files import private_dir
from portal.models import AuditCheckpoint, AuditEntry

_BATCH = 5000


class CheckpointError(PortalError):
    """A checkpoint (or checkpoint file) is malformed or its signature does not verify."""


# ---- keys -------------------------------------------------------------------------------------

_keys: dict[Path, Ed25519PrivateKey] = {}
_keys_lock = threading.Lock()


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The signing key at `path`, generated once (mode 0600) if the file does not exist yet."""
    path = Path(path)
    with _keys_lock:
        if path in _keys:
            return _keys[path]
        if not path.exists():
            _create_key_file(path)
        key = _read_key(path)
        _keys[path] = key
        return key


def _create_key_file(path: Path) -> None:
    private_dir(path.parent)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Write a private temp file and hard-link it into place: concurrent first starts (several
    # workers) never see a half-written key, and exactly one key wins.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another process won the race
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_key(path: Path) -> Ed25519PrivateKey:
    data = path.read_bytes()
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(data, password=None)
        elif len(data) == 32:
            key = Ed25519PrivateKey.from_private_bytes(data)
        else:
            raise ValueError("neither PEM nor 32 raw bytes")
    except ValueError as exc:
        raise CheckpointError(f"audit key {path} is unreadable: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"audit key {path} is not an Ed25519 key")
    return key


def raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """Short, stable name of a public key: the first 16 hex digits of SHA-256 of its raw bytes."""
    return hashlib.sha256(raw_public(public)).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(data: str | bytes) -> Ed25519PublicKey:
    """A public key given as PEM, as 64 hex digits or as base64 of the 32 raw bytes."""
    raw = data.encode() if isinstance(data, str) else data
    raw = raw.strip()
    try:
        if b"-----BEGIN" in raw:
            # Only the PEM block counts; the published form carries a key-id line after it.
            start = raw.index(b"-----BEGIN")
            end = raw.index(b"-----", raw.index(b"-----END") + 8) + 5
            key = serialization.load_pem_public_key(raw[start:end])
            if not isinstance(key, Ed25519PublicKey):
                raise CheckpointError("public key is not Ed25519")
            return key
        if len(raw) == 64:
            return Ed25519PublicKey.from_public_bytes(bytes.fromhex(raw.decode()))
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(raw, validate=True))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"unreadable public key: {exc}") from exc


# ---- bodies and signatures --------------------------------------------------------------------


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint as it travels outside the database (file, receipt)."""

    body: str
    signature: str  # base64 of the 64-byte Ed25519 signature over body
    key_id: str

    @property
    def parsed(self) -> tuple[str, int, bytes, str]:
        return parse_body(self.body)

    def to_json(self) -> dict[str, Any]:
        origin, size, root, at = self.parsed
        return {
            "origin": origin,
            "tree_size": size,
            "root_hash": root.hex(),
            "time": at,
            "body": self.body,
            "signature": self.signature,
            "key_id": self.key_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SignedCheckpoint:
        try:
            cp = cls(body=str(data["body"]), signature=str(data["signature"]), key_id=str(data["key_id"]))
        except (KeyError, TypeError) as exc:
            raise CheckpointError(f"checkpoint is missing {exc}") from exc
        cp.parsed  # noqa: B018  (validates the body)
        return cp

    @classmethod
    def from_row(cls, row: AuditCheckpoint) -> SignedCheckpoint:
        return cls(body=row.body, signature=row.signature, key_id=row.key_id)


def make_body(origin: str, size: int, root: bytes, at: datetime) -> str:
    if "\n" in origin or not origin:
        raise CheckpointError("checkpoint origin must be one non-empty line")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n{format_time(at)}\n"


def parse_body(body: str) -> tuple[str, int, bytes, str]:
    """(origin, tree size, root hash, time) of a checkpoint body; CheckpointError if malformed."""
    lines = body.split("\n")
    if len(lines) != 5 or lines[4] != "":
        raise CheckpointError("checkpoint body must have exactly four lines")
    origin, size_s, root_b64, at = lines[:4]
    if not size_s.isdigit() or (size_s != "0" and size_s.startswith("0")):
        raise CheckpointError("checkpoint tree size is not a decimal number")
    try:
        root = base64.b64decode(root_b64, validate=True)
    except ValueError as exc:
        raise CheckpointError("checkpoint root hash is not base64") from exc
    if len(root) != 32:
        raise CheckpointError("checkpoint root hash is not 32 bytes")
    return origin, int(size_s), root, at


def sign(key: Ed25519PrivateKey, body: str) -> SignedCheckpoint:
    signature = base64.b64encode(key.sign(body.encode())).decode()
    return SignedCheckpoint(body=body, signature=signature, key_id=key_id(key.public_key()))


def signature_ok(public: Ed25519PublicKey, cp: SignedCheckpoint) -> bool:
    try:
        public.verify(base64.b64decode(cp.signature, validate=True), cp.body.encode())
    except (InvalidSignature, ValueError):
        return False
    return True


# ---- the checkpoint writer --------------------------------------------------------------------

# Per store: the compact range this process last computed from canonical bytes, so the next
# checkpoint only hashes the new entries. It lives in memory, never in the database, so a
# tampered table cannot feed it; it is keyed by the last leaf so a rebuilt store misses it.
_compact: dict[str, tuple[int, str, RootBuilder]] = {}
_compact_lock = threading.Lock()


def _store_key(session: Session) -> str:
    return session.get_bind().engine.url.render_as_string(hide_password=True)


def tree_size(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(AuditEntry.seq), 0))) or 0)


def compute_root(session: Session, size: int) -> bytes:
    """Merkle root of the first `size` entries, hashed from their stored canonical bytes."""
    key = _store_key(session)
    builder = RootBuilder()
    with _compact_lock:
        cached = _compact.get(key)
    if cached and cached[0] <= size:
        cached_size, cached_leaf, cached_builder = cached
        last = session.execute(
            text("SELECT entry_hash FROM audit_entry WHERE seq = :s"), {"s": cached_size}
        ).scalar()
        if cached_size == 0 or last == cached_leaf:
            builder = cached_builder.copy()
    start = builder.size
    last_leaf = ""
    while start < size:
        rows = session.execute(
            text("SELECT seq, canonical FROM audit_entry WHERE seq > :lo AND seq <= :hi ORDER BY seq"),
            {"lo": start, "hi": min(size, start + _BATCH)},
        ).all()
        for seq, canonical in rows:
            if seq != start + 1:
                raise CheckpointError(f"audit entry {start + 1} is missing; run `portal audit verify`")
            leaf = leaf_hash(bytes(canonical))
            builder.append(leaf)
            start = seq
            last_leaf = leaf.hex()
        if not rows:
            raise CheckpointError(f"audit entry {start + 1} is missing; run `portal audit verify`")
    if size and last_leaf:
        with _compact_lock:
            _compact[key] = (size, last_leaf, builder.copy())
    return builder.root()


def create_checkpoint(ctx: Ctx, size: int | None = None) -> AuditCheckpoint:
    """Sign and store a checkpoint of the log as it stands (or of its first `size` entries), and
    witness it outside the store once stored. Raises witness.RollbackError, signing nothing, when
    the log does not extend the newest witnessed checkpoint."""
    from portal.audit import witness  # the witness file builds on this module

    key = load_or_create_key(ctx.settings.audit_key_path)
    size = tree_size(ctx.session) if size is None else size
    witness.check_extends(ctx, size, key.public_key())
    root = compute_root(ctx.session, size)
    signed = sign(key, make_body(ctx.settings.audit_origin, size, root, ctx.now))
    row = AuditCheckpoint(
        tree_size=size,
        root_hash=root.hex(),
        created_at=ctx.now,
        origin=ctx.settings.audit_origin,
        key_id=signed.key_id,
        body=signed.body,
        signature=signed.signature,
    )
    ctx.session.add(row)
    ctx.session.flush()
    witness.append_after_commit(ctx.session, ctx.settings.witness_path, signed)
    return row


def latest(session: Session) -> AuditCheckpoint | None:
    return session.scalars(
        select(AuditCheckpoint)
        .order_by(col(AuditCheckpoint.tree_size).desc(), col(AuditCheckpoint.id).desc())
        .limit(1)
    ).first()


def covering(ctx: Ctx, seq: int) -> AuditCheckpoint:
    """The newest checkpoint that includes entry `seq`, signing a fresh one when none does."""
    row = latest(ctx.session)
    if row is not None and row.tree_size >= seq:
        return row
    mine = written(ctx.session)  # this transaction appended last: its entry is the log's size
    return create_checkpoint(ctx, mine.seq if mine is not None and mine.seq >= seq else None)


def checkpoint_if_due(ctx: Ctx, max_age_seconds: float = 60) -> AuditCheckpoint | None:
    """A new checkpoint when entries were added since the last one and it is older than max_age."""
    from portal.audit import witness

    last = latest(ctx.session)
    size = tree_size(ctx.session)
    witness.check_round(ctx, size)  # every round, so a truncation shows even while nothing is signed
    if last is not None and (
        size <= last.tree_size or ctx.now - last.created_at < timedelta(seconds=max_age_seconds)
    ):
        return None
    if last is None and size == 0:
        return None
    return create_checkpoint(ctx, size)


# ---- files ------------------------------------------------------------------------------------


def published(signed: SignedCheckpoint, public: Ed25519PublicKey) -> dict[str, Any]:
    """A checkpoint as it is handed out (a file, /.well-known/portal-audit-checkpoint), with its key."""
    return signed.to_json() | {"public_key": base64.b64encode(raw_public(public)).decode()}


def export_file(row: AuditCheckpoint | SignedCheckpoint, public: Ed25519PublicKey, path: Path) -> None:
    """Write a checkpoint to a JSON file meant to be kept outside the database."""
    signed = SignedCheckpoint.from_row(row) if isinstance(row, AuditCheckpoint) else row
    Path(path).write_text(json.dumps(published(signed, public), indent=2) + "\n")


def import_file(path: Path) -> SignedCheckpoint:
    """A checkpoint from a file: an exported checkpoint, a copy of /.well-known/portal-audit-checkpoint,
    or any receipt (each carries the checkpoint that covers its entry: an outside witness too)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"cannot read checkpoint file {path}: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("checkpoint"), dict):
        data = data["checkpoint"]
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint file {path} does not hold a JSON object")
    return SignedCheckpoint.from_json(data)
