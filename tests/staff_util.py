"""Staff for the back-office tests: accounts with a second factor already set up, signed in through the
real login and TOTP pages."""

from __future__ import annotations

import re

import pyotp
from sqlalchemy import text

from tests.conftest import STRONG_PASSWORD, Client, Portal, Store
from tests.request_util import account_subject

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def staff_account(store: Store, email: str, role: str = "agent") -> tuple[int, str]:
    """A staff account whose TOTP is set up: (account id, TOTP secret)."""
    account_subject(store, email, role)
    secret = pyotp.random_base32()
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE account SET totp_secret = :s, totp_enabled_at = :t WHERE email = :e"),
            {"s": secret, "t": store.clock.now(), "e": email},
        )
        account_id = conn.execute(text("SELECT id FROM account WHERE email = :e"), {"e": email}).scalar_one()
    return int(account_id), secret


def sign_in(portal: Portal, email: str, secret: str) -> Client:
    """Password, then the TOTP code of the (frozen) clock's time step; a step is never accepted twice,
    so the clock moves on one step first."""
    portal.store.clock.advance(seconds=30)
    client = portal.client()
    r = client.submit("/login", {"email": email, "password": STRONG_PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/login/mfa", r.text
    code = pyotp.TOTP(secret).at(portal.store.clock.now())
    r = client.submit("/login/mfa", {"code": code})
    assert r.status_code == 303, r.text
    return client


def staff(portal: Portal, email: str, role: str = "agent") -> tuple[Client, int]:
    """A signed-in staff member (second factor done) and their account id."""
    account_id, secret = staff_account(portal.store, email, role)
    return sign_in(portal, email, secret), account_id


def post(client: Client, path: str, data: dict[str, str] | None = None, *, page: str = "/staff") -> object:
    """A form POST with the session's CSRF token (taken from a staff page)."""
    return client.submit(path, data or {}, form_page=page)
