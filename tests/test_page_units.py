"""A My data page view is one unit of work: its session and its data are read in one store call.

The middleware leaves the session of these pages (common.loads_session) to the page's first store
call, which also runs login_required's check; everything else still sees a loaded session.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from starlette.exceptions import HTTPException

from portal.subjects import holdings
from portal.web.common import deferred_paths
from portal.web.routes import routes
from tests import sitedata_factory as f
from tests.conftest import Portal
from tests.consent_util import consent_row, user
from tests.test_page_views_read_only import person_with_data

ONE_CALL = ("/my", "/my/cookies", "/my/search", "/my/logs", "/my/logs/activity")


@contextmanager
def checkouts(portal: Portal) -> Iterator[list[int]]:
    """How many times a connection is taken from a pool (the page threads', or on SQLite the quick
    reader's): once per unit of work."""
    taken = [0]

    def count(*_: object) -> None:
        taken[0] += 1

    state = portal.app.state  # type: ignore[attr-defined]
    engines = [state.engine] + ([state.quick_reader.engine] if state.quick_reader else [])
    for engine in engines:
        event.listen(engine, "checkout", count)
    try:
        yield taken
    finally:
        for engine in engines:
            event.remove(engine, "checkout", count)


def test_the_pages_that_load_their_own_session_are_the_my_data_pages() -> None:
    assert deferred_paths(routes) == frozenset(ONE_CALL)


def test_a_my_data_page_view_takes_one_connection_once(portal: Portal) -> None:
    ann = person_with_data(portal)
    for path in (*ONE_CALL, "/account"):
        with checkouts(portal) as taken:
            page = ann.get(path)
        assert page.status_code == 200, path
        assert taken == [1], path
        assert re.search(r'name="csrf-token" content="[^"]+"', page.text) and "Log out" in page.text, path


def test_a_visitor_is_sent_to_log_in_with_a_session_that_lives(portal: Portal) -> None:
    anon = portal.client()
    r = anon.get("/my/search", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fmy%2Fsearch"
    token = r.cookies.get(portal.store.settings.session_cookie)
    assert token
    # The session created on the way is stored: the login page keeps it rather than making another.
    again = anon.get("/login", follow_redirects=False)
    assert again.status_code == 200
    assert portal.store.settings.session_cookie not in again.cookies


def test_a_flash_is_shown_once_on_a_my_data_page(portal: Portal) -> None:
    ann = portal.client()
    portal.verified_user(ann, "flo@example.com")
    me = f.account_subject(portal.store, "flo@example.com")
    pref = f.preference(portal.store, me, "cheap flights")
    token = ann.csrf(f"/my/search/{pref}/delete")
    r = ann.post(f"/my/search/{pref}/delete", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/my/search"
    assert "The search preference was deleted." in ann.get("/my/search").text
    assert "The search preference was deleted." not in ann.get("/my/search").text


def test_gpc_is_honoured_on_a_page_that_loads_its_own_session(portal: Portal) -> None:
    client, subject = user(portal, "gail@example.com")
    assert client.get("/my/search", headers={"Sec-GPC": "1"}).status_code == 200
    assert consent_row(portal, subject) == (True, False, True)


def test_a_failing_store_call_still_answers_with_the_visitors_own_error_page(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = portal.client()
    portal.verified_user(ann, "gone@example.com")
    ann.get("/my/search")  # the login's flash is consumed

    def missing(*_: object) -> None:
        raise HTTPException(status_code=404)

    monkeypatch.setattr(holdings, "search_preferences", missing)
    page = ann.get("/my/search")
    # The unit of work was rolled back, yet the page still knows who is logged in.
    assert page.status_code == 404 and "Log out" in page.text
    assert re.search(r'name="csrf-token" content="[^"]+"', page.text)
