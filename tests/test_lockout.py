"""Guessing is throttled without locking the owner out: a browser that signed in before carries a
signed device cookie with a budget of its own (OWASP's device-cookie scheme)."""

from __future__ import annotations

from dataclasses import replace

from portal.web.app import create_app
from tests.conftest import STRONG_PASSWORD, Client, Portal

OWNER = "olga@example.com"


def _login(client: Client, password: str, email: str = OWNER):  # type: ignore[no-untyped-def]
    return client.submit("/login", {"email": email, "password": password})


def _owner_browser(portal: Portal) -> Client:
    browser = portal.client(ip="192.0.2.10")
    portal.verified_user(browser, OWNER)
    assert browser.cookies.get("portal_device")
    return browser


def test_guessing_elsewhere_never_locks_the_owners_browser_out(portal: Portal) -> None:
    browser = _owner_browser(portal)
    for _ in range(3):  # "repeatable forever": every 15 minutes the attacker locks the account again
        for i in range(5):
            assert _login(portal.client(ip=f"203.0.113.{i}"), "wrong-password").status_code == 400
        stranger = _login(portal.client(ip="198.51.100.77"), STRONG_PASSWORD)
        assert stranger.status_code == 429  # an unknown client with the right password is still locked out
        assert "resetting your password" in stranger.text and 'href="/password/forgot"' in stranger.text
        assert _login(browser, STRONG_PASSWORD).status_code == 303  # the owner's browser is not
        portal.store.clock.advance(minutes=15, seconds=1)


def test_a_trusted_browser_has_its_own_budget_not_an_unlimited_one(portal: Portal) -> None:
    browser = _owner_browser(portal)
    for _ in range(5):
        assert _login(browser, "wrong-password").status_code == 400
    locked = _login(browser, STRONG_PASSWORD)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    # Its failures were its own: other clients of the account were not locked by them.
    assert _login(portal.client(ip="198.51.100.8"), STRONG_PASSWORD).status_code == 303


def test_a_device_cookie_only_speaks_for_the_email_it_was_made_for(portal: Portal) -> None:
    portal.verified_user(portal.client(), OWNER)
    attacker = portal.client(ip="203.0.113.66")
    portal.verified_user(attacker, "mallory@example.com")  # the attacker's own account: a genuine cookie
    for _ in range(5):
        assert _login(attacker, "wrong-password").status_code == 400
    assert _login(attacker, STRONG_PASSWORD).status_code == 429
    forged = portal.client(ip="203.0.113.67")
    genuine = attacker.cookies.get("portal_device")
    nonce, _, mac = genuine.partition(".")
    for value in (f"{nonce}.{'0' * len(mac)}", "x.y", "~" * 500, genuine + "~" + genuine, "%C3%A9.%C3%A9"):
        forged.cookies.set("portal_device", value)
        assert _login(forged, STRONG_PASSWORD).status_code == 429, value  # still the locked account budget


def test_a_password_reset_unlocks_the_account_and_the_browser_doing_it(portal: Portal) -> None:
    browser = _owner_browser(portal)
    for _ in range(5):
        _login(browser, "wrong-password")
        _login(portal.client(ip="203.0.113.9"), "wrong-password")
    assert _login(browser, STRONG_PASSWORD).status_code == 429
    browser.submit("/password/forgot", {"email": OWNER})
    assert browser.submit(portal.last_link(OWNER), {"password": "amber-falcon-pillow-42"}).status_code == 303
    assert _login(browser, "amber-falcon-pillow-42").status_code == 303
    assert _login(portal.client(ip="198.51.100.9"), "amber-falcon-pillow-42").status_code == 303


def test_the_device_cookie_is_private_to_this_origin(portal: Portal) -> None:
    c = portal.client()
    portal.register(c, OWNER)
    assert c.submit(portal.last_link(OWNER)).status_code == 303
    r = _login(c, STRONG_PASSWORD)
    header = next(h for h in r.headers.get_list("set-cookie") if h.startswith("portal_device="))
    assert "HttpOnly" in header and "SameSite=lax" in header and "Path=/" in header and "Max-Age=31536000" in header
    assert OWNER not in header and "olga" not in header  # it names nobody
    https = create_app(replace(portal.store.settings, base_url="https://portal.example"), clock=portal.store.clock,
                       background=False)  # fmt: skip
    try:
        secure = Client(https, base_url="https://portal.example")
        r = _login(secure, STRONG_PASSWORD)
        header = next(h for h in r.headers.get_list("set-cookie") if "portal_device=" in h)
        assert header.startswith("__Host-portal_device=") and "Secure" in header and "Domain" not in header
    finally:
        https.state.engine.dispose()


def test_a_success_does_not_reset_the_per_address_count(portal: Portal) -> None:
    """19 failures, a success on the attacker's own account, 2 more failures: then the address is blocked."""
    portal.verified_user(portal.client(), OWNER)
    ip = "203.0.113.99"
    portal.verified_user(portal.client(ip="192.0.2.1"), "mallory@example.com")
    for i in range(19):
        assert _login(portal.client(ip=ip), "wrong-password", email=f"user{i}@example.com").status_code == 400
    assert _login(portal.client(ip=ip), STRONG_PASSWORD, email="mallory@example.com").status_code == 303
    assert _login(portal.client(ip=ip), "wrong-password", email="user19@example.com").status_code == 400
    assert _login(portal.client(ip=ip), "wrong-password", email="user20@example.com").status_code == 429
    assert _login(portal.client(ip=ip), STRONG_PASSWORD).status_code == 429
