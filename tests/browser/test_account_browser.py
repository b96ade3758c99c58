"""In real Chromium: register, confirm the emailed link, log in and log out; CSP stays clean."""

from __future__ import annotations

import re

from sqlalchemy import text

from portal.accounts import accounts, mailrequests, passwords
from tests.browser.conftest import LiveServer, shot
from tests.conftest import STRONG_PASSWORD

EMAIL = "iris@example.com"


def _last_link(live_server: LiveServer) -> str:
    with live_server.store.ctx() as ctx:  # the background sender's round (the live server runs none)
        mailrequests.process(ctx)
    with live_server.store.engine.connect() as conn:
        body = conn.execute(text("SELECT body FROM outbox_mail WHERE to_addr = :e ORDER BY id DESC"), {"e": EMAIL}).scalar()
    match = re.search(r"(http://127\.0\.0\.1:\d+/\S+)", body or "")
    assert match, body
    return match.group(1)


def test_register_verify_login_logout(page, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    page.goto("/")
    shot(page, "home")
    page.get_by_role("link", name="Create an account").first.click()
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    assert page.get_by_text("Use at least 12 characters.").is_visible()
    shot(page, "register-error")
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()

    page.goto(_last_link(live_server))
    shot(page, "verify")
    page.get_by_role("button", name="Confirm my email address").click()
    page.get_by_text("Your email address is confirmed").wait_for()

    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="My account").wait_for()
    assert EMAIL in page.content()
    shot(page, "account")

    cookies = page.context.cookies()
    session = [c for c in cookies if c["name"] == "portal_session"]
    assert len(session) == 1 and session[0]["httpOnly"] and session[0]["sameSite"] == "Lax"

    page.get_by_role("button", name="Log out").click()
    page.get_by_role("link", name="Log in").first.wait_for()
    page.goto("/account")
    page.get_by_role("heading", name="Log in").wait_for()
    # No CSP violation or script error on the way.
    assert page.console_errors == []


def test_htmx_loads_under_the_strict_csp(page, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    page.goto("/")
    page.wait_for_function("() => window.htmx !== undefined")
    assert page.evaluate("() => htmx.config.allowEval") is False
    assert page.evaluate("() => htmx.config.historyCacheSize") == 0
    assert page.console_errors == []


def test_login_works_beside_another_sites_json_cookie(page, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    """A sibling cookie Chromium sends as it is (`prefs={"a":1,"b":2}`) once made every login a 403."""
    with live_server.store.ctx() as ctx:
        accounts.finish_registration(ctx, EMAIL, passwords.hash_password(STRONG_PASSWORD))
        account = accounts.by_email(ctx, EMAIL)
        assert account is not None
        account.email_verified_at = ctx.now
    page.context.add_cookies([{"name": "prefs", "value": '{"a":1,"b":2}', "url": live_server.url}])
    page.goto("/login")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="My account").wait_for()
    names = {c["name"] for c in page.context.cookies()}
    assert {"prefs", "portal_session", "portal_device"} <= names
