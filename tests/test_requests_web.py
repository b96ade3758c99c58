"""My requests through real HTTP: filing each kind, erasure's password and preview, cancelling while
it waits, joining a second request, and no way to see or touch another person's request."""

from __future__ import annotations

import io
import json
import re
import zipfile

from sqlalchemy import text

from portal.models.requests import REQUEST_KINDS
from tests import sitedata_factory as f
from tests.conftest import STRONG_PASSWORD, Client, Portal
from tests.request_util import audit_count, status_of, timeline_rows, user

A, B = "alice@example.org", "bob@example.org"
REQUEST_URL = re.compile(r"^/my/requests/(\d+)$")


def _file(client: Client, kind: str, **data: str) -> int:
    r = client.submit("/my/requests/new", {"kind": kind, **data}, form_page=f"/my/requests/new?kind={kind}")
    assert r.status_code == 303, r.text
    match = REQUEST_URL.match(r.headers["location"])
    assert match, r.headers["location"]
    return int(match.group(1))


def _count(portal: Portal) -> int:
    return int(portal.store.scalar("SELECT count(*) FROM data_request"))  # type: ignore[arg-type]


def test_pages_need_a_verified_login(portal: Portal) -> None:
    anonymous = portal.client()
    for path in ("/my/requests", "/my/requests/new?kind=access", "/my/requests/1"):
        r = anonymous.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    client, _ = user(portal, A)
    page = client.get("/my/requests")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    for kind in REQUEST_KINDS:
        assert f"/my/requests/new?kind={kind}" in page.text
        assert client.get(f"/my/requests/new?kind={kind}").status_code == 200
    assert "You have not made any request yet." in page.text
    assert client.get("/my/requests/new?kind=teleport").status_code == 404
    r = client.submit("/my/requests/new", {"kind": "teleport"}, form_page="/my/requests/new?kind=access")
    assert r.status_code == 404 and _count(portal) == 0


def test_erasure_needs_the_password_shows_what_goes_and_waits_to_be_cancelled(portal: Portal) -> None:
    client, subject = user(portal, A)
    f.log_records(portal.store, subject, 25, source_id=f.source(portal.store))
    f.preference(portal.store, subject, "night trains")
    form = client.get("/my/requests/new?kind=erasure")
    assert "What will be deleted" in form.text and "What is kept, and why" in form.text
    assert re.search(r"Access-log records</th><td class=\"num\">25<", form.text)
    assert re.search(r"Search preferences</th><td class=\"num\">1<", form.text)
    assert "suppression list" in form.text and "Audit entries about you" in form.text
    assert "cancel it from its page" in form.text and 'type="password"' in form.text

    r = client.submit("/my/requests/new", {"kind": "erasure"}, form_page="/my/requests/new?kind=erasure")
    assert r.status_code == 400 and "Enter your password to confirm." in r.text
    r = client.submit("/my/requests/new", {"kind": "erasure", "password": "not-my-password"},
                      form_page="/my/requests/new?kind=erasure")  # fmt: skip
    assert r.status_code == 400 and "That password is not correct." in r.text
    assert _count(portal) == 0 and audit_count(portal.store, "reauth.failed") == 1

    request_id = _file(client, "erasure", password=STRONG_PASSWORD)
    page = client.get(f"/my/requests/{request_id}")
    assert "Your erasure request is recorded." in page.text and "Receipt no." in page.text
    assert "Being reviewed" in page.text and "You can cancel until" in page.text
    assert "Cancel this request" in page.text
    steps = [(was, now) for _a, _b, was, now, _m, _s in timeline_rows(portal.store, request_id)]
    assert steps == [(None, "received"), ("received", "identity_pending"), ("identity_pending", "in_review")]
    assert all(seq for *_, seq in timeline_rows(portal.store, request_id))  # every line has its receipt
    subject_line, body = portal.outbox(A)[-1]
    assert "erasure" in subject_line and "Cancel this request" in body
    assert f"http://testserver/my/requests/{request_id}" in body

    portal.store.clock.advance(days=3)  # still waiting; the person logs in again to cancel
    assert client.submit("/login", {"email": A, "password": STRONG_PASSWORD}).status_code == 303
    r = client.submit(f"/my/requests/{request_id}/cancel", form_page=f"/my/requests/{request_id}")
    assert r.status_code == 303 and r.headers["location"] == f"/my/requests/{request_id}"
    page = client.get(f"/my/requests/{request_id}")
    assert "Your request is cancelled" in page.text and "Cancel this request" not in page.text
    assert status_of(portal.store, request_id) == "cancelled"
    assert timeline_rows(portal.store, request_id)[-1][:4] == ("you", "status", "in_review", "cancelled")
    # A closed request cannot be cancelled again; the person is told, nothing changes.
    entries = audit_count(portal.store)
    token = client.csrf(f"/my/requests/{request_id}")
    r = client.post(f"/my/requests/{request_id}/cancel", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and "can no longer be cancelled" in client.get(f"/my/requests/{request_id}").text
    assert audit_count(portal.store) == entries
    # Asking again after a cancellation is a new request.
    assert _file(client, "erasure", password=STRONG_PASSWORD) != request_id


def test_a_second_open_request_of_the_same_kind_joins_the_first(portal: Portal) -> None:
    client, _ = user(portal, A)
    first = _file(client, "rectification", details="My birth year is 1815, not 1851.")
    assert status_of(portal.store, first) == "in_review"
    assert "A member of staff will now work on it." in client.get(f"/my/requests/{first}").text
    assert "received" in portal.outbox(A)[-1][0]
    mails = len(portal.outbox(A))
    second = _file(client, "rectification", details="Also my city: London.")
    assert second == first and _count(portal) == 1
    page = client.get(f"/my/requests/{first}").text
    assert "already have an open request of this kind" in page and "You asked again" in page
    assert "Also my city: London." in page
    last = timeline_rows(portal.store, first)[-1]
    assert last[:2] == ("you", "joined") and last[5] is not None
    assert audit_count(portal.store, "request.joined") == 1 and len(portal.outbox(A)) == mails
    # Another kind is another request.
    assert _file(client, "restriction", details="Pause it while you check.") != first


def test_a_rectification_without_details_is_refused_next_to_the_field(portal: Portal) -> None:
    client, _ = user(portal, A)
    r = client.submit("/my/requests/new", {"kind": "rectification", "details": "   "},
                      form_page="/my/requests/new?kind=rectification")  # fmt: skip
    assert r.status_code == 400 and 'id="details-error"' in r.text and "Tell us what to correct" in r.text
    r = client.submit("/my/requests/new", {"kind": "objection"}, form_page="/my/requests/new?kind=objection")
    assert r.status_code == 400 and "Choose what you object to." in r.text
    assert _count(portal) == 0


def test_objection_and_unsubscribe_take_effect_through_the_consent_choices(portal: Portal) -> None:
    client, subject = user(portal, A)
    f.preference(portal.store, subject, "night trains")
    request_id = _file(client, "objection", scope="marketing")
    assert status_of(portal.store, request_id) == "completed"
    steps = [now for *_, now, _m, _s in timeline_rows(portal.store, request_id)]
    assert steps == ["received", "identity_pending", "in_review", "approved", "in_progress", "completed"]
    consent = client.get("/my/consent").text
    assert "Marketing use of my data: turned off" in consent
    # The other scope later is a new objection (the first is closed); it deletes the search terms.
    second = _file(client, "objection", scope="profiling")
    assert second != request_id
    assert portal.store.scalar("SELECT count(*) FROM search_preference") == 0
    assert "Personalised content is now off; 1 recorded search preference deleted" in client.get(
        f"/my/requests/{second}"
    ).text
    unsubscribe = _file(client, "unsubscribe")
    assert status_of(portal.store, unsubscribe) == "completed"
    row = portal.store.scalar("SELECT email FROM consent WHERE subject_id = :s", s=subject)
    assert row in (False, 0)
    again = _file(client, "unsubscribe")
    assert "Promotional email was already off" in client.get(f"/my/requests/{again}").text


def test_access_request_hands_out_the_export_and_the_export_holds_the_requests(portal: Portal) -> None:
    client, _ = user(portal, A)
    earlier = _file(client, "rectification", details="Spelling of my name: Alice.")
    portal.store.clock.advance(minutes=20)  # the login's password check is no longer recent
    form = client.get("/my/requests/new?kind=access")
    assert 'type="password"' in form.text
    r = client.submit("/my/requests/new", {"kind": "access"}, form_page="/my/requests/new?kind=access")
    assert r.status_code == 400 and "enter your password again" in r.text and _count(portal) == 1
    request_id = _file(client, "access", password=STRONG_PASSWORD)
    assert status_of(portal.store, request_id) == "completed"
    page = client.get(f"/my/requests/{request_id}").text
    assert "Your copy is ready" in page
    link = re.search(r'href="(/my/export/download/[^"]+)"', page)
    assert link
    archive = client.get(link.group(1))
    assert archive.status_code == 200
    data = json.loads(zipfile.ZipFile(io.BytesIO(archive.content)).read("data.json"))
    requests = data["provided"]["requests"]["rows"]
    assert [r["id"] for r in requests] == [earlier, request_id]
    assert requests[0]["details"] == "Spelling of my name: Alice." and "assignee_id" not in requests[0]
    timeline = data["observed"]["request_timeline"]["rows"]
    assert {r["request_id"] for r in timeline} == {earlier, request_id}
    assert all(r["author"] in ("you", "portal") and "actor" not in r for r in timeline)


def test_nobody_sees_or_cancels_another_persons_request(portal: Portal) -> None:
    alice, _ = user(portal, A)
    bob, _ = user(portal, B)
    bobs = _file(bob, "erasure", password=STRONG_PASSWORD)
    alices = _file(alice, "rectification", details="x")
    denied = audit_count(portal.store, "access.denied")
    for path in (f"/my/requests/{bobs}", "/my/requests/999999", "/my/requests/99999999999", "/my/requests/1e3"):
        assert alice.get(path).status_code == 404, path
    token = alice.csrf("/my/requests")
    for request_id in (bobs, 999999):
        r = alice.post(f"/my/requests/{request_id}/cancel", data={"csrf_token": token}, follow_redirects=False)
        assert r.status_code == 404
    assert status_of(portal.store, bobs) == "in_review"
    # The two probes of Bob's real request are audited (a missing one tells nothing to record).
    assert audit_count(portal.store, "access.denied") == denied + 2
    listing = alice.get("/my/requests").text
    assert f"/my/requests/{alices}" in listing and f"/my/requests/{bobs}" not in listing
    # Bob's receipts are not Alice's either.
    seq = timeline_rows(portal.store, bobs)[0][5]
    assert alice.get(f"/my/receipts/{seq}").status_code == 404
    alice_account = portal.store.scalar("SELECT id FROM account WHERE email = :e", e=A)
    with portal.store.engine.connect() as conn:
        actors = conn.execute(text("SELECT actor FROM request_event WHERE request_id = :i"), {"i": bobs}).scalars()
        assert f"account:{alice_account}" not in set(actors)
