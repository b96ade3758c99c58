"""Mail bombing: an anonymous form can make the portal send an address at most three mails an hour,
and one client at most ten such requests an hour; the surplus is answered like the rest."""

from __future__ import annotations

import re

from portal.accounts import accounts
from tests.conftest import STRONG_PASSWORD, Portal

VICTIM = "victor@example.com"
CSRF = re.compile(r"[0-9a-f]{64}")  # the page's CSRF token (in the form and for htmx)


def _shape(response):  # type: ignore[no-untyped-def]
    """What a visitor sees, less the page's per-session CSRF token."""
    return response.status_code, CSRF.sub("", response.text), response.headers.get("location")


def test_a_hundred_reset_requests_send_three_mails(portal: Portal) -> None:
    portal.verified_user(portal.client(), VICTIM)
    portal.store.clock.advance(hours=1)  # the confirmation link was this hour's first mail
    sent_before = len(portal.outbox(VICTIM))
    answers = set()
    for i in range(100):  # from 100 addresses, so only the per-recipient budget applies
        c = portal.client(ip=f"198.51.{i // 200}.{i % 200 + 1}")
        answers.add(_shape(c.submit("/password/forgot", {"email": VICTIM})))
    unknown = portal.client(ip="192.0.2.200").submit("/password/forgot", {"email": "nobody@example.com"})
    assert answers == {_shape(unknown)}  # the surplus is answered exactly like the rest
    assert len(portal.outbox(VICTIM)) - sent_before == 3
    portal.store.clock.advance(hours=1, seconds=1)
    portal.client(ip="192.0.2.201").submit("/password/forgot", {"email": VICTIM})
    assert len(portal.outbox(VICTIM)) - sent_before == 4  # the next hour has its own budget


def test_registering_a_known_address_again_and_again_mails_it_three_times(portal: Portal) -> None:
    portal.verified_user(portal.client(), VICTIM)
    portal.store.clock.advance(hours=1)  # the confirmation link was this hour's first mail
    sent_before = len(portal.outbox(VICTIM))
    for i in range(20):
        r = portal.client(ip=f"198.51.100.{i + 1}").submit("/register", {"email": VICTIM, "password": STRONG_PASSWORD})
        assert r.status_code == 303
    assert [s for s, _ in portal.outbox(VICTIM)[sent_before:]] == ["Someone tried to register with your email"] * 3


def test_logging_in_to_an_unverified_account_cannot_flood_its_address(portal: Portal) -> None:
    """Someone who registered a stranger's address knows its password: each login would mail a link."""
    attacker = portal.client()
    portal.register(attacker, VICTIM)
    for _ in range(10):
        r = attacker.submit("/login", {"email": VICTIM, "password": STRONG_PASSWORD})
        assert r.status_code == 400
    assert len(portal.outbox(VICTIM)) == 3
    assert "we send at most three an hour" in r.text


def test_one_client_can_ask_for_ten_mails_an_hour(portal: Portal) -> None:
    for i in range(12):
        with portal.store.ctx() as ctx:
            accounts.add_staff(ctx, f"agent{i}@example.com", "agent", STRONG_PASSWORD)
    client = portal.client(ip="203.0.113.5")
    answers = {_shape(client.submit("/password/forgot", {"email": f"agent{i}@example.com"})) for i in range(12)}
    assert len(answers) == 1
    mailed = [i for i in range(12) if portal.outbox(f"agent{i}@example.com")]
    assert mailed == list(range(10))
    # Another client is not held back by it.
    portal.client(ip="203.0.113.6").submit("/password/forgot", {"email": "agent11@example.com"})
    assert len(portal.outbox("agent11@example.com")) == 1
