"""The newcomer's journey in real Chromium, on the demo data `make run` loads:

log in as the demo user, browse log records with "Load more", revoke personalisation, unsubscribe
from promotional email, download the export and open its offline index.html. Screenshots of each
page go to tests/artifacts/ for review.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from playwright.sync_api import expect

from portal.demo import seed
from tests.browser.conftest import LiveServer, shot
from tests.browser.test_accessibility import serious


def test_demo_user_journey(page, live_server: LiveServer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = live_server.store
    seed.load(store.factory, store.settings, store.clock)
    user = seed.DEMO_LOGINS[0]

    page.goto("/login")
    page.get_by_label("Email address").fill(user.email)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="My data", exact=True).click()
    page.get_by_role("heading", name="My data", exact=True).wait_for()
    shot(page, "journey-1-overview")

    page.get_by_role("link", name="Log records", exact=True).click()
    rows = page.locator("#log-rows tr")
    expect(rows).to_have_count(25)
    page.get_by_role("link", name="Load more").click()
    expect(rows).to_have_count(75)
    shot(page, "journey-2-logs")

    page.get_by_role("link", name="Search preferences").click()
    page.get_by_role("cell", name="late night films", exact=True).first.wait_for()

    page.get_by_role("link", name="Consent").click()
    page.get_by_role("heading", name="My privacy choices").wait_for()
    assert serious(page) == []
    page.get_by_role("link", name="Turn off personalised content").click()
    page.get_by_role("heading", name="Turn off personalised content?").wait_for()
    shot(page, "journey-3-revoke-confirm")
    page.get_by_role("button", name="Turn off and delete").click()
    page.get_by_role("heading", name="My privacy choices").wait_for()
    subject = store.scalar("SELECT subject_id FROM account WHERE email = :e", e=user.email)
    assert store.scalar("SELECT count(*) FROM search_preference WHERE subject_id = :s", s=subject) == 0
    assert store.scalar("SELECT personalization FROM consent WHERE subject_id = :s", s=subject) in (False, 0)

    page.get_by_role("button", name="Unsubscribe from promotional email").click()
    # The consent table always has a "Receipt" column, so wait for the button to flip instead.
    expect(page.get_by_role("button", name="Subscribe to promotional email")).to_be_visible()
    assert store.scalar("SELECT email FROM consent WHERE subject_id = :s", s=subject) in (False, 0)
    shot(page, "journey-4-consent")
    assert serious(page) == []

    page.get_by_role("link", name="Download").first.click()
    page.get_by_role("heading", name="Download my data").wait_for()
    page.get_by_role("button", name="Prepare my data").click()
    with page.expect_download() as info:
        page.get_by_role("link", name="Download my data (zip)").click()
    archive = tmp_path / "my-data.zip"
    info.value.save_as(archive)
    shot(page, "journey-5-export")
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        names = set(zf.namelist())
        assert {"data.json", "schema.json", "index.html", "manifest.json", "manifest.sig"} <= names
        zf.extractall(tmp_path / "export")

    page.goto((tmp_path / "export" / "index.html").as_uri())
    page.get_by_role("heading", level=1).first.wait_for()
    text = page.content()
    assert user.email in text
    assert "provided" in text.lower() and "observed" in text.lower()
    shot(page, "journey-6-export-index", full_page=False)  # the offline page lists thousands of rows
    assert page.console_errors == []
