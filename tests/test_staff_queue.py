"""The request queue over HTTP: deadlines and how urgent they are (in words, not colour alone), filters,
counts, keyset pages, going to a request by number, the htmx fragment, and bulk approval or refusal."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from portal.backoffice.worklist import Urgency, urgency
from portal.requests import deadlines
from tests.conftest import Client, Portal, Store
from tests.request_util import account_subject, audit_count, request_in, status_of
from tests.staff_util import staff

ROW = re.compile(r'<tr(?: class="row-(\w+)")?>\s*<td><input type="checkbox" name="ids" value="(\d+)"')


def _due(store: Store, request_id: int, days_from_today: int) -> None:
    today = deadlines.local_date(store.settings, store.clock.now())
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE data_request SET due_on = :d WHERE id = :i"),
            {"d": today + timedelta(days=days_from_today), "i": request_id},
        )


def _rows(page: str) -> list[tuple[int, str]]:
    return [(int(i), level) for level, i in ROW.findall(page)]


def _people(store: Store, n: int, prefix: str = "p") -> list[int]:
    return [account_subject(store, f"{prefix}{i}@example.org") for i in range(n)]


@pytest.mark.parametrize(
    ("days", "level", "words"),
    [(-2, "overdue", "Overdue by 2 days"), (-1, "overdue", "Overdue by 1 day"), (0, "soon", "Due today"),
     (1, "soon", "Due soon: 1 day left"), (5, "soon", "Due soon: 5 days left"), (6, "", "6 days left")],
)  # fmt: skip
def test_urgency_at_the_boundaries(days: int, level: str, words: str) -> None:
    assert urgency(days, closed=False) == Urgency(level, words)
    assert urgency(days, closed=True) == Urgency("", "Closed")


def test_deadlines_are_shown_in_words_and_marked_at_the_boundaries(portal: Portal) -> None:
    agent, _ = staff(portal, "agent@example.org")
    people = _people(portal.store, 4)
    ids = [request_in(portal.store, s, "rectification", "in_review", details="x") for s in people]
    for request_id, days in zip(ids, (-1, 0, 5, 6), strict=True):
        _due(portal.store, request_id, days)
    page = agent.get("/staff/requests")
    assert page.status_code == 200
    assert _rows(page.text) == [(ids[0], "overdue"), (ids[1], "soon"), (ids[2], "soon"), (ids[3], "")]
    for words in ("Overdue by 1 day", "Due today", "Due soon: 5 days left", "6 days left"):
        assert words in page.text
    assert 'class="due due-overdue">Overdue by 1 day' in page.text
    assert "Overdue: 1</span>" in page.text  # the count says it too


def test_filters_counts_sort_and_pages(portal: Portal) -> None:
    agent, me = staff(portal, "agent@example.org")
    people = _people(portal.store, 57)
    received = [request_in(portal.store, s, "access", "received") for s in people[:52]]
    reviewed = [request_in(portal.store, s, "erasure", "in_review") for s in people[52:55]]
    done = request_in(portal.store, people[55], "erasure", "completed", closed_at=portal.store.clock.now())
    mine = request_in(portal.store, people[56], "objection", "in_review", assignee_id=me)
    for offset, request_id in enumerate(received):
        _due(portal.store, request_id, 10 + offset)
    _due(portal.store, reviewed[0], -3)

    page = agent.get("/staff/requests").text
    assert "Open: 56" in page and "Received: 52" in page and "Being reviewed: 4" in page and "Overdue: 1" in page
    first = [i for i, _ in _rows(page)]
    assert len(first) == 50 and first[0] == reviewed[0] and done not in first
    next_url = re.search(r'<a href="([^"]+)" rel="next"', page).group(1).replace("&amp;", "&")
    second = [i for i, _ in _rows(agent.get(next_url).text)]
    assert len(second) == 6 and not set(first) & set(second)
    assert set(first) | set(second) == set(received) | set(reviewed) | {mine}

    assert [i for i, _ in _rows(agent.get("/staff/requests?kind=erasure").text)] == reviewed
    assert [i for i, _ in _rows(agent.get("/staff/requests?overdue=1").text)] == [reviewed[0]]
    assert [i for i, _ in _rows(agent.get("/staff/requests?mine=1").text)] == [mine]
    assert [i for i, _ in _rows(agent.get("/staff/requests?status=completed").text)] == [done]
    latest = [i for i, _ in _rows(agent.get("/staff/requests?sort=latest").text)]
    assert latest[0] == received[-1] and latest[-1] != reviewed[0]
    # Unknown values are ignored rather than refused.
    assert agent.get("/staff/requests?status=teleported&kind=x&after=junk").status_code == 200


def test_go_to_a_request_by_number(portal: Portal) -> None:
    agent, _ = staff(portal, "agent@example.org")
    request_id = request_in(portal.store, _people(portal.store, 1)[0], "access", "received")
    r = agent.get(f"/staff/requests?id={request_id}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/staff/requests/{request_id}"
    missing = agent.get("/staff/requests?id=99999")
    assert missing.status_code == 200 and "There is no request no. 99999." in missing.text


def test_htmx_gets_the_queue_block_alone_and_caches_keep_them_apart(portal: Portal) -> None:
    agent, _ = staff(portal, "agent@example.org")
    request_in(portal.store, _people(portal.store, 1)[0], "erasure", "in_review")
    full = agent.get("/staff/requests?kind=erasure")
    part = agent.get("/staff/requests?kind=erasure", headers={"HX-Request": "true"})
    for r in (full, part):
        assert r.headers["vary"].replace(" ", "").split(",").count("HX-Request") == 1
        assert r.headers["cache-control"] == "no-store"
    assert full.text.lstrip().startswith("<!doctype html>") and 'id="queue"' in full.text
    assert part.text.lstrip().startswith('<section id="queue"') and "<html" not in part.text
    assert 'hx-target="#queue"' in part.text and "Erasure" in part.text
    # Without JavaScript the same controls are a GET form and plain links.
    assert 'method="get" action="/staff/requests"' in full.text
    assert 'href="/staff/requests?status=in_review&amp;kind=erasure"' in full.text


def _bulk(client: Client, ids: list[int], action: str, reason: str = "") -> str:
    data = {"action": action, "reason": reason, "back": "/staff/requests", "ids": [str(i) for i in ids]}
    r = client.submit("/staff/requests/bulk", data, form_page="/staff/requests")  # type: ignore[arg-type]
    assert r.status_code == 303 and r.headers["location"] == "/staff/requests"
    return client.get("/staff/requests").text


def test_bulk_approval_and_refusal_write_one_audit_entry_per_request(portal: Portal) -> None:
    agent, _ = staff(portal, "agent@example.org")
    people = _people(portal.store, 6)
    reviewed = [request_in(portal.store, s, "rectification", "in_review", details="x") for s in people[:3]]
    waiting = request_in(portal.store, people[3], "rectification", "received", details="x")
    page = _bulk(agent, [*reviewed, waiting], "approve")
    assert [status_of(portal.store, i) for i in reviewed] == ["approved"] * 3
    assert status_of(portal.store, waiting) == "received"
    assert audit_count(portal.store, "request.approved") == 3
    assert f"No. {waiting} was not changed" in page

    to_refuse = [request_in(portal.store, s, "restriction", "in_review", details="y") for s in people[4:]]
    before = audit_count(portal.store)
    page = _bulk(agent, to_refuse, "deny")
    assert "Say why" in page and audit_count(portal.store) == before  # no reason: nothing happens
    _bulk(agent, to_refuse, "deny", "We hold no data about you beyond your account.")
    assert [status_of(portal.store, i) for i in to_refuse] == ["denied", "denied"]
    assert audit_count(portal.store, "request.denied") == 2
    for i in (4, 5):
        subject, body = portal.outbox(f"p{i}@example.org")[-1]
        assert "cannot carry it out" in subject and "We hold no data about you" in body and "complaint" in body
