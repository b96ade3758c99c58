"""Search preferences after a relink: re-derived from the records each subject now holds.

Preferences are derived data: the preference cookie's terms and search-engine referrers of the
subject's records (and of site events, which no relink moves). When records change subject, the
subjects on both sides get their preferences again from their records, as ingest would have
recorded them — but only terms that a subject the records came from still held: a term the person
deleted stays deleted, even where an older record still carries a copy of it. A subject that
switched personalisation off gets none. A browser split off a subject keeps that subject's
refusals: a choice made while they were joined must not be lost by splitting them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select

from portal.core.context import Ctx
from portal.ingest.searchterms import search_term
from portal.ingest.writer import IN_CHUNK, TERM_CHARS, Found, consented
from portal.models import Consent, LogRecord, SearchPreference
from portal.subjects.cookies import decode_search_pref

_log: Table = LogRecord.__table__  # type: ignore[attr-defined]
_prefs: Table = SearchPreference.__table__  # type: ignore[attr-defined]
_consent: Table = Consent.__table__  # type: ignore[attr-defined]
Term = tuple[str, str, str]  # (term, source, engine)


def rederive(
    ctx: Ctx, origins: dict[int, set[int]], new_subjects: set[int], notify: Callable[[int, int], None]
) -> int:
    """Re-derive the preferences of each subject in `origins` (subject → the subjects its records
    came from, itself included); returns how many subjects that was."""
    if not origins:
        return 0
    _inherit_refusals(ctx, origins, new_subjects)
    held = _held(ctx, set().union(*origins.values()))
    allowed = consented(ctx, set(origins))
    subjects = sorted(origins)
    for start in range(0, len(subjects), IN_CHUNK):
        chunk = subjects[start : start + IN_CHUNK]
        found = _from_records(ctx, chunk)
        ctx.session.execute(delete(_prefs).where(_prefs.c.subject_id.in_(chunk)))
        rows = []
        for (subject, term, source, engine), (first, last, times) in found.items():
            keep = any((term, source, engine) in held.get(o, ()) for o in origins[subject])
            if keep and subject in allowed:
                rows.append({"subject_id": subject, "term": term, "source": source, "engine": engine,
                             "first_seen": first, "last_seen": last, "times": times})  # fmt: skip
        if rows:
            ctx.session.execute(insert(_prefs), rows)
        notify(start + len(chunk), len(subjects))
    return len(subjects)


def _held(ctx: Ctx, subjects: set[int]) -> dict[int, set[Term]]:
    """The terms each subject holds now, before any is re-derived."""
    held: dict[int, set[Term]] = {}
    ids = list(subjects)
    for i in range(0, len(ids), IN_CHUNK):
        rows = ctx.session.execute(
            select(_prefs.c.subject_id, _prefs.c.term, _prefs.c.source, _prefs.c.engine).where(
                _prefs.c.subject_id.in_(ids[i : i + IN_CHUNK])
            )
        ).all()
        for subject, term, source, engine in rows:
            held.setdefault(subject, set()).add((term, source, engine))
    return held


def _from_records(ctx: Ctx, subjects: list[int]) -> Found:
    """What ingest would record about these subjects from the records they hold now."""
    pref_cookie, engines = ctx.settings.pref_cookie, ctx.settings.search_engines
    found: Found = {}
    cookie_terms: dict[str, list[str]] = {}
    referrer_terms: dict[str, tuple[str, str] | None] = {}

    def note(key: tuple[int, str, str, str], at: datetime) -> None:
        entry = found.get(key)
        if entry is None:
            found[key] = [at, at, 1]
        else:
            entry[0], entry[1], entry[2] = min(entry[0], at), max(entry[1], at), entry[2] + 1

    rows = ctx.session.execute(
        select(_log.c.subject_id, _log.c.at, _log.c.cookies, _log.c.referrer)
        .where(_log.c.subject_id.in_(subjects))
        .execution_options(yield_per=5000)  # a subject may hold millions of records
    )
    for subject, at, cookies, referrer in rows:
        if cookies:
            terms = cookie_terms.get(cookies)
            if terms is None:
                terms = cookie_terms[cookies] = _pref_terms(cookies, pref_cookie)
            for term in terms:
                note((subject, term[:TERM_CHARS], "cookie", ""), at)
        if referrer:
            hit = referrer_terms.get(referrer, ())
            if hit == ():
                hit = referrer_terms[referrer] = search_term(referrer, engines)
            if hit:
                engine, term = hit  # type: ignore[misc]
                note((subject, term[:TERM_CHARS], "referrer", engine), at)
    return found


def _pref_terms(text: str, pref_cookie: str) -> list[str]:
    try:
        values: Any = json.loads(text)
    except ValueError:
        return []
    value = values.get(pref_cookie) if isinstance(values, dict) else None
    return decode_search_pref(value) if isinstance(value, str) else []


def _inherit_refusals(ctx: Ctx, origins: dict[int, set[int]], new_subjects: set[int]) -> None:
    wanted = {o for s in new_subjects if s in origins for o in origins[s] if o != s}
    if not wanted:
        return
    rows = {
        r.subject_id: r
        for r in ctx.session.execute(select(_consent).where(_consent.c.subject_id.in_(list(wanted))))
    }
    for subject in sorted(new_subjects & set(origins)):
        sources = [rows[o] for o in origins[subject] if o in rows]
        if not sources:
            continue
        choice = {f: all(getattr(r, f) for r in sources) for f in ("personalization", "marketing", "email")}
        if all(choice.values()):
            continue
        ctx.session.execute(insert(_consent).values(subject_id=subject, updated_at=ctx.now, **choice))
