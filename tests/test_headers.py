"""Every response (pages, errors, static files, fragments) carries the security headers."""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route

from tests.conftest import Portal
from tests.routes_util import each_route, static_sample

GETS = list(each_route({"GET"}))


def assert_secure(response, *, personal: bool = True) -> None:  # type: ignore[no-untyped-def]
    h = response.headers
    csp = h["content-security-policy"]
    for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] in ("no-referrer", "same-origin", "strict-origin-when-cross-origin")
    assert h["x-frame-options"] == "DENY"  # for browsers that predate frame-ancestors
    assert h["cross-origin-opener-policy"] == "same-origin"
    assert h["cross-origin-resource-policy"] == "same-origin"
    permissions = {p.strip() for p in h["permissions-policy"].split(",")}
    assert {"camera=()", "microphone=()", "geolocation=()"} <= permissions
    if personal:
        assert h["cache-control"] == "no-store"


@pytest.mark.parametrize(("name", "method", "path"), GETS, ids=[n for n, _, _ in GETS])
def test_every_get_route_is_secure_for_visitors_and_users(portal: Portal, name: str, method: str, path: str) -> None:
    anonymous = portal.client()
    assert_secure(anonymous.get(path, follow_redirects=False))
    user = portal.client()
    portal.verified_user(user, "frank@example.com")
    assert_secure(user.get(path, follow_redirects=False))
    assert_secure(user.get(path, headers={"HX-Request": "true"}, follow_redirects=False))


def test_static_files_and_error_pages_are_secure(portal: Portal) -> None:
    c = portal.client()
    static = c.get(static_sample())
    assert static.status_code == 200
    assert_secure(static, personal=False)
    missing = c.get("/no/such/page")
    assert missing.status_code == 404 and "Page not found" in missing.text
    assert_secure(missing)
    wrong_method = c.put("/healthz")
    assert wrong_method.status_code == 405
    assert {m.strip() for m in wrong_method.headers["allow"].split(",")} == {"GET", "HEAD"}
    assert_secure(wrong_method)
    # A PUT to a page with a session is refused by the CSRF check before routing.
    assert c.put("/account").status_code == 403


def test_a_crash_shows_a_friendly_page_without_a_trace(portal: Portal) -> None:
    async def boom(request):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internal detail")

    portal.app.router.routes.append(Route("/test-crash", boom))  # type: ignore[attr-defined]
    r = portal.client().get("/test-crash")
    assert r.status_code == 500
    assert "Something went wrong" in r.text
    assert "secret internal detail" not in r.text and "Traceback" not in r.text
    assert_secure(r)


def test_pages_reference_no_third_party_origin_and_no_inline_script(portal: Portal) -> None:
    c = portal.client()
    for _, _, path in GETS:
        html = c.get(path).text
        for url in re.findall(r'(?:src|href|action)="([^"]+)"', html):
            assert url.startswith(("/", "#")), (path, url)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert " style=" not in html and "<style" not in html, path


def test_https_adds_hsts_for_subdomains_too(portal: Portal) -> None:
    from dataclasses import replace

    from portal.web.app import create_app
    from tests.conftest import Client

    app = create_app(replace(portal.store.settings, base_url="https://portal.example"), clock=portal.store.clock,
                     background=False)  # fmt: skip
    try:
        c = Client(app, base_url="https://portal.example")
        for path, personal in (("/", True), (static_sample(), False), ("/no/such/page", True)):
            response = c.get(path)
            hsts = [p.strip() for p in response.headers["strict-transport-security"].split(";")]
            assert "includeSubDomains" in hsts and int(hsts[0].removeprefix("max-age=")) >= 31536000
            assert_secure(response, personal=personal)
    finally:
        app.state.engine.dispose()
