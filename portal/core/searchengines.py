"""The search engines whose result pages carry a search term: a table of data, configurable.

The built-in list can be extended or replaced with a TOML file (`PORTAL_SEARCH_ENGINES`). A host
matches an engine when one of its `domains` appears as whole labels; a domain ending in `.*`
accepts any country suffix (`google.*` matches google.de, google.co.uk, google.com.br).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import SplitResult, urlsplit


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


def url_host(referrer: str) -> tuple[SplitResult, str] | None:
    """The parts of a URL and its host (lower-case, without a trailing dot); None without a host."""
    try:
        parts = urlsplit(referrer.strip())
        host = parts.hostname
    except ValueError:  # e.g. an unbalanced "[" in the netloc
        return None
    if not host:
        return None
    return parts, host.rstrip(".")


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
def engine_for(host: str, engines: tuple[SearchEngine, ...]) -> SearchEngine | None:
    return next((e for e in engines if any(_matches(host, d) for d in e.domains)), None)


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
