"""One-click unsubscribe links: no login, a signed token, RFC 8058 POSTs, forged links refused."""

from __future__ import annotations

import json

import pytest
from starlette.routing import Route

from portal.core.errors import TokenInvalid
from portal.subjects import consent
from portal.web.middleware import CSRF_EXEMPT_PREFIXES
from portal.web.routes import routes
from tests.conftest import Portal
from tests.consent_util import audit_rows, consent_row, user


def test_only_the_unsubscribe_route_is_exempt_from_csrf_tokens() -> None:
    unsafe = {"POST", "PUT", "PATCH", "DELETE"}
    exempt = [r.name for r in routes
              if isinstance(r, Route) and (r.methods or set()) & unsafe and r.path.startswith(CSRF_EXEMPT_PREFIXES)]  # fmt: skip
    assert exempt == ["consent.unsubscribe"]


def test_link_works_without_login(portal: Portal) -> None:
    _owner, subject = user(portal, "jo@example.com")
    token = consent.unsubscribe_token(portal.store.settings, subject)
    path = f"/unsubscribe/{token}"
    stranger = portal.client()  # e.g. the mail app's browser: no session with the portal

    page = stranger.get(path)
    assert page.status_code == 200 and "Unsubscribe from promotional email?" in page.text
    assert consent_row(portal, subject) is None, "GET only shows the button"

    r = stranger.post(path, data={}, follow_redirects=False)  # no CSRF token, like a plain form POST
    assert r.status_code == 303 and r.headers["location"] == path
    assert consent_row(portal, subject) == (True, True, False)
    done = stranger.get(path)
    assert "You are unsubscribed" in done.text and "You are unsubscribed from promotional email." in done.text
    [(_seq, action, actor, details)] = audit_rows(portal, "consent.email")
    assert action == "consent.email.off" and actor == "anonymous"
    assert json.loads(details) == {"via": "email_link"}
    # Again: still fine, nothing more written.
    assert stranger.post(path, follow_redirects=False).status_code == 303
    assert len(audit_rows(portal, "consent.")) == 1


def test_rfc8058_one_click_post_from_a_mail_client(portal: Portal) -> None:
    _owner, subject = user(portal, "kim@example.com")
    token = consent.unsubscribe_token(portal.store.settings, subject)
    mail_client = portal.client()
    r = mail_client.post(
        f"/unsubscribe/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://mail.example",
                 "Sec-Fetch-Site": "cross-site"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 200 and "You are unsubscribed" in r.text
    assert consent_row(portal, subject) == (True, True, False)


@pytest.mark.parametrize("kind", ["forged mac", "another subject", "garbage", "empty mac", "unicode digits"])
def test_forged_or_broken_links_change_nothing(portal: Portal, kind: str) -> None:
    _owner, subject = user(portal, "lee@example.com")
    _other, other = user(portal, "max@example.com")
    good = consent.unsubscribe_token(portal.store.settings, subject)
    token = {
        "forged mac": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        "another subject": f"{other}.{good.partition('.')[2]}",
        "garbage": "x" * 43,
        "empty mac": f"{subject}.",
        "unicode digits": "\u00b2." + good.partition(".")[2],
    }[kind]
    before = portal.store.scalar("SELECT count(*) FROM audit_entry")
    client = portal.client()
    for r in (client.get(f"/unsubscribe/{token}"), client.post(f"/unsubscribe/{token}", follow_redirects=False),
              client.post(f"/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})):  # fmt: skip
        assert r.status_code == 400 and "This unsubscribe link cannot be used" in r.text
        assert "Traceback" not in r.text
    assert consent_row(portal, subject) is None and consent_row(portal, other) is None
    assert portal.store.scalar("SELECT count(*) FROM audit_entry") == before


def test_token_is_bound_to_the_server_secret(portal: Portal) -> None:
    from dataclasses import replace

    settings = portal.store.settings
    token = consent.unsubscribe_token(settings, 7)
    assert consent.subject_of_unsubscribe_token(settings, token) == 7
    other = replace(settings, secret_key=b"s" * 48)
    with pytest.raises(TokenInvalid):
        consent.subject_of_unsubscribe_token(other, token)
