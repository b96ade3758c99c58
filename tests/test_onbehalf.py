"""Requests staff file on someone's behalf: the contact address confirms by a mailed link (its GET
confirms nothing, so mail scanners cannot), one reminder after 24 hours, closed unconfirmed after 7
days, and nothing carried out before the person confirms."""

from __future__ import annotations

import re

from click.testing import CliRunner

from portal import housekeeping
from portal.cli import main
from portal.requests import onbehalf, waiting
from tests.conftest import Client, Portal, Store
from tests.request_util import account_subject, audit_count, status_of, timeline_rows
from tests.staff_util import staff
from tests.test_staff_request import act

CONTACT = "alice.home@example.net"
LINK = re.compile(r"http://testserver(/requests/confirm/\S+)")


def _file(portal: Portal, agent: Client, kind: str = "erasure", **extra: str) -> int:
    subject = account_subject(portal.store, "alice@example.org")
    path = f"/staff/subjects/{subject}/request"
    r = agent.submit(path, {"kind": kind, "contact": CONTACT, **extra}, form_page=path)
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def _links(portal: Portal) -> list[str]:
    return [LINK.search(body).group(1) for _s, body in portal.outbox(CONTACT) if LINK.search(body)]


def _sweep(store: Store) -> onbehalf.Sweep:
    with store.ctx() as ctx:
        return onbehalf.sweep(ctx)


def test_filing_mails_a_link_whose_get_confirms_nothing_and_whose_button_does(portal: Portal) -> None:
    agent, _ = staff(portal, "agent@example.org")
    request_id = _file(portal, agent)
    page = agent.get(f"/staff/requests/{request_id}").text
    assert "waiting for the person to confirm" in page and "Nothing can be carried out" in page
    assert "Approve</button>" not in page and "Identity verified" not in page
    [link] = _links(portal)
    subject_line, body = portal.outbox(CONTACT)[0]
    assert f"request no. {request_id}" in subject_line and "Nothing is done until you confirm" in body

    scanner = portal.client("192.0.2.50")
    for _ in range(3):
        shown = scanner.get(link)
        assert shown.status_code == 200 and "Confirm my request" in shown.text
    assert status_of(portal.store, request_id) == "received"

    person = portal.client("198.51.100.77")
    r = person.submit(link, form_page=link)
    assert r.status_code == 200 and "Your request is confirmed" in r.text
    assert status_of(portal.store, request_id) == "identity_pending"
    author, _a, was, now, message, seq = timeline_rows(portal.store, request_id)[-1]
    assert (author, was, now) == ("you", "received", "identity_pending") and seq
    assert "confirmed this request from your email address" in message
    used = person.submit(link, form_page="/login")
    assert used.status_code == 400 and "expired or was already used" in used.text
    # Confirmed: staff may now check who it is and carry it out.
    page = act(agent, request_id, "verify")
    assert status_of(portal.store, request_id) == "in_review" and "Approve</button>" in page


def test_filing_needs_a_real_contact_address_and_a_known_person(portal: Portal) -> None:
    agent, _ = staff(portal, "agent@example.org")
    subject = account_subject(portal.store, "alice@example.org")
    path = f"/staff/subjects/{subject}/request"
    r = agent.submit(path, {"kind": "access", "contact": "not an address"}, form_page=path)
    assert r.status_code == 400 and "name@example.com" in r.text
    assert portal.store.scalar("SELECT count(*) FROM data_request") == 0
    assert agent.get("/staff/subjects/999999/request").status_code == 404


def test_one_reminder_after_a_day_then_closed_unconfirmed_after_seven(portal: Portal) -> None:
    agent, _ = staff(portal, "agent@example.org")
    request_id = _file(portal, agent, "access")
    clock = portal.store.clock
    clock.advance(hours=23, minutes=59)
    assert _sweep(portal.store).reminded == []
    clock.advance(minutes=2)
    assert _sweep(portal.store).reminded == [request_id]
    assert _sweep(portal.store).reminded == []  # once
    first, reminder = _links(portal)
    assert first != reminder and portal.outbox(CONTACT)[1][0].startswith("Reminder:")
    assert audit_count(portal.store, "request.confirm_reminder") == 1

    clock.advance(days=5, hours=23, minutes=50)  # 6 days 23:51 after filing: both links still work
    assert portal.client().get(first).status_code == 200
    clock.advance(minutes=10)
    swept = _sweep(portal.store)
    assert swept.closed == [request_id] and status_of(portal.store, request_id) == "cancelled"
    _author, _a, _was, _now, message, _seq = timeline_rows(portal.store, request_id)[-1]
    assert "Closed unconfirmed" in message and "nothing was done" in message
    for link in (first, reminder):
        r = portal.client().get(link)
        assert r.status_code == 400 and "cannot be used" in r.text
    assert portal.store.scalar("SELECT count(*) FROM request_confirmation") == 0


def test_housekeeping_and_run_due_do_the_sweep(portal: Portal, cli_env: Store) -> None:
    agent, _ = staff(portal, "agent@example.org")
    first = _file(portal, agent, "access")
    portal.store.clock.advance(days=2)
    housekeeping.run_once(portal.store.factory, portal.store.settings, portal.store.clock)
    assert len(_links(portal)) == 2  # the reminder went out with the serve loop
    portal.store.clock.advance(days=6)
    housekeeping._requests_next.clear()  # noqa: SLF001  (the loop waits a minute between rounds)
    housekeeping.run_once(portal.store.factory, portal.store.settings, portal.store.clock)
    assert status_of(portal.store, first) == "cancelled"
    # The cron command reports the same work (nothing left to do here).
    out = CliRunner().invoke(main, ["requests", "run-due"])
    assert out.exit_code == 0 and "on behalf: closed unconfirmed: none" in out.output


def test_an_unconfirmed_erasure_is_never_run(portal: Portal) -> None:
    agent, _ = staff(portal, "agent@example.org")
    request_id = _file(portal, agent, "erasure")
    for _ in range(2):
        portal.store.clock.advance(days=3)
        result = waiting.run_due(portal.store.factory, portal.store.settings, portal.store.clock)
        assert request_id not in result.approved + result.started + [i for i, _ in result.failed]
    later, _ = staff(portal, "later@example.org")  # the first agent's session is long gone
    for action in ("verify", "approve", "confirm_erasure"):
        act(later, request_id, action)
        assert status_of(portal.store, request_id) == "received"
