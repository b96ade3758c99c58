"""This browser: an anonymous browser sees its own data; a cookie of a known person shows nothing."""

from __future__ import annotations

import re

import pytest

from portal.subjects import catalog, identity
from tests import sitedata_factory as f
from tests.conftest import Portal

SHARED_IP = "198.51.100.23"
MINE = "mine-0000-browser"


def _browser_with_data(portal: Portal) -> int:
    """An anonymous browser subject with cookies, preferences and records, and a second one on the
    same IP whose search-preference cookie holds the same terms."""
    src = f.source(portal.store)
    mine = f.subject(portal.store, "browser")
    f.cookie(portal.store, mine, "site_id", MINE)
    f.preference(portal.store, mine, "red shoes", source="cookie")
    f.log_records(portal.store, mine, 15, source_id=src, ip=SHARED_IP, path="/mine/{i}")
    other = f.subject(portal.store, "browser")
    f.cookie(portal.store, other, "site_id", "theirs-0000-browser")
    f.preference(portal.store, other, "green socks", source="cookie")
    f.log_records(portal.store, other, 5, source_id=src, ip=SHARED_IP, path="/theirs/{i}")
    return mine


def _audits(portal: Portal, action: str) -> int:
    return int(portal.store.scalar("SELECT count(*) FROM audit_entry WHERE action = :a", a=action))  # type: ignore[arg-type]


def test_a_browser_without_known_cookies_gets_a_clear_empty_state(portal: Portal) -> None:
    _browser_with_data(portal)
    c = portal.client(ip=SHARED_IP)  # sharing the IP address proves nothing
    page = c.get("/browser")
    assert page.status_code == 200 and "presents no cookie the site knows" in page.text
    c.cookies.set("site_id", "never-seen")
    assert "presents no cookie the site knows" in c.get("/browser").text
    assert c.get("/browser/logs", follow_redirects=False).status_code == 303


def test_an_anonymous_browser_sees_exactly_its_own_data(portal: Portal) -> None:
    _browser_with_data(portal)
    c = portal.client(ip=SHARED_IP)
    c.cookies.set("site_id", MINE)
    c.cookies.set("search_pref", "red+shoes|blue+hats")
    text = c.get("/browser").text
    assert "This is the browser you are using now" in text and "red shoes" in text
    assert "/mine/0" in text and "Search-preference cookie" in text
    assert "green" not in text and "/theirs/" not in text
    logs = c.get("/browser/logs")
    assert logs.status_code == 200 and "HX-Request" in logs.headers["vary"]
    assert len(re.findall(r"<code>GET /mine/\d+</code>", logs.text)) == 15 and "/theirs/" not in logs.text
    chart = c.get("/browser/logs/activity")
    assert chart.status_code == 200 and "15 requests between" in chart.text


def _counts(portal: Portal) -> dict[str, object]:
    tables = ("log_record", "search_preference", "identifier", "subject", "consent", "consent_event")
    return {t: portal.store.scalar(f"SELECT count(*) FROM {t}") for t in tables}


def test_a_search_preference_cookie_alone_says_its_terms_and_opens_no_ones_data(portal: Portal) -> None:
    """Strangers who searched the same words carry the same value: it must lead to nobody."""
    _browser_with_data(portal)
    with portal.store.engine.begin() as conn:  # the stranger's records carried the very same value
        conn.exec_driver_sql("UPDATE log_record SET cookies = '{\"search_pref\":\"cheap+flights\"}'")
    before = _counts(portal)
    c = portal.client()
    c.cookies.set("search_pref", "cheap+flights|caf%C3%A9+paris")
    text = c.get("/browser").text
    assert "identify no one" in text and "nothing else can be tied to this browser" in text
    assert "cheap flights, café paris" in text
    for leak in ("/mine/", "/theirs/", SHARED_IP, "mine-", "theirs-", "red shoes", "green socks", "Chrome"):
        assert leak not in text, leak
    for path in ("/browser/logs", "/browser/logs/activity", "/browser/delete", "/browser/personalization"):
        r = c.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/browser", path
    for path in ("/browser/delete", "/browser/personalization"):
        assert c.submit(path, form_page="/login").headers["location"] == "/browser", path
    assert _counts(portal) == before  # the delete action touched nobody's data
    assert _audits(portal, "browser.delete") == 0


@pytest.mark.parametrize("kind", ["account", "site", "merged"])
def test_a_cookie_of_a_known_person_shows_nothing_and_asks_to_log_in(portal: Portal, kind: str) -> None:
    src = f.source(portal.store)
    if kind == "merged":
        # A browser that was anonymous, later joined to an account: its cookie leads to the account.
        person = f.subject(portal.store, "account")
        browser = f.subject(portal.store, "browser")
        f.cookie(portal.store, browser, "site_id", "person-cookie-value")
        with portal.store.ctx() as ctx:
            identity.merge(ctx, person, browser, "test")
    else:
        person = f.subject(portal.store, kind)
        f.cookie(portal.store, person, "site_id", "person-cookie-value")
    f.preference(portal.store, person, "private term")
    f.log_records(portal.store, person, 3, source_id=src, path="/private/{i}")
    c = portal.client()
    c.cookies.set("site_id", "person-cookie-value")
    text = c.get("/browser").text
    assert "belong to a person with an account" in text and "Log in to see your data" in text
    assert "private" not in text and "person-cookie" not in text
    for path in ("/browser/logs", "/browser/logs/activity", "/browser/delete", "/browser/personalization"):
        r = c.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/browser", path
    for path in ("/browser/delete", "/browser/personalization"):
        assert c.submit(path, form_page="/login").headers["location"] == "/browser"
    assert portal.store.scalar("SELECT count(*) FROM log_record WHERE subject_id = :s", s=person) == 3
    assert portal.store.scalar("SELECT count(*) FROM search_preference WHERE subject_id = :s", s=person) == 1
    assert portal.store.scalar("SELECT count(*) FROM consent") == 0


def test_one_cookie_of_a_person_among_anonymous_ones_is_enough_to_refuse(portal: Portal) -> None:
    _browser_with_data(portal)
    person = f.subject(portal.store, "account")
    f.cookie(portal.store, person, "session_id", "person-cookie-value")
    with portal.store.ctx() as ctx:
        catalog.save(ctx, catalog.CookieForm("session_id", ("essential",), "The site's session.", "", True, ""))
    c = portal.client()
    c.cookies.set("site_id", MINE)
    c.cookies.set("session_id", "person-cookie-value")
    text = c.get("/browser").text
    assert "belong to a person with an account" in text and "/mine/" not in text


def test_revoke_personalization_for_this_browser(portal: Portal) -> None:
    mine = _browser_with_data(portal)
    c = portal.client()
    c.cookies.set("site_id", MINE)
    confirm = c.get("/browser/personalization")
    assert confirm.status_code == 200 and "Switch off personalised content" in confirm.text
    r = c.submit("/browser/personalization")
    assert r.status_code == 303 and r.headers["location"] == "/browser"
    assert "Personalised content is off for this browser; 1 search term deleted." in c.get("/browser").text
    assert not portal.store.scalar("SELECT personalization FROM consent WHERE subject_id = :s", s=mine)
    assert portal.store.scalar("SELECT count(*) FROM search_preference WHERE subject_id = :s", s=mine) == 0
    assert portal.store.scalar("SELECT count(*) FROM search_preference") == 1  # the other browser's
    # One use case, one audit entry: the deletion is recorded in the consent change's details.
    assert _audits(portal, "consent.personalization.off") == 1
    assert _audits(portal, "search_preference.delete_all") == 0
    assert '"search_preferences_deleted":1' in str(
        portal.store.scalar(
            "SELECT d.details FROM audit_detail d JOIN audit_entry e ON e.seq = d.seq"
            " WHERE e.action = 'consent.personalization.off'"
        )
    )


def test_delete_this_browsers_records(portal: Portal) -> None:
    mine = _browser_with_data(portal)
    c = portal.client()
    c.cookies.set("site_id", MINE)
    assert "cannot be undone" in c.get("/browser/delete").text
    assert c.submit("/browser/delete").status_code == 303
    for table in ("log_record", "search_preference", "identifier"):
        assert portal.store.scalar(f"SELECT count(*) FROM {table} WHERE subject_id = :s", s=mine) == 0
    assert portal.store.scalar("SELECT count(*) FROM log_record") == 5  # the other browser keeps its own
    assert _audits(portal, "browser.delete") == 1
    text = c.get("/browser").text
    assert "records were deleted." in text
    assert "presents no cookie the site knows" in text
