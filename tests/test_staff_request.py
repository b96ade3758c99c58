"""One request in the back-office: the actions its status allows, what the person wrote held back
until a reason is given, notes the person never sees, refusals and extensions the person is told of."""

from __future__ import annotations

import re

from portal.requests import deadlines
from tests.conftest import Client, Portal
from tests.request_util import account_subject, audit_count, request_in, status_of, timeline_rows, user
from tests.staff_util import staff

A = "alice@example.org"


def act(client: Client, request_id: int, action: str, **data: str) -> str:
    """Press a button of the request page; the page it leads back to."""
    path = f"/staff/requests/{request_id}"
    r = client.submit(f"{path}/act", {"action": action, **data}, form_page=path)
    assert r.status_code == 303 and r.headers["location"] == path, r.text
    return client.get(path).text


def _details(store: object, action: str) -> list[str]:
    from sqlalchemy import text

    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        return [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT d.details FROM audit_entry e JOIN audit_detail d ON d.seq = e.seq "
                    "WHERE e.action = :a ORDER BY e.seq"
                ),
                {"a": action},
            )
        ]


def test_the_page_offers_what_the_status_allows_and_the_steps_reach_the_person(portal: Portal) -> None:
    agent, _ = staff(portal, "agent@example.org")
    subject = account_subject(portal.store, A)
    request_id = request_in(portal.store, subject, "rectification", "in_review", details="Lind, not Lindt.")
    page = agent.get(f"/staff/requests/{request_id}").text
    for button in ("Approve", "Refuse the request", "Put on hold", "Extend and tell the person", "Assign"):
        assert f">{button}" in page, button
    assert "Complete</button>" not in page and "Identity verified" not in page
    page = act(agent, request_id, "approve")
    assert "Approved." in page and "Start working on it" in page
    page = act(agent, request_id, "start")
    page = act(agent, request_id, "complete", message="Your surname now reads Lind everywhere.")
    assert status_of(portal.store, request_id) == "completed"
    assert [a for a, *_ in timeline_rows(portal.store, request_id)] == ["staff", "staff", "staff"]
    subject_line, body = portal.outbox(A)[-1]
    assert "done" in subject_line and "now reads Lind everywhere" in body
    assert "Add the note" in page and "Approve</button>" not in page  # closed: notes only


def test_refusing_needs_a_reason_and_sends_the_right_to_complain(portal: Portal) -> None:
    agent, _ = staff(portal, "agent@example.org")
    request_id = request_in(portal.store, account_subject(portal.store, A), "restriction", "in_review", details="x")
    page = act(agent, request_id, "deny")
    assert "Say why" in page and status_of(portal.store, request_id) == "in_review"
    assert "supervisory authority" in page  # the standard text is shown before sending
    act(agent, request_id, "deny", reason="There is no complaint pending about your data.")
    assert status_of(portal.store, request_id) == "denied"
    _, body = portal.outbox(A)[-1]
    assert "There is no complaint pending" in body and "supervisory authority" in body


def test_extending_once_tells_the_person_and_moves_the_deadline(portal: Portal) -> None:
    agent, _ = staff(portal, "agent@example.org")
    request_id = request_in(portal.store, account_subject(portal.store, A), "access", "in_review")
    before = portal.store.scalar("SELECT due_on FROM data_request WHERE id = :i", i=request_id)
    page = act(agent, request_id, "extend", months="2", reason="Your data sits in three archives.")
    assert "Deadline extended" in page and "Extend and tell the person" not in page
    after = portal.store.scalar("SELECT due_on FROM data_request WHERE id = :i", i=request_id)
    assert str(after) > str(before)
    subject_line, body = portal.outbox(A)[-1]
    assert "more time" in subject_line and "three archives" in body
    assert status_of(portal.store, request_id) == "extended"
    page = act(agent, request_id, "resume")
    assert status_of(portal.store, request_id) == "in_review"
    page = act(agent, request_id, "extend", months="1", reason="again")
    assert "already extended once" in page


def test_hold_release_assign_and_notes_the_person_never_sees(portal: Portal) -> None:
    agent, me = staff(portal, "agent@example.org")
    person, subject = user(portal, A)
    request_id = request_in(portal.store, subject, "rectification", "in_review", details="x")
    act(agent, request_id, "hold", reason="Legal hold: litigation pending.")
    assert status_of(portal.store, request_id) == "on_hold"
    act(agent, request_id, "resume")
    assert status_of(portal.store, request_id) == "in_review"
    page = act(agent, request_id, "assign", assignee=str(me))
    assert "<dd>agent@example.org</dd>" in page
    assert "agent@example.org" in agent.get("/staff/requests?mine=1").text
    page = act(agent, request_id, "note", body="Called her back; she prefers email.")
    assert "Called her back" in page
    mine = person.get(f"/my/requests/{request_id}").text
    assert "Called her back" not in mine and "Legal hold: litigation pending." in mine
    assert audit_count(portal.store, "request.note") == 1 and audit_count(portal.store, "request.assign") == 1


def test_what_the_person_wrote_is_shown_only_after_a_reason_which_is_audited(portal: Portal) -> None:
    agent, me = staff(portal, "agent@example.org")
    person, _ = user(portal, A)
    r = person.submit("/my/requests/new", {"kind": "rectification", "details": "My surname is Lind, not Lindt."},
                      form_page="/my/requests/new?kind=rectification")  # fmt: skip
    request_id = int(r.headers["location"].rsplit("/", 1)[1])
    path = f"/staff/requests/{request_id}"
    page = agent.get(path).text
    assert "Lindt" not in page and "held back" in page
    r = agent.submit(f"{path}/reveal", {"reason": ""}, form_page=path)
    assert r.status_code == 400 and "Lindt" not in r.text and "Say why" in r.text
    r = agent.submit(f"{path}/reveal", {"reason": "Working the correction she asked for"}, form_page=path)
    assert r.status_code == 200 and "My surname is Lind, not Lindt." in r.text
    assert "Lindt" not in agent.get(path).text  # shown once, not remembered
    [details] = _details(portal.store, "staff.view.request_text")
    assert "Working the correction she asked for" in details and f'"request":{request_id}' in details
    actor = portal.store.scalar("SELECT actor FROM audit_entry WHERE action = 'staff.view.request_text'")
    assert actor == f"account:{me}"


def test_an_unknown_request_is_a_404_and_a_refused_action_changes_nothing(portal: Portal) -> None:
    agent, _ = staff(portal, "agent@example.org")
    assert agent.get("/staff/requests/424242").status_code == 404
    r = agent.submit("/staff/requests/424242/act", {"action": "approve"}, form_page="/staff")
    assert r.status_code == 404
    request_id = request_in(portal.store, account_subject(portal.store, A), "access", "received")
    before = audit_count(portal.store)
    page = act(agent, request_id, "approve")
    assert "cannot become" in page and audit_count(portal.store) == before
    assert re.search(r"Deadline</dt><dd><time datetime=\"([\d-]+)\"", page).group(1) == str(
        deadlines.of_request(portal.store.settings, _row(portal, request_id)).due
    )


def _row(portal: Portal, request_id: int):  # type: ignore[no-untyped-def]
    from portal.models.requests import DataRequest

    with portal.store.ctx() as ctx:
        return ctx.session.get(DataRequest, request_id)
