"""In real Chromium: the time-zone form suggests the browser's own zone (portal.js, no inline script),
and saving it shows the account's pages in that zone."""

from __future__ import annotations

from portal.accounts import accounts, passwords
from tests.browser.conftest import LiveServer, _assert_local, shot
from tests.conftest import STRONG_PASSWORD

EMAIL = "tess@example.com"


def test_the_browsers_zone_is_suggested_and_saved(browser, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    with live_server.store.ctx() as ctx:
        accounts.finish_registration(ctx, EMAIL, passwords.hash_password(STRONG_PASSWORD))
        account = accounts.by_email(ctx, EMAIL)
        assert account is not None
        account.email_verified_at = ctx.now
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844},
                                  timezone_id="Europe/Berlin")  # fmt: skip
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("request", lambda req: _assert_local(req.url, live_server.url))
    try:
        page.goto("/login")
        page.get_by_label("Email address").fill(EMAIL)
        page.get_by_label("Password").fill(STRONG_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("heading", name="My account").wait_for()
        page.get_by_role("link", name="Change my time zone").click()
        page.get_by_role("heading", name="Time zone").wait_for()
        # Nothing saved yet: the page says UTC, the select offers the browser's zone.
        assert page.get_by_label("Time zone").input_value() == "Europe/Berlin"
        assert page.get_by_text("Your browser is set to Europe/Berlin").is_visible()
        shot(page, "account-time-zone")
        # The longest zone names fit a phone: the page never scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        page.get_by_role("button", name="Save time zone").click()
        page.get_by_text("Times are now shown in the Europe/Berlin time zone.").wait_for()
        page.goto("/account/time-zone")
        # Once chosen, the choice stands: the browser's zone is no longer pushed on it.
        page.get_by_label("Time zone").select_option("Asia/Tokyo")
        page.get_by_role("button", name="Save time zone").click()
        page.goto("/account/time-zone")
        assert page.get_by_label("Time zone").input_value() == "Asia/Tokyo"
        assert not page.get_by_text("Your browser is set to").is_visible()
        page.goto("/account/email")
        shot(page, "account-email")
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        assert errors == []
    finally:
        context.close()
