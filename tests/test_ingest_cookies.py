"""Cookie headers, the catalog, search_pref values and redaction of secrets in logged URLs."""

from __future__ import annotations

import pytest

from portal.subjects.cookies import (
    CatalogCookie,
    CookieCatalog,
    decode_search_pref,
    default_catalog,
    parse_cookie_header,
    redact_query,
    split_cookies,
)

CATALOG = default_catalog()


def test_parse_cookie_header() -> None:
    assert parse_cookie_header('a=1; b="two words"; c=x=y;;  d = 4 ') == [
        ("a", "1"),
        ("b", "two words"),
        ("c", "x=y"),
        ("d", "4"),
    ]


def test_parse_cookie_header_tolerates_junk() -> None:
    assert parse_cookie_header("junk; =nameless; a=1; a=2; ; =; e=") == [
        ("", "junk"),
        ("", "nameless"),
        ("a", "1"),
        ("a", "2"),
        ("e", ""),
    ]
    assert parse_cookie_header(None) == []
    assert parse_cookie_header("-") == []
    assert parse_cookie_header("") == []
    assert parse_cookie_header('q="') == [("q", '"')]


def test_default_catalog() -> None:
    site_id, pref = CATALOG.cookies
    assert (site_id.name, site_id.purposes, site_id.identifies_browser) == ("site_id", ("essential",), True)
    assert (pref.name, pref.purposes, pref.identifies_browser) == (
        "search_pref",
        ("personalization", "marketing"),
        False,
    )
    assert pref.decode("cheap+flights") == ["cheap flights"]
    assert site_id.decode("abc") is None
    renamed = default_catalog(id_cookie="uid", pref_cookie="sp")
    assert "uid" in renamed and "sp" in renamed and "site_id" not in renamed


def test_catalog_validation() -> None:
    with pytest.raises(ValueError, match="purposes"):
        CatalogCookie("x", ("tracking",), "", 1, False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="purposes"):
        CatalogCookie("x", (), "", 1, False)
    with pytest.raises(ValueError, match="cookie name"):
        CatalogCookie("a=b", ("essential",), "", 1, False)
    with pytest.raises(ValueError, match="decoder"):
        CatalogCookie("x", ("essential",), "", 1, False, "rot13")
    one = CatalogCookie("x", ("analytics",), "", None, False)
    with pytest.raises(ValueError, match="unique"):
        CookieCatalog((one, one))


def test_split_cookies_keeps_only_names_of_uncatalogued_cookies() -> None:
    header = "_ga=GA1.2.999; site_id=abc123; search_pref=cheap+flights; _ga=GA1.2.888; =x; _fbp=fb.1"
    split = split_cookies(header, CATALOG)
    assert split.catalogued == [("site_id", "abc123"), ("search_pref", "cheap+flights")]
    assert split.uncatalogued_names == ["_ga", "", "_fbp"]
    assert "GA1" not in repr(split.uncatalogued_names)


def test_split_keeps_duplicate_catalogued_values() -> None:
    split = split_cookies("site_id=old; site_id=new", CATALOG)
    assert split.catalogued == [("site_id", "old"), ("site_id", "new")]


@pytest.mark.parametrize(
    ("value", "terms"),
    [
        ("cheap+flights", ["cheap flights"]),
        ("cheap+flights|caf%C3%A9+paris", ["cheap flights", "café paris"]),
        ("a%7Cb|c", ["a|b", "c"]),  # an encoded | stays inside its term
        ("||+++|%20%09x%0Ay++", ["x y"]),  # empty terms dropped, whitespace collapsed
        ("", []),
        ("%FF%FE", ["\ufffd\ufffd"]),  # undecodable bytes are shown, not dropped
        ("%3Cscript%3E", ["<script>"]),  # data; the web layer escapes
    ],
)
def test_decode_search_pref(value: str, terms: list[str]) -> None:
    assert decode_search_pref(value) == terms


def test_decode_search_pref_keeps_the_last_twenty() -> None:
    value = "|".join(f"t{i}" for i in range(25))
    assert decode_search_pref(value) == [f"t{i}" for i in range(5, 25)]


@pytest.mark.parametrize(
    ("path", "redacted"),
    [
        ("/watch?site_id=abc123&v=9", "/watch?site_id=REDACTED&v=9"),
        ("/watch?v=9&site_id=abc123", "/watch?v=9&site_id=REDACTED"),
        ("/w?site%5Fid=abc&site_id=def#top", "/w?site%5Fid=REDACTED&site_id=REDACTED#top"),
        ("/w?search_pref=flights&x=%20", "/w?search_pref=flights&x=%20"),  # not identifying: kept
        ("/w?my_site_id=1&site_idx=2&site_id", "/w?my_site_id=1&site_idx=2&site_id"),
        ("/plain", "/plain"),
        (None, None),
    ],
)
def test_redact_query(path: str | None, redacted: str | None) -> None:
    assert redact_query(path, CATALOG) == redacted
