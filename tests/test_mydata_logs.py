"""My data, log records: keyset pages (with and without htmx), filters, the activity chart.

Speed (first page for 100,000 records vs 10) is a benchmark: bench/bench_logpage.py."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta

from portal.subjects import logbrowse
from tests import sitedata_factory as f
from tests.conftest import Client, Portal

ROW_PATH = re.compile(r"<code>GET (/[a-z]+/\d+)</code>")
NEXT = re.compile(r'<a class="button secondary" href="([^"]+)" hx-get=')


def _me(portal: Portal, email: str = "ann@example.com") -> tuple[Client, int]:
    c = portal.client()
    portal.verified_user(c, email)
    return c, f.account_subject(portal.store, email)


def _next(page: str) -> str | None:
    match = NEXT.search(page)
    return html.unescape(match.group(1)) if match else None


def test_pages_walk_every_record_once_newest_first_with_and_without_htmx(portal: Portal) -> None:
    ann, me = _me(portal)
    _, other = _me(portal, "bob@example.com")
    src = f.source(portal.store)
    # Runs of three records share one timestamp: the id must break ties without losing any.
    f.log_records(portal.store, me, 131, source_id=src, path="/ann/{i}", same_time_every=3)
    f.log_records(portal.store, other, 40, source_id=src, path="/bob/{i}")
    expected = [f"/ann/{i}" for i in range(131)]
    expected_order = sorted(expected, key=lambda p: (int(p.split("/")[2]) // 3, -int(p.split("/")[2])))

    first = ann.get("/my/logs")
    assert "hx-swap-oob" not in first.text
    for htmx in (False, True):
        seen = ROW_PATH.findall(first.text)
        url = _next(first.text)
        while url:
            r = ann.get(url, headers={"HX-Request": "true"} if htmx else {})
            assert r.status_code == 200 and "HX-Request" in r.headers["vary"]
            if htmx:
                assert "<html" not in r.text and 'id="log-more" hx-swap-oob="true"' in r.text
            else:
                assert "<html" in r.text and "Back to the newest records" in r.text
            seen += ROW_PATH.findall(r.text)
            url = _next(r.text)
        assert len(seen) == 131 and len(set(seen)) == 131
        assert set(seen) == set(expected)
        # Newest first: within a shared timestamp the higher id (inserted later) comes first.
        assert seen == sorted(seen, key=lambda p: int(p.split("/")[2]) // 3)
        assert seen == expected_order
        assert not any("/bob/" in p for p in seen)


def test_the_first_page_holds_the_newest_records_and_each_next_page_more(portal: Portal) -> None:
    ann, me = _me(portal)
    f.log_records(portal.store, me, 80, source_id=f.source(portal.store), path="/ann/{i}")
    first = ann.get("/my/logs").text
    # Newest first: the factory writes record i older than record i - 1.
    assert ROW_PATH.findall(first) == [f"/ann/{i}" for i in range(logbrowse.FIRST_PAGE)]
    url = _next(first)
    assert url
    for htmx in (False, True):
        second = ann.get(url, headers={"HX-Request": "true"} if htmx else {}).text
        shown = ROW_PATH.findall(second)
        assert shown == [f"/ann/{i}" for i in range(logbrowse.FIRST_PAGE, 80)][: logbrowse.PAGE_SIZE]
        assert _next(second) is not None and "These are the oldest records." not in second


def test_first_page_shows_the_fields_in_my_time_zone(portal: Portal) -> None:
    ann, me = _me(portal)
    f.log_records(portal.store, me, 3, source_id=f.source(portal.store), ip="203.0.113.99")
    with portal.store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE account SET time_zone = 'Asia/Tokyo'")
    text = ann.get("/my/logs").text
    assert "Asia/Tokyo" in text and "google.com" in text and "Chrome 120 on Windows" in text
    assert "203.0.113.99" in text and "That is every record." in text
    at = portal.store.clock.now() - timedelta(minutes=1)
    assert (at + timedelta(hours=9)).strftime("%d %b %Y, %H:%M") in text


def test_markup_in_any_column_reaches_the_page_as_text(portal: Portal) -> None:
    """The rows are written with autoescape off, each value escaped by hand (my/_macros.html, for
    speed): whatever a log line carried, in any column shown, must still arrive as text."""
    ann, me = _me(portal)
    f.log_records(portal.store, me, 2, source_id=f.source(portal.store), path="/<script>p{i}</script>",
                  referrer="https://x.example/?q=<img src=x onerror=alert(1)>",
                  user_agent="Mozilla/5.0 (compatible; <b>bot</b>/2.1; +http://x)")  # fmt: skip
    with portal.store.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE log_record SET method = '<i>GET</i>', referrer_domain = '<u>d\"</u>', ip = '<s>ip&'"
        )
    planted = ("<script>p", "<i>GET", "<u>d", "<s>ip", "<img src=x", "b>bot")
    shown = ("&lt;script&gt;p0&lt;/script&gt;", "&lt;i&gt;GET&lt;/i&gt;", "&lt;u&gt;d&#34;&lt;/u&gt;",
             "&lt;s&gt;ip&amp;", "b&gt;bot (robot)")  # fmt: skip
    first = ann.get("/my/logs").text
    matched = ann.get("/my/logs?q=onerror").text  # the hidden referrer is shown under its site
    for page in (first, matched):
        assert not [p for p in planted if p in page]
        assert all(s in page for s in shown)
    assert "<code>https://x.example/?q=&lt;img src=x onerror=alert(1)&gt;</code>" in matched


def _noon(portal: Portal, days_ago: int) -> datetime:
    """Noon UTC some days back: records a few minutes apart then share one calendar day whatever
    the hour the suite runs at (seeding from "now" split them across midnight after 00:00 UTC)."""
    day = portal.store.clock.now() - timedelta(days=days_ago)
    return day.replace(hour=12, minute=0, second=0, microsecond=0)


def test_filters_by_text_and_date_range(portal: Portal) -> None:
    ann, me = _me(portal)
    src = f.source(portal.store)
    now = portal.store.clock.now()
    f.log_records(portal.store, me, 5, source_id=src, path="/cats/{i}", newest=_noon(portal, 1))
    f.log_records(portal.store, me, 5, source_id=src, path="/dogs/{i}", newest=_noon(portal, 10),
                  referrer="https://www.bing.com/search?q=x")  # fmt: skip
    assert set(ROW_PATH.findall(ann.get("/my/logs?q=CATS").text)) == {f"/cats/{i}" for i in range(5)}
    assert len(ROW_PATH.findall(ann.get("/my/logs?q=bing.com").text)) == 5  # the referrer matches too
    day = (now - timedelta(days=10)).date().isoformat()
    ranged = ann.get(f"/my/logs?from={day}&to={day}").text
    assert set(ROW_PATH.findall(ranged)) == {f"/dogs/{i}" for i in range(5)}
    assert "No record matches these filters." in ann.get("/my/logs?q=nothing-like-this").text
    bad = ann.get("/my/logs?from=31/12/2024")
    assert bad.status_code == 200 and "Enter a date like 2024-03-31." in bad.text
    # % and _ are literal characters, not wildcards.
    assert "No record matches" in ann.get("/my/logs?q=%25").text


def test_the_filter_form_keeps_each_readers_own_values(portal: Portal) -> None:
    """Without a filter the form is written once and kept (templating.kept): what one person filtered
    by, and an error they made, must never reach anyone's blank form, and theirs shows their values."""
    ann, _ = _me(portal)
    bob, _ = _me(portal, "bob@example.com")
    blank = bob.get("/my/logs").text
    assert 'value="ann-secret-text"' not in blank and "Clear filters" not in blank
    mine = ann.get("/my/logs?q=ann-secret-text&from=2026-01-02").text
    assert 'value="ann-secret-text"' in mine and 'value="2026-01-02"' in mine and "Clear filters" in mine
    assert "Enter a date like" in ann.get("/my/logs?to=31/12/2024").text
    for reader in (bob, ann):
        page = reader.get("/my/logs").text
        assert "ann-secret-text" not in page and "2026-01-02" not in page
        assert "Enter a date like" not in page and "Clear filters" not in page
        assert '<input id="q" name="q" type="search" value=""' in page


def test_a_text_filter_shows_what_it_matched(portal: Portal) -> None:
    """The table shows the referrer's site only: a match in the rest of its address is shown under it."""
    ann, me = _me(portal)
    src = f.source(portal.store)
    f.log_records(portal.store, me, 3, source_id=src, path="/films/{i}",
                  referrer="https://www.google.com/search?q=river+documentaries")  # fmt: skip
    f.log_records(portal.store, me, 2, source_id=src, path="/river/{i}", referrer=None)
    page = ann.get("/my/logs?q=River").text
    assert set(ROW_PATH.findall(page)) == {"/films/0", "/films/1", "/films/2", "/river/0", "/river/1"}
    # Each record matched through its hidden referrer says so, with the address it matched in.
    shown = "Matched in the full address: <code>https://www.google.com/search?q=river+documentaries</code>"
    assert page.count(shown) == 3
    # A match in what the table shows already (the page, the site) adds nothing.
    assert "Matched in the full address" not in ann.get("/my/logs?q=google").text
    assert "Matched in the full address" not in ann.get("/my/logs").text


def test_activity_chart_is_an_accessible_svg_with_a_table(portal: Portal) -> None:
    ann, me = _me(portal)
    src = f.source(portal.store)
    f.log_records(portal.store, me, 4, source_id=src, newest=_noon(portal, 2), step=timedelta(minutes=1))
    f.log_records(portal.store, me, 9, source_id=src, newest=_noon(portal, 5), step=timedelta(minutes=1),
                  path="/x/{i}")  # fmt: skip
    logs = ann.get("/my/logs").text
    assert 'hx-get="/my/logs/activity" hx-trigger="load"' in logs and 'href="/my/logs/activity"' in logs
    page = ann.get("/my/logs/activity")  # without JavaScript: a page of its own
    fragment = ann.get("/my/logs/activity", headers={"HX-Request": "true"})
    assert "<html" in page.text and "<html" not in fragment.text and 'id="activity"' in fragment.text
    assert page.headers["vary"].startswith("HX-Request") and fragment.headers["vary"].startswith("HX-Request")
    text = fragment.text
    svg = text[text.index("<svg") : text.index("</svg>")]
    assert 'role="img"' in svg and '<title id="activity-title">' in svg and "aria-describedby" in svg
    assert svg.count('class="bar"') == 2 and "<script" not in text
    assert "13 requests between" in text and "with 9." in text
    assert "<td>4</td>" in text and "<td>9</td>" in text


def test_empty_state(portal: Portal) -> None:
    ann, _ = _me(portal)
    assert "There are no log records tied to you." in ann.get("/my/logs").text
    assert "No requests between" in ann.get("/my/logs/activity").text
