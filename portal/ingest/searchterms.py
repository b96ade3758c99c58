"""Search terms from search-engine referrers, and referrer domains.

The engine table is data (portal/core/searchengines.py): pass your own `engines` to recognise more.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import unquote_plus

from portal.core.searchengines import DEFAULT_ENGINES, SearchEngine, engine_for, url_host

_URL_PREFIXES = ("http:", "https:")


def referrer_domain(referrer: str | None) -> str | None:
    """Lower-cased host without port and without a leading `www.`; None for `-`, empty or no host."""
    if not referrer or referrer == "-":
        return None
    # Cache the usual (short) referrers only, so hostile 8 KiB ones cannot fill memory.
    return _cached_domain(referrer) if len(referrer) <= 1024 else _domain(referrer)


@lru_cache(maxsize=8_192)
def _cached_domain(referrer: str) -> str | None:
    return _domain(referrer)


def _domain(referrer: str) -> str | None:
    found = url_host(referrer)
    if found is None:
        return None
    host = found[1]
    host = host[4:] if host.startswith("www.") and len(host) > 4 else host
    return host if len(host) <= 253 else None  # no DNS name is longer (and the column is not)


def _params(query: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in query.split("&"):
        name, eq, value = part.partition("=")
        if eq and value and name not in found:
            found[name] = value
    return found


def search_term(
    referrer: str | None, engines: tuple[SearchEngine, ...] = DEFAULT_ENGINES
) -> tuple[str, str] | None:
    """(engine name, search term) when the referrer is a known engine's result page with a term."""
    if not referrer or referrer == "-":
        return None
    found = url_host(referrer)
    if found is None:
        return None
    parts, host = found
    engine = engine_for(host, engines)
    if engine is None:
        return None
    query = _params(parts.query)
    fragment = _params(parts.fragment)  # Google once put the term after "#"
    for param in engine.params:
        encoded = query.get(param) or fragment.get(param)
        if not encoded:
            continue
        term = " ".join(unquote_plus(encoded, errors="replace").split())
        if not term:
            continue
        if parts.path in engine.redirect_paths and "url" not in query and term.startswith(_URL_PREFIXES):
            return None  # google.com/url?q=<target>: a click-through, no term
        return engine.name, term
    return None
