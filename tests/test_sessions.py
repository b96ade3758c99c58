"""Server-side sessions: fixation, replay after logout, idle and absolute timeouts, cookie flags."""

from __future__ import annotations

import pytest

from portal.core.crypto import sha256_hex
from portal.web.app import create_app
from tests.conftest import STRONG_PASSWORD, Client, Portal

EMAIL = "carol@example.com"


def _cookie(client: Client) -> str:
    return client.cookies.get("portal_session") or ""


def test_login_issues_a_new_id_and_the_old_one_stops_working(portal: Portal) -> None:
    c = portal.client()
    portal.verified_user(c, EMAIL)
    c.submit("/logout")
    pre_login = portal.client()
    pre_login.get("/login")
    fixed = _cookie(pre_login)
    assert fixed
    r = pre_login.submit("/login", {"email": EMAIL, "password": STRONG_PASSWORD})
    assert r.status_code == 303
    new = _cookie(pre_login)
    assert new and new != fixed
    # An attacker who planted the pre-login id gets nothing.
    attacker = portal.client()
    attacker.cookies.set("portal_session", fixed)
    assert attacker.get("/account", follow_redirects=False).status_code == 303
    # Only the hash of the id is stored.
    assert portal.store.scalar("SELECT count(*) FROM web_session WHERE id_hash = :h", h=new) == 0
    assert portal.store.scalar("SELECT count(*) FROM web_session WHERE id_hash = :h", h=sha256_hex(new)) == 1


def test_a_copied_cookie_stops_working_after_logout(portal: Portal) -> None:
    c = portal.client()
    portal.verified_user(c, EMAIL)
    stolen = _cookie(c)
    thief = portal.client()
    thief.cookies.set("portal_session", stolen)
    assert thief.get("/account").status_code == 200
    c.submit("/logout")
    assert thief.get("/account", follow_redirects=False).status_code == 303


def test_idle_timeout_is_thirty_minutes(portal: Portal) -> None:
    c = portal.client()
    portal.verified_user(c, EMAIL)
    portal.store.clock.advance(minutes=29)
    assert c.get("/account").status_code == 200  # activity keeps it alive
    portal.store.clock.advance(minutes=29)
    assert c.get("/account").status_code == 200
    portal.store.clock.advance(minutes=31)
    assert c.get("/account", follow_redirects=False).status_code == 303


def test_absolute_timeout_is_twelve_hours_even_when_active(portal: Portal) -> None:
    c = portal.client()
    portal.verified_user(c, EMAIL)
    for _ in range(35):  # 35 × 20 min = 11 h 40 min of steady activity
        portal.store.clock.advance(minutes=20)
        assert c.get("/account").status_code == 200
    portal.store.clock.advance(minutes=21)
    assert c.get("/account", follow_redirects=False).status_code == 303


def test_session_cookie_flags_on_http(portal: Portal) -> None:
    header = portal.client().get("/").headers["set-cookie"]
    assert header.startswith("portal_session=")
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert "Secure" not in header  # plain http (development) cannot carry Secure cookies


@pytest.fixture
def https_portal(portal: Portal):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    settings = replace(portal.store.settings, base_url="https://portal.example")
    app = create_app(settings, clock=portal.store.clock, background=False)
    yield Client(app, base_url="https://portal.example")
    app.state.engine.dispose()


def test_https_uses_host_prefix_secure_cookie_and_hsts(https_portal: Client) -> None:
    r = https_portal.get("/")
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("__Host-portal_session=")
    assert "Secure" in cookie and "Path=/" in cookie and "Domain" not in cookie
    assert r.headers["strict-transport-security"].startswith("max-age=")


def test_logout_deletes_the_row(portal: Portal) -> None:
    c = portal.client()
    portal.verified_user(c, EMAIL)
    assert portal.store.scalar("SELECT count(*) FROM web_session WHERE account_id IS NOT NULL") == 1
    c.submit("/logout")
    assert portal.store.scalar("SELECT count(*) FROM web_session WHERE account_id IS NOT NULL") == 0


SIBLINGS = [
    "x=a b",
    'prefs={"a":1,"b":2}',
    'q="a \\"quoted\\" value"',
    "lang=français",
    "flag",
    "a=b=c",
    "=x",
]


@pytest.mark.parametrize("sibling", SIBLINGS)
def test_other_cookies_beside_the_session_never_end_it(portal: Portal, sibling: str) -> None:
    """Browsers send whatever other sites on the domain set; the session is read past them."""
    c = portal.client()
    portal.verified_user(c, EMAIL)
    token = _cookie(c)
    for header in (f"{sibling}; portal_session={token}", f"portal_session={token}; {sibling}"):
        bare = portal.client()
        r = bare.get("/account", headers={"Cookie": header.encode()}, follow_redirects=False)
        assert r.status_code == 200 and EMAIL in r.text, header


def test_login_works_beside_a_json_cookie(portal: Portal) -> None:
    """In Chromium a sibling `prefs={"a":1,"b":2}` made every login a 403 (the session was not read)."""
    c = portal.client()
    portal.register(c, EMAIL)
    assert c.submit(portal.last_link(EMAIL)).status_code == 303
    c.cookies.set("prefs", '{"a":1,"b":2}')
    r = c.submit("/login", {"email": EMAIL, "password": STRONG_PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/account"


def test_a_refused_request_leaves_the_browsers_session_alone(portal: Portal) -> None:
    """A cross-site POST carries no Lax cookie; its refusal must not set a cookie that logs the victim out."""
    victim = portal.client()
    portal.verified_user(victim, EMAIL)
    attempts = [
        ("/logout", {"Sec-Fetch-Site": "cross-site"}),
        ("/account/password", {"Origin": "https://evil.example"}),
        ("/my/consent", {}),  # no token at all
        ("/unsubscribe/1.forged", {"Sec-Fetch-Site": "cross-site"}),  # CSRF-exempt, refused by its handler
    ]
    for path, headers in attempts:
        r = portal.client().post(
            path, data={"field": "email", "value": "off"}, headers=headers, follow_redirects=False
        )
        assert r.status_code in (400, 403), path
        assert "set-cookie" not in r.headers, path
    assert victim.get("/account").status_code == 200
