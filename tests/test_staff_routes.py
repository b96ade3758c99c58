"""Every /staff route, read from the route table: it exists for staff with a second factor only, admin
pages for admins only, never cached; staff sessions end after 15 idle minutes, and a disabled member
is locked out on their very next request."""

from __future__ import annotations

import pytest

from portal.web.routes import routes
from tests.conftest import Client, Portal
from tests.request_util import user
from tests.routes_util import each_route
from tests.staff_util import sign_in, staff, staff_account

STAFF_ROUTES = [r for r in each_route({"GET", "POST"}) if r[2].startswith("/staff")]
ADMIN_ONLY = {
    route.name
    for route in routes
    if getattr(route, "path", "").startswith("/staff") and getattr(route.endpoint, "staff_roles", ()) == ("admin",)
}


def _send(client: Client, method: str, path: str) -> int:
    if method == "GET":
        return client.get(path, follow_redirects=False).status_code
    return client.submit(path, {}, form_page="/login").status_code


def test_every_staff_route_declares_who_may_use_it() -> None:
    assert len(STAFF_ROUTES) > 20
    for route in routes:
        if getattr(route, "path", "").startswith("/staff"):
            roles = getattr(route.endpoint, "staff_roles", None)
            assert roles in (("agent", "admin"), ("admin",)), f"{route.name} has no staff guard"
    assert {"staff.team", "staff.audit", "staff.reports", "staff.ingest.runs"} <= ADMIN_ONLY
    assert not {"staff.requests", "staff.request.act", "staff.subjects"} & ADMIN_ONLY


def test_visitors_users_and_staff_without_a_second_factor_never_reach_a_staff_route(portal: Portal) -> None:
    visitor = portal.client()
    member, _ = user(portal, "member@example.org")
    staff_account(portal.store, "admin@example.org", "admin")  # an admin: every route is theirs
    half = portal.client()
    r = half.submit("/login", {"email": "admin@example.org", "password": "violet-tractor-harbour-77"})
    assert r.headers["location"] == "/login/mfa"
    for name, method, path in STAFF_ROUTES:
        assert _send(visitor, method, path) == 404, f"{name} {method} {path} answers a visitor"
        assert _send(member, method, path) == 404, f"{name} {method} {path} answers a user"
        if method == "GET":
            r = half.get(path, follow_redirects=False)
            assert (r.status_code, r.headers.get("location")) == (303, "/login/mfa"), f"{name} skips the second factor"
        else:
            r = half.submit(path, {}, form_page="/login")
            assert (r.status_code, r.headers.get("location")) == (303, "/login/mfa"), f"{name} skips the second factor"


def test_agents_get_404_on_admin_pages_admins_reach_them_and_nothing_is_cached(portal: Portal) -> None:
    agent, _ = staff(portal, "agent@example.org", "agent")
    admin, _ = staff(portal, "admin@example.org", "admin")
    for name, method, path in STAFF_ROUTES:
        if method != "GET":
            continue
        as_agent = agent.get(path, follow_redirects=False)
        as_admin = admin.get(path, follow_redirects=False)
        assert as_admin.headers["cache-control"] == "no-store", name
        if name in ADMIN_ONLY:
            assert as_agent.status_code == 404, f"an agent reaches {name}"
        elif "{" not in next(r.path for r in routes if getattr(r, "name", None) == name):
            assert as_agent.status_code == 200, f"an agent cannot open {name}: {as_agent.status_code}"
            assert as_agent.headers["cache-control"] == "no-store", name
    for path in ("/staff/team", "/staff/audit", "/staff/reports", "/staff/reports/requests.csv"):
        assert admin.get(path).status_code == 200, path
    posted = agent.submit("/staff/team/invite", {"email": "x@example.org", "role": "admin"}, form_page="/staff")
    assert posted.status_code == 404 and portal.outbox("x@example.org") == []


def test_staff_sessions_end_after_15_idle_minutes(portal: Portal) -> None:
    agent, _ = staff(portal, "agent@example.org")
    member, _ = user(portal, "member@example.org")
    portal.store.clock.advance(minutes=14, seconds=50)
    assert agent.get("/staff").status_code == 200  # activity keeps it alive
    portal.store.clock.advance(minutes=15, seconds=30)
    assert agent.get("/staff").status_code == 404
    assert agent.get("/account", follow_redirects=False).headers["location"].startswith("/login")
    # Other people keep the 30 minutes of everyone.
    assert member.get("/account").status_code == 200


@pytest.mark.parametrize("how", ["disable", "reset_mfa"])
def test_a_disabled_or_reset_member_is_locked_out_on_their_next_request(portal: Portal, how: str) -> None:
    admin, _ = staff(portal, "admin@example.org", "admin")
    agent_id, secret = staff_account(portal.store, "agent@example.org")
    agent = sign_in(portal, "agent@example.org", secret)
    assert agent.get("/staff/requests").status_code == 200
    r = admin.submit(f"/staff/team/{agent_id}", {"change": how}, form_page="/staff/team")
    assert r.status_code == 303
    assert agent.get("/staff/requests").status_code == 404  # the very next request
    again = portal.client()
    r = again.submit("/login", {"email": "agent@example.org", "password": "violet-tractor-harbour-77"})
    if how == "disable":
        assert r.status_code == 400 and "do not match" in r.text  # like a wrong password
        assert portal.store.scalar("SELECT count(*) FROM audit_entry WHERE action = 'login.disabled'") == 1
    else:
        assert r.headers["location"] == "/login/mfa" and "<svg" in again.get("/login/mfa").text  # enrol again
