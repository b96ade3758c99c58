"""The dashboard's figures and the CCPA-shaped request metrics (page and CSV), from known data."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, text

from portal.backoffice import metrics
from portal.models import ConsentEvent, IngestRun, UnclassifiedCookie
from tests.conftest import Portal, Store
from tests.request_util import account_subject, request_in
from tests.staff_util import staff


def _closed(store: Store, subject: int, kind: str, status: str, received: datetime, days: float) -> int:
    return request_in(store, subject, kind, status, received_at=received, closed_at=received + timedelta(days=days))


def _subjects(store: Store, n: int) -> list[int]:
    return [account_subject(store, f"d{i}@example.org") for i in range(n)]


def test_the_dashboard_shows_the_queue_speeds_opt_outs_ingest_cookies_and_four_eyes(portal: Portal) -> None:
    store = portal.store
    now = store.clock.now()
    people = _subjects(store, 9)
    for person, days in zip(people, (2, 4, 6, 8, 10), strict=False):
        _closed(store, person, "erasure", "completed", now - timedelta(days=days + 1), days)
    _closed(store, people[5], "erasure", "completed", now - timedelta(days=80), 20)  # 90-day window only
    _closed(store, people[6], "access", "denied", now - timedelta(days=5), 1)  # not completed
    request_in(store, people[7], "access", "in_review")
    overdue = request_in(store, people[8], "objection", "received", received_at=now - timedelta(days=60))
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE data_request SET due_on = :d WHERE id = :i"), {"d": now.date() - timedelta(days=2), "i": overdue})
        yesterday = now - timedelta(days=1)
        events = [("personalization", yesterday), ("marketing", yesterday), ("email", yesterday), ("email", now),
                  ("email", now - timedelta(days=40))]  # fmt: skip
        conn.execute(insert(ConsentEvent.__table__), [  # type: ignore[attr-defined]
            {"subject_id": people[0], "field": f, "value": False, "via": "portal", "actor": "system", "at": at}
            for f, at in events
        ] + [{"subject_id": people[0], "field": "email", "value": True, "via": "portal", "actor": "system", "at": now}])
        conn.execute(insert(IngestRun.__table__).values(  # type: ignore[attr-defined]
            started_at=now - timedelta(seconds=10), finished_at=now, actor="system", lines_read=100_000,
            stored=99_997, duplicates=0, rejected=3, status="done"))  # fmt: skip
        conn.execute(insert(UnclassifiedCookie.__table__).values(name="_tracker_x", seen=12, first_seen=now, last_seen=now))  # type: ignore[attr-defined]
    agent, _ = staff(portal, "agent@example.org")
    staff(portal, "agent2@example.org")
    page = agent.get("/staff").text

    assert "Being reviewed: 1" in page and "Received: 1" in page and "Overdue: 1" in page
    row = re.search(r'<th scope="row">Erasure</th>(.*?)</tr>', page, re.S).group(1)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells == ["5", "6.0 days", "10.0 days", "6", "7.0 days", "20.0 days"]
    access = re.findall(r'<td class="num">([^<]*)</td>', re.search(r'<th scope="row">Access \(copy\)</th>(.*?)</tr>', page, re.S).group(1))
    assert access == ["0", "—", "—", "0", "—", "—"]  # a refusal is not a completion

    assert "2 revocations and 2 unsubscribes between" in page  # the event 40 days ago is outside the chart
    day = lambda d: f"{d:%d %b %Y}"  # noqa: E731
    assert f"<tr><td>{day(now - timedelta(days=1))}</td><td class=\"num\">2</td><td class=\"num\">1</td></tr>" in page
    assert page.count('<rect class="bar second"') == 2 and page.count('<rect class="bar"') == 1

    assert "100,000" in page and "10,000 lines per second" in page and "Rejected lines</dt><dd>3" in page
    assert "_tracker_x" in page and "seen 12 times" in page
    assert "<strong>On</strong>" in page and "Waiting for a second member of staff: 0." in page


def test_ccpa_metrics_per_kind_and_calendar_year_on_a_page_and_as_csv(portal: Portal) -> None:
    store = portal.store
    people = _subjects(store, 5)
    y1 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
    _closed(store, people[0], "access", "completed", y1, 10)
    _closed(store, people[1], "access", "completed", y1, 20)
    _closed(store, people[2], "access", "denied", y1, 5)
    _closed(store, people[3], "erasure", "cancelled", datetime(2026, 1, 2, tzinfo=UTC), 1)
    _closed(store, people[4], "access", "completed", datetime(2025, 12, 31, 23, 0, tzinfo=UTC), 2.5)
    admin, _ = staff(portal, "admin@example.org", "admin")
    page = admin.get("/staff/reports").text
    assert "§ 7102" in page and "Requests to know" in page
    rows = list(csv.reader(io.StringIO(admin.get("/staff/reports/requests.csv").text)))
    assert rows[0] == list(metrics.HEADER)
    assert rows[1:] == [
        ["2026", "erasure", "Requests to delete", "1", "0", "0", ""],
        ["2025", "access", "Requests to know", "4", "3", "1", "7.5"],  # days 10, 20, 5 and 3 (31 Dec → 3 Jan)
    ]
    r = admin.get("/staff/reports/requests.csv")
    assert r.headers["content-type"].startswith("text/csv") and "attachment" in r.headers["content-disposition"]


def test_every_csv_cell_goes_through_the_formula_neutraliser() -> None:
    assert metrics._row(["=HYPERLINK(1)", "+1", 3, None]) == ["'=HYPERLINK(1)", "'+1", "3", ""]  # noqa: SLF001
