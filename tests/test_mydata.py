"""My data: overview, cookies and search preferences show exactly the subject's own data."""

from __future__ import annotations

import re

import pytest

from portal.subjects import catalog, identity
from tests import sitedata_factory as f
from tests.conftest import Client, Portal

SHARED_IP = "198.51.100.23"


def _audits(portal: Portal, action: str) -> int:
    return int(portal.store.scalar("SELECT count(*) FROM audit_entry WHERE action = :a", a=action))  # type: ignore[arg-type]


def _two_people(portal: Portal) -> tuple[Client, int, int]:
    """Ann (logged in) and Bob, each with data; their log records share one IP address."""
    ann = portal.client()
    portal.verified_user(ann, "ann@example.com")
    portal.verified_user(portal.client(), "bob@example.com")
    me = f.account_subject(portal.store, "ann@example.com")
    other = f.account_subject(portal.store, "bob@example.com")
    src = f.source(portal.store)
    f.cookie(portal.store, me, "site_id", "ann-identifier-0001")
    f.cookie(portal.store, me, "search_pref", "cheap+flights|caf%C3%A9+paris", user_agent=f.FIREFOX)
    f.preference(portal.store, me, "cheap flights", times=3)
    f.preference(portal.store, me, "café paris", source="cookie")
    f.log_records(portal.store, me, 12, source_id=src, ip=SHARED_IP, path="/ann/{i}")
    f.cookie(portal.store, other, "site_id", "bob-identifier-9999")
    f.preference(portal.store, other, "bobs secret term")
    f.log_records(portal.store, other, 7, source_id=src, ip=SHARED_IP, path="/bob/{i}")
    return ann, me, other


def test_pages_need_a_login(portal: Portal) -> None:
    c = portal.client()
    for path in ("/my", "/my/cookies", "/my/search", "/my/logs", "/my/cookies/1/delete", "/my/search/delete"):  # noqa: E501
        r = c.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path


def test_the_section_navigation_marks_the_page_it_is_on(portal: Portal) -> None:
    """The navigation is written once per page and kept (templating.subnav): each page still marks
    itself, and only itself, as the current one."""
    c = portal.client()
    portal.verified_user(c, "ann@example.com")
    pages = ("/my", "/my/cookies", "/my/search", "/my/logs", "/my/consent", "/my/receipts", "/my/requests")
    for _ in range(2):  # the second time from what was kept
        for page in pages:
            text = c.get(page).text
            assert re.findall(r'<a href="([^"]+)" aria-current="page">', text) == [page]
            assert all(f'<a href="{other}"' in text for other in pages)


def test_overview_counts_only_my_data_and_explains_each_category(portal: Portal) -> None:
    ann, _, _ = _two_people(portal)
    page = ann.get("/my")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)
    assert 'href="/my">My data</a>' in text  # header nav
    for label in ("Overview", "Cookies", "Search preferences", "Log records"):
        assert f">{label}</a>" in text
    counts = re.findall(r'<dt>How many</dt><dd><a class="count" href="[^"]+">([^<]+)</a>', text)
    assert counts == ["2 cookies and ids", "2 search terms", "12 log records", "no promotional emails"]
    assert "Legal basis" in text and "180 days after the visit." in text
    assert "Oldest item deleted on" in text and "bob" not in text.lower()


def test_cookies_show_purpose_decoded_value_masked_id_browser_and_this_browser(portal: Portal) -> None:
    ann, _, _ = _two_people(portal)
    ann.cookies.set("site_id", "ann-identifier-0001")
    text = ann.get("/my/cookies").text
    assert "cheap flights, café paris" in text  # the preference cookie, decoded
    assert "ann-…" in text and "ann-identifier-0001" not in text  # identification value masked
    assert "Chrome 120 on Windows" in text and "Firefox 121 on Linux" in text
    assert text.count("This is the browser you are using now") == 1
    assert "tailor content" in text  # the catalog's purpose in words
    assert "bob-" not in text
    ann.cookies.clear()
    assert "This is the browser you are using now" not in ann.get("/my/cookies").text


def test_each_cookie_shows_its_own_catalog_entry_and_an_edit_shows_at_once(portal: Portal) -> None:
    ann, me, _ = _two_people(portal)
    f.cookie(portal.store, me, "theme", "dark-mode-please")  # a cookie the catalog does not know
    text = ann.get("/my/cookies").text
    assert "tailor content" in text and "Identifies your browser" in text
    assert "Not in the site&#39;s cookie catalog." in text  # (autoescaped)
    assert "dark…" in text and "dark-mode-please" not in text  # unknown: masked, as an identifier might be
    form = catalog.CookieForm("theme", ("essential",), "Remembers the colours you chose.", "30", False, "")
    with portal.store.ctx() as ctx:
        catalog.save(ctx, form)
    text = ann.get("/my/cookies").text
    assert "Remembers the colours you chose." in text and "dark-mode-please" in text
    assert "Not in the site" not in text


def test_a_store_without_a_catalog_gets_the_sites_defaults_on_the_cookie_page(portal: Portal) -> None:
    ann, _, _ = _two_people(portal)
    with portal.store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM cookie_catalog")
    seeded = _audits(portal, "catalog.seed")
    text = ann.get("/my/cookies").text
    assert "tailor content" in text and "Not in the site" not in text
    assert _audits(portal, "catalog.seed") == seeded + 1


def test_a_logged_in_browser_claims_its_anonymous_cookies(portal: Portal) -> None:
    ann, me, _ = _two_people(portal)
    browser = f.subject(portal.store, "browser")
    f.cookie(portal.store, browser, "site_id", "ann-other-browser")
    f.log_records(portal.store, browser, 4, source_id=f.source(portal.store, "/b.log"), path="/anon/{i}")
    ann.cookies.set("site_id", "ann-other-browser")
    page = ann.get("/my/cookies")
    assert "We linked this browser's cookies to your account" in page.text
    assert "ann-…" in page.text
    with portal.store.ctx() as ctx:
        assert identity.root(ctx, browser) == me
    assert "We linked" not in ann.get("/my/cookies").text  # only once
    assert portal.store.scalar("SELECT count(*) FROM log_record WHERE subject_id = :s", s=me) == 16
    assert portal.store.scalar("SELECT tied_by FROM identifier WHERE value = 'ann-other-browser'") == "claim"
    reason = portal.store.scalar("SELECT reason FROM subject_link WHERE merged_id = :b", b=browser)
    assert reason == "site_id cookie presented while logged in"


def test_a_shared_search_preference_claims_nobody(portal: Portal) -> None:
    """Adding a stranger's search-preference value to one's browser must not pull their data in."""
    ann, me, _ = _two_people(portal)
    stranger = f.subject(portal.store, "browser")
    f.cookie(portal.store, stranger, "site_id", "stranger-browser")
    f.cookie(portal.store, stranger, "search_pref", "weather")  # a row the old linking wrote
    f.log_records(
        portal.store,
        stranger,
        4,
        source_id=f.source(portal.store, "/s.log"),
        ip="192.0.2.99",
        path="/stranger/{i}",
    )
    ann.cookies.set("search_pref", "weather")
    for path in ("/my", "/my/cookies", "/my/logs"):
        text = ann.get(path).text
        assert "We linked" not in text and "/stranger/" not in text and "192.0.2.99" not in text, path
    with portal.store.ctx() as ctx:
        assert identity.root(ctx, stranger) == stranger
    assert portal.store.scalar("SELECT count(*) FROM subject_link") == 0


def test_search_preferences_show_term_source_and_times(portal: Portal) -> None:
    ann, _, _ = _two_people(portal)
    text = ann.get("/my/search").text
    assert "cheap flights" in text and "Search engine: Google" in text
    assert "café paris" in text and "Search-preference cookie" in text
    assert 'data-label="Times">3</td>' in text  # the column name is the cell's label on a phone
    assert "bobs secret term" not in text


def test_markup_in_a_search_term_reaches_the_page_as_text(portal: Portal) -> None:
    """The terms' table is written with autoescape off, each value escaped by hand (my/_macros.html,
    for speed): a term someone typed into the site's search box stays text, in its cell and in the
    delete link's label."""
    ann, me, _ = _two_people(portal)
    f.preference(portal.store, me, '<img src=x onerror=alert(1)> & "q"')
    text = ann.get("/my/search").text
    assert "<img src=x" not in text
    assert text.count("&lt;img src=x onerror=alert(1)&gt; &amp; &#34;q&#34;") == 2  # the cell and the link


def test_delete_one_cookie_then_all_with_confirmation_and_audit(portal: Portal) -> None:
    ann, me, other = _two_people(portal)
    ids = [int(i) for i in re.findall(r'href="/my/cookies/(\d+)/delete"', ann.get("/my/cookies").text)]
    assert len(ids) == 2
    confirm = ann.get(f"/my/cookies/{ids[0]}/delete")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text
    r = ann.submit(f"/my/cookies/{ids[0]}/delete")
    assert r.status_code == 303 and r.headers["location"] == "/my/cookies"
    assert "The cookie record was deleted." in ann.get("/my/cookies").text
    assert _audits(portal, "cookie.delete") == 1
    r = ann.submit("/my/cookies/delete")
    assert r.status_code == 303
    assert portal.store.scalar("SELECT count(*) FROM identifier WHERE subject_id = :s", s=me) == 0
    assert portal.store.scalar("SELECT count(*) FROM identifier WHERE subject_id = :s", s=other) == 1
    assert _audits(portal, "cookie.delete_all") == 1
    assert "No cookie is tied to you" in ann.get("/my/cookies").text


def test_delete_one_search_preference_then_all(portal: Portal) -> None:
    ann, me, other = _two_people(portal)
    ids = [int(i) for i in re.findall(r'href="/my/search/(\d+)/delete"', ann.get("/my/search").text)]
    assert len(ids) == 2
    assert ann.submit(f"/my/search/{ids[0]}/delete").status_code == 303
    assert _audits(portal, "search_preference.delete") == 1
    assert ann.submit("/my/search/delete").status_code == 303
    assert _audits(portal, "search_preference.delete_all") == 1
    assert portal.store.scalar("SELECT count(*) FROM search_preference WHERE subject_id = :s", s=me) == 0
    assert portal.store.scalar("SELECT count(*) FROM search_preference WHERE subject_id = :s", s=other) == 1
    assert "has recorded no search term" in ann.get("/my/search").text


@pytest.mark.parametrize("kind", ["cookies", "search"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_another_subjects_id_is_answered_exactly_like_a_missing_one_and_audited(
    portal: Portal, kind: str, method: str
) -> None:
    ann, _, other = _two_people(portal)
    table = "identifier" if kind == "cookies" else "search_preference"
    theirs = int(portal.store.scalar(f"SELECT min(id) FROM {table} WHERE subject_id = :s", s=other))  # type: ignore[arg-type]
    missing = 999_999

    def attempt(item: int):  # type: ignore[no-untyped-def]
        path = f"/my/{kind}/{item}/delete"
        r = ann.get(path, follow_redirects=False) if method == "GET" else ann.submit(path, form_page="/my")
        return r, ann.get(f"/my/{kind}").text

    denied_before = _audits(portal, "access.denied")
    (foreign, foreign_page), (absent, absent_page) = attempt(theirs), attempt(missing)
    assert foreign.status_code == absent.status_code == 303
    assert foreign.headers["location"] == absent.headers["location"] == f"/my/{kind}"
    assert dict(foreign.headers).keys() == dict(absent.headers).keys()
    assert "already deleted" in foreign_page and "already deleted" in absent_page
    assert _audits(portal, "access.denied") == denied_before + 1
    assert portal.store.scalar(f"SELECT count(*) FROM {table} WHERE id = :i", i=theirs) == 1
