"""The back-office in real Chromium: an agent signs in with a TOTP code, filters the queue (htmx swaps the
table and the address bar follows), opens an erasure request and approves it; an admin confirms it,
which hands it to the erasure engine; the admin watches its progress to the end and verifies the audit
log. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

from datetime import timedelta

import pyotp

from tests.browser.conftest import LiveServer, shot
from tests.browser.test_accessibility import serious
from tests.conftest import STRONG_PASSWORD
from tests.request_util import account_subject, request_in
from tests.staff_util import staff_account

DESKTOP = {"width": 1280, "height": 900}


def _sign_in(browser, live_server: LiveServer, email: str, secret: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Confirm it is you").wait_for()
    page.get_by_label("6-digit code").fill(pyotp.TOTP(secret).at(live_server.store.clock.now()))
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("heading", name="Back-office").wait_for()
    page.console_errors = errors
    return context, page


def test_agent_approves_an_erasure_admin_confirms_it_and_verifies_the_log(browser, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    store = live_server.store
    _, agent_secret = staff_account(store, "agent@example.org", "agent")
    _, admin_secret = staff_account(store, "admin@example.org", "admin")
    person = account_subject(store, "mara@example.org")
    other = account_subject(store, "ivo@example.org")
    request_in(store, other, "access", "received")
    erasure = request_in(store, person, "erasure", "in_review", wait_until=store.clock.now() - timedelta(hours=1))

    agent_context, agent = _sign_in(browser, live_server, "agent@example.org", agent_secret)
    try:
        assert serious(agent) == []
        shot(agent, "backoffice-1-dashboard")
        agent.get_by_role("link", name="Requests", exact=True).click()
        agent.get_by_role("heading", name="Requests", exact=True).wait_for()
        assert agent.get_by_role("link", name=f"No. {erasure}").is_visible()
        agent.get_by_label("Kind").select_option("erasure")
        agent.get_by_role("button", name="Filter").click()
        agent.locator("#queue-caption", has_text="Erasure").wait_for()
        assert "kind=erasure" in agent.url  # htmx swapped the table and the address bar followed
        assert agent.locator("table.queue tbody tr").count() == 1
        assert serious(agent) == []
        shot(agent, "backoffice-2-queue-filtered")
        agent.get_by_role("link", name=f"No. {erasure}").click()
        agent.get_by_role("heading", name=f"Request no. {erasure}").wait_for()
        assert serious(agent) == []
        agent.get_by_role("button", name="Approve", exact=True).click()
        agent.get_by_text("You approved this erasure: a second member of staff must confirm it.").wait_for()
        assert agent.get_by_role("button", name="Confirm and run the erasure").count() == 0
        shot(agent, "backoffice-3-approved-by-agent")
        assert agent.console_errors == []
    finally:
        agent_context.close()

    admin_context, admin = _sign_in(browser, live_server, "admin@example.org", admin_secret)
    try:
        admin.goto(f"/staff/requests/{erasure}")
        admin.get_by_text("Approved by agent@example.org").wait_for()
        admin.get_by_role("button", name="Confirm and run the erasure").click()
        admin.get_by_text("Erasure confirmed and started").wait_for()
        # The engine runs once the answer has gone out; the page shows how far it got.
        for _ in range(50):
            if admin.get_by_text("(100%), finished").count():
                break
            admin.wait_for_timeout(200)
            admin.reload()
        assert admin.get_by_role("heading", name="Erasure progress").is_visible()
        assert admin.get_by_text("(100%), finished").is_visible()
        assert serious(admin) == []
        shot(admin, "backoffice-4-erased-after-the-admin-confirmed")

        admin.get_by_role("link", name="Audit log").click()
        admin.get_by_role("heading", name="Audit log", exact=True).wait_for()
        assert serious(admin) == []
        admin.get_by_role("button", name="Verify the log now").click()
        admin.get_by_role("heading", name="The log verifies").wait_for(timeout=20_000)
        assert admin.locator("#verify-summary").inner_text().startswith("OK:")
        assert serious(admin) == []
        shot(admin, "backoffice-5-audit-verified")
        assert admin.console_errors == []
    finally:
        admin_context.close()


def test_the_queue_works_without_javascript(browser, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    store = live_server.store
    _, secret = staff_account(store, "agent@example.org", "agent")
    erasure = request_in(store, account_subject(store, "mara@example.org"), "erasure", "in_review")
    request_in(store, account_subject(store, "ivo@example.org"), "access", "received")
    context = browser.new_context(base_url=live_server.url, viewport=DESKTOP, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/login")
        page.get_by_label("Email address").fill("agent@example.org")
        page.get_by_label("Password").fill(STRONG_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_label("6-digit code").fill(pyotp.TOTP(secret).at(store.clock.now()))
        page.get_by_role("button", name="Continue").click()
        page.goto("/staff/requests")
        page.get_by_role("link", name="Being reviewed: 1").click()
        page.wait_for_url("**status=in_review**")
        assert page.locator("table.queue tbody tr").count() == 1
        page.get_by_role("link", name=f"No. {erasure}").click()
        page.get_by_role("button", name="Approve", exact=True).click()
        page.get_by_text("Approved.").wait_for()
        shot(page, "backoffice-6-no-javascript")
    finally:
        context.close()
