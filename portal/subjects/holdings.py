"""What the site holds about one subject, for the person it is about: an overview per category,
the cookie values tied to them and their search preferences, each deletable.

Every function takes the subject explicitly, so "My data" (the logged-in account's subject) and
"This browser" (the subject of the cookies a browser presents) share the same code. An id that
belongs to another subject is answered exactly like a missing one, and the attempt is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, bindparam, func, select

from portal import audit
from portal.core.context import Ctx
from portal.core.rows import all_rows
from portal.models import Identifier, SearchPreference, metadata
from portal.subjects import catalog, deletion, identity, registry
from portal.subjects.cookies import REDACTED, CatalogCookie
from portal.subjects.useragents import describe_user_agent

MASK_CHARS = 4


# The categories shown, in order; their descriptions live in portal.subjectdata (one place for
# the overview, export and erasure).
OVERVIEW_KEYS = ("identifiers", "search_preferences", "log_records", "promo_emails")


@dataclass(frozen=True)
class Summary:
    category: registry.Category
    retention: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    purge_at: datetime | None


@dataclass(frozen=True)
class CookieView:
    id: int
    name: str
    purposes: tuple[str, ...]
    description: str
    shown_value: str
    terms: list[str] | None  # decoded search terms, for the search-preference cookie
    set_at: datetime | None
    expires_at: datetime | None
    first_seen: datetime
    last_seen: datetime
    browser: str
    current: bool  # the request presents this very value: the browser in use now


class PreferenceView(NamedTuple):
    """A tuple, not a frozen dataclass: the search page builds one per term, at half the cost."""

    id: int
    term: str
    source: str
    first_seen: datetime
    last_seen: datetime
    times: int


def presented_cookies(ctx: Ctx, cookies: Mapping[str, str]) -> dict[str, str]:
    """The catalogued cookies among those a request carries (the portal may share the site's domain)."""
    others = {name: value for name, value in cookies.items() if value and name != ctx.settings.session_cookie}
    if not others:  # the portal's own session cookie alone: no need to read the catalog
        return {}
    known = catalog.load(ctx)
    return {name: value for name, value in others.items() if name in known}


def identifying_cookies(ctx: Ctx, cookies: Mapping[str, str]) -> dict[str, str]:
    """The presented cookies whose catalog entry says they identify a browser: the only ones that
    may find, claim or unlock anything (a value strangers share never does)."""
    own = (ctx.settings.session_cookie, ctx.settings.device_cookie)
    candidates = {n: v for n, v in cookies.items() if v and v != REDACTED and n not in own}
    if not candidates:  # the portal's own cookies alone, as on its own domain: no need to read the catalog
        return {}
    secret = catalog.load(ctx).secret_names
    return {n: v for n, v in candidates.items() if n in secret}


def claim(ctx: Ctx, subject_id: int, cookies: Mapping[str, str]) -> int:
    """Link this browser's anonymous data to the logged-in subject, by its identifying cookies only;
    how many were new."""
    return identity.claim_browser(ctx, subject_id, identifying_cookies(ctx, cookies).items())


# -- overview -----------------------------------------------------------------------------


def _figures() -> Select[Any]:
    """How many, first and last seen, and the oldest sighting, of each counted category.

    Each figure is its own subquery: a lone min() or max() reads one end of the subject's
    (subject_id, time) index. Log records, the one category that grows without bound, are not
    counted but read from their tally (portal/subjects/tally.py); the other counts walk a few rows.
    Built once: composing a statement costs more than SQLite takes to answer it.
    """
    subject = metadata.tables["subject"]
    figures = []
    for _, name, first, last, _ in _COUNTED:
        table = metadata.tables[name]
        mine = table.c.subject_id == bindparam("subject_id")
        if name == "log_record":
            count = select(subject.c.log_records).where(subject.c.id == bindparam("subject_id"))
        else:
            count = select(func.count()).select_from(table).where(mine)
        figures += [
            count.scalar_subquery(),
            select(func.min(table.c[first])).where(mine).scalar_subquery(),
            select(func.max(table.c[last])).where(mine).scalar_subquery(),
            select(func.min(table.c[last])).where(mine).scalar_subquery(),
        ]
    return select(*figures)


# Retention deletes search preferences by last sighting and log records by time; mail it keeps.
# (category, table, first seen, last seen, purged): Core tables, as every page statement here.
_COUNTED = (
    ("search_preferences", "search_preference", "first_seen", "last_seen", True),
    ("log_records", "log_record", "at", "at", True),
    ("promo_emails", "promo_email", "at", "at", False),
)
_IDENTIFIER = metadata.tables["identifier"]
_IDENT = _IDENTIFIER.c
_FIGURES = _figures().subquery()
# The figures' one row joined to each of the subject's identifiers (their purge dates are worked out
# here): one statement and one round trip for the whole page. An uncorrelated scalar subquery is
# computed once on both stores, however many identifiers there are; none leaves one row of NULLs.
_OVERVIEW = select(_FIGURES, _IDENT.kind, _IDENT.first_seen, _IDENT.last_seen, _IDENT.expires_at).select_from(
    _FIGURES.outerjoin(_IDENTIFIER, _IDENT.subject_id == bindparam("subject_id"))
)


def overview(ctx: Ctx, subject_id: int) -> list[Summary]:
    """Per category: how many, first and last seen, and when portal.retention deletes the oldest."""
    days = timedelta(days=ctx.settings.log_retention_days)
    # In one step on SQLite: its figures come again on each identifier's row, twelve dates a row.
    rows = all_rows(ctx.session, _OVERVIEW, {"subject_id": subject_id})
    width = 4 * len(_COUNTED)
    idents = [r[width:] for r in rows if r[width] is not None]  # (kind, first, last, expires)
    # Retention deletes a cookie record once it is both unseen for the retention period and expired.
    purges = [max(last + days, expires or last) for kind, _, last, expires in idents if kind == "cookie"]
    stats = {
        "identifiers": (
            len(idents),
            min((first for _, first, _, _ in idents), default=None),
            max((last for _, _, last, _ in idents), default=None),
            min(purges, default=None),
        ),
    }
    row = rows[0]
    for i, (key, _, _, _, purged) in enumerate(_COUNTED):
        count, lo, hi, oldest = row[4 * i : 4 * i + 4]
        stats[key] = (count, lo, hi, oldest + days if purged and oldest is not None else None)
    out = []
    for key in OVERVIEW_KEYS:
        category = registry.by_key(key)
        count, lo, hi, purge_at = stats[key]  # type: ignore[assignment]
        out.append(Summary(category, category.retention_text(ctx.settings), count, lo, hi, purge_at))
    return out


# -- cookies ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteIdView:
    """A site user id tied to the subject: the other kind of row in "Cookies and ids tied to you"."""

    shown_value: str
    first_seen: datetime
    last_seen: datetime


def _site_id_view(row: Any) -> SiteIdView:
    """Shortened like identification cookies."""
    shown = row.value[:MASK_CHARS] + "…" if len(row.value) > MASK_CHARS else row.value
    return SiteIdView(shown, row.first_seen, row.last_seen)


def _cookie_view(row: Any, entry: CatalogCookie | None, presented: Mapping[str, str], ctx: Ctx) -> CookieView:
    """`row`: an Identifier, or a row of its columns; `entry`: its cookie's catalog entry, if any."""
    terms = entry.decode(row.value) if entry else None
    identifies = entry is None or entry.identifies_browser
    # A value that identifies a browser is a credential of sorts: show just enough to recognise it.
    shown = row.value[:MASK_CHARS] + "…" if identifies and len(row.value) > MASK_CHARS else row.value
    value = presented.get(row.name)
    current = value is not None and identity.value_hash(ctx, "cookie", row.name, value) == row.value_hash
    return CookieView(
        id=row.id,  # type: ignore[arg-type]
        name=row.name,
        purposes=entry.purposes if entry else (),
        description=entry.description if entry else "Not in the site's cookie catalog.",
        shown_value=shown,
        terms=terms,
        set_at=row.set_at,
        expires_at=row.expires_at,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        browser=describe_user_agent(row.last_user_agent),
        current=current,
    )


# Pages read rows, not ORM objects, through statements built once (see _figures).
class _IdentifierRow(NamedTuple):
    """The columns _IDENTIFIED_BY selects, in its order, named as an Identifier's attributes (the
    views read either)."""

    id: int
    kind: str
    name: str
    value: str
    value_hash: str
    first_seen: datetime
    last_seen: datetime
    set_at: datetime | None
    expires_at: datetime | None
    last_user_agent: str | None


# Read through rows.all_rows: the demo user's three cookies took 50 µs to list so, 94 through the
# session. Each cookie comes with its catalog entry: reading the catalog in a statement of its own
# cost the cookie page a round trip on PostgreSQL (and 45 µs on SQLite) on every view.
_WIDTH = len(_IdentifierRow._fields)
_IDENTIFIED_BY = (
    select(*(_IDENT[name] for name in _IdentifierRow._fields), *catalog.ENTRY_COLUMNS)
    .select_from(
        _IDENTIFIER.outerjoin(
            catalog.TABLE, and_(_IDENT.kind == "cookie", catalog.TABLE.c.name == _IDENT.name)
        )
    )
    .where(_IDENT.subject_id == bindparam("subject_id"))
    .order_by(_IDENT.last_seen.desc(), _IDENT.id.desc())
)


def identifiers(
    ctx: Ctx, subject_id: int, presented: Mapping[str, str]
) -> tuple[list[CookieView], list[SiteIdView]]:
    """The subject's cookie values and its other ids (site user ids), newest first, in one statement:
    the cookie page lists both, so its rows add up to the overview's count of the category."""
    found = all_rows(ctx.session, _IDENTIFIED_BY, {"subject_id": subject_id})
    rows = [
        (_IdentifierRow._make(r[:_WIDTH]), catalog.entry(*r[_WIDTH:]) if r[_WIDTH] is not None else None)
        for r in found
    ]
    cookie_rows = [(row, entry) for row, entry in rows if row.kind == "cookie"]
    if any(entry is None for _, entry in cookie_rows):
        # A cookie the catalog does not describe, or no catalog yet: load() seeds the site's defaults
        # when it is empty, as every reader of the catalog does.
        known = catalog.load(ctx)
        cookie_rows = [(row, entry or known.get(row.name)) for row, entry in cookie_rows]
    views = [_cookie_view(row, entry, presented, ctx) for row, entry in cookie_rows]
    return views, [_site_id_view(row) for row, _ in rows if row.kind != "cookie"]


def cookies(ctx: Ctx, subject_id: int, presented: Mapping[str, str]) -> list[CookieView]:
    return identifiers(ctx, subject_id, presented)[0]


def _denied(ctx: Ctx, subject_id: int, what: str, item_id: int) -> None:
    audit.record(ctx, "access.denied", subject_id=subject_id, details={"what": what, "id": item_id})


def _own_cookie(ctx: Ctx, subject_id: int, cookie_id: int) -> Identifier | None:
    row = ctx.session.get(Identifier, cookie_id)
    if row is None or row.kind != "cookie":
        return None
    if row.subject_id != subject_id:
        _denied(ctx, subject_id, "cookie", cookie_id)
        return None
    return row


def cookie(ctx: Ctx, subject_id: int, cookie_id: int, presented: Mapping[str, str]) -> CookieView | None:
    """One of the subject's cookie records; None for a missing id and for anyone else's."""
    row = _own_cookie(ctx, subject_id, cookie_id)
    return None if row is None else _cookie_view(row, catalog.load(ctx).get(row.name), presented, ctx)


def delete_cookie(ctx: Ctx, subject_id: int, cookie_id: int) -> int | None:
    """Delete one of the subject's cookie records and the value's copies in its log records; the
    audit entry's seq (the receipt), or None for a missing id and for anyone else's."""
    row = _own_cookie(ctx, subject_id, cookie_id)
    if row is None:
        return None
    name = row.name
    forgotten = deletion.forget_cookies(ctx, subject_id, cookie_id)
    details = {"id": cookie_id, "name": name, **forgotten.details()}
    return audit.record(ctx, "cookie.delete", subject_id=subject_id, details=details).seq


def delete_cookies(ctx: Ctx, subject_id: int) -> tuple[int, int | None]:
    """Every cookie record of the subject, and every cookie value in its log records."""
    forgotten = deletion.forget_cookies(ctx, subject_id)
    if not (forgotten.identifiers or forgotten.records):
        return 0, None
    entry = audit.record(ctx, "cookie.delete_all", subject_id=subject_id, details=forgotten.details())
    return forgotten.identifiers, entry.seq


# -- search preferences -------------------------------------------------------------------


def _source(source: str, engine: str) -> str:
    if source == "cookie":
        return "Search-preference cookie"
    return f"Search engine: {engine}" if engine else "Search engine"


def _pref_view(row: Any) -> PreferenceView:
    """`row`: a SearchPreference, or a row of its columns."""
    return PreferenceView(
        id=row.id,  # type: ignore[arg-type]
        term=row.term,
        source=_source(row.source, row.engine),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        times=row.times,
    )


_PREF = metadata.tables["search_preference"].c
_PREFERENCES = (
    select(_PREF.id, _PREF.term, _PREF.source, _PREF.engine, _PREF.first_seen, _PREF.last_seen, _PREF.times)
    .where(_PREF.subject_id == bindparam("subject_id"))
    .order_by(_PREF.last_seen.desc(), _PREF.id.desc())
)


def search_preferences(ctx: Ctx, subject_id: int) -> list[PreferenceView]:
    rows = all_rows(ctx.session, _PREFERENCES, {"subject_id": subject_id})
    # Unpacked in the order _PREFERENCES selects them: reading a Row's fields by name costs more
    # than building the view.
    return [
        PreferenceView(id_, term, _source(source, engine), first, last, times)
        for id_, term, source, engine, first, last, times in rows
    ]


def _own_preference(ctx: Ctx, subject_id: int, pref_id: int) -> SearchPreference | None:
    row = ctx.session.get(SearchPreference, pref_id)
    if row is None:
        return None
    if row.subject_id != subject_id:
        _denied(ctx, subject_id, "search_preference", pref_id)
        return None
    return row


def search_preference(ctx: Ctx, subject_id: int, pref_id: int) -> PreferenceView | None:
    row = _own_preference(ctx, subject_id, pref_id)
    return None if row is None else _pref_view(row)


def delete_search_preference(ctx: Ctx, subject_id: int, pref_id: int) -> int | None:
    """Delete one of the subject's search terms (from every source) and its copies; the audit
    entry's seq, or None for a missing id and for anyone else's."""
    row = _own_preference(ctx, subject_id, pref_id)
    if row is None:
        return None
    forgotten = deletion.forget_terms(ctx, subject_id, pref_id)
    details = {"id": pref_id, **forgotten.details()}
    return audit.record(ctx, "search_preference.delete", subject_id=subject_id, details=details).seq


def delete_search_preferences(ctx: Ctx, subject_id: int) -> tuple[int, int | None]:
    """Every search term of the subject, with every copy."""
    forgotten = deletion.forget_terms(ctx, subject_id)
    if not (forgotten.preferences or forgotten.records or forgotten.identifiers):
        return 0, None
    details = {"count": forgotten.preferences, **forgotten.details()}
    entry = audit.record(ctx, "search_preference.delete_all", subject_id=subject_id, details=details)
    return forgotten.preferences, entry.seq
