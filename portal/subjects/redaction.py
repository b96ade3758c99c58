"""Removing copies of deleted search terms and cookie values from the text that carries them.

Pure functions over the kinds of copies the registry names (portal/subjects/categories.py):
`cookie_values` (a log record's JSON of the catalogued cookies it carried) and `url` (a page
address or referrer whose query or fragment may carry a search term). What is removed becomes
REDACTED, which the pages and the export explain; everything else is kept byte for byte.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import unquote_plus

from portal.core.searchengines import SearchEngine, engine_for, url_host
from portal.subjects.cookies import REDACTED, SEARCH_PREF_SEPARATOR


def normal(term: str) -> str:
    """The form terms are compared in: decoded, whitespace collapsed, case folded."""
    return " ".join(unquote_plus(term, errors="replace").split()).casefold()


@dataclass(frozen=True)
class Forget:
    """What to remove. `terms` None: every search term (with every search-engine parameter);
    `cookies` None: no cookie value as such, else the (name, value) pairs to remove, value None
    meaning any value of that name."""

    terms: frozenset[str] | None = frozenset()  # normal() forms
    known_terms: frozenset[str] = frozenset()  # with terms None: the subject's terms, for page addresses
    cookies: frozenset[tuple[str, str | None]] | None = None
    term_cookies: frozenset[str] = frozenset()  # names of cookies whose value is a list of search terms
    engines: tuple[SearchEngine, ...] = ()

    def forgets(self, value: str) -> bool:
        """Is this (encoded) value one of the terms to remove?"""
        found = normal(value)
        if self.terms is None:
            return found in self.known_terms
        return found in self.terms


def cookie_values(text: str | None, forget: Forget) -> str | None:
    """A record's cookies JSON with the forgotten cookie values and search terms REDACTED."""
    if not text:
        return text
    try:
        values = json.loads(text)
    except ValueError:
        return text
    if not isinstance(values, dict):
        return text
    changed = False
    for name, value in values.items():
        if not isinstance(value, str) or value == REDACTED:
            continue
        new = value
        if forget.cookies is not None and ((name, None) in forget.cookies or (name, value) in forget.cookies):
            new = REDACTED
        elif name in forget.term_cookies:
            new = _search_list(value, forget)
        if new != value:
            values[name], changed = new, True
    return json.dumps(values, separators=(",", ":")) if changed else text


def _search_list(value: str, forget: Forget) -> str:
    if forget.terms is None:
        return REDACTED
    parts = value.split(SEARCH_PREF_SEPARATOR)
    kept = [REDACTED if p and p != REDACTED and normal(p) in forget.terms else p for p in parts]
    return SEARCH_PREF_SEPARATOR.join(kept)


def url(text: str | None, forget: Forget) -> str | None:
    """A page address or referrer with the forgotten search terms REDACTED: every parameter of a
    known search engine's result page (all of them once one holds a forgotten term, or always when
    every term goes), and any parameter elsewhere whose value is a forgotten term."""
    if not text or ("?" not in text and "#" not in text):
        return text
    if forget.terms is not None and not forget.terms:
        return text
    head, hash_, fragment = text.partition("#")
    base, qmark, query = head.partition("?")
    engine = _engine(text, forget.engines)
    params = frozenset(engine.params) if engine else frozenset()
    pieces = [p for p in (*query.split("&"), *fragment.split("&")) if p]
    wipe = engine is not None and (forget.terms is None or any(_forgotten(p, params, forget) for p in pieces))
    wiped = params if wipe else frozenset()
    result = f"{base}{qmark}{_redact(query, wiped, forget)}{hash_}{_redact(fragment, wiped, forget)}"
    return result if result != text else text


def _redact(params: str, wiped: frozenset[str], forget: Forget) -> str:
    if not params:
        return params
    parts = params.split("&")
    for i, part in enumerate(parts):
        name, eq, value = part.partition("=")
        if eq and value and value != REDACTED and (unquote_plus(name) in wiped or forget.forgets(value)):
            parts[i] = f"{name}={REDACTED}"
    return "&".join(parts)


def _forgotten(part: str, params: frozenset[str], forget: Forget) -> bool:
    name, eq, value = part.partition("=")
    return bool(eq and value and unquote_plus(name) in params and forget.forgets(value))


def _engine(text: str, engines: tuple[SearchEngine, ...]) -> SearchEngine | None:
    if not engines or not text.startswith(("http:", "https:", "//")):
        return None
    found = url_host(text)
    return engine_for(found[1], engines) if found else None
