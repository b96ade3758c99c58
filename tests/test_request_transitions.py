"""Every status change allowed and every one refused; each allowed one is one audit entry and one
timeline line, each refused one changes nothing. Staff actions tell the person what they must."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from portal.core.errors import NotFound, ValidationError
from portal.models.requests import CLOSED_STATUSES, REQUEST_STATUSES, DataRequest
from portal.requests import actions, timeline
from portal.requests.statuses import TransitionRefused
from tests.conftest import Store
from tests.request_util import account_subject, audit_count, request_in, status_of, timeline_rows

# The rules, written out independently of portal/requests/statuses.py. on_hold and extended were
# entered from in_review here, so "in_review" is where they resume.
ALLOWED = {
    "received": {"identity_pending", "denied", "cancelled"},
    "identity_pending": {"in_review", "denied", "on_hold", "extended", "cancelled"},
    "in_review": {"approved", "denied", "on_hold", "extended", "cancelled"},
    "approved": {"in_progress", "on_hold", "extended", "cancelled"},
    "in_progress": {"completed", "on_hold", "extended"},
    "on_hold": {"in_review", "cancelled"},
    "extended": {"in_review", "cancelled"},
    "completed": set(),
    "denied": set(),
    "cancelled": set(),
}
PAUSED_FROM = "in_review"


def _request(store: Store, subject: int, status: str) -> int:
    fields: dict[str, object] = {}
    if status in ("on_hold", "extended"):
        fields["paused_from"] = PAUSED_FROM
    if status == "extended":
        fields["extended_at"], fields["extension_months"] = store.clock.now(), 1
    if status in CLOSED_STATUSES:
        fields["closed_at"] = store.clock.now()
    return request_in(store, subject, "rectification", status, details="Wrong birth year.", **fields)


@pytest.mark.parametrize("start", REQUEST_STATUSES)
def test_every_transition_from(store: Store, start: str) -> None:
    for target in REQUEST_STATUSES:
        # One person per target: each may have one open request of a kind.
        request_id = _request(store, account_subject(store, f"{target}@example.com"), start)
        entries = audit_count(store)
        with store.ctx(actor="account:99") as ctx:
            row = ctx.session.get(DataRequest, request_id)
            assert row is not None
            if target not in ALLOWED[start]:
                with pytest.raises(TransitionRefused):
                    timeline.transition(ctx, row, target, by="staff", reason="Because.", extension=(1, 0))
        if target not in ALLOWED[start]:
            assert status_of(store, request_id) == start, target
            assert audit_count(store) == entries and timeline_rows(store, request_id) == [], target
            continue
        with store.ctx(actor="account:99") as ctx:
            row = ctx.session.get(DataRequest, request_id)
            assert row is not None
            event = timeline.transition(ctx, row, target, by="staff", reason="Because.", extension=(1, 0))
        assert status_of(store, request_id) == target
        assert audit_count(store) == entries + 1, (start, target)
        assert audit_count(store, f"request.{target}") >= 1
        [(author, action, was, now, _message, seq)] = timeline_rows(store, request_id)
        assert (author, action, was, now, seq) == ("staff", "status", start, target, event.audit_seq)
        closed = store.scalar("SELECT closed_at FROM data_request WHERE id = :i", i=request_id)
        assert (closed is not None) == (target in CLOSED_STATUSES)
        paused_from = store.scalar("SELECT paused_from FROM data_request WHERE id = :i", i=request_id)
        assert paused_from == (start if target in ("on_hold", "extended") else None)


def test_reasons_extensions_and_the_main_path(store: Store) -> None:
    subject = account_subject(store, "ada@example.com")
    request_id = request_in(store, subject, "access", "in_review")
    with store.ctx() as ctx:
        row = ctx.session.get(DataRequest, request_id)
        assert row is not None
        with pytest.raises(ValidationError, match="Say why"):
            timeline.transition(ctx, row, "denied", by="staff", reason="  ")
        with pytest.raises(ValidationError, match="one or two months"):
            timeline.transition(ctx, row, "extended", by="staff", reason="Busy.", extension=(3, 0))
        with pytest.raises(TransitionRefused):  # no skipping: in_review is not yet approved
            timeline.transition(ctx, row, "in_progress", by="staff")
        assert row.status == "in_review" and row.extended_at is None
    assert timeline_rows(store, request_id) == []

    first_due = store.scalar("SELECT due_on FROM data_request WHERE id = :i", i=request_id)
    with store.ctx() as ctx:
        actions.extend(ctx, request_id, "We must collect records from two archives.", months=2)
        actions.resume(ctx, request_id)
    assert status_of(store, request_id) == "in_review"
    assert store.scalar("SELECT due_on FROM data_request WHERE id = :i", i=request_id) != first_due
    with store.ctx() as ctx, pytest.raises(TransitionRefused, match="already extended once"):
        actions.extend(ctx, request_id, "Again.", months=1)

    with store.ctx() as ctx:
        row = ctx.session.get(DataRequest, request_id)
        assert row is not None
        timeline.walk(ctx, row, "completed", by="staff")
    steps = [(was, now) for _a, _b, was, now, _m, _s in timeline_rows(store, request_id)]
    assert steps[-3:] == [("in_review", "approved"), ("approved", "in_progress"), ("in_progress", "completed")]


def test_extension_only_before_the_first_deadline(store: Store) -> None:
    subject = account_subject(store, "ada@example.com")
    request_id = request_in(store, subject, "erasure", "in_review")
    store.clock.advance(days=40)  # past one month (and any weekend after it)
    with store.ctx() as ctx, pytest.raises(TransitionRefused, match="only be extended before it passes"):
        actions.extend(ctx, request_id, "Too late.", months=1)
    assert status_of(store, request_id) == "in_review"


def test_refusal_and_extension_are_mailed_with_the_reason(store: Store) -> None:
    subject = account_subject(store, "ada@example.com")
    refused = request_in(store, subject, "rectification", "in_review", details="x")
    extended = request_in(store, subject, "access", "identity_pending")
    with store.ctx(actor="account:1") as ctx:
        actions.deny(ctx, refused, "We hold no birth year for you, so there is nothing to correct.")
        actions.extend(ctx, extended, "Your records span three systems.", months=1)
    with store.engine.connect() as conn:
        mails = conn.execute(text("SELECT to_addr, subject, body FROM outbox_mail ORDER BY id")).all()
    assert [m.to_addr for m in mails] == ["ada@example.com"] * 2
    assert "nothing to correct" in mails[0].body and "supervisory authority" in mails[0].body
    assert f"/my/requests/{refused}" in mails[0].body
    assert "three systems" in mails[1].body and "answer by" in mails[1].body
    [(_, _, _, _, message, _)] = timeline_rows(store, refused)
    assert "nothing to correct" in message and "GDPR Art. 77" in message


def test_staff_actions_assign_notes_and_completion(store: Store) -> None:
    subject = account_subject(store, "ada@example.com")
    agent = account_subject(store, "agent@example.com", role="agent")
    agent_id = int(store.scalar("SELECT id FROM account WHERE subject_id = :s", s=agent))  # type: ignore[arg-type]
    request_id = request_in(store, subject, "rectification", "identity_pending", details="x")
    objection = request_in(store, subject, "objection", "in_progress", scope="marketing")
    with store.ctx(actor=f"account:{agent_id}") as ctx:
        actions.assign(ctx, request_id, agent_id)
        with pytest.raises(ValidationError):
            actions.assign(ctx, request_id, 10**6)
        actions.add_note(ctx, request_id, "Called the person; they confirmed.")
        actions.verify_identity(ctx, request_id)
        actions.approve(ctx, request_id)
        actions.start(ctx, request_id)
        with pytest.raises(ValidationError):
            actions.complete(ctx, request_id, " ")
        actions.complete(ctx, request_id, "Your birth year now reads 1815.")
        actions.complete(ctx, objection, "")  # carried out through the consent choices
    assert status_of(store, request_id) == "completed"
    assert store.scalar("SELECT assignee_id FROM data_request WHERE id = :i", i=request_id) == agent_id
    assert store.scalar("SELECT author_id FROM request_note") == agent_id
    assert store.scalar("SELECT marketing FROM consent WHERE subject_id = :s", s=subject) in (False, 0)
    # Notes and assignment are audited but never on the person's timeline.
    assert audit_count(store, "request.note") == 1 and audit_count(store, "request.assign") == 1
    assert [row[1] for row in timeline_rows(store, request_id)] == ["status"] * 4
    erasure = request_in(store, subject, "erasure", "in_progress")
    with store.ctx() as ctx, pytest.raises(TransitionRefused, match="erasure engine"):
        actions.complete(ctx, erasure, "Done?")
    with store.ctx() as ctx, pytest.raises(NotFound, match="no request no"):
        actions.get(ctx, 10**6)
