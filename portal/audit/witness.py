"""The witness file: every checkpoint the portal signs, appended outside the store.

Checkpoints in the store prove nothing to someone who can delete them together with the entries
they cover. So each signed checkpoint is also appended, one JSON object per line, to a file beside
the signing key (default VAR_DIR/audit-witness.jsonl), served at /.well-known/portal-audit-checkpoint
for anyone to keep a copy of. `portal audit verify` checks the store against the newest line, and
the signer refuses to sign a log that is not a consistent extension of it (see checkpoints.py).
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import event, select
from sqlalchemy.orm import Session
from sqlmodel import col

from portal.audit.checkpoints import CheckpointError, SignedCheckpoint, compute_root, signature_ok
from portal.core.context import Ctx
from portal.core.files import PRIVATE_FILE, private_dir
from portal.core.settings import Settings
from portal.models import AuditEntry

TAIL = 64 * 1024  # more than any line: the newest checkpoint is read from the end of the file


class RollbackError(CheckpointError):
    """The store is not a consistent extension of the newest witnessed checkpoint: entries were
    removed or rewritten. The signer stops until an operator looks (`portal audit verify`)."""


# Why this process's signer stopped, per witness file; /healthz reports it.
_problems: dict[Path, str] = {}
# The newest entry (seq, hash) this process's housekeeping saw, per witness file.
_seen: dict[Path, tuple[int, str | None]] = {}


def problem(settings: Settings) -> str | None:
    return _problems.get(settings.witness_path)


def check_extends(ctx: Ctx, size: int, public: Ed25519PublicKey) -> None:
    """Raise RollbackError unless the log's first `size` entries extend the newest witnessed tree:
    at least as many entries, and the witnessed prefix hashing to the witnessed root (RFC 6962
    consistency, checked by recomputing the prefix's root from the stored entries)."""
    try:
        _check_extends(ctx, size, public)
    except RollbackError as exc:
        _problems[ctx.settings.witness_path] = str(exc)
        raise


def _check_extends(ctx: Ctx, size: int, public: Ed25519PublicKey) -> None:
    path = ctx.settings.witness_path
    last = newest(path)
    if last is None:
        return
    if not signature_ok(public, last):
        raise RollbackError(f"the newest checkpoint in {path} is not signed by this portal's audit key")
    _origin, witnessed, root, at = last.parsed
    if size < witnessed:
        raise RollbackError(
            f"refusing to sign: the store holds {size} audit entries but checkpoint {witnessed}@{at} "
            f"was witnessed in {path}; entries {size + 1}..{witnessed} were removed"
        )
    try:
        now = compute_root(ctx.session, witnessed)
    except CheckpointError as exc:
        raise RollbackError(f"refusing to sign: {exc} (checkpoint {witnessed}@{at} was witnessed)") from exc
    if now != root:
        raise RollbackError(
            f"refusing to sign: the first {witnessed} audit entries no longer hash to the root "
            f"witnessed at {at} in {path}; history was rewritten"
        )


def check_round(ctx: Ctx, size: int) -> None:
    """The cheap checks of every housekeeping round (a few seconds apart): fewer entries than the
    witness holds, or a newest entry this process saw earlier that is gone or different. The second
    reaches entries no checkpoint covers yet, for as long as the process runs."""
    path = ctx.settings.witness_path
    last = newest(path)
    message = ""
    if last is not None and size < last.parsed[1]:
        message = (
            f"the store holds {size} audit entries but checkpoint {last.parsed[1]}@{last.parsed[3]} "
            f"was witnessed in {path}; entries were removed"
        )
    seen = _seen.get(path)
    if not message and seen is not None and _hash_at(ctx, seen[0]) != seen[1]:
        message = f"audit entry {seen[0]}, stored when this process last looked, is gone or was rewritten"
    if message:
        _problems[path] = message
        raise RollbackError(message)
    if size:
        _seen[path] = (size, _hash_at(ctx, size))


def _hash_at(ctx: Ctx, seq: int) -> str | None:
    return ctx.session.scalar(select(col(AuditEntry.entry_hash)).where(col(AuditEntry.seq) == seq))


def newest(path: Path) -> SignedCheckpoint | None:
    """The last checkpoint in the file, or None when there is no file (or nothing in it)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - TAIL))
            tail = fh.read()
    except FileNotFoundError:
        return None
    lines = [line for line in tail.split(b"\n") if line.strip()]
    if not lines:
        return None
    try:
        data = json.loads(lines[-1])
    except ValueError as exc:
        raise CheckpointError(f"the last line of the witness file {path} is not JSON") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"the last line of the witness file {path} is not a checkpoint")
    return SignedCheckpoint.from_json(data)


def append(path: Path, signed: SignedCheckpoint) -> bool:
    """Append `signed` unless the file already ends with a bigger tree (a concurrent signer's);
    False when it was not needed. Appends from several processes never interleave (a file lock)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
    with os.fdopen(fd, "ab") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        last = newest(path)
        if last is not None and last.parsed[1] > signed.parsed[1]:
            return False
        fh.write(json.dumps(signed.to_json(), separators=(",", ":")).encode() + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    return True


def append_after_commit(session: Session, path: Path, signed: SignedCheckpoint) -> None:
    """Witness `signed` once the transaction that stored it commits: a checkpoint over entries that
    were then rolled back must never become the history every later one has to extend."""

    def witness(_session: Session) -> None:
        append(path, signed)
        _problems.pop(path, None)

    event.listen(session, "after_commit", witness, once=True)
