"""Cookie headers, the cookie catalog, and the values the site's own cookies encode.

Only catalogued cookies are kept; for the others only the *name* leaves this module, so a
stray third-party tracker value is never stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, unquote_plus

Purpose = Literal["essential", "personalization", "marketing", "analytics"]
PURPOSES: tuple[Purpose, ...] = ("essential", "personalization", "marketing", "analytics")
REDACTED = "REDACTED"
SEARCH_PREF_SEPARATOR = "|"
MAX_SEARCH_TERMS = 20


def parse_cookie_header(header: str | None) -> list[tuple[str, str]]:
    """`a=1; b="2"; junk; a=3` → [("a", "1"), ("b", "2"), ("", "junk"), ("a", "3")].

    Order and duplicates are kept (a browser sends both when two paths set one name). A part
    without `=` is a nameless cookie, as browsers treat it. Surrounding quotes are removed.
    """
    if not header or header == "-":
        return []
    pairs: list[tuple[str, str]] = []
    for part in header.split(";"):
        name, eq, value = part.partition("=")
        if not eq:
            name, value = "", name
        name, value = name.strip(" \t"), value.strip(" \t")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if name or value:
            pairs.append((name, value))
    return pairs


def decode_search_pref(value: str) -> list[str]:
    """The search-preference cookie's value → its search terms, oldest first.

    The site writes each term URL-encoded (`quote_plus`, so a space is `+`), joined by `|`:
    `cheap+flights|caf%C3%A9+paris`. Every byte of that is a legal cookie octet, and `|` can't
    occur inside an encoded term. Empty terms are dropped, whitespace collapsed; at most 20 kept.
    """
    terms: list[str] = []
    for encoded in value.split(SEARCH_PREF_SEPARATOR):
        term = " ".join(unquote_plus(encoded, errors="replace").split())
        if term:
            terms.append(term)
    return terms[-MAX_SEARCH_TERMS:]


DECODERS: dict[str, Callable[[str], list[str]]] = {"search_terms": decode_search_pref}


@dataclass(frozen=True, slots=True)
class CatalogCookie:
    """One entry of the cookie catalog (see DESIGN.md): what a cookie is for and how to read it."""

    name: str
    purposes: tuple[Purpose, ...]
    description: str
    lifetime_days: int | None
    identifies_browser: bool
    decoder: str | None = None

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in ";=, \t"):
            raise ValueError(f"not a cookie name: {self.name!r}")
        if not self.purposes or any(p not in PURPOSES for p in self.purposes):
            raise ValueError(f"purposes must be a non-empty subset of {PURPOSES}: {self.purposes!r}")
        if self.decoder is not None and self.decoder not in DECODERS:
            raise ValueError(f"unknown decoder {self.decoder!r}; known: {sorted(DECODERS)}")

    def decode(self, value: str) -> list[str] | None:
        """The value in human terms (e.g. search terms), or None when the cookie has no decoder."""
        return None if self.decoder is None else DECODERS[self.decoder](value)


@dataclass(frozen=True, slots=True)
class CookieCatalog:
    cookies: tuple[CatalogCookie, ...]
    _by_name: dict[str, CatalogCookie] = field(init=False, repr=False, compare=False)
    _secret_params: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {c.name: c for c in self.cookies}
        if len(by_name) != len(self.cookies):
            raise ValueError("cookie names in a catalog must be unique")
        object.__setattr__(self, "_by_name", by_name)
        secrets = frozenset(c.name for c in self.cookies if c.identifies_browser)
        object.__setattr__(self, "_secret_params", secrets)

    def get(self, name: str) -> CatalogCookie | None:
        return self._by_name.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def secret_names(self) -> frozenset[str]:
        """Names whose values identify a browser: never kept in clear inside a logged URL."""
        return self._secret_params


def default_catalog(id_cookie: str = "site_id", pref_cookie: str = "search_pref") -> CookieCatalog:
    """The two cookies of the site's privacy policy, under configurable names."""
    return CookieCatalog(
        (
            CatalogCookie(
                id_cookie,
                ("essential",),
                "Identifies your browser after you log in as a verified adult, so the site knows it is you.",
                365,
                True,
            ),
            CatalogCookie(
                pref_cookie,
                ("personalization", "marketing"),
                "Remembers the search term that brought you to the site; used to tailor content "
                "and to target marketing.",
                180,
                False,
                "search_terms",
            ),
        )
    )


@dataclass(frozen=True, slots=True)
class CookieSplit:
    catalogued: list[tuple[str, str]]
    uncatalogued_names: list[str]


def split_cookies(header: str | None, catalog: CookieCatalog) -> CookieSplit:
    """Catalogued (name, value) pairs, and only the names of the rest (never their values)."""
    catalogued: list[tuple[str, str]] = []
    others: list[str] = []
    for name, value in parse_cookie_header(header):
        if name in catalog:
            catalogued.append((name, value))
        elif name not in others:
            others.append(name)
    return CookieSplit(catalogued, others)


def redact_query(path: str | None, catalog: CookieCatalog) -> str | None:
    """`/p?site_id=abc&x=1` → `/p?site_id=REDACTED&x=1` for every identifying cookie name.

    Everything else is kept byte for byte; names are compared after URL-decoding (`site%5Fid`).
    """
    if path is None or "?" not in path:
        return path
    base, _, rest = path.partition("?")
    query, hash_, fragment = rest.partition("#")
    secrets = catalog.secret_names
    if not secrets or not _mentions(query, secrets):
        return path
    parts = query.split("&")
    for i, part in enumerate(parts):
        name, eq, _value = part.partition("=")
        if eq and unquote(name.replace("+", " ")) in secrets:
            parts[i] = f"{name}={REDACTED}"
    return f"{base}?{'&'.join(parts)}{hash_}{fragment}"


def _mentions(query: str, names: Iterable[str]) -> bool:
    # A cheap pre-check for the common case; `%` means a name might be percent-encoded.
    return "%" in query or any(name in query for name in names)
