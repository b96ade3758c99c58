"""The cookie catalog in the store: seeded with the site policy's two cookies, editable by admins."""

from __future__ import annotations

from sqlalchemy import select

from portal import audit
from portal.context import Ctx
from portal.ingest.cookies import CatalogCookie as Entry
from portal.ingest.cookies import CookieCatalog, default_catalog
from portal.models import CatalogCookie


def _entry(row: CatalogCookie) -> Entry:
    return Entry(
        name=row.name,
        purposes=tuple(row.purposes.split(",")),  # type: ignore[arg-type]
        description=row.description,
        lifetime_days=row.lifetime_days,
        identifies_browser=row.identifies_browser,
        decoder=row.decoder,
    )


def ensure_defaults(ctx: Ctx) -> None:
    """Seed the catalog with the site's two policy cookies when it is empty."""
    if ctx.session.scalar(select(CatalogCookie.id).limit(1)) is not None:
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


def load(ctx: Ctx) -> CookieCatalog:
    """The catalog as ingest and the pages use it (seeding it first if needed)."""
    ensure_defaults(ctx)
    rows = ctx.session.scalars(select(CatalogCookie).order_by(CatalogCookie.name)).all()
    return CookieCatalog(tuple(_entry(r) for r in rows))


def entries(ctx: Ctx) -> list[CatalogCookie]:
    ensure_defaults(ctx)
    return list(ctx.session.scalars(select(CatalogCookie).order_by(CatalogCookie.name)))
