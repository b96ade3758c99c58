"""What an erasure will delete (counted per category of the personal-data registry) and what it keeps
and why — shown to the person before they confirm, and the list the erasure engine works from."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from portal.core.context import Ctx
from portal.subjects import registry

# Categories an erasure keeps, in part, and why. Everything else in the registry is deleted.
KEPT_CATEGORIES = {
    registry.AUDIT_KEY: (
        "The tamper-evident log must stay complete to prove what was done and when (GDPR Art. 5(2)). "
        "Its entries name you only by a pseudonym; their details are blanked."
    ),
    "requests": (
        "Each request's kind, dates and outcome, without anything you wrote, to prove it was answered on "
        "time (GDPR Art. 5(2)); California's regulations also ask for yearly counts."
    ),
    "request_timeline": (
        "The dates and status changes of your requests, without their messages, for the same reason."
    ),
}
SUPPRESSION = (
    "Your email address, as a keyed one-way hash on the suppression list",
    "So that the site never sends you promotional email again, not even if you register anew. It cannot "
    "be turned back into your address.",
)
IDENTIFIERS = (
    "Your identification cookies and site user ids, as keyed one-way hashes",
    "So that the site's later logs and events are never tied to you again. They cannot be turned back "
    "into the values.",
)
SIGNED_OUT = "You are signed out everywhere, and your login sessions are deleted."


@dataclass(frozen=True)
class Deleted:
    category: registry.Category
    count: int


@dataclass(frozen=True)
class Kept:
    what: str
    why: str
    count: int | None = None


@dataclass(frozen=True)
class Preview:
    deleted: list[Deleted]
    kept: list[Kept]

    @property
    def total(self) -> int:
        return sum(d.count for d in self.deleted)


def erasure_preview(ctx: Ctx, subject_id: int) -> Preview:
    """Counts per registry category for this subject (the finders export uses, so they cannot drift)."""
    conn = ctx.session.connection()
    found = registry.scope(conn, ctx.settings.secret_key, subject_id)
    deleted: list[Deleted] = []
    kept: list[Kept] = [Kept(*SUPPRESSION), Kept(*IDENTIFIERS)]
    for category in registry.ordered():
        table = category.sa_table
        stmt = select(func.count()).select_from(table).where(registry.where(category, found))
        count = int(conn.execute(stmt).scalar_one())
        if category.key in KEPT_CATEGORIES:
            kept.append(Kept(category.title, KEPT_CATEGORIES[category.key], count))
        else:
            deleted.append(Deleted(category, count))
    return Preview(deleted, kept)
