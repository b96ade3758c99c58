"""The one audit writer: every state change appends exactly one entry in its own transaction.

An entry's canonical bytes are the RFC 8785 (JCS) encoding of
    {"v", "seq", "at", "actor", "action", "subject", "details_sha256", "prev"}
`entry_hash` is the RFC 6962 leaf hash SHA-256(0x00 || canonical) and `prev` is the previous
entry's hash, so the rows form a chain and the chain's links are exactly the leaves of the
Merkle tree that checkpoints sign (see portal/merkle.py): one hash per entry serves both, which
halves the verifier's hashing and lets a receipt be checked with one leaf hash. Personal data
never enters those bytes: the subject is an HMAC pseudonym and the details live in
`audit_detail`, hashed with a random salt so that blanking them at erasure leaves nothing to
brute-force.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime
from typing import Any

import rfc8785
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from portal.audit.merkle import leaf_hash
from portal.core.context import Ctx
from portal.core.crypto import keyed_hash
from portal.core.errors import AuditError
from portal.core.store import WriteNeeded, lock_for_audit
from portal.models import AuditDetail, AuditEntry

GENESIS = "0" * 64
FORMAT_VERSION = 1


def subject_ref(secret: bytes, subject_id: int | None) -> str | None:
    """Pseudonymous, stable reference to a subject; meaningless without the server secret."""
    return None if subject_id is None else keyed_hash(secret, "audit-subject", str(subject_id))


def format_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_entry(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str | None,
    details_sha256: str,
    prev: str,
) -> bytes:
    return rfc8785.dumps(
        {
            "v": FORMAT_VERSION,
            "seq": seq,
            "at": format_time(at),
            "actor": actor,
            "action": action,
            "subject": subject,
            "details_sha256": details_sha256,
            "prev": prev,
        }
    )


def entry_hash_of(canonical: bytes) -> str:
    return leaf_hash(canonical).hex()


def details_digest(salt: bytes, details_json: bytes) -> str:
    return hashlib.sha256(salt + details_json).hexdigest()


_HEAD = "portal.audit.head"
_ENTRY = insert(AuditEntry.__table__)  # type: ignore[attr-defined]
_DETAIL = insert(AuditDetail.__table__)  # type: ignore[attr-defined]


def _head(session: Session) -> tuple[int, str] | None:
    """The last entry's (seq, hash), with the append lock taken. Once this transaction has appended
    (outside a savepoint) it holds the lock, so nobody else can have moved the head since: the
    entry it wrote is the head, and the second entry of a transaction costs no lock and no read."""
    mine = written(session)
    if mine is not None:
        return mine.seq, mine.entry_hash
    lock_for_audit(session)
    last = session.execute(
        select(col(AuditEntry.seq), col(AuditEntry.entry_hash)).order_by(col(AuditEntry.seq).desc()).limit(1)
    ).first()
    return (last[0], last[1]) if last else None


def written(session: Session) -> AuditEntry | None:
    """The entry this transaction appended last, while it is still the log's head: the transaction
    holds the append lock from its first entry on (outside a savepoint), so no one else can have
    appended since. Saves the reads of the head and of the log's size that follow an append."""
    cached = session.info.get(_HEAD)
    if cached and cached[0] is session.get_transaction() and not session.in_nested_transaction():
        entry: AuditEntry = cached[1]
        return entry
    return None


def record(
    ctx: Ctx,
    action: str,
    *,
    subject_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry inside ctx's transaction; raise AuditError (and so roll back) on failure."""
    session = ctx.session
    try:
        last = _head(session)
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        details_json = rfc8785.dumps(details or {})
        salt = secrets.token_bytes(16)
        digest = details_digest(salt, details_json)
        ref = subject_ref(ctx.settings.secret_key, subject_id)
        at = ctx.now.astimezone(UTC)
        canonical = canonical_entry(
            seq=seq,
            at=at,
            actor=ctx.actor,
            action=action,
            subject=ref,
            details_sha256=digest,
            prev=prev,
        )
        entry = AuditEntry(
            seq=seq,
            at=at,
            actor=ctx.actor,
            action=action,
            subject_ref=ref,
            details_sha256=digest,
            prev_hash=prev,
            entry_hash=entry_hash_of(canonical),
            canonical=canonical,
        )
        # What the transaction added before is written before the entry, as it always was; the
        # entry itself goes as two plain INSERTs, without the unit of work's bookkeeping (a
        # third of an erasure's Python time went on flushing its audit rows).
        session.flush()
        session.execute(_ENTRY, {c.name: getattr(entry, c.name) for c in _ENTRY.table.columns})
        session.execute(
            _DETAIL, {"seq": seq, "salt": salt, "details": details_json.decode(), "erased_at": None}
        )
        if session.in_nested_transaction():  # a savepoint's rollback could take this entry back
            session.info.pop(_HEAD, None)
        else:
            session.info[_HEAD] = (session.get_transaction(), entry)
    except (AuditError, WriteNeeded):  # a read-first unit of work is rerun as a writer
        raise
    except Exception as exc:
        raise AuditError(f"audit append failed: {exc.__class__.__name__}") from exc
    return entry


def erase_details(ctx: Ctx, seqs: list[int]) -> int:
    """Blank the details of entries (erasure): details and salt go, erased_at says when. The verifier
    accepts blank details only with that mark, so a deleted or blanked row is never taken for erasure.
    The caller records the erasure itself as an audit entry. Returns how many rows were blanked."""
    result = ctx.session.execute(
        update(AuditDetail)
        .where(col(AuditDetail.seq).in_(seqs), col(AuditDetail.erased_at).is_(None))
        .values(details=None, salt=None, erased_at=ctx.now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def details_of(ctx: Ctx, seq: int) -> dict[str, Any] | None:
    row = ctx.session.get(AuditDetail, seq)
    if row is None or row.details is None:
        return None
    loaded: dict[str, Any] = json.loads(row.details)
    return loaded


def entries_for_subject(ctx: Ctx, subject_id: int, limit: int = 100) -> list[AuditEntry]:
    ref = subject_ref(ctx.settings.secret_key, subject_id)
    return list(
        ctx.session.scalars(
            select(AuditEntry)
            .where(col(AuditEntry.subject_ref) == ref)
            .order_by(col(AuditEntry.seq).desc())
            .limit(limit)
        )
    )
