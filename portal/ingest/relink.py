"""`portal relink`: re-derive every link in the store from identifying identifiers only.

The rule (DESIGN.md §2): only values of catalogued cookies that identify a browser, site user ids
and verified emails tie data to a person. Stores linked before that rule (and stores whose catalog
changed which cookies identify a browser) hold links made through values strangers share. A relink:

1. deletes identifier rows of cookies that identify no one;
2. settles ties made before migration 0006 (`identifier.tied_by` NULL): a person keeps an
   identifying cookie unless their subject absorbed a browser through a non-identifying claim
   (then its cookies are re-derived, and come back when the person presents them while logged in);
3. reads every log record's cookies and joins identifying values seen together (union-find over
   identifier ids, never joining two people), creating rows for identifying values without one;
4. gives each group a subject: the person its named ties (site event, claim) lead to, else the
   browser subject holding its lowest identifier if no other group took it, else a new one;
5. re-derives each record's subject from its identifying cookies (a value REDACTED at the person's
   request keeps the record where it is; no identifying cookie: nobody's);
6. re-derives the search preferences of every subject whose records changed, from those records,
   keeping only terms the subjects they came from held (a term deleted earlier stays deleted).

Everything runs in the caller's transaction, in batches: memory grows with the identifiers that
share a record with another one, not with the records. Running it again changes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, func, select, update
from sqlmodel import col

from portal.core.context import Ctx
from portal.core.store import executemany
from portal.ingest.relink_graph import Graph, Key, KeyIds, RecordCookies
from portal.ingest.relink_terms import rederive
from portal.ingest.writer import IN_CHUNK, insert_returning_ids
from portal.models import CatalogCookie, Identifier, LogRecord, Subject, SubjectLink
from portal.subjects import catalog, identity, tally
from portal.subjects.cookies import CookieCatalog

BATCH = 20_000
_log: Table = LogRecord.__table__  # type: ignore[attr-defined]
_ident: Table = Identifier.__table__  # type: ignore[attr-defined]
_subject: Table = Subject.__table__  # type: ignore[attr-defined]
Progress = Callable[[str, int, int], None]  # (step, done, total)


@dataclass
class Relinked:
    identifiers_removed: int = 0  # rows of cookies that identify no one
    ties_settled: int = 0  # ties made before migration 0006, now settled
    identifiers_created: int = 0  # identifying values in records that had no row
    identifiers_moved: int = 0
    subjects_created: int = 0
    records_read: int = 0
    records_relinked: int = 0  # records whose subject changed …
    records_unlinked: int = 0  # … of which now tied to nobody
    preferences_rederived: int = 0  # subjects whose search preferences were re-derived

    def counts(self) -> dict[str, int]:
        return asdict(self)


def relink(ctx: Ctx, known: CookieCatalog, progress: Progress | None = None) -> Relinked:
    """Re-derive every link from identifying identifiers only, in ctx's transaction (see above)."""
    result = Relinked()
    identifying = known.secret_names
    notify = progress or (lambda _step, _done, _total: None)
    removed = ctx.session.execute(
        delete(Identifier).where(
            col(Identifier.kind) == "cookie",
            col(Identifier.name).not_in(identifying) if identifying else col(Identifier.id).is_not(None),
        )
    )
    result.identifiers_removed = int(removed.rowcount or 0)  # type: ignore[attr-defined]
    result.ties_settled = _settle_legacy_ties(ctx, identifying)
    cookies, keys = RecordCookies(identifying), KeyIds(ctx)
    total = int(
        ctx.session.scalar(select(func.count()).select_from(_log).where(_log.c.cookies.is_not(None))) or 0
    )
    graph = _join(ctx, cookies, keys, result, lambda done: notify("Joining identifiers", done, total))
    _place(ctx, identifying, graph, result)
    origins = _relink_records(
        ctx, cookies, keys, result, lambda done: notify("Relinking records", done, total)
    )
    result.preferences_rederived = rederive(
        ctx, origins, graph.created, lambda done, of: notify("Search preferences", done, of)
    )
    return result


# -- 2. ties made before migration 0006 ----------------------------------------------------------


def _settle_legacy_ties(ctx: Ctx, identifying: frozenset[str]) -> int:
    s = ctx.session
    s.execute(
        update(Identifier)
        .where(col(Identifier.kind) == "site_user", col(Identifier.tied_by).is_(None))
        .values(tied_by="event")
    )
    # A person whose subject absorbed a browser because it presented a cookie that identifies no
    # one may hold a stranger's cookies among their own, and nothing says which: re-derive them all.
    claims = s.execute(
        select(col(SubjectLink.subject_id), col(SubjectLink.reason)).where(
            col(SubjectLink.reason).like("% cookie presented while logged in")
        )
    ).all()
    suspects = sorted(
        {
            identity.root(ctx, subject)
            for subject, reason in claims
            if reason.split(" ", 1)[0] not in identifying
        }
    )
    legacy = (_ident.c.kind == "cookie", _ident.c.tied_by.is_(None))
    people = select(_subject.c.id).where(_subject.c.kind.in_(sorted(identity.PEOPLE)))
    if suspects:
        people = people.where(_subject.c.id.not_in(suspects))
    kept = s.execute(update(_ident).where(*legacy, _ident.c.subject_id.in_(people)).values(tied_by="kept"))
    seen = s.execute(update(_ident).where(*legacy).values(tied_by=identity.SEEN))
    return int(kept.rowcount or 0) + int(seen.rowcount or 0)  # type: ignore[attr-defined]


# -- 3. joining identifiers seen together --------------------------------------------------------


def _records(ctx: Ctx, columns: tuple[str, ...]) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of (id, *columns) of every record with cookies, in id order (keyset on the key)."""
    after = -1
    cols = [_log.c.id, *(_log.c[c] for c in columns)]
    dbapi: Any = ctx.session.connection().connection.driver_connection
    mark = "%s" if ctx.session.get_bind().dialect.name == "postgresql" else "?"
    sql = (
        f"SELECT {', '.join(c.name for c in cols)} FROM log_record"  # noqa: S608 - our own column names
        f" WHERE id > {mark} AND cookies IS NOT NULL ORDER BY id LIMIT {BATCH}"
    )
    while True:
        cur = dbapi.cursor()
        try:
            cur.execute(sql, (after,))
            rows = cur.fetchall()
        finally:
            cur.close()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def _join(
    ctx: Ctx, cookies: RecordCookies, keys: KeyIds, result: Relinked, notify: Callable[[int], None]
) -> Graph:
    graph = Graph()
    done = 0
    new: dict[Key, list[Any]] = {}  # identifying values without a row: [first at, last at, user agent]
    for rows in _records(ctx, ("at", "user_agent", "cookies")):
        found = [(cookies(text), at, ua) for _id, at, ua, text in rows]
        keys.load(k for (ks, _r), _at, _ua in found for k in ks)
        pairs: list[tuple[Key, Key]] = []
        for (ks, _redacted), at, ua in found:
            for key in ks:
                if key not in keys.ids:
                    seen = new.get(key)
                    if seen is None:
                        new[key] = [at, at, ua]
                    elif at > seen[1]:
                        seen[1], seen[2] = at, ua
            if len(ks) > 1:
                pairs.extend((ks[0], k) for k in ks[1:])
        if new:
            _create(ctx, new, keys, graph, result)
            new.clear()
        if pairs:
            anchors = _anchors(ctx, {keys.ids[k] for pair in pairs for k in pair})
            for a, b in pairs:
                graph.union(keys.ids[a], keys.ids[b], anchors)
        done += len(rows)
        result.records_read = done
        notify(done)
    return graph


def _create(ctx: Ctx, new: dict[Key, list[Any]], keys: KeyIds, graph: Graph, result: Relinked) -> None:
    """Rows for identifying values that have none (a cookie the catalog now says identifies a
    browser), each on a new browser subject until placing says where it belongs."""
    subjects = insert_returning_ids(
        ctx.session, _subject, [{"kind": "browser", "created_at": ctx.now} for _ in new]
    )
    rows = [
        {"kind": "cookie", "name": name, "value_hash": identity.value_hash(ctx, "cookie", name, value),
         "value": value, "subject_id": subject, "first_seen": first, "last_seen": last,
         "last_user_agent": ua, "tied_by": identity.SEEN}
        for ((name, value), (first, last, ua)), subject in zip(new.items(), subjects, strict=True)
    ]  # fmt: skip
    ids = insert_returning_ids(ctx.session, _ident, rows)
    keys.ids.update(zip(new, ids, strict=True))
    graph.created.update(subjects)
    result.identifiers_created += len(rows)
    result.subjects_created += len(rows)


def _anchors(ctx: Ctx, ids: set[int]) -> dict[int, int | None]:
    """Identifier id → the person its named tie leads to (None: no such tie)."""
    found: dict[int, int | None] = {}
    wanted = list(ids)
    for i in range(0, len(wanted), IN_CHUNK):
        rows = ctx.session.execute(
            select(_ident.c.id, _ident.c.subject_id, _ident.c.tied_by, _subject.c.kind)
            .join(_subject, _subject.c.id == _ident.c.subject_id)
            .where(_ident.c.id.in_(wanted[i : i + IN_CHUNK]))
        ).all()
        for ident_id, subject_id, tie, kind in rows:
            named = tie in identity.NAMED_TIES and kind in identity.PEOPLE
            found[ident_id] = identity.root(ctx, subject_id) if named else None
    return found


# -- 4. a subject for each group ------------------------------------------------------------------


def _place(ctx: Ctx, identifying: frozenset[str], graph: Graph, result: Relinked) -> None:
    s = ctx.session
    stmt = (
        select(_ident.c.id, _ident.c.subject_id, _ident.c.tied_by, _subject.c.kind, _subject.c.merged_into_id)
        .join(_subject, _subject.c.id == _ident.c.subject_id)
        .where(_ident.c.kind == "cookie", _ident.c.name.in_(identifying))
        .order_by(_ident.c.subject_id, _ident.c.id)
    )
    decided: dict[int, int] = {}  # group root → its subject (groups of more than one identifier)
    moves: list[tuple[int, int]] = []  # (identifier, subject; negative: a new subject to create)
    fresh = 0
    current, claimed = None, None  # the browser subject being read, and the group that keeps it
    for ident_id, subject_id, tie, kind, merged_into in s.execute(stmt.execution_options(yield_per=5000)):
        if merged_into is not None:  # never expected: merges move identifiers to the survivor
            subject_id = identity.root(ctx, subject_id)
            kind = s.scalar(select(_subject.c.kind).where(_subject.c.id == subject_id))
        if subject_id != current:
            current, claimed = subject_id, None
        group = graph.find(ident_id) if ident_id in graph.parent else ident_id
        target = decided.get(group)
        if target is None:
            anchor = graph.anchor.get(group) if ident_id in graph.parent else None
            if (
                anchor is None
                and ident_id not in graph.parent
                and tie in identity.NAMED_TIES
                and kind in identity.PEOPLE
            ):
                anchor = subject_id
            if anchor is not None:
                target = anchor
            elif kind == "browser" and claimed in (None, group):
                target, claimed = subject_id, group
            else:
                fresh += 1
                target = -fresh
            if ident_id in graph.parent:
                decided[group] = target
        if target != subject_id:
            moves.append((ident_id, target))
    if fresh:
        created = insert_returning_ids(
            s, _subject, [{"kind": "browser", "created_at": ctx.now} for _ in range(fresh)]
        )
        graph.created.update(created)
        moves = [(i, created[-t - 1] if t < 0 else t) for i, t in moves]
        result.subjects_created += fresh
    for i in range(0, len(moves), IN_CHUNK):
        chunk = moves[i : i + IN_CHUNK]
        s.execute(
            update(_ident).where(_ident.c.id == bindparam("ident")).values(subject_id=bindparam("target")),
            [{"ident": ident, "target": target} for ident, target in chunk],
        )
    result.identifiers_moved = len(moves)


# -- 5. each record's subject ---------------------------------------------------------------------


def _relink_records(
    ctx: Ctx, cookies: RecordCookies, keys: KeyIds, result: Relinked, notify: Callable[[int], None]
) -> dict[int, set[int]]:
    """Set every record's subject from its identifying cookies; returns, for each subject whose
    records changed, the subjects its records now come from (itself included)."""
    s = ctx.session
    id_cookie = ctx.settings.id_cookie
    owner: dict[int, int] = {}  # identifier id → subject, per batch
    origins: dict[int, set[int]] = {}
    done = 0
    for rows in _records(ctx, ("subject_id", "cookies")):
        parsed = [(rid, old, cookies(text)) for rid, old, text in rows]
        keys.load(k for _r, _o, (ks, _red) in parsed for k in ks)
        _owners(ctx, {keys.ids[k] for _r, _o, (ks, _red) in parsed for k in ks if k in keys.ids}, owner)
        changes, counts = [], Counter[int | None]()
        for rid, old, (ks, redacted) in parsed:
            subjects = [(k[0], owner[keys.ids[k]]) for k in ks if k in keys.ids]
            new = _subject_of(subjects, id_cookie) if subjects else old if redacted else None
            if new != old:
                changes.append((new, rid))
                counts[old] -= 1
                counts[new] += 1
                result.records_unlinked += new is None
                for affected in (old, new):
                    if affected is not None:
                        origins.setdefault(affected, {affected})
                if new is not None and old is not None:
                    origins[new].add(old)
        if changes:
            executemany(s, "UPDATE log_record SET subject_id = ? WHERE id = ?", changes)
            tally.add(s, counts)
            result.records_relinked += len(changes)
        owner.clear()
        done += len(rows)
        notify(done)
    # Records with no cookies at all can be tied to nobody.
    cookieless = and_(_log.c.cookies.is_(None), _log.c.subject_id.is_not(None))
    stray: dict[int, int] = dict(
        s.execute(select(_log.c.subject_id, func.count()).where(cookieless).group_by(_log.c.subject_id)).all()
    )
    if stray:
        gone = s.execute(update(_log).where(cookieless).values(subject_id=None))
        tally.add(s, {subject: -n for subject, n in stray.items()})
        count = int(gone.rowcount or 0)  # type: ignore[attr-defined]
        result.records_relinked += count
        result.records_unlinked += count
        for subject in stray:
            origins.setdefault(subject, {subject})
    return origins


def _subject_of(subjects: list[tuple[str, int]], id_cookie: str) -> int:
    """The subject of a record whose identifying cookies lead to `subjects` ((name, subject) each):
    of two people, the one the identification cookie names (as ingest decides)."""
    distinct = {subject for _name, subject in subjects}
    if len(distinct) == 1:
        return distinct.pop()
    return next((s for name, s in subjects if name == id_cookie), min(distinct))


def _owners(ctx: Ctx, ids: set[int], owner: dict[int, int]) -> None:
    wanted = list(ids)
    for i in range(0, len(wanted), IN_CHUNK):
        rows = ctx.session.execute(
            select(_ident.c.id, _ident.c.subject_id).where(_ident.c.id.in_(wanted[i : i + IN_CHUNK]))
        ).all()
        owner.update((ident, subject) for ident, subject in rows)


def save_catalog_entry(
    ctx: Ctx, form: catalog.CookieForm, cookie_id: int | None = None
) -> CatalogCookie | None:
    """Add or edit a catalog entry; a change of "identifies a browser" relinks the store at once."""
    return catalog.save(ctx, form, cookie_id, relink=lambda c, known: relink(c, known).counts())
