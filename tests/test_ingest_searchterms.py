"""Search terms from referrers, and referrer domains."""

from __future__ import annotations

import pytest

from portal.ingest.searchterms import DEFAULT_ENGINES, SearchEngine, referrer_domain, search_term


@pytest.mark.parametrize(
    ("referrer", "expected"),
    [
        ("https://www.google.com/search?q=cheap+flights", ("Google", "cheap flights")),
        ("https://www.google.co.uk/search?hl=en&q=caf%C3%A9%20paris", ("Google", "café paris")),
        ("https://www.google.com.br/search?q=%20%20voos++baratos%0A", ("Google", "voos baratos")),
        ("https://encrypted.google.com/search?q=x", ("Google", "x")),
        ("https://www.google.de/#q=im+fragment", ("Google", "im fragment")),
        ("https://www.bing.com/search?q=xdotool&form=QBRE", ("Bing", "xdotool")),
        ("https://uk.search.yahoo.com/search?p=rage+face&fr=yfp", ("Yahoo", "rage face")),
        ("https://duckduckgo.com/?q=privacy+portal&t=h_", ("DuckDuckGo", "privacy portal")),
        ("https://yandex.ru/search/?lr=213&text=%D0%BF%D1%80%D0%BE%D0%BA%D1%81%D0%B8", ("Yandex", "прокси")),
        ("https://www.baidu.com/s?ie=utf-8&wd=%E4%BD%A0%E5%A5%BD", ("Baidu", "你好")),
        ("https://www.ecosia.org/search?q=trees", ("Ecosia", "trees")),
        ("https://www.ask.com/web?q=how+to", ("Ask", "how to")),
        ("https://search.aol.com/aol/search?query=mail", ("AOL", "mail")),
        ("HTTPS://WWW.GOOGLE.FR:443/search?q=Majuscules", ("Google", "Majuscules")),
        (
            "https://www.google.com/url?sa=t&q=the+logstash+book&url=http%3A%2F%2Fx.com",
            ("Google", "the logstash book"),
        ),
    ],
)
def test_search_terms(referrer: str, expected: tuple[str, str]) -> None:
    assert search_term(referrer) == expected


@pytest.mark.parametrize(
    "referrer",
    [
        None,
        "-",
        "",
        "https://www.google.com/",
        "https://www.google.com/search?q=",
        "https://www.google.com/search?q=+++",
        "https://www.google.com/url?sa=t&q=&url=http%3A%2F%2Fx.com",  # term withheld by Google
        "http://www.google.com/url?q=http%3A%2F%2Fwww.semicomplete.com%2F&sa=D",  # a click-through
        "https://example.com/search?q=not+an+engine",
        "https://google.example.com/search?q=spoof",
        "https://mail.yahoo.com/?q=inbox",
        "https://images.yandex.ru/yandsearch?p=9",  # p is the page number on Yandex
        "http://[::1/search?q=broken",
        "not a url at all",
    ],
)
def test_no_search_term(referrer: str | None) -> None:
    assert search_term(referrer) is None


def test_engines_are_configurable() -> None:
    mine = (*DEFAULT_ENGINES, SearchEngine("Mojeek", ("mojeek.com",), ("q",)))
    assert search_term("https://www.mojeek.com/search?q=indie", mine) == ("Mojeek", "indie")
    assert search_term("https://www.mojeek.com/search?q=indie") is None


@pytest.mark.parametrize(
    ("referrer", "domain"),
    [
        ("http://www.semicomplete.com/blog/", "semicomplete.com"),
        ("https://WWW.Example.COM:8443/x?y", "example.com"),
        ("https://news.ycombinator.com/item?id=1", "news.ycombinator.com"),
        ("http://[2001:db8::1]:8080/", "2001:db8::1"),
        ("https://example.com./", "example.com"),
        ("android-app://com.google.android.gm", "com.google.android.gm"),
        ("https://www./", "www"),
        ("-", None),
        (None, None),
        ("", None),
        ("/relative/path", None),
        ("http://[::1/broken", None),
    ],
)
def test_referrer_domain(referrer: str | None, domain: str | None) -> None:
    assert referrer_domain(referrer) == domain
