"""axe-core (run inside real Chromium) finds no serious or critical violation on the portal's pages."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser.conftest import LiveServer
from tests.conftest import STRONG_PASSWORD

AXE = Axe()
PUBLIC = ["/", "/login", "/register", "/register/sent", "/password/forgot", "/password/forgot/sent"]


def serious(page) -> list[str]:  # type: ignore[no-untyped-def]
    results = AXE.run(page)
    assert results.response["passes"], "axe did not run"
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("path", PUBLIC)
def test_public_pages(page, path: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(path)
    assert serious(page) == []


def test_pages_with_errors_and_account_pages(page, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    from portal.accounts import accounts, passwords

    with live_server.store.ctx() as ctx:
        accounts._create(ctx, "jane@example.com", passwords.hash_password(STRONG_PASSWORD), "user", verified=True)  # noqa: SLF001
    page.goto("/register")
    page.get_by_role("button", name="Create account").click()
    assert serious(page) == []
    page.goto("/login")
    page.get_by_label("Email address").fill("jane@example.com")
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="My account").wait_for()
    assert serious(page) == []
    page.goto("/account/password")
    assert serious(page) == []
