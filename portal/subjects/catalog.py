"""The cookie catalog in the store: seeded with the site policy's two cookies, editable by admins."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlmodel import col

from portal import audit
from portal.core.context import Ctx
from portal.core.errors import NotFound, ValidationError
from portal.core.rows import all_rows
from portal.models import CatalogCookie, UnclassifiedCookie, metadata
from portal.subjects.cookies import DECODERS, PURPOSES, CookieCatalog, default_catalog
from portal.subjects.cookies import CatalogCookie as Entry


def entry(
    name: str,
    purposes: str,
    description: str,
    lifetime_days: int | None,
    identifies_browser: bool,
    decoder: str | None,
) -> Entry:
    """An entry from the ENTRY_COLUMNS of a row, in their order."""
    return Entry(
        name=name,
        purposes=tuple(purposes.split(",")),  # type: ignore[arg-type]
        description=description,
        lifetime_days=lifetime_days,
        identifies_browser=identifies_browser,
        decoder=decoder,
    )


def ensure_defaults(ctx: Ctx) -> None:
    """Seed the catalog with the site's two policy cookies when it is empty."""
    if ctx.session.scalar(select(col(CatalogCookie.id)).limit(1)) is not None:
        return
    for entry in default_catalog(ctx.settings.id_cookie, ctx.settings.pref_cookie).cookies:
        ctx.session.add(
            CatalogCookie(
                name=entry.name,
                purposes=",".join(entry.purposes),
                description=entry.description,
                lifetime_days=entry.lifetime_days,
                identifies_browser=entry.identifies_browser,
                decoder=entry.decoder,
                updated_at=ctx.now,
            )
        )
    ctx.session.flush()
    audit.record(ctx, "catalog.seed", details={"cookies": [ctx.settings.id_cookie, ctx.settings.pref_cookie]})


TABLE = metadata.tables["cookie_catalog"]
# Built once, and read through rows.all_rows: ingest and the pages read the catalog often (measured
# alone: 17 µs a read, against 47-66 through the session). The cookie page reads each cookie's entry
# with the cookie itself (holdings.identifiers), through ENTRY_COLUMNS.
_C = TABLE.c
# What an entry is made of (`entry`), for the statements that read entries with other rows.
ENTRY_COLUMNS = (_C.name, _C.purposes, _C.description, _C.lifetime_days, _C.identifies_browser, _C.decoder)
_ENTRIES = select(*ENTRY_COLUMNS).order_by(_C.name)


def load(ctx: Ctx) -> CookieCatalog:
    """The catalog as ingest and the pages use it (seeding it first if needed)."""
    rows = all_rows(ctx.session, _ENTRIES, {})
    if not rows:
        ensure_defaults(ctx)
        rows = all_rows(ctx.session, _ENTRIES, {})
    return CookieCatalog(tuple(entry(*r) for r in rows))


def current(ctx: Ctx) -> CookieCatalog:
    """The catalog as it stands, without seeding it (the defaults when empty): for services whose
    one audit entry must be the only change they make."""
    rows = ctx.session.execute(_ENTRIES).all()  # through the session: it sees changes not yet flushed
    if not rows:
        return default_catalog(ctx.settings.id_cookie, ctx.settings.pref_cookie)
    return CookieCatalog(tuple(entry(*r) for r in rows))


def entries(ctx: Ctx) -> list[CatalogCookie]:
    ensure_defaults(ctx)
    return list(ctx.session.scalars(select(CatalogCookie).order_by(CatalogCookie.name)))


# ---- the back-office: unclassified cookies and editing the catalog ------------------------------

# RFC 6265 cookie-name token: what a browser can actually send as a name.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}")
MAX_DESCRIPTION = 2000


@dataclass(frozen=True)
class CookieForm:
    """What an admin typed into the add/edit form, unvalidated."""

    name: str
    purposes: tuple[str, ...]
    description: str
    lifetime_days: str
    identifies_browser: bool
    decoder: str


def check(form: CookieForm, *, adding: bool) -> dict[str, str]:
    """Field → message for everything wrong with the form (empty when it can be saved)."""
    errors: dict[str, str] = {}
    if adding and not _TOKEN.fullmatch(form.name):
        errors["name"] = "A cookie name is 1 to 128 letters, digits or !#$%&'*+-.^_`|~ (no spaces)."
    if not form.purposes or any(p not in PURPOSES for p in form.purposes):
        errors["purposes"] = "Choose at least one purpose."
    if not form.description.strip():
        errors["description"] = "Describe in plain words what the cookie is for; people read this."
    elif len(form.description) > MAX_DESCRIPTION:
        errors["description"] = f"Keep the description under {MAX_DESCRIPTION} characters."
    lifetime = form.lifetime_days.strip()
    if lifetime and not (lifetime.isdigit() and int(lifetime) <= 36500):
        errors["lifetime_days"] = "Enter a whole number of days from 0 to 36500, or leave it empty."
    if form.decoder and form.decoder not in DECODERS:
        errors["decoder"] = "Choose a decoder from the list."
    return errors


def _snapshot(row: CatalogCookie) -> dict[str, Any]:
    return {
        "purposes": row.purposes,
        "description": row.description,
        "lifetime_days": row.lifetime_days,
        "identifies_browser": row.identifies_browser,
        "decoder": row.decoder,
    }


def get(ctx: Ctx, cookie_id: int) -> CatalogCookie:
    row = ctx.session.get(CatalogCookie, cookie_id)
    if row is None:
        raise NotFound("no such catalog cookie")
    return row


Relinker = Callable[[Ctx, CookieCatalog], Mapping[str, int]]


def save(
    ctx: Ctx, form: CookieForm, cookie_id: int | None = None, *, relink: Relinker | None = None
) -> CatalogCookie | None:
    """Add (cookie_id None) or edit one entry, audited as `catalog.update`; None when nothing changed.

    The name of an existing entry is fixed: identifiers and log records are keyed by it. When an
    edit changes whether the cookie identifies a browser, `relink` re-derives every link by the new
    catalog in the same transaction, and its counts go into the one audit entry.
    """
    errors = check(form, adding=cookie_id is None)
    if errors:
        field, message = next(iter(errors.items()))
        raise ValidationError(message, field)
    ensure_defaults(ctx)
    values: dict[str, Any] = {
        # Stored in the catalog's own order, so an edit that only reorders ticks changes nothing.
        "purposes": ",".join(p for p in PURPOSES if p in form.purposes),
        "description": form.description.strip(),
        "lifetime_days": int(form.lifetime_days) if form.lifetime_days.strip() else None,
        "identifies_browser": form.identifies_browser,
        "decoder": form.decoder or None,
    }
    if cookie_id is None:
        taken = select(col(CatalogCookie.id)).where(col(CatalogCookie.name) == form.name)
        if ctx.session.scalar(taken) is not None:
            raise ValidationError("That cookie is already in the catalog; edit it instead.", "name")
        row, before = CatalogCookie(name=form.name, updated_at=ctx.now, **values), None
        ctx.session.add(row)
    else:
        row = get(ctx, cookie_id)
        before = _snapshot(row)
        if before == values:
            return None
        for key, value in values.items():
            setattr(row, key, value)
        row.updated_at = ctx.now
    ctx.session.flush()
    details: dict[str, Any] = {
        "name": row.name,
        "change": "add" if before is None else "edit",
        "before": before,
        "after": values,
    }
    if before is not None and before["identifies_browser"] != values["identifies_browser"] and relink:
        details["relinked"] = dict(relink(ctx, load(ctx)))
    audit.record(ctx, "catalog.update", details=details)
    return row


@dataclass(frozen=True)
class SeenCookie:
    name: str
    seen: int
    first_seen: datetime
    last_seen: datetime


_NOT_CATALOGUED = col(UnclassifiedCookie.name).not_in(select(col(CatalogCookie.name)))
# How many names: a statement the dashboard asks together with its other figures.
UNCLASSIFIED_COUNT = select(func.count()).select_from(UnclassifiedCookie).where(_NOT_CATALOGUED)
_UNCLASSIFIED = (
    select(
        col(UnclassifiedCookie.name),
        col(UnclassifiedCookie.seen),
        col(UnclassifiedCookie.first_seen),
        col(UnclassifiedCookie.last_seen),
    )
    .where(_NOT_CATALOGUED)
    .order_by(col(UnclassifiedCookie.seen).desc(), col(UnclassifiedCookie.name))
    .limit(bindparam("limit"))
)


def unclassified(ctx: Ctx, limit: int = 500) -> list[SeenCookie]:
    """Names seen in logs that the catalog does not list, most seen first (their values never exist)."""
    return [SeenCookie(*row) for row in ctx.session.execute(_UNCLASSIFIED, {"limit": limit})]
