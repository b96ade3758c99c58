"""`portal demo` and the demo site: a newcomer sees data right away, and their own visit appears."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import text

from portal.demo import demosite, seed
from portal.models import metadata
from portal.subjects.useragents import describe_user_agent
from portal.web.app import create_app
from tests.conftest import Client, Store


def test_demo_is_idempotent_and_gives_the_demo_user_linked_data(store: Store) -> None:
    if not seed.SAMPLE_LOG.exists():
        raise AssertionError(f"sample log missing: {seed.SAMPLE_LOG}")
    seed.load(store.factory, store.settings, store.clock)
    counts = (
        store.scalar("SELECT count(*) FROM account"),
        store.scalar("SELECT count(*) FROM log_record"),
        store.scalar("SELECT count(*) FROM identifier"),
    )
    seed.load(store.factory, store.settings, store.clock)  # again: nothing new
    assert counts == (
        store.scalar("SELECT count(*) FROM account"),
        store.scalar("SELECT count(*) FROM log_record"),
        store.scalar("SELECT count(*) FROM identifier"),
    )
    user_subject = store.scalar("SELECT subject_id FROM account WHERE email = 'demo.user@example.org'")
    assert store.scalar("SELECT count(*) FROM log_record WHERE subject_id = :s", s=user_subject) == seed.DEMO_LINES
    assert store.scalar("SELECT count(*) FROM log_record WHERE subject_id IS NULL") == seed.DEMO_LINES
    # One identification cookie per browser (laptop, phone, work); the preference cookie is no key.
    assert store.scalar("SELECT count(*) FROM identifier WHERE subject_id = :s AND kind = 'cookie'", s=user_subject) == 3
    assert store.scalar("SELECT count(*) FROM search_preference WHERE subject_id = :s", s=user_subject) >= 2
    assert store.scalar("SELECT count(*) FROM promo_email WHERE subject_id = :s", s=user_subject) == 7
    # The log records are recent enough to survive the retention window, and none is in the future.
    now = store.clock.now()
    assert store.scalar("SELECT count(*) FROM log_record WHERE at < :t", t=now - timedelta(days=61)) == 0
    assert store.scalar("SELECT count(*) FROM log_record WHERE at > :t", t=now) == 0


def _rows(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {t.name: int(conn.execute(text(f'SELECT count(*) FROM "{t.name}"')).scalar_one()) for t in metadata.sorted_tables}


def test_a_second_demo_run_adds_no_row_anywhere(store: Store) -> None:
    """`make run` loads the demo on every start: no ingest run, audit entry or quarantined line piles up."""
    seed.load(store.factory, store.settings, store.clock)
    first = _rows(store)
    assert first["ingest_run"] == 2 and first["log_record"] == 2 * seed.DEMO_LINES
    for _ in range(2):
        store.clock.advance(hours=1)
        seed.load(store.factory, store.settings, store.clock)
        assert _rows(store) == first


def test_the_demo_members_history_is_one_persons_few_browsers(store: Store) -> None:
    seed.load(store.factory, store.settings, store.clock)
    user_subject = store.scalar("SELECT subject_id FROM account WHERE email = 'demo.user@example.org'")
    with store.engine.connect() as conn:
        agents = [r[0] for r in conn.execute(text("SELECT DISTINCT user_agent FROM log_record WHERE subject_id = :s"), {"s": user_subject})]
        addresses = {r[0] for r in conn.execute(text("SELECT DISTINCT ip FROM log_record WHERE subject_id = :s"), {"s": user_subject})}
        paths = {r[0] for r in conn.execute(text("SELECT DISTINCT path FROM log_record WHERE subject_id = :s"), {"s": user_subject})}
    described = sorted(describe_user_agent(a) for a in agents)
    assert described == ["Edge 131 on Windows", "Firefox 133 on Linux", "Mobile Safari 18 on iOS"]
    assert not any(re.search(r"bot|crawl|spider|slurp", a, re.I) for a in agents)
    assert len(addresses) <= 4 and "/robots.txt" not in paths


def test_demo_site_sets_cookies_and_its_log_is_ingested(store: Store) -> None:
    settings = replace(store.settings, demo=True)
    app = create_app(settings, clock=store.clock, background=False)
    browser = Client(app, base_url="http://testserver", client=("203.0.113.9", 50000))
    assert browser.get("/demo-site/").status_code == 200
    page = browser.get("/demo-site/search", params={"q": "river documentaries"})
    assert "Search results for" in page.text
    watch = browser.get("/demo-site/watch", params={"from_search": "river documentaries"})
    assert watch.status_code == 200
    pref = browser.cookies.get(settings.pref_cookie)
    assert pref == "river+documentaries"
    # Before logging in, the preference cookie ties this browser to nobody: This browser says what it holds.
    before = browser.get("/browser").text
    assert "river documentaries" in before and "identify no one" in before
    assert store.scalar("SELECT count(*) FROM log_record WHERE subject_id IS NOT NULL") == 0
    r = browser.submit("/demo-site/login", form_page="/demo-site/")
    assert r.status_code == 303 and browser.cookies.get(settings.id_cookie, "").startswith("sid-")
    landed = browser.get(r.headers["location"]).text
    assert "You are logged in to Flickbox as the demo member" in landed and "demo.user@example.org" in landed
    # The login went through the real ingest: the identification cookie is the demo member's.
    assert store.scalar("SELECT count(DISTINCT subject_id) FROM identifier WHERE kind = 'cookie'") == 1
    member = store.scalar("SELECT subject_id FROM site_account WHERE site_user_id = :u", u=seed.DEMO_SITE_USER)
    assert store.scalar("SELECT subject_id FROM identifier WHERE kind = 'cookie'") == member
    # The login line carried the preference cookie: its terms are the member's now, by the login's cookie.
    assert store.scalar("SELECT count(*) FROM search_preference WHERE term = 'river documentaries'") == 1
    assert store.scalar("SELECT count(*) FROM log_record WHERE site = 'demo-site'") == 5  # home, watch, home, login, home
    assert store.scalar("SELECT count(*) FROM log_record WHERE subject_id = :s", s=member) == 2  # login, home
    assert "belong to a person with an account" in browser.get("/browser").text
    assert demosite.log_path(settings).exists()
    app.state.engine.dispose()


def test_demo_site_is_absent_outside_demo_mode(store: Store) -> None:
    app = create_app(store.settings, clock=store.clock, background=False)
    c = Client(app, base_url="http://testserver")
    assert c.get("/demo-site/").status_code == 404
    assert c.get("/demo-site/watch", params={"from_search": "x"}).status_code == 404
    assert "set-cookie" not in {k.lower() for k in c.get("/demo-site/watch").headers if k.lower() != "set-cookie"}
    app.state.engine.dispose()


def test_demo_site_log_holds_only_the_sites_own_cookies(store: Store) -> None:
    """A member's portal session token in the site's log would let anyone who reads it sign in."""
    settings = replace(store.settings, demo=True)
    app = create_app(settings, clock=store.clock, background=False)
    browser = Client(app, base_url="http://testserver", client=("203.0.113.9", 50000))
    browser.get("/demo-site/watch", params={"from_search": "river documentaries"})
    session = browser.cookies.get("portal_session")
    assert session
    browser.cookies.set("unrelated", "secret-value")
    browser.get("/demo-site/")
    assert browser.submit("/demo-site/login", form_page="/demo-site/").status_code == 303
    log = demosite.log_path(settings).read_text()
    assert session not in log and "portal_session" not in log and "secret-value" not in log
    last = log.splitlines()[-1]
    assert f'{settings.pref_cookie}=river+documentaries' in last and f"{settings.id_cookie}=sid-" in last
    app.state.engine.dispose()
