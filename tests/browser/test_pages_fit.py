"""Every page of the route table fits the screen and passes axe-core, on a phone and on a desktop.

The route table is read at run time, so a new page is covered the day it is added. The store holds the
demo data `make run` loads (a member with cookies, search terms and thousands of log lines) plus what
the tables need to have rows: requests in several states, a prepared download, an audit verification,
an invitation, the mails that carry the one-time links, and an anonymous browser with data whose site
cookie the visitor's browser presents (the "This browser" pages). Then, in one browser, at 390 x 844 and at
1280 x 800, a visitor (no account), the demo member, an agent and an admin each sign in once and open
their pages. On every page: no sideways scrolling (scrollWidth <= clientWidth) and no axe-core violation
of any impact. Screenshots land in tests/artifacts/fit-<route>-<role>-<size>.png.

Path parameters are filled with real rows: the first link to that route found on a page already
visited (a receipt from the receipts list, a request from the queue, ...) or in a mail in the outbox
(the one-time links). Routes that are not pages are listed in SKIP with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pyotp
import pytest
from axe_playwright_python.sync_playwright import Axe
from sqlalchemy import text
from starlette.routing import Route

from portal.accounts import mailrequests
from portal.demo import seed
from portal.subjects import consent
from portal.web.routes import routes
from tests import sitedata_factory as f
from tests.browser.conftest import LiveServer, shot
from tests.request_util import request_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AXE = Axe()
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}

# GET routes that are not pages a person reads, and why they are not visited.
SKIP = {
    "healthz": "plain-text health check for the load balancer",
    "receipts.key": "JSON: the audit public key",
    "receipts.checkpoint": "JSON: the newest signed checkpoint",
    "my.receipt_json": "JSON download of a receipt",
    "my.export_download": "zip download",
    "staff.audit.checkpoint": "JSON download",
    "staff.audit.receipt": "JSON download",
    "staff.reports.csv": "CSV download",
    "staff.ingest.quarantine_csv": "CSV download",
}
# Pages shown in the middle of signing in: checked as the staff member passes through them.
SIGN_IN_STEPS = {"auth.mfa", "auth.recovery"}
# Pages of someone who is signed in; everything else is public and opened by a visitor.
MEMBER_PREFIXES = ("/my", "/account")
# The visitor's browser presents this site cookie of an anonymous browser with data ("This browser").
BROWSER_COOKIE = "fit-0000-browser"


@dataclass
class Visit:
    size: str
    found: list[str] = field(default_factory=list)  # what went wrong, one line per problem
    seen: set[tuple[str, str]] = field(default_factory=set)  # (route name, role) visited
    links: list[str] = field(default_factory=list)  # paths linked from the pages visited so far
    made_up: list[str] = field(default_factory=list)  # routes opened with a made-up token
    redirected: list[str] = field(default_factory=list)  # routes that sent this role elsewhere


def _page_routes() -> list[Route]:
    return [
        r for r in routes
        if isinstance(r, Route) and "GET" in (r.methods or set()) and r.name not in SKIP
    ]  # fmt: skip


def _audience(route: Route) -> str:
    if route.path.startswith("/staff"):
        return "staff"
    if route.name in SIGN_IN_STEPS:
        return "sign-in"
    if route.path.startswith(MEMBER_PREFIXES) or route.name == "home":
        return "member"
    return "visitor"


def check(page, visit: Visit, name: str, role: str) -> None:  # type: ignore[no-untyped-def]
    """The page now shown fits and has no axe violation; its links feed the routes still to fill."""
    where = f"{visit.size} {role} {name} {urlsplit(page.url).path}"
    page.wait_for_load_state("load")
    width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    if width[0] > width[1]:
        wide = page.evaluate(
            """() => [...document.querySelectorAll('main *')]
                .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
                .slice(0, 3).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""
        )
        visit.found.append(f"{where}: {width[0]} px wide in a {width[1]} px window ({wide})")
    # A table that fits only by scrolling inside a box does not fit either.
    boxes = page.evaluate(
        """() => [...document.querySelectorAll('main *')]
            .filter(e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX) && e.scrollWidth > e.clientWidth + 1)
            .map(e => e.tagName + '.' + e.className + ' ' + e.scrollWidth + '>' + e.clientWidth)"""
    )
    if boxes:
        visit.found.append(f"{where}: scrolls sideways inside {boxes}")
    results = AXE.run(page)
    assert results.response["passes"], "axe did not run"
    for v in results.response["violations"]:
        targets = [n["target"] for n in v["nodes"][:3]]
        visit.found.append(f"{where}: axe {v['impact']} {v['id']}: {v['help']} {targets}")
    shot(page, f"fit-{name}-{role}-{visit.size}")
    visit.seen.add((name, role))
    visit.links += page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")


def _concrete(route: Route, visit: Visit, mailed: list[str]) -> str | None:
    """The route's path with its parameters filled from a link seen on a page or in a mail; a one-time
    link nobody was sent gets a made-up token (the page then says the link is invalid or closed)."""
    if not route.param_convertors:
        return route.path
    for link in [*visit.links, *mailed]:
        path = urlsplit(link).path
        if route.path_regex.fullmatch(path):
            return path
    if set(route.param_convertors) == {"token"}:
        visit.made_up.append(route.name)
        return route.path.replace("{token}", "x" * 43)
    return None


def visit_all(page, visit: Visit, role: str, wanted: list[Route], mailed: Callable[[], list[str]]) -> None:  # type: ignore[no-untyped-def]
    """Pages without parameters first, so that their links give the others real ids."""
    for route in sorted(wanted, key=lambda r: bool(r.param_convertors)):
        path = _concrete(route, visit, mailed())
        if path is None:
            visit.found.append(f"{visit.size} {role} {route.name}: no link to {route.path} on any page or mail")
            continue
        response = page.goto(path)
        if response is None or response.status >= 500:
            visit.found.append(f"{visit.size} {role} {route.name} {path}: status {response and response.status}")
        if urlsplit(page.url).path != path:  # e.g. a member-only page for a visitor: the page it led to is checked
            visit.redirected.append(f"{role} {route.name} -> {urlsplit(page.url).path}")
        check(page, visit, route.name, role)


def _outbox_paths(store) -> list[str]:  # type: ignore[no-untyped-def]
    """Links in the mail sent so far (after the background sender's round for queued mail)."""
    with store.ctx() as ctx:
        mailrequests.process(ctx)
    with store.engine.connect() as conn:
        bodies = conn.execute(text("SELECT body FROM outbox_mail ORDER BY id DESC")).scalars().all()
    return [urlsplit(u).path for body in bodies for u in re.findall(r"https?://\S+", body)]


def _prepare(live_server: LiveServer) -> dict[str, str]:
    """The demo data, requests in several states for the queue, TOTP secrets for the demo staff."""
    store = live_server.store
    seed.load(store.factory, store.settings, store.clock)
    by_role = {login.role: login for login in seed.DEMO_LOGINS}
    member = int(store.scalar("SELECT subject_id FROM account WHERE email = :e", e=by_role["user"].email))  # type: ignore[arg-type]
    for kind, status in [("access", "received"), ("erasure", "in_review"), ("rectification", "completed"),
                         ("objection", "denied"), ("restriction", "on_hold")]:  # fmt: skip
        request_in(store, member, kind, status)
    browser = f.subject(store, "browser")
    f.cookie(store, browser, "site_id", BROWSER_COOKIE)
    f.preference(store, browser, "quiet trains at night", source="cookie")
    f.log_records(store, browser, 30, source_id=f.source(store), ip="198.51.100.23", path="/watch/{i}")
    secrets = {}
    for role in ("agent", "admin"):
        secrets[role] = pyotp.random_base32()
        with store.engine.begin() as conn:
            conn.execute(
                text("UPDATE account SET totp_secret = :s, totp_enabled_at = :t WHERE email = :e"),
                {"s": secrets[role], "t": store.clock.now(), "e": by_role[role].email},
            )
    return secrets


def _log_in(page, email: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(seed.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_fits_and_passes_axe(browser, live_server: LiveServer, size: str) -> None:  # type: ignore[no-untyped-def]
    store = live_server.store
    secrets = _prepare(live_server)
    logins = {login.role: login for login in seed.DEMO_LOGINS}
    pages = _page_routes()
    by_audience: dict[str, list[Route]] = {}
    for route in pages:
        by_audience.setdefault(_audience(route), []).append(route)
    visit = Visit(size)

    member = int(store.scalar("SELECT subject_id FROM account WHERE email = :e", e=logins["user"].email))  # type: ignore[arg-type]
    # Promotional mail carries an unsubscribe link; the demo's mail is not in the outbox, so make one.
    unsubscribe = f"/unsubscribe/{consent.unsubscribe_token(store.settings, member)}"

    def mailed() -> list[str]:
        return [*_outbox_paths(store), unsubscribe]

    def context():  # type: ignore[no-untyped-def]
        return browser.new_context(base_url=live_server.url, viewport=SIZES[size])

    # The member: prepares a download first, so the export page shows its table.
    ctx = context()
    try:
        page = ctx.new_page()
        _log_in(page, logins["user"].email)
        page.get_by_role("heading", name="My account").wait_for()
        page.goto("/my/export")
        page.get_by_role("button", name="Prepare my data").click()
        page.get_by_role("link", name="Download my data (zip)").wait_for()
        visit_all(page, visit, "user", by_audience["member"], mailed)
    finally:
        ctx.close()

    # Staff: the admin first, who verifies the log, invites a colleague and adds a cookie to the catalog
    # so that those tables have rows; then the agent, whom the admin-only pages answer 403 (which must
    # fit too) and who files a request on the member's behalf (it mails a confirmation link).
    for role in ("admin", "agent"):
        ctx = context()
        try:
            page = ctx.new_page()
            _log_in(page, logins[role].email)
            page.get_by_role("heading", name="Confirm it is you").wait_for()
            check(page, visit, "auth.mfa", role)
            recovery = page.get_by_role("link", name=re.compile("recovery code", re.I))
            if recovery.count():
                recovery.first.click()
                check(page, visit, "auth.recovery", role)
                page.goto("/login/mfa")
            page.get_by_label("6-digit code").fill(pyotp.TOTP(secrets[role]).at(store.clock.now()))
            page.get_by_role("button", name="Continue").click()
            page.get_by_role("heading", name="Back-office").wait_for()
            if role == "admin":
                page.goto("/staff/audit")
                page.get_by_role("button", name="Verify the log now").click()
                page.get_by_role("heading", name="The log verifies").wait_for(timeout=30_000)
                visit.links.append(urlsplit(page.url).path)
                page.goto("/staff/team")
                page.get_by_label("Their email address").fill("new.colleague@example.org")
                page.get_by_role("button", name="Send the invitation").click()
                page.wait_for_load_state("load")
                page.goto("/staff/cookies/catalog/add?name=fit_check")
                page.locator("input[name=purposes]").first.check()
                page.get_by_label("Description people read").fill("Remembers the chosen video quality.")
                page.get_by_role("button", name="Save").click()
                page.wait_for_load_state("load")
            else:  # a request filed on the member's behalf mails a confirmation link
                page.goto(f"/staff/subjects/{member}/request")
                page.get_by_label("What they ask for").select_option("unsubscribe")
                page.get_by_label(re.compile("Their contact email address")).fill("alice.home@example.net")
                page.get_by_role("button", name="File the request").click()
                page.wait_for_load_state("load")
            visit_all(page, visit, role, by_audience["staff"], mailed)
        finally:
            ctx.close()

    # A visitor: registers and asks for a password reset first, so that those pages open from real links.
    ctx = context()
    ctx.add_cookies([{"name": "site_id", "value": BROWSER_COOKIE, "url": live_server.url}])
    try:
        page = ctx.new_page()
        page.goto("/register")
        page.get_by_label("Email address").fill("newcomer@example.org")
        page.get_by_label("Password").fill(seed.DEMO_PASSWORD)
        page.get_by_role("button", name="Create account").click()
        page.wait_for_load_state("load")
        page.goto("/password/forgot")
        page.get_by_label("Email address").fill(logins["user"].email)
        page.get_by_role("button").last.click()
        page.wait_for_load_state("load")
        visit_all(page, visit, "visitor", by_audience["visitor"], mailed)
    finally:
        ctx.close()

    missing = {r.name for r in pages} - {name for name, _ in visit.seen}
    print(f"{size}: {len(visit.seen)} page visits of {len(pages)} pages; made-up tokens: {visit.made_up}; "
          f"redirected: {visit.redirected}")
    assert visit.found == [], "\n".join(visit.found)
    assert not missing, f"pages never visited: {sorted(missing)}"
