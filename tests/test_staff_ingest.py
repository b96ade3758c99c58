"""Back-office ingest pages: admins only, hostile bytes shown safely, reads and catalog edits audited."""

from __future__ import annotations

import csv
import io
import re

import pyotp
import pytest
from sqlalchemy import text

from portal import audit
from portal.accounts import accounts
from tests import sitedata
from tests.conftest import STRONG_PASSWORD, Client, Portal

ADMIN = "admin@example.com"
PAGES = [
    "/staff/ingest/quarantine",
    "/staff/ingest/quarantine.csv",
    "/staff/ingest/runs",
    "/staff/cookies/unclassified",
    "/staff/cookies/catalog/add",
    "/staff/cookies/catalog/1",
]


def _staff(portal: Portal, email: str = ADMIN, role: str = "admin") -> Client:
    """A staff member logged in with password and an enrolled TOTP second factor."""
    with portal.store.ctx() as ctx:
        accounts.add_staff(ctx, email, role, STRONG_PASSWORD)
    c = portal.client()
    assert c.submit("/login", {"email": email, "password": STRONG_PASSWORD}).status_code == 303
    secret = c.get("/login/mfa").text.split('id="totp-secret">')[1].split("<")[0]
    code = pyotp.TOTP(secret).at(portal.store.clock.now())
    assert c.submit("/login/mfa", {"code": code}).status_code == 200  # enrolled: recovery codes shown
    return c


def _entries(portal: Portal, action: str) -> list[tuple[str, dict[str, object]]]:
    with portal.store.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT seq, actor FROM audit_entry WHERE action = :a ORDER BY seq"), {"a": action}
        ).all()
    with portal.store.ctx() as ctx:
        return [(actor, audit.details_of(ctx, seq) or {}) for seq, actor in rows]


def test_pages_do_not_exist_for_visitors_users_and_agents(portal: Portal) -> None:
    user = portal.client()
    portal.verified_user(user, "user@example.com")
    agent = _staff(portal, "agent@example.com", "agent")
    for client in (portal.client(), user, agent):
        for path in PAGES:
            assert client.get(path, follow_redirects=False).status_code == 404, path
        assert client.submit("/staff/cookies/catalog/add", {"name": "x"}, form_page="/login").status_code == 404
    # An admin with only a password is sent to the second factor first.
    with portal.store.ctx() as ctx:
        accounts.add_staff(ctx, "half@example.com", "admin", STRONG_PASSWORD)
    half = portal.client()
    half.submit("/login", {"email": "half@example.com", "password": STRONG_PASSWORD})
    r = half.get("/staff/ingest/quarantine", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login/mfa"
    assert _entries(portal, "staff.view.quarantine") == []


def test_quarantine_shows_hostile_bytes_safely_and_every_view_is_audited(portal: Portal) -> None:
    now = portal.store.clock.now()
    hostile = b'198.51.100.7 - - [x] "GET / HTTP/1.1" 200 1 "-" "<script>alert(1)</script>\r\nX-Evil: 1\x1b[31m\xe2\x80\xae"'
    sitedata.quarantined(portal.store, now, hostile, "malformed", line_no=7, detail="no closing quote <b>")
    sitedata.quarantined(portal.store, now, b"\xff\xfe\x00\x01binary", "binary", line_no=8, path="/logs/a.log.gz")
    admin = _staff(portal)

    page = admin.get("/staff/ingest/quarantine")
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "\\x0d\\x0aX-Evil" in page.text and "\\x1b[31m" in page.text and "\\u202e" in page.text
    assert "\u202e" not in page.text and "\x1b" not in page.text
    assert "no closing quote &lt;b&gt;" in page.text
    assert "ff fe 00 01 62 69 6e" in page.text and "/logs/a.log.gz</code>:8" in page.text

    only_binary = admin.get("/staff/ingest/quarantine", params={"reason": "binary"})
    assert "a.log.gz" in only_binary.text and "alert(1)" not in only_binary.text

    views = _entries(portal, "staff.view.quarantine")
    assert len(views) == 2
    actor, details = views[0]
    assert actor.startswith("account:") and details["rows"] == 2 and details["as"] == "page"
    assert views[1][1]["reason"] == "binary" and views[1][1]["rows"] == 1


def test_quarantine_pages_by_keyset(portal: Portal) -> None:
    for n in range(55):
        sitedata.quarantined(portal.store, portal.store.clock.now(), f"line {n}".encode(), line_no=n)
    admin = _staff(portal)
    first = admin.get("/staff/ingest/quarantine")
    assert first.text.count("<tr>") == 51  # header + 50 lines
    next_url = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert next_url
    second = admin.get(next_url.group(1).replace("&amp;", "&"))
    assert second.text.count("<tr>") == 6 and 'rel="next"' not in second.text
    assert ">line 0<" in second.text and ">line 0<" not in first.text


def test_quarantine_csv_cannot_run_formulas(portal: Portal) -> None:
    now = portal.store.clock.now()
    sitedata.quarantined(portal.store, now, b"=HYPERLINK(\"http://evil\",\"x\")", path="=cmd|' /C calc'!A0",
                         detail="+SUM(1,2)")  # fmt: skip
    sitedata.quarantined(portal.store, now, b"@SUM(1+1)", detail="-2+3")
    sitedata.quarantined(portal.store, now, b"\tindented", detail="plain")
    # Blanks before the sign and full-width lookalikes are formulas to a spreadsheet too.
    sitedata.quarantined(portal.store, now, b" =1+1", path="\u00a0=cmd", detail="\n=1+1")
    sitedata.quarantined(portal.store, now, "\uff1dSUM(1)".encode(), path="\u3000@x", detail="\uff20cmd")
    admin = _staff(portal)
    r = admin.get("/staff/ingest/quarantine.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 5
    for row in rows:
        for key in ("file", "detail", "first bytes"):
            assert not row[key].lstrip(" \u00a0\u3000\n").startswith(("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff20")), (key, row[key])
    by_file = {row["file"]: row for row in rows}
    assert by_file["'\u00a0=cmd"]["detail"] == "'\n=1+1" and by_file["'\u00a0=cmd"]["first bytes"] == "' =1+1"
    assert by_file["'\u3000@x"]["detail"] == "'\uff20cmd" and by_file["'\u3000@x"]["first bytes"] == "'\uff1dSUM(1)"
    by_detail = {row["detail"]: row for row in rows}
    assert by_detail["'+SUM(1,2)"]["file"] == "'=cmd|' /C calc'!A0"
    assert by_detail["'+SUM(1,2)"]["first bytes"].startswith("'=HYPERLINK")
    assert by_detail["'-2+3"]["first bytes"] == "'@SUM(1+1)"
    assert by_detail["plain"]["first bytes"] == "\\x09indented"  # controls escaped before export
    [(_, details)] = _entries(portal, "staff.view.quarantine")
    assert details["as"] == "csv" and details["rows"] == 5


def test_runs_page_lists_runs(portal: Portal) -> None:
    sitedata.run(portal.store, lines_read=1234, stored=1200, duplicates=30, rejected=4, status="finished")
    sitedata.run(portal.store, status="running", finished_at=None)
    page = _staff(portal).get("/staff/ingest/runs")
    assert page.status_code == 200
    for shown in ("1234", "1200", "30", "finished", "running"):
        assert shown in page.text


def test_unclassified_cookies_and_catalog_edits_validate_and_audit(portal: Portal) -> None:
    now = portal.store.clock.now()
    sitedata.unclassified(portal.store, "_ga", 42, now, now)
    sitedata.unclassified(portal.store, "<img src=x>", 1, now, now)
    admin = _staff(portal)
    page = admin.get("/staff/cookies/unclassified")
    assert page.status_code == 200
    assert "_ga" in page.text and ">42<" in page.text and "site_id" in page.text and "search_pref" in page.text
    assert "<img src=x>" not in page.text and "&lt;img src=x&gt;" in page.text
    assert "/staff/cookies/catalog/add?name=_ga" in page.text

    bad = admin.submit(
        "/staff/cookies/catalog/add",
        {"name": "bad name", "description": " ", "lifetime_days": "soon", "decoder": "rot13"},
    )
    assert bad.status_code == 400
    for message in ("A cookie name is", "Choose at least one purpose", "Describe in plain words",
                    "whole number of days", "Choose a decoder"):  # fmt: skip
        assert message in bad.text
    assert _entries(portal, "catalog.update") == []

    good = {"name": "_ga", "purposes": "analytics", "description": "Counts visits.", "lifetime_days": "730"}
    ok = admin.submit("/staff/cookies/catalog/add", good)
    assert ok.status_code == 303 and ok.headers["location"] == "/staff/cookies/unclassified"
    after = admin.get("/staff/cookies/unclassified")
    assert "Saved _ga." in after.text and "catalog/add?name=_ga" not in after.text
    assert admin.submit("/staff/cookies/catalog/add", good).status_code == 400  # already catalogued

    cookie_id = portal.store.scalar("SELECT id FROM cookie_catalog WHERE name = 'site_id'")
    path = f"/staff/cookies/catalog/{cookie_id}"
    form = {"purposes": "essential", "description": "Identifies your browser after login.",
            "lifetime_days": "365", "identifies_browser": "1"}  # fmt: skip
    assert admin.submit(path, form).status_code == 303
    assert admin.submit(path, form).status_code == 303  # the same again: nothing changed, nothing audited
    assert "Nothing changed." in admin.get("/staff/cookies/unclassified").text
    assert admin.submit(path, {**form, "purposes": "cooking"}).status_code == 400
    assert admin.get("/staff/cookies/catalog/99999").status_code == 404

    changes = _entries(portal, "catalog.update")
    assert [(d["name"], d["change"]) for _, d in changes] == [("_ga", "add"), ("site_id", "edit")]
    edit = changes[1][1]
    assert edit["after"]["description"] == "Identifies your browser after login."  # type: ignore[index]
    assert edit["before"]["description"] != edit["after"]["description"]  # type: ignore[index]
    assert portal.store.scalar("SELECT purposes FROM cookie_catalog WHERE name = '_ga'") == "analytics"


def test_staff_home_links_admins_to_the_ingest_pages(portal: Portal) -> None:
    home = _staff(portal).get("/staff")
    for path in ("/staff/ingest/runs", "/staff/ingest/quarantine", "/staff/cookies/unclassified"):
        assert f'href="{path}"' in home.text


@pytest.mark.parametrize("path", PAGES[:4])
def test_pages_send_no_store(portal: Portal, path: str) -> None:
    assert _staff(portal).get(path).headers["cache-control"] == "no-store"
