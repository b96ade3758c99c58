"""The My data overview's counts are the rows its detail pages show, each count links to its page,
and numbers agree with their nouns on the pages and in the messages a person reads."""

from __future__ import annotations

import html
import re

from portal.core.words import count, plural
from portal.models import Identifier
from portal.subjects import identity
from tests import sitedata_factory as f
from tests.conftest import Client, Portal


def _member(portal: Portal) -> tuple[Client, int]:
    """Two cookie values and a site user id (as the demo member has), three terms, twelve log records."""
    client = portal.client()
    portal.verified_user(client, "ann@example.com")
    me = f.account_subject(portal.store, "ann@example.com")
    f.cookie(portal.store, me, "site_id", "ann-identifier-0001")
    f.cookie(portal.store, me, "search_pref", "cheap+flights", user_agent=f.FIREFOX)
    now = portal.store.clock.now()
    with portal.store.ctx() as ctx:
        digest = identity.value_hash(ctx, "site_user", "", "site-user-4242")
    f._insert(portal.store, Identifier, kind="site_user", name="", value="site-user-4242", value_hash=digest,
              subject_id=me, first_seen=now, last_seen=now, tied_by="event")  # fmt: skip
    for term in ("cheap flights", "café paris", "late trains"):
        f.preference(portal.store, me, term)
    f.log_records(portal.store, me, 12, source_id=f.source(portal.store), path="/ann/{i}")
    return client, me


def _overview(client: Client) -> list[tuple[str, str]]:
    text = re.sub(r"\s+", " ", client.get("/my").text)
    return re.findall(r'<dt>How many</dt><dd><a class="count" href="([^"]+)">([^<]+)</a>', text)


def _rows(client: Client, path: str) -> int:
    """What a detail page lists: cookie and id cards, or the rows of its table body."""
    page = client.get(path).text
    if path == "/my/cookies":
        return page.count('<li class="record">')
    bodies = re.findall(r"<tbody[^>]*>(.*?)</tbody>", page, flags=re.S)
    assert "rel=\"next\"" not in page, path  # everything is on the first page
    return sum(body.count("<tr") for body in bodies)


def test_every_overview_count_is_the_rows_of_its_page(portal: Portal) -> None:
    client, _ = _member(portal)
    shown = _overview(client)
    assert shown == [
        ("/my/cookies", "3 cookies and ids"),
        ("/my/search", "3 search terms"),
        ("/my/logs", "12 log records"),
        ("/my/export", "no promotional emails"),
    ]
    for path, said in shown[:3]:
        assert _rows(client, path) == int(said.split()[0]), path
    cookies = client.get("/my/cookies").text
    assert "Your user id on the site" in cookies and "site…" in cookies and "site-user-4242" not in cookies


def test_counts_after_deleting_agree_with_their_nouns(portal: Portal) -> None:
    client, _ = _member(portal)
    first = re.search(r'href="/my/search/(\d+)/delete"', client.get("/my/search").text)
    assert first is not None
    client.submit(f"/my/search/{first.group(1)}/delete")
    assert ("/my/search", "2 search terms") in _overview(client)
    client.submit("/my/search/delete")
    assert "2 search terms deleted." in client.get("/my/search").text
    assert ("/my/search", "no search terms") in _overview(client)
    client.submit("/my/search/delete")
    assert "No search terms deleted." in client.get("/my/search").text
    assert ("/my/cookies", "2 cookies and ids") in _overview(client)  # the search-preference cookie went too
    client.submit("/my/cookies/delete")
    assert "1 cookie record deleted." in client.get("/my/cookies").text
    assert ("/my/cookies", "1 cookie or id") in _overview(client)


def test_no_page_says_record_s_or_the_0(portal: Portal) -> None:
    client, _ = _member(portal)
    for path in ("/my", "/my/cookies", "/my/search", "/my/logs", "/my/consent", "/my/receipts", "/my/export"):
        text = html.unescape(client.get(path).text)
        assert "(s)" not in text and not re.search(r"\bthe 0\b|\b1 [a-z]+s\b(?! (?:and|or))", text), path


def test_count_reads_like_english() -> None:
    assert count(1, "search term") == "1 search term"
    assert count(0, "search term") == "no search terms"
    assert count(0, "search term", none="No") == "No search terms"
    assert count(7, "cookie record") == "7 cookie records"
    assert count(12345, "log record") == "12,345 log records"
    assert count(2, "cookie or id", "cookies and ids") == "2 cookies and ids"
    assert [plural(w) for w in ("day", "entry", "batch", "address")] == ["days", "entries", "batches", "addresses"]
