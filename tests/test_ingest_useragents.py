"""User agents in words, on real user agents of the shared log."""

from __future__ import annotations

import pytest

from portal.subjects.useragents import describe_user_agent


@pytest.mark.parametrize(
    ("ua", "words"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36",
            "Chrome 120 on Windows",
        ),
        # The rest are from the real sample log (portal/demo/sample/apache_combined_10k.log).
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/32.0.1700.77 Safari/537.36",
            "Chrome 32 on Mac OS X",
        ),
        ("Mozilla/5.0 (Windows NT 6.1; WOW64; rv:27.0) Gecko/20100101 Firefox/27.0", "Firefox 27 on Windows"),
        (
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:27.0) Gecko/20100101 Firefox/27.0",
            "Firefox 27 on Ubuntu",
        ),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot 2 (robot)"),
        ("Tiny Tiny RSS/1.11 (http://tt-rss.org/)", "Tiny Tiny RSS 1"),
        ("UniversalFeedParser/4.2-pre-314-svn +http://feedparser.org/", "Unknown browser"),
        ("-", "Unknown browser"),
        (None, "Unknown browser"),
        ("", "Unknown browser"),
        ("<script>alert(1)</script>", "Unknown browser"),
    ],
)
def test_describe_user_agent(ua: str | None, words: str) -> None:
    assert describe_user_agent(ua) == words


def test_a_huge_user_agent_is_described_from_its_start() -> None:
    ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/121.0 " + "x" * 20_000
    assert describe_user_agent(ua) == "Firefox 121 on Windows"
