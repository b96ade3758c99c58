"""In real Chromium: a user browses their log records with "Load more" (htmx); axe finds nothing serious."""

from __future__ import annotations

from playwright.sync_api import expect

from tests import sitedata_factory as f
from tests.browser.conftest import LiveServer, shot
from tests.browser.test_accessibility import serious
from tests.conftest import STRONG_PASSWORD

EMAIL = "lena@example.com"


def _user_with_data(live_server: LiveServer) -> None:
    from portal.accounts import accounts, passwords

    store = live_server.store
    with store.ctx() as ctx:
        account = accounts._create(ctx, EMAIL, passwords.hash_password(STRONG_PASSWORD), "user", verified=True)  # noqa: SLF001
        subject_id = account.subject_id
    f.cookie(store, subject_id, "site_id", "lena-identifier-42")
    f.cookie(store, subject_id, "search_pref", "night+trains|alpine+lakes", user_agent=f.FIREFOX)
    f.preference(store, subject_id, "night trains", times=4)
    f.log_records(store, subject_id, 120, source_id=f.source(store), path="/videos/{i}")


def test_log_records_load_more_and_accessibility(page, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    _user_with_data(live_server)
    page.goto("/login")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="My data", exact=True).click()
    page.get_by_role("heading", name="My data", exact=True).wait_for()
    assert serious(page) == []
    shot(page, "my-overview")

    page.get_by_role("link", name="Cookies", exact=True).click()
    page.get_by_text("night trains, alpine lakes").wait_for()
    assert serious(page) == []
    shot(page, "my-cookies")

    page.get_by_role("link", name="Search preferences").click()
    page.get_by_role("cell", name="night trains", exact=True).wait_for()
    assert serious(page) == []
    shot(page, "my-search")

    page.get_by_role("link", name="Log records", exact=True).click()
    rows = page.locator("#log-rows tr")
    assert rows.count() == 25  # the first page is short; each "Load more" brings fifty
    page.locator("svg.chart").wait_for()  # the chart arrives after the list (htmx, hx-trigger=load)
    url = page.url
    page.get_by_role("link", name="Load more").click()
    expect(rows).to_have_count(75)  # (wait_for_function would need eval, which the CSP forbids)
    assert page.url == url  # appended in place, not navigated
    page.get_by_role("link", name="Load more").click()
    expect(rows).to_have_count(120)
    assert page.get_by_text("These are the oldest records.").is_visible()
    assert page.locator("#log-rows tr").last.inner_text().find("/videos/119") >= 0
    assert serious(page) == []
    shot(page, "my-logs")

    page.goto("/browser")
    assert serious(page) == []
    shot(page, "this-browser")
    assert page.console_errors == []
