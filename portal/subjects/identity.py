"""The identity graph: which subject a strong identifier belongs to, and merging subjects.

Rules (DESIGN.md §2): only identifiers link data to a subject — values of catalogued cookies whose
entry says they identify a browser, site user ids, keyed hashes of verified emails. Every other
cookie (the search-preference cookie first: strangers who searched the same words share its value)
is data about the request it came with, never a key; an IP address or a user agent never is
either. Identifiers seen together belong together (union-find: a merged subject points at the one
it joined, and its rows are moved, so lookups stay one step). Two subjects that are each a known
person (a portal account or a site account) are never merged by shared cookies — a shared computer
must not show one person's data to another; only a verified email joins a portal account to its
site account.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlmodel import col

from portal import audit
from portal.core.context import Ctx
from portal.core.crypto import keyed_hash
from portal.models import (
    Account,
    Consent,
    ConsentEvent,
    Identifier,
    LogRecord,
    PromoEmail,
    SearchPreference,
    SiteAccount,
    Subject,
    SubjectLink,
)
from portal.subjects import tally

# Which subject survives a merge: the one a person can log in to, then a site account, then a browser.
RANK = {"account": 3, "site": 2, "browser": 1}
PEOPLE = {"account", "site"}
Key = tuple[str, str, str]  # (kind, name, value_hash)
# Ties that name the person (kept by `portal relink`), and the one it re-derives from log lines.
NAMED_TIES = frozenset({"event", "claim", "kept"})
SEEN = "seen"


def value_hash(ctx: Ctx, kind: str, name: str, value: str) -> str:
    return keyed_hash(ctx.settings.secret_key, f"identifier:{kind}:{name}", value)


def email_hash(secret: bytes, email: str) -> str:
    return keyed_hash(secret, "email", email.strip().lower())


def new_subject(ctx: Ctx, kind: str) -> int:
    subject = Subject(kind=kind, created_at=ctx.now)
    ctx.session.add(subject)
    ctx.session.flush()
    return subject.id  # type: ignore[return-value]


def root(ctx: Ctx, subject_id: int) -> int:
    """Follow merges to the subject that holds the data now."""
    seen = 0
    while True:
        parent = ctx.session.scalar(select(col(Subject.merged_into_id)).where(col(Subject.id) == subject_id))
        if parent is None or seen > 64:
            return subject_id
        subject_id, seen = parent, seen + 1


@dataclass
class MergeRefused:
    kept: int
    other: int


def merge(ctx: Ctx, a: int, b: int, reason: str, *, verified_email: bool = False) -> int | MergeRefused:
    """Make `a` and `b` one subject; returns the survivor, or MergeRefused for two known people.

    `verified_email` allows the one join of two people there is: a portal account and the site
    account registered with the same, verified, email address.
    """
    a, b = root(ctx, a), root(ctx, b)
    if a == b:
        return a
    stmt = select(col(Subject.id), col(Subject.kind)).where(col(Subject.id).in_([a, b]))
    kinds = dict(ctx.session.execute(stmt).all())
    both_people = kinds.get(a) in PEOPLE and kinds.get(b) in PEOPLE
    if both_people and not (verified_email and {kinds.get(a), kinds.get(b)} == {"account", "site"}):
        audit.record(ctx, "subject.link_refused", subject_id=a, details={"reason": reason})
        return MergeRefused(a, b)
    winner, loser = sorted((a, b), key=lambda s: (-RANK.get(kinds.get(s, ""), 0), s))
    s = ctx.session
    for model in (Identifier, LogRecord, SiteAccount, PromoEmail, ConsentEvent):
        done = s.execute(update(model).where(col(model.subject_id) == loser).values(subject_id=winner))
        if model is LogRecord:
            records = int(done.rowcount or 0)  # type: ignore[attr-defined]
            tally.add(s, {winner: records, loser: -records})
    personalised = _merge_consent(ctx, winner, loser)
    _merge_preferences(ctx, winner, loser, keep=personalised)
    s.execute(update(Subject).where(col(Subject.id) == loser).values(merged_into_id=winner))
    s.add(SubjectLink(subject_id=winner, merged_id=loser, reason=reason[:200], at=ctx.now))
    s.flush()
    audit.record(
        ctx,
        "subject.link",
        subject_id=winner,
        details={"merged": audit.subject_ref(ctx.settings.secret_key, loser), "reason": reason},
    )
    return winner


def _merge_preferences(ctx: Ctx, winner: int, loser: int, *, keep: bool) -> None:
    """The loser's search terms join the winner's, unless the merged subject refuses personalisation:
    then no term is recorded about it at all (a browser's terms must not slip in at login)."""
    s = ctx.session
    if not keep:
        s.execute(delete(SearchPreference).where(col(SearchPreference.subject_id).in_([winner, loser])))
        return
    kept = {
        (p.term, p.source, p.engine): p
        for p in s.scalars(select(SearchPreference).where(col(SearchPreference.subject_id) == winner))
    }
    for pref in s.scalars(select(SearchPreference).where(col(SearchPreference.subject_id) == loser)).all():
        same = kept.get((pref.term, pref.source, pref.engine))
        if same is None:
            pref.subject_id = winner
            continue
        same.times += pref.times
        same.first_seen = min(same.first_seen, pref.first_seen)
        same.last_seen = max(same.last_seen, pref.last_seen)
        s.delete(pref)
    s.flush()


def _merge_consent(ctx: Ctx, winner: int, loser: int) -> bool:
    """The merged subject keeps every refusal either side made: a choice is never silently undone.
    Returns whether personalisation is still allowed for it."""
    s = ctx.session
    lost = s.get(Consent, loser)
    kept = s.get(Consent, winner)
    if lost is None:
        return kept is None or kept.personalization
    if kept is None:
        kept = Consent(subject_id=winner, updated_at=ctx.now)
        s.add(kept)
    kept.personalization = kept.personalization and lost.personalization
    kept.marketing = kept.marketing and lost.marketing
    kept.email = kept.email and lost.email
    kept.updated_at = ctx.now
    s.delete(lost)
    s.flush()
    return kept.personalization


def find(ctx: Ctx, kind: str, name: str, value: str) -> Identifier | None:
    return ctx.session.scalar(
        select(Identifier).where(
            col(Identifier.kind) == kind,
            col(Identifier.name) == name,
            col(Identifier.value_hash) == value_hash(ctx, kind, name, value),
        )
    )


def attach(
    ctx: Ctx,
    kind: str,
    name: str,
    value: str,
    subject_id: int,
    *,
    at: datetime,
    reason: str,
    tied_by: str,
    set_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> Identifier:
    """Tie an identifier to `subject_id`, merging with the subject it had (if any).

    Callers pass identifiers only (DESIGN.md §2); `tied_by` is the evidence (see Identifier.tied_by).
    """
    ident = find(ctx, kind, name, value)
    if ident is None:
        ident = Identifier(
            kind=kind,
            name=name,
            value_hash=value_hash(ctx, kind, name, value),
            value=value,
            subject_id=subject_id,
            first_seen=at,
            last_seen=at,
            set_at=set_at,
            expires_at=expires_at,
            tied_by=tied_by,
        )
        ctx.session.add(ident)
        ctx.session.flush()
        return ident
    if ident.subject_id != subject_id:
        merge(ctx, subject_id, ident.subject_id, reason)
        ctx.session.refresh(ident)
    if tied_by in NAMED_TIES and ident.subject_id == root(ctx, subject_id):
        ident.tied_by = tied_by
    ident.last_seen = max(ident.last_seen, at)
    ident.set_at = set_at or ident.set_at
    ident.expires_at = expires_at or ident.expires_at
    return ident


def subject_of_site_user(ctx: Ctx, site_user_id: str, at: datetime) -> int:
    """The subject of a site account, created on first mention."""
    found = ctx.session.scalar(
        select(col(SiteAccount.subject_id)).where(col(SiteAccount.site_user_id) == site_user_id)
    )
    if found is not None:
        return root(ctx, found)
    subject_id = new_subject(ctx, "site")
    ctx.session.add(
        SiteAccount(
            site_user_id=site_user_id, email_hash="", subject_id=subject_id, created_at=at, updated_at=at
        )
    )
    attach(ctx, "site_user", "", site_user_id, subject_id, at=at, reason="site account", tied_by="event")
    ctx.session.flush()
    return subject_id


def link_verified_email(ctx: Ctx, account: Account) -> None:
    """A portal account whose email is verified takes over the site account with the same email."""
    digest = email_hash(ctx.settings.secret_key, account.email)
    for site in ctx.session.scalars(select(SiteAccount).where(col(SiteAccount.email_hash) == digest)).all():
        merge(
            ctx,
            account.subject_id,
            site.subject_id,
            "verified email matches the site account",
            verified_email=True,
        )


def claim_browser(ctx: Ctx, subject_id: int, cookies: Iterable[tuple[str, str]]) -> int:
    """Link the identifying cookies a logged-in user's browser presents; returns how many were new.

    `cookies` must hold identifying cookies only: a value strangers can share (the search-preference
    cookie) never claims anything. Only anonymous browser data moves: a cookie already tied to a
    person stays where it is.
    """
    linked = 0
    for name, value in cookies:
        ident = find(ctx, "cookie", name, value)
        if ident is None:
            continue
        owner = root(ctx, ident.subject_id)
        if owner == subject_id:
            if ident.tied_by not in NAMED_TIES:
                ident.tied_by = "claim"  # presented while logged in: the strongest evidence there is
            continue
        if ctx.session.get(Subject, owner).kind != "browser":  # type: ignore[union-attr]
            continue
        result = merge(ctx, subject_id, ident.subject_id, f"{name} cookie presented while logged in")
        if not isinstance(result, MergeRefused):
            ctx.session.refresh(ident)
            ident.tied_by = "claim"
            linked += 1
    return linked
