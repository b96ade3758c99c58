"""After the waiting period an erasure runs by itself (run-due, and inside `portal serve`) and the
person's data is gone; a cancelled one never runs; staff review when told to; staff are reminded
before deadlines."""

from __future__ import annotations

from datetime import UTC, datetime

from click.testing import CliRunner
from sqlalchemy import text

from portal import housekeeping
from portal.cli import main
from portal.requests import actions, foureyes, reminders, waiting
from tests import sitedata_factory as f
from tests.conftest import Portal, Store
from tests.request_util import (
    account_subject,
    file_erasure,
    portal_with,
    request_in,
    status_of,
    timeline_rows,
)

A = "alice@example.org"


def _run(portal: Portal) -> waiting.RunDue:
    return waiting.run_due(portal.store.factory, portal.store.settings, portal.store.clock)


def _engine_ran_once_for(result: waiting.RunDue, request_id: int) -> bool:
    return result.completed == [request_id] and not result.failed


def test_erasure_runs_by_itself_after_the_wait(portal: Portal) -> None:
    _, _, request_id = file_erasure(portal, A)
    portal.store.clock.advance(days=6, hours=23)
    early = _run(portal)
    assert early.approved == [] and early.started == [] and status_of(portal.store, request_id) == "in_review"
    portal.store.clock.advance(hours=1, minutes=1)
    result = _run(portal)
    assert result.approved == [request_id] and result.started == [request_id]
    assert _engine_ran_once_for(result, request_id)
    steps = [(author, was, now) for author, _, was, now, _m, _s in timeline_rows(portal.store, request_id)]
    assert steps[3:5] == [("portal", "in_review", "approved"), ("portal", "approved", "in_progress")]
    # The erasure blanked every message of her timeline but the last, which says it is done.
    messages = [m for *_, m, _s in timeline_rows(portal.store, request_id)]
    assert messages[:-1] == [None] * 5 and "Your data is erased" in messages[-1]
    again = _run(portal)  # nothing is approved or started twice
    assert again.approved == [] and again.started == []


def test_a_cancelled_erasure_never_runs(portal: Portal) -> None:
    client, _, request_id = file_erasure(portal, A)
    r = client.submit(f"/my/requests/{request_id}/cancel", form_page=f"/my/requests/{request_id}")
    assert r.status_code == 303
    portal.store.clock.advance(days=30)
    result = _run(portal)
    assert result.approved == result.started == result.completed == [] and result.failed == []
    assert status_of(portal.store, request_id) == "cancelled"


def test_with_no_wait_it_runs_at_the_next_round(store: Store) -> None:
    with portal_with(store, erasure_wait_days=0) as portal:
        client = portal.client()
        portal.verified_user(client, A)
        assert "It starts within minutes." in client.get("/my/requests/new?kind=erasure").text
        _, _, request_id = file_erasure(portal, "bob@example.org")
        assert "starts within minutes" in portal.outbox("bob@example.org")[-1][1]
        result = _run(portal)
        assert result.started == [request_id] and _engine_ran_once_for(result, request_id)


def test_review_always_leaves_erasures_to_staff(store: Store) -> None:
    with portal_with(store, erasure_review="always") as portal:
        client, _, request_id = file_erasure(portal, A)
        assert "A member of staff will then review it." in client.get(f"/my/requests/{request_id}").text
        portal.store.clock.advance(days=8)
        result = _run(portal)
        assert result.awaiting_review == [request_id] and result.approved == result.started == []
        assert status_of(portal.store, request_id) == "in_review"
        with portal.store.ctx(actor="account:2") as ctx:
            actions.approve(ctx, request_id)
        result = _run(portal)  # four-eyes: a staff approval waits for a second member of staff
        assert result.started == [] and status_of(portal.store, request_id) == "approved"
        with portal.store.ctx(actor="account:3") as ctx:
            foureyes.confirm_erasure(ctx, request_id)
        result = _run(portal)
        assert _engine_ran_once_for(result, request_id)
        assert timeline_rows(portal.store, request_id)[3][:4] == ("staff", "status", "in_review", "approved")


def test_run_due_erases_the_person_and_completes_the_request(cli_env: Store) -> None:
    with portal_with(cli_env, erasure_wait_days=0) as portal:
        client, subject, request_id = file_erasure(portal, A)
        f.log_records(cli_env, subject, 5, source_id=f.source(cli_env))
        other = account_subject(cli_env, "bob@example.org")
        f.log_records(cli_env, other, 3, source_id=f.source(cli_env, "/other.log"))
        result = CliRunner().invoke(main, ["requests", "run-due"])
        assert result.exit_code == 0, result.output
        assert f"started: {request_id}" in result.output and f"completed: {request_id}" in result.output
        assert status_of(cli_env, request_id) == "completed"
        assert cli_env.scalar("SELECT count(*) FROM log_record WHERE subject_id = :s", s=subject) == 0
        assert cli_env.scalar("SELECT count(*) FROM log_record WHERE subject_id = :s", s=other) == 3
        assert cli_env.scalar("SELECT count(*) FROM account WHERE email = :e", e=A) == 0
        assert cli_env.scalar("SELECT subject_id FROM data_request WHERE id = :i", i=request_id) is None
        steps = [(was, now) for _a, _act, was, now, _m, _s in timeline_rows(cli_env, request_id)]
        assert steps[-2:] == [("approved", "in_progress"), ("in_progress", "completed")]
        assert "deletion certificate" in portal.outbox(A)[-1][0]
        # Signed out everywhere: her browser's session is gone with her account.
        r = client.get(f"/my/requests/{request_id}", follow_redirects=False)
        assert r.status_code in (302, 303) and "/login" in r.headers["location"]
        again = CliRunner().invoke(main, ["requests", "run-due"])  # nothing left to do, nothing fails
        assert again.exit_code == 0 and "completed: none" in again.output


def test_housekeeping_runs_due_erasures_at_most_every_minute(store: Store) -> None:
    with portal_with(store, erasure_wait_days=0) as portal:
        _, _, first = file_erasure(portal, A)
        housekeeping.run_once(portal.store.factory, portal.store.settings, portal.store.clock)
        assert status_of(store, first) != "in_review"  # approved, started and handed to the engine
        _, _, second = file_erasure(portal, "bob@example.org")
        housekeeping.run_once(portal.store.factory, portal.store.settings, portal.store.clock)
        assert status_of(store, second) == "in_review"  # within the minute
        portal.store.clock.advance(minutes=1)
        housekeeping.run_once(portal.store.factory, portal.store.settings, portal.store.clock)
        assert status_of(store, second) != "in_review"


def test_staff_are_reminded_once_per_deadline(store: Store) -> None:
    store.clock._now = datetime(2027, 3, 1, 10, tzinfo=UTC)  # noqa: SLF001
    person = account_subject(store, "ada@example.com")
    others = [account_subject(store, f"p{i}@example.com") for i in range(2)]
    unassigned = request_in(store, person, "access", "in_review", received_at=datetime(2027, 2, 4, 9, tzinfo=UTC))
    later = request_in(store, others[0], "access", "in_review")  # due 1 April: not yet
    with store.ctx() as ctx:
        assert reminders.send_due(ctx) == 0  # no staff yet: nobody told, nothing marked
    agent = account_subject(store, "agent@example.com", role="agent")
    account_subject(store, "admin@example.com", role="admin")
    agent_id = int(store.scalar("SELECT id FROM account WHERE subject_id = :s", s=agent))  # type: ignore[arg-type]
    mine = request_in(store, others[1], "erasure", "approved", received_at=datetime(2027, 2, 3, 9, tzinfo=UTC),
                      assignee_id=agent_id)  # fmt: skip
    with store.ctx() as ctx:
        assert reminders.send_due(ctx) == 2
        assert reminders.send_due(ctx) == 0
    mails = _mails(store)
    assert set(mails) == {"agent@example.com", "admin@example.com"}
    assert f"no. {unassigned}: access" in mails["agent@example.com"] and f"no. {mine}: erasure" in mails["agent@example.com"]
    assert "due 2027-03-03 (2 days left), assigned to you" in mails["agent@example.com"]
    assert f"no. {unassigned}" in mails["admin@example.com"] and f"no. {mine}" not in mails["admin@example.com"]
    assert f"no. {later}" not in "".join(mails.values()) and "ada@example.com" not in "".join(mails.values())
    assert "http://testserver/staff" in mails["admin@example.com"]
    # A new deadline (an extension) gets a new reminder when it comes near.
    with store.ctx(actor=f"account:{agent_id}") as ctx:
        actions.extend(ctx, unassigned, "Records in an archive.", months=1)
    store.clock._now = datetime(2027, 4, 1, 10, tzinfo=UTC)  # noqa: SLF001
    with store.ctx() as ctx:
        assert reminders.send_due(ctx) == 2  # the extended one again and the later one; the erasure was told
    newest = _mails(store)["admin@example.com"]
    assert f"no. {unassigned}: access, deadline extended, due 2027-04-05 (4 days left)" in newest
    assert f"no. {later}: access, being reviewed, due 2027-04-01 (due today)" in newest


def _mails(store: Store) -> dict[str, str]:
    """The newest staff reminder body per address."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT to_addr, body FROM outbox_mail WHERE subject LIKE 'Requests coming due%' ORDER BY id")
        ).all()
    return {to: body for to, body in rows}


def test_operators_list_and_show_requests(cli_env: Store) -> None:
    person = account_subject(cli_env, "ada@example.com")
    other = account_subject(cli_env, "bob@example.com")
    now = cli_env.clock.now()
    overdue = request_in(cli_env, person, "rectification", "in_review", details="My secret birth year is 1815.",
                         received_at=now.replace(year=now.year - 1))  # fmt: skip
    fresh = request_in(cli_env, other, "access", "identity_pending")
    done = request_in(cli_env, other, "erasure", "completed", closed_at=now)
    runner = CliRunner()
    listing = runner.invoke(main, ["requests", "list"])
    assert listing.exit_code == 0, listing.output
    ids = [int(line.split()[0]) for line in listing.output.splitlines()[1:]]
    assert ids == [overdue, fresh]  # open ones, earliest deadline first
    assert runner.invoke(main, ["requests", "list", "--overdue"]).output.splitlines()[1].split()[0] == str(overdue)
    assert str(done) in runner.invoke(main, ["requests", "list", "--status", "completed"]).output
    assert "no requests match" in runner.invoke(main, ["requests", "list", "--kind", "objection"]).output
    shown = runner.invoke(main, ["requests", "show", str(overdue)])
    assert shown.exit_code == 0, shown.output
    assert f"request {overdue}: rectification" in shown.output and "days left" in shown.output
    assert "same date next month" in shown.output and "1815" not in shown.output
    missing = runner.invoke(main, ["requests", "show", "999999"])
    assert missing.exit_code == 2 and "no request no. 999999" in missing.output
