"""Deleting a subject's search terms or cookie values everywhere the registry says they live.

A search term lives in the subject's search preferences and has copies in its log records (the
preference cookie's value, the search parameters of search-engine referrers, the site's own search
addresses); a cookie value lives in an identifier row and in the log records that carried it.
Deleting removes the rows and REDACTs every copy, in the subject's rows only (another person who
searched the same words keeps theirs), withdraws any prepared download (the archive holds copies
too) and returns what it did, for the caller's one audit entry.

The copies are rewritten in batches of the subject's records read along its (subject_id, at, id)
index and written back with one executemany per batch: the cost follows the subject's size, not
the store's (bench/bench_forget.py).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import Select, case, delete, or_, select, tuple_, update
from sqlmodel import col

from portal.core.context import Ctx
from portal.core.store import executemany
from portal.models import DataExport, Identifier, SearchPreference
from portal.subjects import catalog, registry
from portal.subjects.cookies import decode_search_pref
from portal.subjects.redaction import Forget, cookie_values, normal, url

BATCH = 5000
# One statement rewrites the copies when a column holds at most MAX_DISTINCT distinct values (read to
# be redacted once each) of which at most MAX_CASE change (the CASE a row is compared against);
# beyond either, the rows are rewritten one by one, in batches.
MAX_DISTINCT = 50_000
MAX_CASE = 200
Redactor = Callable[[str | None, Forget], str | None]
_REDACTORS: dict[str, Redactor] = {"cookie_values": cookie_values, "url": url}


@dataclass(frozen=True)
class Forgotten:
    preferences: int = 0  # search-preference rows deleted
    identifiers: int = 0  # identifier rows deleted
    records: int = 0  # rows whose copies were redacted (log records)
    exports: int = 0  # prepared downloads withdrawn

    def details(self) -> dict[str, int]:
        return asdict(self)


def forget_terms(ctx: Ctx, subject_id: int, pref_id: int | None = None) -> Forgotten:
    """Delete one search term (the term of preference `pref_id`, whatever its source) or all of
    them, with every copy. The caller has checked that the preference is the subject's."""
    s = ctx.session
    rows = s.execute(
        select(col(SearchPreference.id), col(SearchPreference.term)).where(
            col(SearchPreference.subject_id) == subject_id
        )
    ).all()
    known = frozenset(normal(term) for _id, term in rows)
    if pref_id is None:
        terms, doomed = None, [i for i, _t in rows]
    else:
        chosen = next((normal(t) for i, t in rows if i == pref_id), None)
        terms = frozenset({chosen} if chosen is not None else ())
        doomed = [i for i, t in rows if normal(t) in terms]
    for start in range(0, len(doomed), BATCH):
        s.execute(delete(SearchPreference).where(col(SearchPreference.id).in_(doomed[start : start + BATCH])))
    forget = Forget(
        terms=terms,
        known_terms=known,
        term_cookies=frozenset({ctx.settings.pref_cookie}),
        engines=ctx.settings.search_engines,
    )
    records = _redact_copies(ctx, subject_id, forget)
    # Rows the linking before migration 0006 wrote for cookies that identify no one: their values
    # are search terms (`portal relink` removes them for everyone).
    secret = catalog.current(ctx).secret_names
    stray = s.execute(
        delete(Identifier).where(
            col(Identifier.subject_id) == subject_id,
            col(Identifier.kind) == "cookie",
            col(Identifier.name).not_in(secret) if secret else col(Identifier.id).is_not(None),
        )
    )
    return Forgotten(len(doomed), int(stray.rowcount or 0), records, withdraw_exports(ctx, subject_id))  # type: ignore[attr-defined]


def forget_cookies(ctx: Ctx, subject_id: int, identifier_id: int | None = None) -> Forgotten:
    """Delete one cookie record (an identifier row of the subject's) or all of them, and the
    values in the subject's log records: that cookie's value, or every catalogued cookie's."""
    s = ctx.session
    mine = select(Identifier).where(
        col(Identifier.subject_id) == subject_id, col(Identifier.kind) == "cookie"
    )
    if identifier_id is not None:
        mine = mine.where(col(Identifier.id) == identifier_id)
    idents = s.scalars(mine).all()
    names: frozenset[tuple[str, str | None]]
    if identifier_id is None:
        names = frozenset((entry.name, None) for entry in catalog.current(ctx).cookies)
    else:
        names = frozenset((i.name, i.value) for i in idents)
    for ident in idents:
        s.delete(ident)
    s.flush()
    records = _redact_copies(ctx, subject_id, Forget(cookies=names)) if names else 0
    return Forgotten(0, len(idents), records, withdraw_exports(ctx, subject_id))


def withdraw_exports(ctx: Ctx, subject_id: int) -> int:
    """Prepared downloads of the subject stop working and their files go: they hold copies of what
    was just deleted. Returns how many were withdrawn."""
    live = ctx.session.scalars(
        select(DataExport).where(
            col(DataExport.subject_id) == subject_id, col(DataExport.file_name).is_not(None)
        )
    ).all()
    for row in live:
        with contextlib.suppress(FileNotFoundError):
            (ctx.settings.exports_dir / str(row.file_name)).unlink()
        row.file_name = None
        row.expires_at = min(row.expires_at, ctx.now)
    ctx.session.flush()
    return len(live)


def _redact_copies(ctx: Ctx, subject_id: int, forget: Forget) -> int:
    """REDACT the forgotten values in every column the registry says can carry copies; returns the
    rows changed."""
    found = registry.scope(ctx.session, ctx.settings.secret_key, subject_id)
    grouped: dict[str, list[tuple[str, str]]] = {}
    for category, column, kind in registry.copies():
        grouped.setdefault(category.key, []).append((column, kind))
    changed = 0
    for key, columns in grouped.items():
        changed += _redact_category(ctx, registry.by_key(key), found, columns, forget)
    return changed


def _redact_category(
    ctx: Ctx,
    category: registry.Category,
    found: registry.Scope,
    columns: list[tuple[str, str]],
    forget: Forget,
) -> int:
    """A subject's records repeat a few values (one preference cookie, a few searches): redact each
    distinct value once and rewrite the rows in one UPDATE … CASE, which costs about what a bare
    UPDATE of those rows does. Where too many values change, row by row instead."""
    table = category.sa_table
    where = registry.where(category, found)
    distinct: dict[str, list[str]] = {}
    for name, kind in columns:
        c = table.c[name]
        stmt = select(c).where(where, c.is_not(None)).distinct().limit(MAX_DISTINCT + 1)
        if kind == "url":  # an address without a query or fragment carries no term
            stmt = stmt.where(or_(c.contains("?", autoescape=True), c.contains("#", autoescape=True)))
        values = [v for (v,) in _fetch(ctx, stmt)]
        if len(values) > MAX_DISTINCT:
            return _redact_rows(ctx, category, found, columns, forget)
        distinct[name] = values
    if forget.terms is None and forget.term_cookies and "cookies" in distinct:
        learned = set().union(*(_cookie_terms(v, forget.term_cookies) for v in distinct["cookies"]))
        forget = replace(forget, known_terms=forget.known_terms | frozenset(learned))
    changes: dict[str, dict[str, str | None]] = {}
    for name, kind in columns:
        redact = _REDACTORS[kind]
        mapping = {old: new for old in distinct[name] if (new := redact(old, forget)) != old}
        if len(mapping) > MAX_CASE:
            return _redact_rows(ctx, category, found, columns, forget)
        if mapping:
            changes[name] = mapping
    if not changes:
        return 0
    rewrite = (
        update(table)
        .where(where, or_(*(table.c[n].in_(list(m)) for n, m in changes.items())))
        .values({n: case(m, value=table.c[n], else_=table.c[n]) for n, m in changes.items()})
        .execution_options(synchronize_session=False)
    )
    return int(ctx.session.execute(rewrite).rowcount or 0)  # type: ignore[attr-defined]


def _redact_rows(
    ctx: Ctx,
    category: registry.Category,
    found: registry.Scope,
    columns: list[tuple[str, str]],
    forget: Forget,
) -> int:
    table = category.sa_table
    (pk,) = table.primary_key.columns
    order = [table.c[name] for name in category.order_by]
    names = [name for name, _kind in columns]
    redactors = [_REDACTORS[kind] for _name, kind in columns]
    base = (
        select(pk, *order, *(table.c[n] for n in names))
        .where(registry.where(category, found))
        .order_by(*order)
    )
    sets = ", ".join(f"{n} = ?" for n in names)
    sql = f"UPDATE {table.name} SET {sets} WHERE {pk.name} = ?"  # noqa: S608 - registry names only
    caches: list[dict[Any, Any]] = [{} for _ in names]
    width = len(order)
    after: tuple[Any, ...] | None = None
    changed = 0
    while True:
        page = base if after is None else base.where(tuple_(*order) > tuple_(*after))
        rows = _fetch(ctx, page.limit(BATCH))
        if not rows:
            break
        after = tuple(rows[-1][1 : 1 + width])
        if forget.terms is None and forget.term_cookies:
            forget = _learn(forget, rows, names, caches)
        updates = []
        for row in rows:
            values = row[1 + width :]
            new = []
            for i, value in enumerate(values):
                cache = caches[i]
                result = cache.get(value, cache)
                if result is cache:
                    result = cache[value] = redactors[i](value, forget)
                new.append(result)
            if new != list(values):
                updates.append((*new, row[0]))
        if updates:
            executemany(ctx.session, sql, updates)
            changed += len(updates)
        if len(rows) < BATCH:
            break
    return changed


def _learn(
    forget: Forget, rows: list[tuple[Any, ...]], names: list[str], caches: list[dict[Any, Any]]
) -> Forget:
    """When every term goes, the terms the records themselves carry go too (a page address may
    hold one that no preference row names): add them, and forget what was redacted without them."""
    if "cookies" not in names:
        return forget
    at = names.index("cookies")
    seen: set[str] = set()
    for row in rows:
        text = row[-len(names) + at]
        if text and text not in caches[at]:
            seen.update(_cookie_terms(text, forget.term_cookies))
    new = frozenset(seen) - forget.known_terms
    if not new:
        return forget
    for i, name in enumerate(names):
        if name != "cookies":
            caches[i].clear()
    return replace(forget, known_terms=forget.known_terms | new)


def _cookie_terms(text: str, term_cookies: frozenset[str]) -> set[str]:
    try:
        values = json.loads(text)
    except ValueError:
        return set()
    if not isinstance(values, dict):
        return set()
    found: set[str] = set()
    for name in term_cookies:
        value = values.get(name)
        if isinstance(value, str):
            found.update(normal(t) for t in decode_search_pref(value))
    return found


def _fetch(ctx: Ctx, stmt: Select[Any]) -> list[tuple[Any, ...]]:
    """The rows as plain tuples from the driver (a Row object per row cost as much as the fetch)."""
    conn = ctx.session.connection()
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    args = [params[key] for key in compiled.positiontup or ()] if compiled.positional else params
    dbapi: Any = conn.connection.driver_connection
    cursor = dbapi.cursor()
    try:
        cursor.execute(compiled.string, args)
        return list(cursor.fetchall())
    finally:
        cursor.close()
