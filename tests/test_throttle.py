"""Login throttling lives in the store: per account (5 in a row) and per address (20 in 15 minutes)."""

from __future__ import annotations

from tests.conftest import STRONG_PASSWORD, Portal

EMAIL = "bob@example.com"


def _login(portal: Portal, password: str, ip: str = "203.0.113.7", email: str = EMAIL):  # type: ignore[no-untyped-def]
    return portal.client(ip).submit("/login", {"email": email, "password": password})


def test_five_failures_lock_the_account_for_fifteen_minutes(portal: Portal) -> None:
    portal.verified_user(portal.client(), EMAIL)
    for i in range(5):
        assert _login(portal, "wrong-password", ip=f"198.51.100.{i}").status_code == 400
    locked = _login(portal, STRONG_PASSWORD, ip="192.0.2.99")  # right password, other address
    assert locked.status_code == 429
    assert 890 <= int(locked.headers["retry-after"]) <= 900
    assert "Too many attempts" in locked.text

    # An unknown email locks exactly the same way (no enumeration through the lock).
    for _ in range(5):
        _login(portal, "wrong-password", email="ghost@example.com", ip="192.0.2.50")
    assert _login(portal, "x", email="ghost@example.com", ip="192.0.2.51").status_code == 429

    portal.store.clock.advance(minutes=15, seconds=1)
    assert _login(portal, STRONG_PASSWORD).status_code == 303


def test_a_success_resets_the_consecutive_count(portal: Portal) -> None:
    portal.verified_user(portal.client(), EMAIL)
    for _ in range(4):
        _login(portal, "wrong-password")
    assert _login(portal, STRONG_PASSWORD).status_code == 303
    for _ in range(4):
        assert _login(portal, "wrong-password").status_code == 400
    assert _login(portal, STRONG_PASSWORD).status_code == 303


def test_password_reset_still_works_while_locked_and_unlocks(portal: Portal) -> None:
    portal.verified_user(portal.client(), EMAIL)
    for _ in range(5):
        _login(portal, "wrong-password")
    assert _login(portal, STRONG_PASSWORD).status_code == 429
    c = portal.client()
    c.submit("/password/forgot", {"email": EMAIL})
    assert c.submit(portal.last_link(EMAIL), {"password": "amber-falcon-pillow-42"}).status_code == 303
    assert _login(portal, "amber-falcon-pillow-42").status_code == 303


def test_twenty_failures_from_one_address_block_that_address(portal: Portal) -> None:
    portal.verified_user(portal.client(), EMAIL)
    for i in range(20):
        r = _login(portal, "wrong-password", ip="203.0.113.66", email=f"user{i}@example.com")
        assert r.status_code == 400
    blocked = _login(portal, STRONG_PASSWORD, ip="203.0.113.66")
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert _login(portal, STRONG_PASSWORD, ip="203.0.113.67").status_code == 303
    portal.store.clock.advance(minutes=16)
    assert _login(portal, STRONG_PASSWORD, ip="203.0.113.66").status_code == 303


def test_throttle_keys_hold_no_raw_email_or_address(portal: Portal) -> None:
    _login(portal, "wrong-password", ip="203.0.113.99")
    with portal.store.engine.connect() as conn:
        from sqlalchemy import text

        keys = [r[0] for r in conn.execute(text("SELECT key FROM throttle"))]
    assert keys and not any(EMAIL in k or "203.0.113.99" in k for k in keys)
