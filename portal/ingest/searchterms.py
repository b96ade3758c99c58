"""Search terms from search-engine referrers, and referrer domains.

The engine table is data: pass your own `engines` to recognise more. A host matches an engine
when one of its `domains` appears as whole labels; a domain ending in `.*` accepts any country
suffix (`google.*` matches google.de, google.co.uk, google.com.br, encrypted.google.com).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import SplitResult, unquote_plus, urlsplit

_URL_PREFIXES = ("http:", "https:")


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: cheap as a cache key
class SearchEngine:
    name: str
    domains: tuple[str, ...]
    params: tuple[str, ...]  # the first non-empty one wins
    redirect_paths: tuple[str, ...] = ()  # where a param may hold the target URL, not a term


DEFAULT_ENGINES: tuple[SearchEngine, ...] = (
    SearchEngine("Google", ("google.*",), ("q", "as_q"), redirect_paths=("/url",)),
    SearchEngine("Bing", ("bing.com",), ("q",)),
    SearchEngine("Yahoo", ("search.yahoo.*",), ("p", "q")),
    SearchEngine("DuckDuckGo", ("duckduckgo.com",), ("q",)),
    SearchEngine("Yandex", ("yandex.*", "ya.ru"), ("text",)),
    SearchEngine("Baidu", ("baidu.com",), ("wd", "word", "kw")),
    SearchEngine("Ecosia", ("ecosia.org",), ("q",)),
    SearchEngine("Ask", ("ask.com",), ("q",)),
    SearchEngine("AOL", ("search.aol.*",), ("q", "query")),
    SearchEngine("Qwant", ("qwant.com",), ("q",)),
    SearchEngine("Startpage", ("startpage.com",), ("query", "q")),
    SearchEngine("Brave", ("search.brave.com",), ("q",)),
    SearchEngine("Naver", ("search.naver.com",), ("query",)),
    SearchEngine("Seznam", ("search.seznam.cz",), ("q",)),
    SearchEngine("Sogou", ("sogou.com",), ("query",)),
)


def load_engines(path: Path) -> tuple[SearchEngine, ...]:
    """Engines from a TOML file: `[[engine]]` tables with name, domains, params (and optionally
    redirect_paths), added before the built-in ones; `replace = true` at the top drops those.

    Raises ValueError with a message naming the file and the problem.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    tables = data.get("engine", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ValueError(f"{path}: engines are [[engine]] tables")
    engines = []
    for number, table in enumerate(tables, 1):
        unknown = set(table) - {"name", "domains", "params", "redirect_paths"}
        name = table.get("name")
        lists = {key: table.get(key, []) for key in ("domains", "params", "redirect_paths")}
        if (
            unknown
            or not isinstance(name, str)
            or not name.strip()
            or not all(_texts(v) for v in lists.values())
            or not lists["domains"]
            or not lists["params"]
        ):
            raise ValueError(
                f"{path}: engine {number} needs name (text), domains and params (lists of text)"
                + (f"; unknown keys {sorted(unknown)}" if unknown else "")
            )
        engines.append(
            SearchEngine(
                name.strip()[:32],
                tuple(d.lower().strip(".") for d in lists["domains"]),
                tuple(lists["params"]),
                tuple(lists["redirect_paths"]),
            )
        )
    if data.get("replace") is True:
        if not engines:
            raise ValueError(f"{path}: replace = true with no [[engine]] leaves no search engine")
        return tuple(engines)
    return (*engines, *DEFAULT_ENGINES)


def _texts(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) and x for x in value)


def _host(referrer: str) -> tuple[SplitResult, str] | None:
    try:
        parts = urlsplit(referrer.strip())
        host = parts.hostname
    except ValueError:  # e.g. an unbalanced "[" in the netloc
        return None
    if not host:
        return None
    return parts, host.rstrip(".")


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
    found = _host(referrer)
    if found is None:
        return None
    host = found[1]
    host = host[4:] if host.startswith("www.") and len(host) > 4 else host
    return host if len(host) <= 253 else None  # no DNS name is longer (and the column is not)


def _matches(host: str, domain: str) -> bool:
    labels = host.split(".")
    want = domain.split(".")
    any_suffix = want[-1] == "*"
    if any_suffix:
        want = want[:-1]
    for start in range(len(labels) - len(want) + 1):
        if labels[start : start + len(want)] != want:
            continue
        suffix = labels[start + len(want) :]
        if not any_suffix:
            if not suffix:
                return True
        # A country suffix: "de", "co.uk", "com.br" (one or two short labels).
        elif 1 <= len(suffix) <= 2 and all(0 < len(s) <= 3 for s in suffix):
            return True
    return False


@lru_cache(maxsize=4_096)
def _engine_for(host: str, engines: tuple[SearchEngine, ...]) -> SearchEngine | None:
    return next((e for e in engines if any(_matches(host, d) for d in e.domains)), None)


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
    found = _host(referrer)
    if found is None:
        return None
    parts, host = found
    engine = _engine_for(host, engines)
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
