"""Four-eyes: an erasure staff approved runs, and a copy staff prepared is sent, only after a second
member of staff confirms; the same person can never do both; nothing runs before the confirmation.

The confirmed erasure is handed to the erasure engine (`portal/requests/erasure.py` `run`, via
`foureyes.hand_over`) after the answer has gone out; the request's page shows how far it got.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta

import pytest

from portal.requests import waiting
from tests.conftest import Portal
from tests.request_util import account_subject, audit_count, portal_with, request_in, status_of, timeline_rows
from tests.staff_util import staff
from tests.test_staff_request import act

A = "alice@example.org"


def _erasure_for_review(portal: Portal) -> int:
    """An erasure the person can no longer cancel, waiting for staff review (PORTAL_ERASURE_REVIEW=always)."""
    subject = account_subject(portal.store, A)
    past = portal.store.clock.now() - timedelta(days=1)
    return request_in(portal.store, subject, "erasure", "in_review", wait_until=past)


def _run_due(portal: Portal) -> waiting.RunDue:
    return waiting.run_due(portal.store.factory, portal.store.settings, portal.store.clock)


def test_the_approver_cannot_confirm_and_nothing_runs_before_a_second_person_does(portal: Portal) -> None:
    first, first_id = staff(portal, "first@example.org")
    second, second_id = staff(portal, "second@example.org", "admin")
    request_id = _erasure_for_review(portal)
    page = act(first, request_id, "approve")
    assert "a second member of staff confirms the erasure" not in page  # said before approving, not after
    assert "You approved this erasure: a second member of staff must confirm it." in page
    assert "Confirm and run the erasure" not in page
    page = act(first, request_id, "confirm_erasure")  # tried anyway, e.g. from an old page
    assert "a second member of staff must confirm it (four-eyes)" in page
    assert status_of(portal.store, request_id) == "approved"
    for _ in range(2):  # run-due (cron, and every minute in `portal serve`) does not start it either
        result = _run_due(portal)
        assert request_id not in result.started and result.failed == []
    assert status_of(portal.store, request_id) == "approved"
    assert "Waiting for a second member of staff: 1." in second.get("/staff").text

    page = second.get(f"/staff/requests/{request_id}").text
    assert "Approved by first@example.org" in page and "Confirm and run the erasure" in page
    page = act(second, request_id, "confirm_erasure")
    assert "Erasure confirmed and started" in page
    # The engine ran once the answer had gone out: the person is erased, the request completed.
    assert status_of(portal.store, request_id) == "completed"
    page = second.get(f"/staff/requests/{request_id}").text
    assert "Erasure progress" in page and "(100%), finished" in page
    assert portal.store.scalar("SELECT count(*) FROM account WHERE email = :e", e=A) == 0
    steps = [(author, now) for author, _a, _f, now, _m, _s in timeline_rows(portal.store, request_id)]
    assert steps[-3:] == [("staff", "approved"), ("staff", "in_progress"), ("portal", "completed")]
    actors = portal.store.scalar(
        "SELECT string_agg(actor, ',') FROM audit_entry WHERE action IN ('request.approved', 'request.in_progress')"
    ) if portal.store.kind == "postgresql" else portal.store.scalar(
        "SELECT group_concat(actor, ',') FROM audit_entry WHERE action IN ('request.approved', 'request.in_progress')"
    )  # fmt: skip
    assert actors == f"account:{first_id},account:{second_id}"
    assert _run_due(portal).failed == []  # nothing left for run-due


def test_an_erasure_still_in_its_waiting_period_cannot_be_confirmed(portal: Portal) -> None:
    first, _ = staff(portal, "first@example.org")
    second, _ = staff(portal, "second@example.org")
    subject = account_subject(portal.store, A)
    later = portal.store.clock.now() + timedelta(days=2)
    request_id = request_in(portal.store, subject, "erasure", "in_review", wait_until=later)
    act(first, request_id, "approve")
    page = act(second, request_id, "confirm_erasure")
    assert "can still cancel" in page and status_of(portal.store, request_id) == "approved"


@pytest.mark.parametrize("team", [1, 2])
def test_four_eyes_off_is_for_a_team_of_one_admin(portal: Portal, team: int) -> None:
    with portal_with(portal.store, four_eyes=False) as solo:
        admin, _ = staff(solo, "only@example.org", "admin")
        if team == 2:
            staff(solo, "colleague@example.org")
        request_id = _erasure_for_review(solo)
        act(admin, request_id, "approve")
        page = act(admin, request_id, "confirm_erasure")
        board = admin.get("/staff").text
        if team == 1:
            assert status_of(solo.store, request_id) == "completed"
            assert "<strong>Off</strong>" in board
        else:
            assert "four-eyes" in page and status_of(solo.store, request_id) == "approved"
            assert "only applies to a team of one admin; there are 2 active staff accounts" in board


def test_a_copy_prepared_by_one_is_sent_by_another_and_downloads_once(portal: Portal) -> None:
    first, _ = staff(portal, "first@example.org")
    second, _ = staff(portal, "second@example.org")
    subject = account_subject(portal.store, A)
    confirmed = portal.store.clock.now()
    request_id = request_in(
        portal.store, subject, "access", "approved", channel="on_behalf", contact_addr="alice.home@example.net",
        contact_confirmed_at=confirmed,
    )  # fmt: skip
    page = act(first, request_id, "prepare_copy")
    assert "The copy is prepared" in page and status_of(portal.store, request_id) == "in_progress"
    assert "You prepared this copy: a second member of staff must send it." in page
    page = act(first, request_id, "release_copy")
    assert "four-eyes" in page and portal.outbox("alice.home@example.net") == []
    page = act(second, request_id, "release_copy")
    assert "sent to the person" in page and status_of(portal.store, request_id) == "completed"

    subject_line, body = portal.outbox("alice.home@example.net")[-1]
    assert "your copy is ready" in subject_line
    link = re.search(r"http://testserver(/requests/copy/\S+)", body).group(1)
    visitor = portal.client("198.51.100.9")
    for _ in range(2):  # a mail scanner's GETs take nothing
        shown = visitor.get(link)
        assert shown.status_code == 200 and "Download my data (zip)" in shown.text
    r = visitor.submit(link, form_page=link)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert "data.json" in zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    again = visitor.submit(link, form_page=link)
    assert again.status_code == 410 and "used already or has expired" in again.text
    assert audit_count(portal.store, "export.download") == 1


def test_nothing_is_prepared_or_sent_for_an_unconfirmed_request(portal: Portal) -> None:
    first, _ = staff(portal, "first@example.org")
    subject = account_subject(portal.store, A)
    request_id = request_in(portal.store, subject, "access", "approved", channel="on_behalf", contact_addr="a@b.example")
    page = act(first, request_id, "prepare_copy")
    assert "not confirmed this request yet" in page and status_of(portal.store, request_id) == "approved"
