"""In real Chromium on a phone-sized screen: My requests, asking for erasure and cancelling it, with
and without JavaScript; axe finds nothing serious and no page scrolls sideways."""

from __future__ import annotations

import re
import struct

from tests.browser.conftest import LiveServer, shot
from tests.browser.test_accessibility import serious
from tests.conftest import STRONG_PASSWORD

EMAIL = "mara@example.com"
PHONE = 390


def _member(live_server: LiveServer) -> None:
    from portal.accounts import accounts, passwords

    with live_server.store.ctx() as ctx:
        accounts._create(ctx, EMAIL, passwords.hash_password(STRONG_PASSWORD), "user", verified=True)  # noqa: SLF001


def _login(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="My account").wait_for()


def _fits_the_phone(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """A full-page screenshot is as wide as the page: wider than the screen means sideways scrolling."""
    png = page.screenshot(full_page=True)
    width = struct.unpack(">I", png[16:20])[0]
    assert width <= PHONE, f"{name} is {width}px wide on a {PHONE}px screen"
    shot(page, name)


def test_erasure_request_and_cancel_on_a_phone(page, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    _member(live_server)
    _login(page)
    page.get_by_role("link", name="My data", exact=True).click()
    page.get_by_role("link", name="Requests").click()
    page.get_by_role("heading", name="My requests", exact=True).wait_for()
    assert serious(page) == []
    _fits_the_phone(page, "my-requests")

    page.get_by_role("link", name="Erase my data").click()
    page.get_by_role("heading", name="What will be deleted").wait_for()
    assert serious(page) == []
    _fits_the_phone(page, "my-request-erasure")
    page.get_by_label("Your password, to confirm it is you").fill("not-my-password")
    page.get_by_role("button", name="Ask for erasure").click()
    page.get_by_text("That password is not correct.").wait_for()  # next to the field, which says so
    assert page.get_by_label("Your password, to confirm it is you").get_attribute("aria-invalid") == "true"
    assert serious(page) == []
    page.get_by_label("Your password, to confirm it is you").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Ask for erasure").click()
    page.get_by_text("Your erasure request is recorded.").wait_for()
    assert page.get_by_role("heading", name="Being reviewed").is_visible()
    assert serious(page) == []
    _fits_the_phone(page, "my-request")

    page.get_by_role("button", name="Cancel this request").click()
    page.get_by_text("Your request is cancelled.").wait_for()
    assert page.get_by_role("button", name="Cancel this request").count() == 0
    assert page.console_errors == []


def test_requests_work_without_javascript(browser, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    _member(live_server)
    context = browser.new_context(
        base_url=live_server.url, java_script_enabled=False, viewport={"width": PHONE, "height": 844}
    )
    page = context.new_page()
    try:
        _login(page)
        page.goto("/my/requests/new?kind=objection")
        page.get_by_label("Marketing use of my data").check()
        page.get_by_role("button", name="Send my objection").click()
        page.get_by_text("Your objection is carried out.").wait_for()
        assert page.get_by_role("heading", name="Completed").is_visible()
        page.goto("/my/requests/new?kind=rectification")
        page.get_by_label("What is wrong, and what should it say?").fill("My surname is Lind, not Lindt.")
        page.get_by_role("button", name="Send my request").click()
        page.get_by_text("staff will work on it").wait_for()
        page.get_by_role("button", name="Cancel this request").click()
        page.get_by_text("Your request is cancelled.").wait_for()
        page.goto("/my/requests")
        assert page.get_by_role("link", name=re.compile(r"^No\. \d+: Objection$")).count() == 1
    finally:
        context.close()
