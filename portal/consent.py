"""Consent state per subject: personalization, marketing use, promotional email — and its history.

A subject without a row has the site's defaults (all on). Every change writes a history row and
one audit entry in the same transaction; the audit entry's sequence number is the receipt.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select

from portal import audit
from portal.context import Ctx
from portal.errors import ValidationError
from portal.models import CONSENT_FIELDS, CONSENT_VIA, AuditEntry, Consent, ConsentEvent, SearchPreference

LABELS = {
    "personalization": "Personalised content",
    "marketing": "Marketing use of my data",
    "email": "Promotional email",
}


@dataclass(frozen=True)
class Change:
    field: str
    value: bool
    changed: bool
    entry: AuditEntry | None  # None when nothing changed (no audit entry, no receipt)


def state(ctx: Ctx, subject_id: int) -> Consent:
    """The current choices (a transient default object when the subject never changed anything)."""
    row = ctx.session.get(Consent, subject_id)
    return row if row is not None else Consent(subject_id=subject_id, updated_at=ctx.now)


def history(ctx: Ctx, subject_id: int, limit: int = 200) -> list[ConsentEvent]:
    return list(
        ctx.session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.subject_id == subject_id)
            .order_by(ConsentEvent.at.desc(), ConsentEvent.id.desc())  # type: ignore[attr-defined,union-attr]
            .limit(limit)
        )
    )


def set_choice(ctx: Ctx, subject_id: int, field: str, value: bool, *, via: str) -> Change:
    """Record one choice; effective at once. Setting what is already set changes nothing."""
    if field not in CONSENT_FIELDS:
        raise ValidationError(f"Unknown choice {field!r}.", "field")
    if via not in CONSENT_VIA:
        raise ValidationError(f"Unknown channel {via!r}.", "via")
    row = ctx.session.get(Consent, subject_id, with_for_update=True)
    if row is None:
        row = Consent(subject_id=subject_id, updated_at=ctx.now)
        ctx.session.add(row)
    if getattr(row, field) == value:
        return Change(field, value, False, None)
    setattr(row, field, value)
    row.updated_at = ctx.now
    entry = audit.record(
        ctx, f"consent.{field}.{'on' if value else 'off'}", subject_id=subject_id, details={"via": via}
    )
    ctx.session.add(
        ConsentEvent(
            subject_id=subject_id,
            field=field,
            value=value,
            via=via,
            actor=ctx.actor,
            at=ctx.now,
            audit_seq=entry.seq,
        )
    )
    ctx.session.flush()
    return Change(field, value, True, entry)


def forget_search_preferences(ctx: Ctx, subject_id: int) -> int:
    """Delete every recorded search preference of a subject (after the person confirmed)."""
    result = ctx.session.execute(delete(SearchPreference).where(SearchPreference.subject_id == subject_id))  # type: ignore[arg-type]
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
