"""Account settings: the time zone every page shows times in, and changing the email address
through a link mailed to the new one (real HTTP, both stores; one test through a real SMTP server)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from portal import housekeeping
from portal.models import OutboxMail
from portal.requests import waiting
from portal.subjects import registry, suppression
from portal.web.app import create_app
from tests import sitedata_factory as f
from tests.conftest import LINK_RE, STRONG_PASSWORD, Client, Portal, Store
from tests.erasure_util import ask_erasure
from tests.request_util import portal_with
from tests.test_enumeration import _counts
from tests.test_mail import smtp  # noqa: F401  (the fixture: aiosmtpd on loopback)

ANN, NEW, TAKEN = "ann@example.com", "ann.new@example.com", "bob@example.com"
FLASH_RECEIPT = re.compile(r'href="/my/receipts/(\d+)"')


def _times(page: str) -> list[str]:
    return re.findall(r"<time datetime=\"[^\"]+\">([^<]+)</time>", page)


# -- time zone ---------------------------------------------------------------------------------


def test_the_time_zone_is_chosen_from_a_list_and_every_page_uses_it(portal: Portal) -> None:
    ann = portal.client()
    portal.verified_user(ann, ANN)
    me = f.account_subject(portal.store, ANN)
    at = portal.store.clock.now().replace(hour=22, minute=30, second=0, microsecond=0) - timedelta(days=1)
    f.log_records(portal.store, me, 1, source_id=f.source(portal.store), path="/night/{i}", newest=at)
    assert "Times are in the UTC time zone" in ann.get("/my/logs").text
    utc_shown = at.strftime("%d %b %Y, %H:%M")
    assert utc_shown in ann.get("/my/logs").text

    page = ann.get("/account/time-zone").text
    assert '<option value="Asia/Tokyo">Tokyo (Asia)</option>' in page and 'value="UTC" selected' in page
    assert "Etc/GMT+5" not in page and "Factory" not in page  # legacy aliases and non-zones are not offered
    for bad in ("Mars/Olympus_Mons", "", "Etc/GMT+5", "../../etc/passwd"):
        r = ann.submit("/account/time-zone", {"time_zone": bad})
        assert r.status_code == 400 and "Choose a time zone from the list." in r.text
    r = ann.submit("/account/time-zone", {"time_zone": "Asia/Tokyo"})
    assert r.status_code == 303
    home = ann.get("/account").text
    assert "Times are now shown in the Asia/Tokyo time zone." in home and "Asia/Tokyo" in home
    receipt = FLASH_RECEIPT.search(home)
    assert receipt is not None
    assert portal.store.scalar("SELECT time_zone FROM account WHERE email = :e", e=ANN) == "Asia/Tokyo"
    assert portal.store.scalar("SELECT action FROM audit_entry WHERE seq = :s", s=int(receipt.group(1))) == "account.time_zone"

    # Every page with times shows them in Tokyo (UTC+9, no summer time): 22:30 UTC is 07:30 next day.
    tokyo = (at + timedelta(hours=9)).strftime("%d %b %Y, %H:%M")
    logs = ann.get("/my/logs").text
    assert "Times are in the Asia/Tokyo time zone" in logs and tokyo in logs and utc_shown not in logs
    assert tokyo in ann.get("/my").text  # the overview: the records' first and last seen
    receipts = ann.get("/my/receipts").text
    assert "When (Asia/Tokyo)" in receipts
    one = ann.get(f"/my/receipts/{receipt.group(1)}").text
    assert "(Asia/Tokyo)" in one
    assert "Changed your time zone" in receipts
    # Unchanged: said so, and no new receipt.
    entries = portal.store.scalar("SELECT count(*) FROM audit_entry")
    r = ann.submit("/account/time-zone", {"time_zone": "Asia/Tokyo"})
    assert "Nothing changed" in ann.get(r.headers["location"]).text
    assert portal.store.scalar("SELECT count(*) FROM audit_entry") == entries


def test_the_time_zone_page_needs_a_login(portal: Portal) -> None:
    c = portal.client()
    assert c.get("/account/time-zone", follow_redirects=False).status_code == 303
    assert c.get("/account/email", follow_redirects=False).status_code == 303


# -- email change ------------------------------------------------------------------------------


def _ask(client: Client, email: str, password: str = STRONG_PASSWORD):  # type: ignore[no-untyped-def]
    return client.submit("/account/email", {"email": email, "password": password})


def _flash(client: Client) -> str:
    page = client.get("/account").text
    match = re.search(r'<p class="flash[^"]*"[^>]*>(.*?)</p>', page, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", match.group(1) if match else "")).strip()


def test_the_email_changes_only_once_the_link_to_the_new_address_is_confirmed(portal: Portal) -> None:
    laptop, phone = portal.client(), portal.client()
    portal.verified_user(laptop, ANN)
    assert phone.submit("/login", {"email": ANN, "password": STRONG_PASSWORD}).status_code == 303

    assert _ask(laptop, NEW, "wrong-" + STRONG_PASSWORD).status_code == 400
    r = _ask(laptop, "not-an-address")
    assert r.status_code == 400 and "Enter an email address like name@example.com." in r.text
    assert "That is already your email address." in _ask(laptop, ANN.upper()).text
    assert portal.outbox(NEW) == []

    r = _ask(laptop, NEW)
    assert r.status_code == 303
    said = _flash(laptop)
    assert f"We are sending a link to {NEW}" in said and f"until then it stays {ANN}" in said
    assert portal.store.scalar("SELECT email FROM account WHERE subject_id = :s", s=f.account_subject(portal.store, ANN)) == ANN
    subject, body = portal.outbox(NEW)[-1]
    assert subject == "Confirm your new email address"
    link = LINK_RE.search(body).group(1)  # type: ignore[union-attr]
    assert link.startswith("/account/email/confirm/")

    # Opening the link (a mail scanner, or the person) changes nothing: only the button's POST does.
    for _ in range(2):
        page = phone.get(link)
        assert page.status_code == 200 and NEW in page.text and "Change my email address" in page.text
    assert portal.store.scalar("SELECT count(*) FROM account WHERE email = :e", e=NEW) == 0

    r = laptop.submit(link)
    assert r.status_code == 303 and r.headers["location"] == "/account"
    said = _flash(laptop)
    assert f"Your email address is now {NEW}. 1 other session ended." in said
    receipt = FLASH_RECEIPT.search(laptop.get("/my/receipts").text)
    assert receipt is not None
    actions = [
        portal.store.scalar("SELECT action FROM audit_entry WHERE action = :a", a=a)
        for a in ("account.email_change_requested", "account.email_change")
    ]
    assert actions == ["account.email_change_requested", "account.email_change"]
    receipts = laptop.get("/my/receipts").text
    assert "Changed your email address" in receipts and "Sent a link to confirm your new email address" in receipts
    # The phone's session ended; the old address is told; the old one no longer logs in, the new one does.
    assert phone.get("/account", follow_redirects=False).status_code == 303
    assert portal.outbox(ANN)[-1][0] == "Your email address was changed"
    fresh = portal.client()
    assert fresh.submit("/login", {"email": ANN, "password": STRONG_PASSWORD}).status_code == 400
    assert fresh.submit("/login", {"email": NEW, "password": STRONG_PASSWORD}).status_code == 303
    # The link works once.
    again = laptop.submit(link)
    assert again.status_code == 400 and "expired or was already used" in again.text


def test_an_address_that_is_taken_gets_the_same_answer_and_no_change(portal: Portal) -> None:
    bob = portal.client()
    portal.verified_user(bob, TAKEN)
    bob_mail = len(portal.outbox(TAKEN))
    ann = portal.client(ip="203.0.113.8")
    portal.verified_user(ann, ANN)

    answers = []
    for email in (TAKEN, NEW):
        r = _ask(ann, email)
        said = re.sub(r"\d+", "N", _flash(ann).replace(email, "EMAIL"))  # less the receipt's number
        answers.append((r.status_code, r.headers["location"], said))
    assert answers[0] == answers[1]
    # Nothing reaches the taken address or changes its account; the free one gets its link.
    assert len(portal.outbox(TAKEN)) == bob_mail
    assert portal.outbox(NEW)[-1][0] == "Confirm your new email address"
    assert portal.store.scalar("SELECT email FROM account WHERE email = :e", e=ANN) == ANN
    # The form did the same work either way: the address is looked up by the background sender.
    assert portal.store.scalar("SELECT count(*) FROM mail_request") == 0


def test_the_form_does_the_same_work_for_a_taken_and_a_free_address(portal: Portal) -> None:
    """Before it answers, the form leaves the same rows either way (so it takes the same time): the
    address is looked up only by the background sender."""
    portal.verified_user(portal.client(), TAKEN)
    ann = portal.client(ip="203.0.113.8")
    portal.verified_user(ann, ANN)
    changes = []
    for email in (TAKEN, NEW):
        token = ann.csrf("/account/email")
        before = _counts(portal)
        r = ann.post("/account/email", data={"email": email, "password": STRONG_PASSWORD, "csrf_token": token},
                     follow_redirects=False)  # fmt: skip
        assert r.status_code == 303
        after = _counts(portal)
        changes.append({name: after[name] - before[name] for name in after if after[name] != before[name]})
    assert changes[0] == changes[1] and changes[0]["mail_request"] == 1


def test_an_address_taken_after_the_link_was_mailed_is_not_taken_over(portal: Portal) -> None:
    ann = portal.client()
    portal.verified_user(ann, ANN)
    _ask(ann, NEW)
    link = portal.last_link(NEW)
    portal.verified_user(portal.client(ip="198.51.100.9"), NEW)  # someone registers it meanwhile (the same mailbox)
    r = ann.submit(link)
    assert r.status_code == 400 and "belongs to another account" in r.text
    assert portal.store.scalar("SELECT count(*) FROM account WHERE email = :e", e=ANN) == 1


def test_the_new_address_gets_at_most_three_links_an_hour(portal: Portal) -> None:
    ann = portal.client()
    portal.verified_user(ann, ANN)
    for _ in range(6):
        assert _ask(ann, NEW).status_code == 303
    assert len(portal.outbox(NEW)) == 3
    # Asking again retires the earlier link: only the newest works.
    links = [LINK_RE.search(body).group(1) for _, body in portal.outbox(NEW)]  # type: ignore[union-attr]
    assert ann.get(links[0]).status_code == 400 and ann.get(links[-1]).status_code == 200


def test_the_change_is_confirmed_from_another_browser_and_ends_every_session(portal: Portal, smtp) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Through a real SMTP server: the link arrives at the new address, the notice at the old one."""
    inbox, port = smtp
    settings = replace(portal.store.settings, smtp_url=f"smtp://127.0.0.1:{port}")
    app = create_app(settings, clock=portal.store.clock, background=False)
    laptop = Client(app, base_url="http://testserver")
    portal.verified_user(laptop, ANN)  # through the test app's outbox (no SMTP yet)
    housekeeping.run_once(app.state.session_factory, settings, portal.store.clock)
    inbox.messages.clear()
    assert laptop.submit("/account/email", {"email": NEW, "password": STRONG_PASSWORD}).status_code == 303
    housekeeping.run_once(app.state.session_factory, settings, portal.store.clock)
    assert [(m["To"], m["Subject"]) for m in inbox.messages] == [(NEW, "Confirm your new email address")]
    body = inbox.messages[0].get_payload(decode=True).decode()  # type: ignore[union-attr]
    link = LINK_RE.search(body).group(1)  # type: ignore[union-attr]

    webmail = Client(app, base_url="http://testserver", client=("198.51.100.50", 50000))
    r = webmail.submit(link)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert laptop.get("/account", follow_redirects=False).status_code == 303  # every session ended
    housekeeping.run_once(app.state.session_factory, settings, portal.store.clock)
    assert [(m["To"], m["Subject"]) for m in inbox.messages[1:]] == [(ANN, "Your email address was changed")]
    assert webmail.submit("/login", {"email": NEW, "password": STRONG_PASSWORD}).status_code == 303
    app.state.engine.dispose()


def test_mail_to_the_former_address_stays_the_persons_and_erasure_suppresses_both(store: Store) -> None:
    """Export and erasure find mail by address: after a change they find the old address's mail too,
    and an erasure puts every address the account had on the suppression list."""
    with portal_with(store, erasure_wait_days=0) as portal:
        ann = portal.client()
        portal.verified_user(ann, ANN)
        _ask(ann, NEW)
        assert ann.submit(portal.last_link(NEW)).status_code == 303
        portal.send_requested_mail()
        subject = f.account_subject(store, NEW)
        with store.engine.connect() as conn:
            found = registry.scope(conn, store.settings.secret_key, subject)
            mail_to = [r[0] for r in conn.execute(select(OutboxMail.to_addr).where(registry.where(registry.by_key("mail"), found)))]
        assert found.emails == (ANN, NEW)
        # Her confirmation link, the link to the new address and the notice to the old one.
        assert sorted(mail_to) == sorted([ANN, NEW, ANN])
        assert "former_emails" in registry.by_key("account").personal

        ask_erasure(ann)
        result = waiting.run_due(store.factory, portal.store.settings, store.clock)
        assert result.completed, result
        with store.ctx() as ctx:
            assert suppression.is_suppressed(ctx.session, store.settings.secret_key, ANN)
            assert suppression.is_suppressed(ctx.session, store.settings.secret_key, NEW)
