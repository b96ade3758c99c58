"""What outlives an erasure so that the person stays erased, as keyed hashes only.

- The **suppression list**: the HMAC of each erased person's email address. The site asks it before
  sending promotional mail (`mailable`, `portal suppressions filter|check|export`), so the person is
  never mailed promotions again, not even after registering anew: the list is keyed by the address,
  not by an account.
- **Erased identifiers**: the keyed hashes `identifier.value_hash` uses, of their identification
  cookies and site user ids. Ingest stores a later log line carrying one unlinked, with the value
  REDACTED, and drops a site event naming one (portal/ingest/erased.py), so nothing ties data to
  them again.

Ingest and the erasure engine meet at one lock on PostgreSQL: every ingest batch holds it shared,
and the engine takes it exclusively while it erases identifiers, so no batch that looked an
identifier up before the erasure committed can link a line to the erased subject afterwards. (On
SQLite every write transaction already holds the store's write lock.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel import col

from portal.core.context import Ctx
from portal.core.crypto import keyed_hash
from portal.models import ErasedIdentifier, Suppression
from portal.subjects import identity

_PURPOSE = "suppression"
# pg_advisory_xact_lock key shared by ingest batches and the engine's erasure of identifiers.
INGEST_LOCK_ID = 0x65726173  # "eras"
_CHUNK = 500


def email_key(secret: bytes, email: str) -> str:
    return keyed_hash(secret, _PURPOSE, email.strip().lower())


def _insert_ignoring(session: Session, table: Table, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    postgres = session.get_bind().dialect.name == "postgresql"
    stmt = (postgresql.insert if postgres else sqlite.insert)(table).on_conflict_do_nothing()
    return int(session.execute(stmt, rows).rowcount or 0)  # type: ignore[attr-defined]


def suppress(ctx: Ctx, emails: Iterable[str], reason: str = "erasure") -> int:
    """Put addresses on the suppression list (again is harmless); returns how many are new."""
    keys = sorted({email_key(ctx.settings.secret_key, e) for e in emails if e and e.strip()})
    table: Table = Suppression.__table__  # type: ignore[attr-defined]
    return _insert_ignoring(
        ctx.session, table, [{"email_hash": k, "reason": reason, "created_at": ctx.now} for k in keys]
    )


def mailable(session: Session, secret: bytes, emails: Sequence[str]) -> list[str]:
    """The addresses that may receive promotional mail, in their order: those not on the list."""
    keys = [email_key(secret, e) for e in emails]
    suppressed: set[str] = set()
    unique = sorted(set(keys))
    for i in range(0, len(unique), _CHUNK):
        suppressed.update(
            session.scalars(
                select(col(Suppression.email_hash)).where(
                    col(Suppression.email_hash).in_(unique[i : i + _CHUNK])
                )
            )
        )
    return [e for e, k in zip(emails, keys, strict=True) if k not in suppressed]


def is_suppressed(session: Session, secret: bytes, email: str) -> bool:
    return not mailable(session, secret, [email])


def listing(session: Session) -> list[Suppression]:
    return list(
        session.scalars(
            select(Suppression).order_by(col(Suppression.created_at), col(Suppression.email_hash))
        )
    )


# -- erased identifiers ---------------------------------------------------------------------------


def forget_identifiers(ctx: Ctx, keys: Iterable[tuple[str, str, str]]) -> int:
    """Remember (kind, name, value_hash) of identifiers being erased; returns how many are new."""
    table: Table = ErasedIdentifier.__table__  # type: ignore[attr-defined]
    rows = [
        {"kind": kind, "name": name, "value_hash": digest, "erased_at": ctx.now}
        for kind, name, digest in sorted(set(keys))
    ]
    return _insert_ignoring(ctx.session, table, rows)


def generation(session: Session) -> int:
    """Grows with every identifier erased (0: none ever was): a cache filled at an older
    generation may name an erased identifier and must be refilled."""
    return int(session.scalar(select(func.coalesce(func.max(ErasedIdentifier.id), 0))) or 0)


def erased_among(session: Session, kind: str, name: str, hashes: Sequence[str]) -> set[str]:
    """Which of these value hashes (of identifiers of `kind` and `name`) belong to erased people."""
    found: set[str] = set()
    for i in range(0, len(hashes), _CHUNK):
        found.update(
            session.scalars(
                select(col(ErasedIdentifier.value_hash)).where(
                    col(ErasedIdentifier.kind) == kind,
                    col(ErasedIdentifier.name) == name,
                    col(ErasedIdentifier.value_hash).in_(hashes[i : i + _CHUNK]),
                )
            )
        )
    return found


def is_erased(ctx: Ctx, kind: str, name: str, value: str) -> bool:
    """Is this identifier (a cookie value, a site user id) one of an erased person?"""
    digest = identity.value_hash(ctx, kind, name, value)
    return bool(erased_among(ctx.session, kind, name, [digest]))


def guard_ingest(session: Session) -> None:
    """Held (shared) by each ingest batch for its whole transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock_shared(:id)"), {"id": INGEST_LOCK_ID})


def exclude_ingest(session: Session) -> None:
    """Held (exclusively) while identifiers are erased: waits for the ingest batches in flight."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": INGEST_LOCK_ID})
