"""The "This browser" page: the data tied to the identifying cookies a visitor's browser presents.

Only a cookie whose catalog entry says it identifies a browser can lead anywhere. Every other
catalogued cookie (the search-preference cookie first: strangers who searched the same words carry
the same value) is shown for what it says, decoded, and leads to nobody's data.

Cookie possession alone never unlocks a person's data: when the cookies lead to a subject that
is (or was merged into) a portal account or a site account, nothing is shown and the visitor is
asked to log in. Only an anonymous browser subject is shown and can be changed this way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import delete, select
from sqlmodel import col

from portal import audit
from portal.core.context import Ctx
from portal.models import Identifier, LogRecord, SearchPreference, Subject
from portal.subjects import catalog, consent, identity, tally
from portal.subjects.holdings import identifying_cookies

State = Literal["none", "login", "browser"]


@dataclass(frozen=True)
class CookieSays:
    """A cookie in this browser that identifies no one, and what its value says."""

    name: str
    description: str
    value: str
    terms: list[str] | None  # decoded, for a cookie with a decoder (the search terms)


@dataclass(frozen=True)
class Resolved:
    state: State
    subject_id: int | None = None  # set only for state "browser"
    presented: Mapping[str, str] | None = None  # the identifying cookies presented
    says: list[CookieSays] = field(default_factory=list)


def resolve(ctx: Ctx, cookies: Mapping[str, str]) -> Resolved:
    """Whose data the presented cookies lead to, and whether it may be shown without a login."""
    known = catalog.load(ctx)
    says = [
        CookieSays(name, entry.description, value, entry.decode(value))
        for name, value in sorted(cookies.items())
        if value and (entry := known.get(name)) is not None and not entry.identifies_browser
    ]
    presented = identifying_cookies(ctx, cookies)
    # The identification cookie first: it is what the site itself recognises a browser by.
    order = sorted(presented, key=lambda n: (n != ctx.settings.id_cookie, n))
    subjects: list[int] = []
    for name in order:
        ident = identity.find(ctx, "cookie", name, presented[name])
        if ident is not None:
            subjects.append(identity.root(ctx, ident.subject_id))
    if not subjects:
        return Resolved("none", presented=presented, says=says)
    stmt = select(col(Subject.id), col(Subject.kind)).where(col(Subject.id).in_(subjects))
    kinds = dict(ctx.session.execute(stmt).all())
    # One cookie leading to a person is enough to refuse: the browser may be a shared computer.
    if any(kinds.get(s) in identity.PEOPLE for s in subjects):
        return Resolved("login", presented=presented, says=says)
    return Resolved("browser", subjects[0], presented, says)


def revoke_personalization(ctx: Ctx, subject_id: int) -> tuple[int, int | None]:
    """Personalised content off for this browser and its search terms deleted: (terms, receipt seq)."""
    change, forgotten = consent.revoke_personalization(ctx, subject_id, via="portal")
    return forgotten, change.entry.seq if change.entry else None


def delete_records(ctx: Ctx, subject_id: int) -> int:
    """Delete the browser's log records, search preferences and cookie records; the receipt seq.

    The subject and its consent choices stay: a refusal must outlive the data it refused.
    """
    s = ctx.session
    counts: dict[str, int] = {}
    for label, model in (
        ("log_records", LogRecord),
        ("search_preferences", SearchPreference),
        ("identifiers", Identifier),
    ):
        result = s.execute(delete(model).where(col(model.subject_id) == subject_id))
        counts[label] = int(result.rowcount or 0)  # type: ignore[attr-defined]
    tally.add(s, {subject_id: -counts["log_records"]})
    return audit.record(ctx, "browser.delete", subject_id=subject_id, details=counts).seq
