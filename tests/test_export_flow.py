"""The export flow: re-authentication, single-use 24-hour links, owner-only downloads, audit entries."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlalchemy import text

from portal.export import exports
from tests.conftest import STRONG_PASSWORD, Portal
from tests.export_seed import download_link, seed, subject_of

A, B = "alice@example.org", "bob@example.org"


def _actions(portal: Portal, action: str) -> list[str]:
    with portal.store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT d.details FROM audit_entry e JOIN audit_detail d ON d.seq = e.seq "
                "WHERE e.action = :a ORDER BY e.seq"
            ),
            {"a": action},
        ).scalars()
        return list(rows)


def _exports_dir(portal: Portal) -> Path:
    return exports.exports_dir(portal.store.settings)


def _files(portal: Portal) -> list[str]:
    folder = _exports_dir(portal)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_pages_need_a_login(portal: Portal) -> None:
    client = portal.client()
    for path in ("/my/export", "/my/export/download/" + "x" * 43):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_reauthentication_is_required_and_lasts_15_minutes(portal: Portal) -> None:
    clock = portal.store.clock
    alice = portal.client()
    portal.verified_user(alice, A)
    page = alice.get("/my/export")
    assert page.status_code == 200 and "Prepare my data" in page.text  # logged in just now
    assert "Data you provided" in page.text and "Access-log records" in page.text
    assert page.headers["cache-control"] == "no-store"

    clock.advance(minutes=16)
    page = alice.get("/my/export")
    assert "enter your password again" in page.text and 'action="/my/export/reauth"' in page.text
    r = alice.submit("/my/export")
    assert r.status_code == 303 and r.headers["location"] == "/my/export"
    assert "Please enter your password again" in alice.get("/my/export").text
    assert portal.store.scalar("SELECT count(*) FROM data_export") == 0

    r = alice.submit("/my/export/reauth", {"password": "not-my-password-at-all"})
    assert r.status_code == 400 and "That password is not correct." in r.text
    assert len(_actions(portal, "reauth.failed")) == 1
    r = alice.submit("/my/export/reauth", {"password": STRONG_PASSWORD})
    assert r.status_code == 303
    assert "Prepare my data" in alice.get("/my/export").text
    assert alice.submit("/my/export").status_code == 303
    assert portal.store.scalar("SELECT count(*) FROM data_export") == 1

    clock.advance(minutes=16)  # the window closes again
    assert "Confirm my password" in alice.get("/my/export").text
    assert alice.submit("/my/export").status_code == 303
    assert portal.store.scalar("SELECT count(*) FROM data_export") == 1


def test_reauthentication_is_throttled_like_login(portal: Portal) -> None:
    alice = portal.client()
    portal.verified_user(alice, A)
    portal.store.clock.advance(minutes=16)
    for _ in range(5):
        assert alice.submit("/my/export/reauth", {"password": "wrong-password-123"}).status_code == 400
    r = alice.submit("/my/export/reauth", {"password": STRONG_PASSWORD})
    assert r.status_code == 429 and "Too many attempts" in r.text and int(r.headers["retry-after"]) > 0
    assert "Confirm my password" in alice.get("/my/export").text


def test_link_is_single_use_and_the_file_is_deleted(portal: Portal) -> None:
    alice = portal.client()
    portal.verified_user(alice, A)
    seed(portal.store, subject_of(portal.store, A), "alicemark")
    link = download_link(alice)
    assert len(_files(portal)) == 1
    # The waiting archive is personal data: private to the portal's account.
    assert stat.S_IMODE(_exports_dir(portal).stat().st_mode) == 0o700
    assert stat.S_IMODE((_exports_dir(portal) / _files(portal)[0]).stat().st_mode) == 0o600
    first = alice.get(link)
    assert first.status_code == 200 and first.content[:2] == b"PK"
    assert int(first.headers["content-length"]) == len(first.content)
    assert _files(portal) == []  # gone after the single download
    second = alice.get(link)
    assert second.status_code == 410 and "already used" in second.text
    assert len(_actions(portal, "export.create")) == 1
    assert len(_actions(portal, "export.download")) == 1


def test_link_expires_after_24_hours(portal: Portal) -> None:
    clock = portal.store.clock
    alice = portal.client()
    portal.verified_user(alice, A)
    link = download_link(alice)
    clock.advance(hours=24, seconds=1)
    r = alice.get(link, follow_redirects=False)
    assert r.status_code == 303  # the session itself ended long ago
    assert alice.submit("/login", {"email": A, "password": STRONG_PASSWORD}).status_code == 303
    r = alice.get(link)
    assert r.status_code == 410 and "has expired" in r.text
    assert _actions(portal, "export.download") == []
    with portal.store.ctx() as ctx:
        assert exports.purge_expired(ctx) == 1
    assert _files(portal) == []
    clock.advance(days=31)
    with portal.store.ctx() as ctx:
        exports.purge_expired(ctx)
    assert portal.store.scalar("SELECT count(*) FROM data_export") == 0


def test_someone_elses_link_is_404_like_a_missing_one_and_audited(portal: Portal) -> None:
    alice, bob = portal.client(), portal.client()
    portal.verified_user(alice, A)
    portal.verified_user(bob, B)
    link = download_link(alice)
    missing = bob.get("/my/export/download/" + "y" * 43)
    stolen = bob.get(link)
    assert stolen.status_code == missing.status_code == 404
    assert stolen.text == missing.text and stolen.headers.get("content-type") == missing.headers.get("content-type")
    details = _actions(portal, "export.download_refused")
    assert '"reason":"unknown"' in details[0] and '"reason":"not_owner"' in details[1]
    # The entry about the stolen link is recorded against Alice (whose data it is), by Bob.
    bob_id = portal.store.scalar("SELECT id FROM account WHERE email = :e", e=B)
    actor = portal.store.scalar(
        "SELECT actor FROM audit_entry WHERE action = 'export.download_refused' ORDER BY seq DESC LIMIT 1"
    )
    assert actor == f"account:{bob_id}"
    # Bob's attempt did not use up Alice's link.
    assert alice.get(link).status_code == 200


def test_a_new_export_retires_the_previous_link(portal: Portal) -> None:
    alice = portal.client()
    portal.verified_user(alice, A)
    old = download_link(alice)
    new = download_link(alice)
    assert old != new and len(_files(portal)) == 1
    assert alice.get(old).status_code == 410
    assert alice.get(new).status_code == 200


def test_a_prepared_link_stays_listed_until_it_is_used_or_expires(portal: Portal) -> None:
    alice = portal.client()
    portal.verified_user(alice, A)
    link = download_link(alice)
    alice.get("/my")  # the person leaves the page …
    assert link in alice.get("/my/export").text  # … and finds the link again
    assert alice.get(link).status_code == 200
    assert "Your download is ready" not in alice.get("/my/export").text  # used: gone
    portal.store.clock.advance(minutes=1)
    link = download_link(alice)
    portal.store.clock.advance(hours=11)  # the session timed out meanwhile; the link did not
    assert alice.submit("/login", {"email": A, "password": STRONG_PASSWORD}).status_code == 303
    assert link in alice.get("/my/export").text
    portal.store.clock.advance(hours=13, minutes=1)
    assert alice.submit("/login", {"email": A, "password": STRONG_PASSWORD}).status_code == 303
    assert link not in alice.get("/my/export").text
    assert alice.get(link).status_code == 410
