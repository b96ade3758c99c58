"""Roles: /staff exists only for staff with a second factor; everyone else gets a plain 404."""

from __future__ import annotations

import os
import subprocess
import sys

import pyotp

from portal.accounts import accounts
from tests.conftest import STRONG_PASSWORD, Portal

STAFF = "staff@example.com"


def _add_staff(portal: Portal, role: str = "agent") -> None:
    with portal.store.ctx() as ctx:
        accounts.add_staff(ctx, STAFF, role, STRONG_PASSWORD)


def test_users_and_visitors_get_404_on_staff_pages(portal: Portal) -> None:
    assert portal.client().get("/staff").status_code == 404
    c = portal.client()
    portal.verified_user(c, "user@example.com")
    r = c.get("/staff")
    assert r.status_code == 404 and "Page not found" in r.text


def test_staff_enrol_a_second_factor_then_reach_the_back_office(portal: Portal) -> None:
    _add_staff(portal)
    c = portal.client()
    r = c.submit("/login", {"email": STAFF, "password": STRONG_PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == "/login/mfa"
    # Password alone is not enough.
    assert c.get("/staff", follow_redirects=False).headers["location"] == "/login/mfa"
    page = c.get("/login/mfa")
    assert "<svg" in page.text
    secret = page.text.split('id="totp-secret">')[1].split("<")[0]
    bad = c.submit("/login/mfa", {"code": "000000"})
    assert bad.status_code == 400
    clock_time = portal.store.clock.now()
    code = pyotp.TOTP(secret).at(clock_time)
    ok = c.submit("/login/mfa", {"code": code})
    assert ok.status_code == 303 and ok.headers["location"] == "/staff"
    home = c.get("/staff")
    assert home.status_code == 200 and "Back-office" in home.text and STAFF in home.text
    entries = portal.store.scalar("SELECT count(*) FROM audit_entry")
    assert f"<dt>Audit log entries</dt><dd>{entries}</dd>" in home.text
    assert "<dt>Accounts</dt><dd>1 (1 confirmed)</dd>" in home.text  # staff are created confirmed

    # Next login: the same code cannot be replayed; the next one works.
    c.submit("/logout")
    c2 = portal.client()
    c2.submit("/login", {"email": STAFF, "password": STRONG_PASSWORD})
    assert "<svg" not in c2.get("/login/mfa").text
    assert c2.submit("/login/mfa", {"code": code}).status_code == 400
    portal.store.clock.advance(seconds=30)
    assert c2.submit("/login/mfa", {"code": pyotp.TOTP(secret).at(portal.store.clock.now())}).status_code == 303


def test_second_factor_guessing_is_throttled(portal: Portal) -> None:
    _add_staff(portal)
    c = portal.client()
    c.submit("/login", {"email": STAFF, "password": STRONG_PASSWORD})
    c.get("/login/mfa")
    for _ in range(5):
        assert c.submit("/login/mfa", {"code": "123456"}).status_code in (400,)
    assert c.submit("/login/mfa", {"code": "123456"}).status_code == 429


def test_portal_staff_add_command(tmp_path, portal: Portal) -> None:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "PORTAL_VAR_DIR": str(portal.store.settings.var_dir),
        "PORTAL_DATABASE_URL": portal.store.settings.database_url,
        "PORTAL_SECRET_KEY": portal.store.settings.secret_key.decode(),
    }
    cmd = [sys.executable, "-m", "portal", "staff", "add", "ops@example.com", "--role", "admin", "--password-stdin"]
    weak = subprocess.run(cmd, input="weak\n", capture_output=True, text=True, env=env)
    assert weak.returncode == 2 and "at least 12 characters" in weak.stderr
    done = subprocess.run(cmd, input=STRONG_PASSWORD + "\n", capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert portal.store.scalar("SELECT role FROM account WHERE email = 'ops@example.com'") == "admin"
