"""The consent page through the ASGI app: each choice, its history, htmx fragments, revocation."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from portal.ingest.pipeline import Ingest
from portal.models import SearchPreference
from portal.web.app import create_app
from tests.conftest import Portal
from tests.consent_util import RECEIPT_LINK, audit_rows, consent_row, user
from tests.logfactory import T0, line, write

T_CHANGE = datetime(2026, 7, 1, 10, 30, tzinfo=UTC)


def test_page_lists_the_three_choices_with_explanations(portal: Portal) -> None:
    client, _subject = user(portal, "ann@example.com")
    r = client.get("/my/consent")
    assert r.status_code == 200
    assert "HX-Request" in r.headers["vary"] and r.headers["cache-control"] == "no-store"
    for label in ("Turn off personalised content", "Stop marketing use of my data",
                  "Unsubscribe from promotional email"):  # fmt: skip
        assert label in r.text
    assert r.text.count('id="consent-choices"') == 1
    assert "You have not changed any of these choices yet" in r.text
    assert "The site never sells" in r.text
    # Not logged in: to the login page, back here afterwards.
    anon = portal.client().get("/my/consent", follow_redirects=False)
    assert anon.status_code == 303 and anon.headers["location"].startswith("/login?next=%2Fmy%2Fconsent")


def test_each_choice_changes_state_history_and_receipt(portal: Portal) -> None:
    portal.store.clock._now = T_CHANGE  # noqa: SLF001
    client, subject = user(portal, "bo@example.com")
    with portal.store.engine.begin() as conn:
        conn.execute(text("UPDATE account SET time_zone = 'Europe/Paris' WHERE subject_id = :s"), {"s": subject})
    before = len(audit_rows(portal, "consent."))

    for name, value in (("marketing", "off"), ("email", "off"), ("email", "on")):
        r = client.submit("/my/consent", {"field": name, "value": value})
        assert r.status_code == 303 and r.headers["location"] == "/my/consent"
        page = client.get("/my/consent")
        match = RECEIPT_LINK.search(page.text.split('id="consent-choices"')[0])
        assert match, "the flash message links to the receipt"
    assert consent_row(portal, subject) == (True, False, True)

    entries = audit_rows(portal, "consent.")
    assert [e[1] for e in entries[before:]] == ["consent.marketing.off", "consent.email.off", "consent.email.on"]
    assert all(json.loads(e[3])["via"] == "portal" for e in entries[before:])
    page = client.get("/my/consent").text
    assert "Marketing use of my data: turned off" in page and "Promotional email: turned on" in page
    assert page.count("in the portal") == 3
    # 10:30 UTC on 1 July is 12:30 in Paris (summer time), shown in the account's zone.
    assert "01 Jul 2026, 12:30" in page and "Europe/Paris" in page
    history_links = [int(s) for s in RECEIPT_LINK.findall(page)]
    assert sorted(history_links)[-3:] == [e[0] for e in entries[before:]]

    # Setting what is already set changes nothing and writes nothing.
    r = client.submit("/my/consent", {"field": "marketing", "value": "off"})
    assert "Nothing changed" in client.get("/my/consent").text
    assert len(audit_rows(portal, "consent.")) == len(entries)


def test_htmx_gets_only_the_fragment(portal: Portal) -> None:
    client, subject = user(portal, "cy@example.com")
    token = client.csrf("/my/consent")
    r = client.post(
        "/my/consent",
        data={"field": "email", "value": "off"},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
        follow_redirects=False,
    )
    assert r.status_code == 200 and "HX-Request" in r.headers["vary"]
    assert r.text.lstrip().startswith('<div id="consent-choices">') and "<html" not in r.text
    assert "You are unsubscribed from promotional email." in r.text and RECEIPT_LINK.search(r.text)
    assert "Subscribe to promotional email" in r.text
    assert consent_row(portal, subject) == (True, True, False)
    # The same URL as a plain GET is the whole page; the htmx GET is the fragment.
    frag = client.get("/my/consent", headers={"HX-Request": "true"})
    assert "<html" not in frag.text and 'id="consent-choices"' in frag.text


def test_unknown_choices_are_refused_with_a_message(portal: Portal) -> None:
    client, subject = user(portal, "di@example.com")
    for data in ({"field": "tracking", "value": "off"}, {"field": "email", "value": "maybe"}, {}):
        r = client.submit("/my/consent", data)
        assert r.status_code == 400 and "not one this page offers" in r.text
    assert consent_row(portal, subject) is None


def _add_preferences(portal: Portal, subject: int, terms: list[str]) -> None:
    with portal.store.ctx() as ctx:
        for term in terms:
            now = ctx.now
            ctx.session.add(SearchPreference(subject_id=subject, term=term, source="cookie", first_seen=now,
                                             last_seen=now))  # fmt: skip


def test_revoking_personalization_confirms_deletes_and_audits_once(portal: Portal) -> None:
    client, subject = user(portal, "ed@example.com")
    _add_preferences(portal, subject, ["cheap flights", "caf\u00e9 paris"])
    # The plain POST of "off" goes through the confirmation step, changing nothing yet.
    r = client.submit("/my/consent", {"field": "personalization", "value": "off"})
    assert r.status_code == 303 and r.headers["location"] == "/my/consent/personalization-off"
    page = client.get("/my/consent/personalization-off")
    assert page.status_code == 200 and "2 search terms" in page.text and "cannot be undone" in page.text
    assert consent_row(portal, subject) is None
    entries_before = portal.store.scalar("SELECT count(*) FROM audit_entry")

    r = client.submit("/my/consent/personalization-off")
    assert r.status_code == 303 and r.headers["location"] == "/my/consent"
    assert "search_pref" not in r.headers.get("set-cookie", "")  # the portal does not share the site's domain
    assert consent_row(portal, subject) == (False, True, True)
    assert portal.store.scalar("SELECT count(*) FROM search_preference WHERE subject_id = :s", s=subject) == 0
    assert portal.store.scalar("SELECT count(*) FROM audit_entry") == entries_before + 1  # type: ignore[operator]
    seq, action, _actor, details = audit_rows(portal, "consent.personalization")[-1]
    assert action == "consent.personalization.off"
    assert json.loads(details) == {"via": "portal", "search_preferences_deleted": 2, "copies_redacted": 0, "exports_withdrawn": 0}
    page = client.get("/my/consent").text
    assert "2 recorded search preferences deleted" in page and f'href="/my/receipts/{seq}"' in page
    assert "Turn personalised content back on" in page

    r = client.submit("/my/consent", {"field": "personalization", "value": "on"})
    assert consent_row(portal, subject) == (True, True, True)


def test_revoking_clears_the_preference_cookie_when_the_domain_is_shared(portal: Portal) -> None:
    settings = replace(portal.store.settings, cookie_domain=".example.com")
    app = create_app(settings, clock=portal.store.clock, background=False)
    shared = Portal(portal.store, app)
    try:
        client, subject = user(shared, "flo@example.com")
        assert "search-preference cookie in this browser will be removed" in client.get(
            "/my/consent/personalization-off"
        ).text
        r = client.submit("/my/consent/personalization-off")
        cookies = r.headers.get_list("set-cookie")
        pref = [c for c in cookies if c.startswith(f"{settings.pref_cookie}=")]
        assert len(pref) == 1, cookies
        assert "Domain=.example.com" in pref[0] and "Max-Age=0" in pref[0] and "Path=/" in pref[0]
    finally:
        app.state.engine.dispose()  # type: ignore[attr-defined]


def test_revocation_sticks_new_search_terms_are_not_recorded(portal: Portal, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from portal.subjects import identity

    store = portal.store
    client, subject = user(portal, "gus@example.com")
    with store.ctx() as ctx:
        identity.attach(ctx, "cookie", store.settings.id_cookie, "browser-of-gus", subject, at=T0, reason="test", tied_by="event")
    cookies = f"{store.settings.id_cookie}=browser-of-gus; {store.settings.pref_cookie}=cheap+flights"
    google = "https://www.google.com/search?q=late+night+films"

    def ingest(name: str, at: datetime) -> None:
        log = write(tmp_path / name, [line(at=at, cookies=cookies, referrer=google)])
        Ingest(store.factory, store.settings, store.clock).run([str(log)])

    def terms() -> set[str]:
        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT term FROM search_preference WHERE subject_id = :s"), {"s": subject})
            return {r[0] for r in rows}

    ingest("before.log", T0)
    assert terms() == {"cheap flights", "late night films"}
    assert client.submit("/my/consent/personalization-off").status_code == 303
    assert terms() == set()
    ingest("after.log", T0 + timedelta(hours=1))
    assert terms() == set(), "ingest must not record search terms once personalization is off"
    assert store.scalar("SELECT count(*) FROM log_record WHERE subject_id = :s", s=subject) == 2


def test_concurrent_first_changes_both_succeed(portal: Portal) -> None:
    """Two first changes for one subject (no consent row yet) must not collide on the insert."""
    from concurrent.futures import ThreadPoolExecutor

    from portal.subjects import consent

    _client, subject = user(portal, "hal@example.com")
    store = portal.store

    def change(name: str) -> bool:
        with store.ctx() as ctx:
            return consent.set_choice(ctx, subject, name, False, via="portal").changed

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(change, ["marketing", "email"])) == [True, True]
    assert consent_row(portal, subject) == (True, False, False)
