"""Applying the site's events (account, cookie_set, login, email_sent) to the identity graph."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select

from portal.core.context import Ctx
from portal.ingest import erased
from portal.ingest.events import AccountEvent, CookieSetEvent, EmailSentEvent, Event, LoginEvent
from portal.ingest.writer import TERM_CHARS, Found, store_preferences, upsert
from portal.models import Account, PromoEmail, SiteAccount, UnclassifiedCookie
from portal.subjects import identity, suppression
from portal.subjects.cookies import CookieCatalog, decode_search_pref


def apply(ctx: Ctx, events: Sequence[tuple[int, Event]], catalog: CookieCatalog) -> int:
    """Apply events in order; returns how many were attributed to nobody (e.g. mail to an unknown address)."""
    unmatched = 0
    anyone_erased = suppression.generation(ctx.session) > 0
    for _line_no, event in events:
        if anyone_erased and erased.names_erased(ctx, event, catalog):
            unmatched += 1  # dropped: it would only tie an erased person's identifier again
            continue
        if isinstance(event, AccountEvent):
            _account(ctx, event)
        elif isinstance(event, CookieSetEvent):
            _cookie_set(ctx, event, catalog)
        elif isinstance(event, LoginEvent):
            at = event.time or ctx.now
            subject = identity.subject_of_site_user(ctx, event.site_user_id, at)
            identity.attach(
                ctx, "cookie", ctx.settings.id_cookie, event.cookie_value, subject,
                at=at, reason="site login", tied_by="event",
            )  # fmt: skip
        elif isinstance(event, EmailSentEvent):
            unmatched += 0 if _email_sent(ctx, event) else 1
    return unmatched


def _account(ctx: Ctx, event: AccountEvent) -> None:
    at = event.time or ctx.now
    subject = identity.subject_of_site_user(ctx, event.site_user_id, at)
    site = ctx.session.scalar(select(SiteAccount).where(col(SiteAccount.site_user_id) == event.site_user_id))
    assert site is not None
    site.email_hash = identity.email_hash(ctx.settings.secret_key, event.email)
    site.adult_verified = event.adult_verified
    site.updated_at = at
    ctx.session.flush()
    account = _verified_account(ctx, event.email)
    if account is not None:
        identity.merge(
            ctx, account.subject_id, subject, "verified email matches the site account", verified_email=True
        )


def _cookie_set(ctx: Ctx, event: CookieSetEvent, catalog: CookieCatalog) -> None:
    if event.name not in catalog:
        upsert(
            ctx.session,
            UnclassifiedCookie.__table__,  # type: ignore[attr-defined]
            [{"name": event.name[:128], "seen": 1, "first_seen": event.set_at, "last_seen": event.set_at}],
            ("name",),
            lambda ex, t, span: {**span(ex, t), "seen": t.c.seen + ex.seen},
        )
        return
    if event.name not in catalog.secret_names:
        _data_cookie_set(ctx, event)
        return
    if event.site_user_id:
        subject = identity.subject_of_site_user(ctx, event.site_user_id, event.set_at)
    else:
        known = identity.find(ctx, "cookie", event.name, event.value)
        subject = known.subject_id if known else identity.new_subject(ctx, "browser")
    identity.attach(
        ctx,
        "cookie",
        event.name,
        event.value,
        subject,
        at=event.set_at,
        reason="cookie set by the site for this user",
        tied_by="event" if event.site_user_id else identity.SEEN,
        set_at=event.set_at,
        expires_at=event.expires_at,
    )


def _data_cookie_set(ctx: Ctx, event: CookieSetEvent) -> None:
    """A cookie that identifies no one was set: its value is data, never a key. Set for a named
    site user, the search terms the preference cookie holds are theirs (if they allow it); set for
    nobody in particular, it says nothing about anyone and nothing is kept."""
    if not event.site_user_id or event.name != ctx.settings.pref_cookie:
        return
    subject = identity.subject_of_site_user(ctx, event.site_user_id, event.set_at)
    found: Found = {
        (subject, term[:TERM_CHARS], "cookie", ""): [event.set_at, event.set_at, 1]
        for term in decode_search_pref(event.value)
    }
    store_preferences(ctx, found)


def _verified_account(ctx: Ctx, email: str) -> Account | None:
    account = ctx.session.scalar(select(Account).where(col(Account.email) == email.strip().lower()))
    return account if account is not None and account.email_verified_at is not None else None


def _email_sent(ctx: Ctx, event: EmailSentEvent) -> bool:
    subject: int | None = None
    account = _verified_account(ctx, event.email)
    if account is not None:
        subject = account.subject_id
    else:
        digest = identity.email_hash(ctx.settings.secret_key, event.email)
        subject = ctx.session.scalar(
            select(col(SiteAccount.subject_id)).where(col(SiteAccount.email_hash) == digest)
        )
    if subject is None:
        return False
    ctx.session.add(
        PromoEmail(
            subject_id=identity.root(ctx, subject),
            list=event.list[:100],
            campaign=event.campaign[:200],
            at=event.time,
        )
    )
    return True
