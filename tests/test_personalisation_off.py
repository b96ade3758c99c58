"""Personalisation off sticks on every path a search term could come in by: a search-engine referrer,
the preference cookie in a log line, a `cookie_set` event, the demo site, and logging in (a site
login or the portal claiming a browser that had search terms of its own)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from portal.demo.seed import DEMO_SITE_USER
from portal.ingest.pipeline import Ingest
from portal.subjects import identity
from portal.web.app import create_app
from tests import logfactory as lf
from tests.conftest import Client, Portal
from tests.consent_util import user

SITE_USER, ID_VALUE = "u-9", "id-of-the-person"
GOOGLE = "https://www.google.com/search?q=kung+fu+classics"


def _ingest(portal: Portal, path: Path, fmt: str | None = None) -> None:
    Ingest(portal.store.factory, portal.store.settings, portal.store.clock, fmt=fmt).run([str(path)])  # type: ignore[arg-type]


def _person_who_said_no(portal: Portal, tmp_path: Path, site_user: str = SITE_USER) -> tuple[Client, int]:
    """A verified person whose site account (and its login cookie) joined them, personalisation off."""
    client, subject = user(portal, "nina@example.com")
    events = [
        lf.event("account", site_user_id=site_user, email="nina@example.com", adult_verified=True),
        lf.event("login", site_user_id=site_user, cookie_value=ID_VALUE, time="2026-11-01T12:00:00Z"),
    ]
    _ingest(portal, lf.write(tmp_path / "setup.jsonl", events), "events")
    with portal.store.ctx() as ctx:
        assert identity.find(ctx, "cookie", "site_id", ID_VALUE).subject_id == subject  # type: ignore[union-attr]
    assert client.submit("/my/consent/personalization-off").status_code == 303
    return client, subject


def _terms(portal: Portal, subject: int) -> int:
    return int(portal.store.scalar("SELECT count(*) FROM search_preference WHERE subject_id = :s", s=subject))  # type: ignore[arg-type]


def test_not_from_a_search_engine_referrer(portal: Portal, tmp_path: Path) -> None:
    _client, subject = _person_who_said_no(portal, tmp_path)
    _ingest(portal, lf.write(tmp_path / "r.log", [lf.line(referrer=GOOGLE, cookies=f"site_id={ID_VALUE}")]))
    assert _terms(portal, subject) == 0
    assert portal.store.scalar("SELECT count(*) FROM log_record WHERE subject_id = :s", s=subject) == 1


def test_not_from_the_preference_cookie_in_a_log_line(portal: Portal, tmp_path: Path) -> None:
    _client, subject = _person_who_said_no(portal, tmp_path)
    line = lf.line(cookies=f"site_id={ID_VALUE}; search_pref=kung+fu+classics|late+night+films")
    _ingest(portal, lf.write(tmp_path / "c.log", [line]))
    assert _terms(portal, subject) == 0


def test_not_from_a_cookie_set_event(portal: Portal, tmp_path: Path) -> None:
    _client, subject = _person_who_said_no(portal, tmp_path)
    event = lf.event("cookie_set", name="search_pref", value="kung+fu+classics", site_user_id=SITE_USER,
                     time="2026-11-02T12:00:00Z")  # fmt: skip
    _ingest(portal, lf.write(tmp_path / "s.jsonl", [event]), "events")
    assert _terms(portal, subject) == 0


def test_not_from_the_demo_site(portal: Portal, tmp_path: Path) -> None:
    _client, subject = _person_who_said_no(portal, tmp_path, site_user=DEMO_SITE_USER)
    app = create_app(replace(portal.store.settings, demo=True), clock=portal.store.clock, background=False)
    try:
        browser = Client(app, base_url="http://testserver", client=("203.0.113.9", 50000))
        browser.cookies.set("site_id", ID_VALUE)  # the person's own browser, logged in to the site
        assert browser.get("/demo-site/watch", params={"from_search": "kung fu classics"}).status_code == 200
        assert browser.submit("/demo-site/login", form_page="/demo-site/").status_code == 303
    finally:
        app.state.engine.dispose()  # type: ignore[attr-defined]
    assert portal.store.scalar("SELECT count(*) FROM log_record WHERE subject_id = :s", s=subject) >= 2
    assert _terms(portal, subject) == 0


def test_not_at_a_site_login_that_joins_a_browser_with_terms(portal: Portal, tmp_path: Path) -> None:
    _client, subject = _person_who_said_no(portal, tmp_path)
    # A browser the site has seen (with its identification cookie) and recorded searches for …
    line = lf.line(referrer=GOOGLE, cookies="site_id=laptop-cookie; search_pref=late+night+films")
    _ingest(portal, lf.write(tmp_path / "b.log", [line]))
    assert portal.store.scalar("SELECT count(*) FROM search_preference") == 2
    # … then logs in to the site: the browser joins the person, its search terms do not.
    login = lf.event("login", site_user_id=SITE_USER, cookie_value="laptop-cookie", time="2026-11-02T12:00:00Z")
    _ingest(portal, lf.write(tmp_path / "l.jsonl", [login]), "events")
    assert portal.store.scalar("SELECT count(*) FROM log_record WHERE subject_id = :s", s=subject) == 1
    assert _terms(portal, subject) == 0 and portal.store.scalar("SELECT count(*) FROM search_preference") == 0


def test_not_at_a_portal_login_that_claims_a_browser_with_terms(portal: Portal, tmp_path: Path) -> None:
    client, subject = _person_who_said_no(portal, tmp_path)
    line = lf.line(referrer=GOOGLE, cookies="site_id=phone-cookie; search_pref=late+night+films")
    _ingest(portal, lf.write(tmp_path / "p.log", [line]))
    client.cookies.set("site_id", "phone-cookie")
    assert "We linked this browser" in client.get("/my").text
    assert portal.store.scalar("SELECT count(*) FROM log_record WHERE subject_id = :s", s=subject) == 1
    assert _terms(portal, subject) == 0 and portal.store.scalar("SELECT count(*) FROM search_preference") == 0
