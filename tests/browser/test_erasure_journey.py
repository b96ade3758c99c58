"""In real Chromium, on the demo data: the demo member asks for erasure, sees the timeline, cancels,
asks again and — with no waiting period (PORTAL_ERASURE_WAIT_DAYS=0) — is erased by the next round
of due erasures (what `portal serve` and `portal requests run-due` do) and can no longer log in."""

from __future__ import annotations

from dataclasses import replace

import pytest

from portal.demo import seed
from portal.requests import waiting
from tests.browser.conftest import LiveServer, shot
from tests.browser.test_accessibility import serious
from tests.conftest import Store


@pytest.fixture
def sqlite_store(sqlite_store: Store) -> Store:
    """The browser tests' store, served with no waiting period before an erasure runs."""
    return replace(sqlite_store, settings=replace(sqlite_store.settings, erasure_wait_days=0))


def _login(page, email: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def _ask_for_erasure(page, password: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("link", name="My data", exact=True).click()
    page.get_by_role("link", name="Requests").click()
    page.get_by_role("link", name="Erase my data", exact=True).click()
    page.get_by_role("heading", name="What will be deleted").wait_for()
    page.get_by_label("Your password, to confirm it is you").fill(password)
    page.get_by_role("button", name="Ask for erasure").click()
    page.get_by_text("Your erasure request is recorded.").wait_for()


def test_the_demo_member_asks_cancels_asks_again_and_is_erased(page, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    store = live_server.store
    seed.load(store.factory, store.settings, store.clock)
    member = seed.DEMO_LOGINS[0]
    subject = store.scalar("SELECT subject_id FROM account WHERE email = :e", e=member.email)
    records = store.scalar("SELECT count(*) FROM log_record WHERE subject_id = :s", s=subject)
    assert records and int(records) > 1000  # type: ignore[call-overload]

    _login(page, member.email, member.password)
    page.get_by_role("heading", name="My account").wait_for()
    _ask_for_erasure(page, member.password)
    # The timeline: received, identity checked, now waiting for its (zero-length) period to end.
    for step in ("Received", "Checking who you are", "Being reviewed"):
        assert page.get_by_role("heading", name=step).is_visible(), step
    shot(page, "erasure-1-timeline")
    page.get_by_role("button", name="Cancel this request").click()
    page.get_by_text("Your request is cancelled.").wait_for()
    assert page.get_by_role("heading", name="Cancelled").is_visible()

    _ask_for_erasure(page, member.password)
    assert serious(page) == []
    result = waiting.run_due(store.factory, store.settings, store.clock)
    assert len(result.completed) == 1, result

    page.reload()  # signed out everywhere: the session is gone with the account
    page.get_by_role("heading", name="Log in").wait_for()
    _login(page, member.email, member.password)
    page.get_by_text("That email and password do not match an account.").wait_for()
    shot(page, "erasure-2-cannot-log-in")
    assert store.scalar("SELECT count(*) FROM account WHERE email = :e", e=member.email) == 0
    assert store.scalar("SELECT count(*) FROM log_record WHERE subject_id = :s", s=subject) == 0
    assert store.scalar("SELECT count(*) FROM log_record") > 0  # the anonymous visitors' records stay
    assert page.console_errors == []
