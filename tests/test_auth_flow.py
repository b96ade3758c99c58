"""Registration → verification → login → password change → logout → reset, through the ASGI app."""

from __future__ import annotations

from tests.conftest import STRONG_PASSWORD, Portal

EMAIL = "alice@example.com"


def test_register_verify_login_logout_round_trip(portal: Portal) -> None:
    c = portal.client()
    portal.register(c, EMAIL)
    assert "Check your inbox" in c.get("/register/sent").text
    subject, body = portal.outbox(EMAIL)[-1]
    assert subject == "Confirm your email address"
    link = portal.last_link(EMAIL)

    # Before confirming, the account cannot log in; it is told to confirm and gets a fresh link.
    r = c.submit("/login", {"email": EMAIL, "password": STRONG_PASSWORD})
    assert r.status_code == 400 and "confirm your email" in r.text
    link = portal.last_link(EMAIL)

    # GET only shows a button (mail scanners follow links); the token survives it.
    page = c.get(link)
    assert page.status_code == 200 and "Confirm my email address" in page.text
    assert c.get(link).status_code == 200
    r = c.submit(link)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert "Your email address is confirmed" in c.get("/login").text
    # Single use.
    assert c.get(link).status_code == 400
    assert c.submit(link, form_page="/login").status_code == 400

    r = c.submit("/login", {"email": EMAIL, "password": STRONG_PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/account"
    account = c.get("/account")
    assert account.status_code == 200 and EMAIL in account.text
    assert account.headers["cache-control"] == "no-store"

    r = c.submit("/logout")
    assert r.status_code == 303
    assert c.get("/account", follow_redirects=False).status_code == 303


def test_email_is_case_insensitive_and_trimmed(portal: Portal) -> None:
    c = portal.client()
    portal.verified_user(c, EMAIL)
    c2 = portal.client()
    r = c2.submit("/login", {"email": "  Alice@Example.COM ", "password": STRONG_PASSWORD})
    assert r.status_code == 303


def test_weak_and_bad_passwords_are_refused_with_advice(portal: Portal) -> None:
    c = portal.client()
    for password, advice in [
        ("short", "at least 12 characters"),
        ("password1234", "very common password"),
        ("x" * 129, "at most 128 characters"),
    ]:
        r = c.submit("/register", {"email": EMAIL, "password": password})
        assert r.status_code == 400
        assert advice in r.text, password
        assert 'aria-invalid="true"' in r.text
    assert portal.outbox(EMAIL) == []
    r = c.submit("/register", {"email": "not-an-email", "password": STRONG_PASSWORD})
    assert r.status_code == 400 and "Enter an email address" in r.text


def test_password_is_checked_exactly_no_truncation(portal: Portal) -> None:
    long_password = "river-" * 20 + "kite7"  # 125 characters
    c = portal.client()
    portal.verified_user(c, EMAIL, long_password)
    other = portal.client()
    for wrong in (long_password[:-1], long_password + "x", long_password[:72]):
        r = other.submit("/login", {"email": EMAIL, "password": wrong})
        assert r.status_code == 400


def test_change_password_ends_other_sessions(portal: Portal) -> None:
    laptop, phone = portal.client(), portal.client()
    portal.verified_user(laptop, EMAIL)
    assert phone.submit("/login", {"email": EMAIL, "password": STRONG_PASSWORD}).status_code == 303
    assert phone.get("/account").status_code == 200

    r = laptop.submit(
        "/account/password",
        {"current_password": "wrong-password-here", "new_password": "copper-meadow-quartz-19"},
    )
    assert r.status_code == 400 and "current password is not correct" in r.text

    r = laptop.submit(
        "/account/password",
        {"current_password": STRONG_PASSWORD, "new_password": "copper-meadow-quartz-19"},
    )
    assert r.status_code == 303
    page = laptop.get("/account").text
    assert "1 other session ended" in page and "Receipt no." in page
    assert phone.get("/account", follow_redirects=False).status_code == 303  # logged out
    fresh = portal.client()
    assert fresh.submit("/login", {"email": EMAIL, "password": STRONG_PASSWORD}).status_code == 400
    assert fresh.submit("/login", {"email": EMAIL, "password": "copper-meadow-quartz-19"}).status_code == 303


def test_forgotten_password_reset(portal: Portal) -> None:
    c, other = portal.client(), portal.client()
    portal.verified_user(c, EMAIL)
    r = other.submit("/password/forgot", {"email": EMAIL})
    # Post/redirect/get: the answer is a page of its own, so reloading it posts nothing again.
    assert r.status_code == 303 and r.headers["location"] == "/password/forgot/sent"
    for _ in range(2):
        assert "Check your inbox" in other.get("/password/forgot/sent").text
    assert len([s for s, _ in portal.outbox(EMAIL) if s == "Reset your password"]) == 1
    link = portal.last_link(EMAIL)
    assert "/password/reset/" in link
    assert other.get(link).status_code == 200  # GET does not consume
    r = other.submit(link, {"password": "short"})
    assert r.status_code == 400 and "at least 12 characters" in r.text
    r = other.submit(link, {"password": "amber-falcon-pillow-42"})
    assert r.status_code == 303
    assert c.get("/account", follow_redirects=False).status_code == 303  # every session ended
    assert other.submit(link, {"password": "amber-falcon-pillow-43"}, form_page="/login").status_code == 400
    assert other.submit("/login", {"email": EMAIL, "password": "amber-falcon-pillow-42"}).status_code == 303


def test_links_expire(portal: Portal) -> None:
    c = portal.client()
    portal.register(c, EMAIL)
    verify_link = portal.last_link(EMAIL)
    portal.store.clock.advance(hours=24, seconds=1)
    assert c.get(verify_link).status_code == 400
    portal.store.clock.advance(seconds=-2)  # still inside the day: works
    assert c.submit(verify_link).status_code == 303

    c.submit("/password/forgot", {"email": EMAIL})
    reset_link = portal.last_link(EMAIL)
    portal.store.clock.advance(minutes=30, seconds=1)
    r = c.submit(reset_link, {"password": "amber-falcon-pillow-42"}, form_page="/login")
    assert r.status_code == 400 and "expired" in r.text


def test_outdated_hash_is_upgraded_at_login(portal: Portal) -> None:
    from passlib.context import CryptContext

    c = portal.client()
    portal.verified_user(c, EMAIL)
    weak = CryptContext(schemes=["argon2"], argon2__type="ID", argon2__memory_cost=8192, argon2__time_cost=1)
    with portal.store.engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(
            text("UPDATE account SET password_hash = :h WHERE email = :e"),
            {"h": weak.hash(STRONG_PASSWORD), "e": EMAIL},
        )
    assert portal.client().submit("/login", {"email": EMAIL, "password": STRONG_PASSWORD}).status_code == 303
    stored = portal.store.scalar("SELECT password_hash FROM account WHERE email = :e", e=EMAIL)
    assert isinstance(stored, str) and stored.startswith("$argon2id$") and "m=19456,t=2,p=1" in stored


OFF_SITE = [
    "//evil.example",
    "/\\evil.example",
    "/\\\\evil.example",
    "/\t/evil.example/",
    "/\n/evil.example",
    "/\r\nSet-Cookie: x=1",
    "https://evil.example/",
    "javascript:alert(1)",
    "evil.example",
    "/ /evil.example",
    "/\u3000/evil.example",
    "/\u00a0/evil.example",
    "/\x00",
    "/\u202e/evil",
    "/\x7f",
    "",
]


def test_next_after_login_only_leads_to_a_path_of_this_site(portal: Portal) -> None:
    portal.verified_user(portal.client(), "nina@example.com")
    for target in OFF_SITE:
        c = portal.client()
        r = c.submit("/login", {"email": "nina@example.com", "password": STRONG_PASSWORD, "next": target})
        assert r.status_code == 303 and r.headers["location"] == "/account", repr(target)
        # The login page never offers it back either.
        page = portal.client().get("/login", params={"next": target})
        assert page.status_code == 200 and 'name="next" value=""' in page.text, repr(target)


def test_next_after_login_is_honoured(portal: Portal) -> None:
    portal.verified_user(portal.client(), "nina@example.com")
    asked = portal.client().get("/my/logs", follow_redirects=False)
    assert asked.headers["location"] == "/login?next=%2Fmy%2Flogs"
    for target, location in [
        ("/my/logs", "/my/logs"),
        ("/my/logs?from=2024-01-01&q=a%20b", "/my/logs?from=2024-01-01&q=a%20b"),
        ("/my/é", "/my/%C3%A9"),  # non-ASCII is percent-encoded, not a crash
    ]:
        c = portal.client()
        r = c.submit("/login", {"email": "nina@example.com", "password": STRONG_PASSWORD, "next": target})
        assert r.status_code == 303 and r.headers["location"] == location, target
    c = portal.client()
    assert 'name="next" value="/my/logs"' in c.get("/login?next=%2Fmy%2Flogs").text


def test_a_new_link_retires_the_earlier_one(portal: Portal) -> None:
    c = portal.client()
    portal.register(c, EMAIL)
    first_verify = portal.last_link(EMAIL)
    # Logging in unverified mails a new link: the first one stops working.
    assert c.submit("/login", {"email": EMAIL, "password": STRONG_PASSWORD}).status_code == 400
    second_verify = portal.last_link(EMAIL)
    assert second_verify != first_verify
    for stale in (c.get(first_verify), c.submit(first_verify, form_page="/login")):
        assert stale.status_code == 400 and "expired or was already used" in stale.text
    assert c.submit(second_verify).status_code == 303

    portal.store.clock.advance(hours=1)  # an address gets at most three such mails an hour
    c.submit("/password/forgot", {"email": EMAIL})
    first_reset = portal.last_link(EMAIL)
    c.submit("/password/forgot", {"email": EMAIL})
    second_reset = portal.last_link(EMAIL)
    assert second_reset != first_reset and "/password/reset/" in first_reset
    stale = c.submit(first_reset, {"password": "amber-falcon-pillow-42"}, form_page="/login")
    assert stale.status_code == 400 and "expired or was already used" in stale.text
    assert c.get(first_reset).status_code == 400
    assert c.submit(second_reset, {"password": "amber-falcon-pillow-42"}).status_code == 303
