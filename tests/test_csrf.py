"""Every unsafe route refuses a missing or foreign CSRF token and cross-site requests."""

from __future__ import annotations

import pytest

from portal.web.middleware import CSRF_EXEMPT_PREFIXES
from tests.conftest import STRONG_PASSWORD, Portal
from tests.routes_util import each_route

UNSAFE = list(each_route({"POST", "PUT", "PATCH", "DELETE"}))


def test_the_route_table_has_unsafe_routes() -> None:
    assert len(UNSAFE) >= 8


@pytest.mark.parametrize(("name", "method", "path"), UNSAFE, ids=[f"{n}:{m}" for n, m, _ in UNSAFE])
def test_unsafe_route_refuses_missing_and_foreign_tokens(portal: Portal, name: str, method: str, path: str) -> None:
    victim = portal.client()
    portal.verified_user(victim, "victim@example.com")
    attacker = portal.client()
    foreign = attacker.csrf("/login")  # a valid token, but for the attacker's own session

    if path.startswith(CSRF_EXEMPT_PREFIXES):
        # Authenticated by a signed token in the URL instead: a wrong one is refused just the same.
        for r in (
            victim.request(method, path, data={"email": "x@example.com"}, follow_redirects=False),
            victim.request(method, path, data={"csrf_token": foreign}, follow_redirects=False),
        ):
            assert r.status_code == 400, name
        assert portal.store.scalar("SELECT count(*) FROM consent") == 0
        assert victim.get("/account").status_code == 200
        return
    missing = victim.request(method, path, data={"email": "x@example.com"}, follow_redirects=False)
    assert missing.status_code == 403, name
    assert "could not be accepted" in missing.text
    wrong = victim.request(method, path, data={"csrf_token": foreign}, follow_redirects=False)
    assert wrong.status_code == 403, name
    header = victim.request(method, path, headers={"X-CSRF-Token": foreign}, follow_redirects=False)
    assert header.status_code == 403, name
    # The victim is still logged in: a refused request changed nothing.
    assert victim.get("/account").status_code == 200


def test_cross_site_fetch_metadata_and_foreign_origin_are_refused(portal: Portal) -> None:
    c = portal.client()
    portal.verified_user(c, "dave@example.com")
    token = c.csrf("/account/password")
    data = {"csrf_token": token, "current_password": STRONG_PASSWORD, "new_password": "amber-falcon-pillow-42"}
    r = c.post("/account/password", data=data, headers={"Sec-Fetch-Site": "cross-site"}, follow_redirects=False)
    assert r.status_code == 403
    r = c.post("/account/password", data=data, headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert r.status_code == 403
    r = c.post(
        "/account/password",
        data=data,
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_htmx_header_token_is_accepted(portal: Portal) -> None:
    c = portal.client()
    portal.verified_user(c, "erin@example.com")
    token = c.csrf("/account")
    r = c.post("/logout", headers={"X-CSRF-Token": token, "HX-Request": "true"}, follow_redirects=False)
    assert r.status_code == 303


def test_oversized_body_is_refused_without_reaching_the_handler(portal: Portal) -> None:
    c = portal.client()
    token = c.csrf("/register")
    r = c.post("/register", data={"csrf_token": token, "email": "a" * 2_000_000}, follow_redirects=False)
    assert r.status_code == 413 and "too large" in r.text
    assert portal.store.scalar("SELECT count(*) FROM account") == 0
