"""Consent state per subject: personalization, marketing use, promotional email — and its history.

A subject without a row has the site's defaults (all on). Every change writes a history row and
one audit entry in the same transaction; the audit entry's sequence number is the receipt.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from portal import audit
from portal.core.context import Ctx
from portal.core.crypto import keyed_hash
from portal.core.errors import TokenInvalid, ValidationError
from portal.core.settings import Settings
from portal.models import (
    CONSENT_FIELDS,
    CONSENT_VIA,
    AuditEntry,
    Consent,
    ConsentEvent,
    SearchPreference,
    Subject,
)
from portal.subjects import deletion, identity

LABELS = {
    "personalization": "Personalised content",
    "marketing": "Marketing use of my data",
    "email": "Promotional email",
}
VIA_LABELS = {
    "portal": "in the portal",
    "gpc": "Global Privacy Control signal",
    "email_link": "one-click email link",
    "staff": "by staff",
    "site": "by the site",
}
_UNSUBSCRIBE_PURPOSE = "unsubscribe-link"


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
            .where(col(ConsentEvent.subject_id) == subject_id)
            .order_by(col(ConsentEvent.at).desc(), col(ConsentEvent.id).desc())
            .limit(limit)
        )
    )


def set_choice(ctx: Ctx, subject_id: int, field: str, value: bool, *, via: str) -> Change:
    """Record one choice; effective at once. Setting what is already set changes nothing."""
    return _apply(ctx, subject_id, field, value, via=via)


def _apply(
    ctx: Ctx, subject_id: int, field: str, value: bool, *, via: str, details: dict[str, Any] | None = None
) -> Change:
    if field not in CONSENT_FIELDS:
        raise ValidationError(f"Unknown choice {field!r}.", "field")
    if via not in CONSENT_VIA:
        raise ValidationError(f"Unknown channel {via!r}.", "via")
    row = _locked_row(ctx, subject_id)
    if getattr(row, field) == value:
        return Change(field, value, False, None)
    setattr(row, field, value)
    row.updated_at = ctx.now
    entry = audit.record(
        ctx,
        f"consent.{field}.{'on' if value else 'off'}",
        subject_id=subject_id,
        details={"via": via, **(details or {})},
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


def _locked_row(ctx: Ctx, subject_id: int) -> Consent:
    """The subject's row, locked; created first if missing (two first changes at once both succeed)."""
    row = ctx.session.get(Consent, subject_id, with_for_update=True)
    if row is not None:
        return row
    try:
        with ctx.session.begin_nested():
            ctx.session.add(Consent(subject_id=subject_id, updated_at=ctx.now))
    except IntegrityError:
        pass  # a concurrent request created it; lock theirs
    row = ctx.session.get(Consent, subject_id, with_for_update=True, populate_existing=True)
    assert row is not None
    return row


def forget_search_preferences(ctx: Ctx, subject_id: int) -> deletion.Forgotten:
    """Delete every recorded search term of a subject and every copy of it (after the person confirmed)."""
    return deletion.forget_terms(ctx, subject_id)


def search_preference_count(ctx: Ctx, subject_id: int) -> int:
    return int(
        ctx.session.scalar(
            select(func.count())
            .select_from(SearchPreference)
            .where(col(SearchPreference.subject_id) == subject_id)
        )
        or 0
    )


def revoke_personalization(ctx: Ctx, subject_id: int, *, via: str = "portal") -> tuple[Change, int]:
    """Personalization off and every recorded search preference deleted: one use case, one entry.

    Deleting happens even when personalization was already off (preferences may have been merged
    in from another browser since); the audit entry then records the deletion alone.
    """
    row = _locked_row(ctx, subject_id)
    was_on = row.personalization
    forgotten = forget_search_preferences(ctx, subject_id)
    deleted = forgotten.preferences
    copies = {"copies_redacted": forgotten.records, "exports_withdrawn": forgotten.exports}
    details: dict[str, Any]
    if was_on:
        details = {"search_preferences_deleted": deleted, **copies}
        change = _apply(ctx, subject_id, "personalization", False, via=via, details=details)
        return change, deleted
    entry = None
    if deleted or forgotten.records:
        details = {"deleted": deleted, "via": via, **copies}
        entry = audit.record(ctx, "search_preferences.delete", subject_id=subject_id, details=details)
    return Change("personalization", False, False, entry), deleted


# ---- Global Privacy Control -------------------------------------------------------------------


def honour_gpc(ctx: Ctx, subject_id: int) -> Change:
    """A `Sec-GPC: 1` request opts the subject out of marketing use, once.

    A person who, after an earlier GPC opt-out, turns marketing use back on in the portal has made
    an explicit choice the signal does not override (CCPA regulations §7025(c)(3)); otherwise a
    subject whose marketing use is on is switched off. Off already: nothing is written at all, so
    the signal costs one read per request and no audit entry after the first.
    """
    row = ctx.session.get(Consent, subject_id)
    if row is not None and not row.marketing:
        return Change("marketing", False, False, None)
    if _opted_in_after_gpc(ctx, subject_id):
        return Change("marketing", True, False, None)
    return _apply(ctx, subject_id, "marketing", False, via="gpc")


def _opted_in_after_gpc(ctx: Ctx, subject_id: int) -> bool:
    events = ctx.session.execute(
        select(col(ConsentEvent.value), col(ConsentEvent.via))
        .where(col(ConsentEvent.subject_id) == subject_id, col(ConsentEvent.field) == "marketing")
        .order_by(col(ConsentEvent.at).desc(), col(ConsentEvent.id).desc())
    ).all()
    if not events or not events[0].value or events[0].via != "portal":
        return False
    return any(e.via == "gpc" for e in events[1:])


# ---- one-click unsubscribe links ---------------------------------------------------------------


def unsubscribe_token(settings: Settings, subject_id: int) -> str:
    """A link token for promotional mail: the subject id and an HMAC of it, no database row.

    It never expires (mail is read months later) and needs no secret storage; it only ever
    unsubscribes, so someone who holds it can do nothing else with it.
    """
    return f"{subject_id}.{_mac(settings, subject_id)}"


def subject_of_unsubscribe_token(settings: Settings, token: str) -> int:
    sid, _, mac = token.partition(".")
    # compare_digest refuses non-ASCII text: a hand-edited link must be an invalid link, not a crash.
    well_formed = sid.isascii() and sid.isdigit() and len(sid) <= 10 and mac.isascii()
    if not well_formed or not hmac.compare_digest(mac, _mac(settings, int(sid))):
        raise TokenInvalid("This unsubscribe link is not valid. Please copy the whole link from the email.")
    return int(sid)


def _mac(settings: Settings, subject_id: int) -> str:
    digest = bytes.fromhex(keyed_hash(settings.secret_key, _UNSUBSCRIBE_PURPOSE, str(subject_id)))
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def unsubscribe_target(ctx: Ctx, token: str) -> tuple[int | None, bool]:
    """(subject now holding the data, still subscribed?) for a valid token; None if erased."""
    subject_id = subject_of_unsubscribe_token(ctx.settings, token)
    if ctx.session.get(Subject, subject_id) is None:
        return None, False
    root = identity.root(ctx, subject_id)
    return root, state(ctx, root).email


def unsubscribe(ctx: Ctx, token: str) -> Change:
    """The one-click link: promotional email off, via the email link, no login needed."""
    subject_id, _subscribed = unsubscribe_target(ctx, token)
    if subject_id is None:  # erased: nobody left to mail (the suppression list keeps it so)
        return Change("email", False, False, None)
    return _apply(ctx, subject_id, "email", False, via="email_link")
